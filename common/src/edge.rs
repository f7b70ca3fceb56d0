//! The HTTP edge: accepting connections within a limit, with a header timeout, plain or TLS.
//!
//! `axum::serve` has neither a header-read timeout nor a connection limit, so a few hundred
//! slowloris connections stay open forever and, once the process runs out of file
//! descriptors, `/-/healthy` fails with nothing logged. Here:
//!
//! - **Header timeout** (`--web.header-timeout`, default 30 s): a connection that has not sent
//!   a complete request header within this time is closed. hyper starts the clock whenever it
//!   waits for a request, on a new connection and between keep-alive requests alike, so the
//!   same timeout is the idle timeout (Prometheus scrapes more often than every 30 s and keeps
//!   its connection; a client that pauses longer reconnects, which every HTTP client does).
//! - **Connection limit** (`--web.max-connections`, default: the file-descriptor soft limit
//!   minus [`FD_HEADROOM`] for the state file, logs and cloud clients, at most
//!   [`AUTO_MAX`]). Beyond it, [`HEALTH_RESERVE`] more connections are served with a short
//!   header timeout and no keep-alive, so a health check gets through while the regular slots
//!   are taken (slots held by idle clients free up within [`RESERVE_HEADER_TIMEOUT`]); beyond
//!   those, a connection is closed at once. Reaching the limit is logged (at most every 10 s).
//! - **TLS** handshakes run inside the connection's task, within its slot and a 10 s deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::base::lock;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

/// File descriptors kept for everything but HTTP connections.
pub const FD_HEADROOM: usize = 64;
/// Connection slots kept for health checks once the limit is reached.
pub const HEALTH_RESERVE: usize = 8;
/// The automatic limit never goes above this (each connection holds buffers).
pub const AUTO_MAX: usize = 4096;
/// Header timeout of a connection served from the health reserve.
pub const RESERVE_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct EdgeSettings {
    pub header_timeout: Duration,
    /// Connections served normally, besides the health reserve.
    pub max_connections: usize,
}

impl EdgeSettings {
    /// `max_connections` 0 means automatic: below the file-descriptor soft limit.
    pub fn new(header_timeout: Duration, max_connections: usize) -> EdgeSettings {
        let max_connections = match max_connections {
            0 => auto_limit(fd_soft_limit()),
            n => n,
        };
        EdgeSettings {
            header_timeout,
            max_connections,
        }
    }
}

/// Regular connection slots for a file-descriptor soft limit.
pub fn auto_limit(soft: Option<u64>) -> usize {
    let soft = soft.map_or(AUTO_MAX as u64, |s| s.min(1 << 20)) as usize;
    soft.saturating_sub(FD_HEADROOM + HEALTH_RESERVE)
        .clamp(HEALTH_RESERVE, AUTO_MAX)
}

fn fd_soft_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } == 0
            && l.rlim_cur != libc::RLIM_INFINITY
        {
            #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
            return Some(l.rlim_cur as u64);
        }
    }
    None
}

/// Logs "limit reached" at most every 10 s, with how many connections were turned away.
struct LimitLog {
    last: Mutex<Option<Instant>>,
    refused: AtomicU64,
}

impl LimitLog {
    fn reached(&self, limit: usize, refused: bool) {
        if refused {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        let mut last = lock(&self.last);
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
            return;
        }
        *last = Some(Instant::now());
        tracing::warn!(
            limit,
            health_reserve = HEALTH_RESERVE,
            refused_since_last_log = self.refused.swap(0, Ordering::Relaxed),
            "connection limit reached: new connections get a short header timeout, then are refused (raise --web.max-connections or the file-descriptor limit, or look for idle clients)"
        );
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then waits up to 5 s for requests
/// in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    settings: EdgeSettings,
    shutdown: impl Future<Output = ()>,
) {
    let regular = Arc::new(Semaphore::new(settings.max_connections));
    let reserve = Arc::new(Semaphore::new(HEALTH_RESERVE));
    let log = Arc::new(LimitLog {
        last: Mutex::new(None),
        refused: AtomicU64::new(0),
    });
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (permit, reserved) = match regular.clone().try_acquire_owned() {
            Ok(p) => (p, false),
            Err(_) => match reserve.clone().try_acquire_owned() {
                Ok(p) => {
                    log.reached(settings.max_connections, false);
                    (p, true)
                }
                Err(_) => {
                    log.reached(settings.max_connections, true);
                    drop(stream);
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .keep_alive(!reserved)
            .header_read_timeout(if reserved {
                RESERVE_HEADER_TIMEOUT.min(settings.header_timeout)
            } else {
                settings.header_timeout
            });
        let conn = Connection {
            app: app.clone(),
            builder,
            peer,
            watcher: graceful.watcher(),
            _permit: permit,
        };
        match &acceptor {
            None => {
                tokio::spawn(conn.serve(stream));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => conn.serve(tls).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after 5 s: closing them");
    }
}

/// One accepted connection and the slot it holds until it closes.
struct Connection {
    app: Router,
    builder: http1::Builder,
    peer: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            app,
            builder,
            peer,
            watcher,
            _permit,
        } = self;
        // Handlers can ask for the client's address (logs of failed logins).
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            // A Router is always ready; calling a clone is what axum::serve does too.
            app.clone().call(req)
        });
        let conn = builder.serve_connection(TokioIo::new(io), service);
        if let Err(e) = watcher.watch(conn).await {
            // Header timeouts and clients that go away are routine at this level.
            tracing::debug!(%peer, error = %e, "connection closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_limit_stays_below_the_descriptor_limit() {
        assert_eq!(auto_limit(Some(1024)), 1024 - FD_HEADROOM - HEALTH_RESERVE);
        assert_eq!(auto_limit(Some(128)), 128 - FD_HEADROOM - HEALTH_RESERVE);
        assert_eq!(auto_limit(Some(16)), HEALTH_RESERVE);
        assert_eq!(auto_limit(Some(1 << 30)), AUTO_MAX);
        assert_eq!(auto_limit(None), AUTO_MAX - FD_HEADROOM - HEALTH_RESERVE);
    }
}

//! An HTTP/1 proxy on 127.0.0.1 in front of a fake cloud (or LocalStack) that injects the
//! faults a real network and a real cloud produce, switchable while an exporter runs:
//! latency beyond the client's timeout, a connection reset in the middle of a response, a body
//! shorter than its Content-Length, 429 with Retry-After, 5xx, and requests that are accepted
//! and never answered. A fault applies to every Nth request (N = 1: all), so a schedule can
//! let a client's retry or a breaker's half-open trial meet a fault or pass. Requests are
//! counted per fault, so a drill can assert each phase actually reached the exporter.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Forwarded, but the answer is held back this long (make it longer than the timeout).
    Latency(Duration),
    /// The status line, headers and half the body, then a TCP reset.
    Reset,
    /// `Content-Length` of the whole body, half of it sent, then the connection closed.
    Truncated,
    /// 429 with `Retry-After: <seconds>` (not forwarded).
    TooMany { retry_after: u64 },
    /// This status (500, 502, 503...) with a short body (not forwarded).
    Status(u16),
    /// Accepted, read, never answered (until the proxy stops or the client gives up).
    Hang,
}

impl Fault {
    /// The name requests are counted under.
    pub fn name(&self) -> String {
        match self {
            Fault::Latency(_) => "latency".into(),
            Fault::Reset => "reset".into(),
            Fault::Truncated => "truncated".into(),
            Fault::TooMany { .. } => "429".into(),
            Fault::Status(s) => s.to_string(),
            Fault::Hang => "hang".into(),
        }
    }
}

/// Requests that reached the upstream without a fault are counted under this name.
pub const FORWARDED: &str = "forwarded";

#[derive(Default)]
struct Schedule {
    fault: Option<Fault>,
    every: u64,
    /// Only requests whose path contains this are candidates (None: all).
    only: Option<String>,
    /// Candidates seen since the schedule was set.
    seen: u64,
    counts: BTreeMap<String, u64>,
}

impl Schedule {
    /// The fault for the next request to `path`, if it gets one (and counts it).
    fn pick(&mut self, path: &str) -> Option<Fault> {
        let candidate = self.only.as_deref().is_none_or(|p| path.contains(p));
        let fault = match (&self.fault, candidate) {
            (Some(f), true) => {
                // The first candidate after a change is faulted: a schedule set while a
                // breaker is open makes its half-open trial meet the fault.
                let hit = self.seen.is_multiple_of(self.every.max(1));
                self.seen += 1;
                hit.then(|| f.clone())
            }
            _ => None,
        };
        let name = fault.as_ref().map_or(FORWARDED.into(), Fault::name);
        *self.counts.entry(name).or_default() += 1;
        fault
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

struct Shared {
    upstream: String,
    schedule: Mutex<Schedule>,
    client: Client<HttpConnector, Incoming>,
}

/// The running proxy; stops (and drops every hanging request) on drop.
pub struct FaultProxy {
    pub addr: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Forwards to `upstream` (`host:port` or `http://host:port`), no fault set.
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/');
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let shared = {
            let _guard = rt.enter();
            Arc::new(Shared {
                upstream: upstream.to_string(),
                schedule: Mutex::new(Schedule::default()),
                client: Client::builder(TokioExecutor::new()).build_http(),
            })
        };
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx
                    .send(listener.local_addr().unwrap().to_string())
                    .unwrap();
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            let s = s.clone();
                            tokio::spawn(async move {
                                let fd = tcp.as_raw_fd();
                                let service = hyper::service::service_fn(move |req| {
                                    handle(s.clone(), fd, req)
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(tcp), service)
                                    .await;
                            });
                        }
                    }
                }
            });
            // Dropping the runtime here cancels every connection, hanging ones included.
            drop(rt);
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        FaultProxy {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A drill phase: `fault` on every `every`th request for at least `min`, and until it has
    /// reached the exporter at least twice (bounded by 15 s), so no phase passes unseen.
    pub fn phase(&self, fault: Fault, every: u64, min: Duration) {
        let name = fault.name();
        let before = self.count(&name);
        self.set(Some(fault), every);
        let started = std::time::Instant::now();
        std::thread::sleep(min);
        crate::wait_until(
            &format!("{name} to reach the exporter"),
            Duration::from_secs(15),
            || (self.count(&name) >= before + 2).then_some(()),
        );
        eprintln!(
            "phase {name} (every {every}): {} requests in {:?}",
            self.count(&name) - before,
            started.elapsed()
        );
    }

    /// From now on every `every`th request (the first one included) gets `fault`; None
    /// forwards everything. Counts are kept across changes.
    pub fn set(&self, fault: Option<Fault>, every: u64) {
        let mut s = self.shared.schedule.lock().unwrap();
        s.fault = fault;
        s.every = every.max(1);
        s.seen = 0;
    }

    /// Faults only requests whose path contains `part` (None: every request).
    pub fn only_paths(&self, part: Option<&str>) {
        self.shared.schedule.lock().unwrap().only = part.map(str::to_string);
    }

    /// Requests so far, by fault name (and [`FORWARDED`]).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.schedule.lock().unwrap().counts.clone()
    }

    pub fn count(&self, name: &str) -> u64 {
        self.counts().get(name).copied().unwrap_or(0)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn full(status: u16, headers: &[(&str, String)], body: Bytes) -> Response<Body> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    r.body(Full::new(body).map_err(|e| match e {}).boxed())
        .unwrap()
}

/// A body that sends `head` and then fails (after making the close a reset if `reset`):
/// hyper, holding a Content-Length it cannot honour, drops the connection mid-response.
struct Cut {
    head: Option<Bytes>,
    reset: Option<RawFd>,
    /// A pause between the head and the cut: without it hyper drops the connection before
    /// flushing what it buffered, and the client sees no answer at all instead of half of one.
    pause: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for Cut {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(head) = self.head.take() {
            return std::task::Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if self.pause.as_mut().poll(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        if let Some(fd) = self.reset.take() {
            linger_zero(fd);
        }
        std::task::Poll::Ready(Some(Err(std::io::Error::other("cut by the fault proxy"))))
    }
}

fn cut(head: Bytes, reset: Option<RawFd>) -> Body {
    Cut {
        head: Some(head),
        reset,
        pause: Box::pin(tokio::time::sleep(Duration::from_millis(100))),
    }
    .boxed()
}

async fn handle(
    s: Arc<Shared>,
    fd: RawFd,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let fault = s.schedule.lock().unwrap().pick(&path);
    match fault {
        Some(Fault::TooMany { retry_after }) => {
            return Ok(full(
                429,
                &[("retry-after", retry_after.to_string())],
                Bytes::from_static(b"{\"error\":{\"code\":429,\"message\":\"Too Many Requests\",\"status\":\"RESOURCE_EXHAUSTED\"}}"),
            ))
        }
        Some(Fault::Status(code)) => {
            return Ok(full(
                code,
                &[],
                Bytes::from_static(b"{\"error\":{\"message\":\"injected by the fault proxy\"}}"),
            ))
        }
        Some(Fault::Hang) => {
            // Bounded all the same: the proxy's drop ends it first in any drill.
            tokio::time::sleep(Duration::from_secs(600)).await;
            return Ok(full(504, &[], Bytes::new()));
        }
        _ => {}
    }
    if let Some(Fault::Latency(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let (mut parts, body) = req.into_parts();
    parts.uri = format!("http://{}{path}", s.upstream).parse().unwrap();
    let answer = match s.client.request(Request::from_parts(parts, body)).await {
        Ok(a) => a,
        Err(e) => return Ok(full(502, &[], Bytes::from(format!("fault proxy: {e}")))),
    };
    let (mut parts, body) = answer.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    parts.headers.remove("transfer-encoding");
    parts
        .headers
        .insert("content-length", bytes.len().to_string().parse().unwrap());
    let body = match fault {
        Some(Fault::Truncated) => cut(bytes.slice(..bytes.len() / 2), None),
        Some(Fault::Reset) => cut(bytes.slice(..bytes.len() / 2), Some(fd)),
        _ => Full::new(bytes).map_err(|e| match e {}).boxed(),
    };
    Ok(Response::from_parts(parts, body))
}

/// Makes the connection's close a reset (SO_LINGER 0).
fn linger_zero(fd: RawFd) {
    // SAFETY: the fd belongs to the connection whose response is being written; it stays
    // open until hyper drops the connection, after this returns.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// One raw HTTP/1.1 exchange: (head, body bytes received, how the read ended).
    fn exchange(addr: &str) -> (String, Vec<u8>, std::io::Result<()>) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        write!(s, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            match s.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) => break Err(e),
            }
        };
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n");
        let (head, body) = match split {
            Some(i) => (raw[..i].to_vec(), raw[i + 4..].to_vec()),
            None => (raw.clone(), Vec::new()),
        };
        (String::from_utf8_lossy(&head).into_owned(), body, end)
    }

    #[test]
    fn each_fault_does_what_it_says_and_is_counted() {
        let body = "x".repeat(10_000);
        let app = axum::Router::new().route("/x", axum::routing::get(move || async move { body }));
        let upstream = crate::Server::start(app);
        let proxy = FaultProxy::start(&upstream.url());

        let (head, body, end) = exchange(&proxy.addr);
        assert!(head.starts_with("HTTP/1.1 200") && body.len() == 10_000 && end.is_ok());

        proxy.set(Some(Fault::Truncated), 1);
        let (head, body, end) = exchange(&proxy.addr);
        assert!(head.contains("content-length: 10000"), "{head}");
        assert_eq!(body.len(), 5_000, "half the body, then a close");
        assert!(end.is_ok());

        proxy.set(Some(Fault::Reset), 1);
        let (head, body, end) = exchange(&proxy.addr);
        assert!(
            head.is_empty() || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        assert!(body.len() < 10_000);
        assert_eq!(
            end.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset)
        );

        proxy.set(Some(Fault::TooMany { retry_after: 7 }), 1);
        let (head, _, _) = exchange(&proxy.addr);
        assert!(
            head.starts_with("HTTP/1.1 429") && head.contains("retry-after: 7"),
            "{head}"
        );

        proxy.set(Some(Fault::Status(503)), 2);
        assert!(exchange(&proxy.addr).0.starts_with("HTTP/1.1 503"));
        assert!(
            exchange(&proxy.addr).0.starts_with("HTTP/1.1 200"),
            "every 2nd only"
        );

        proxy.set(Some(Fault::Latency(Duration::from_millis(700))), 1);
        let t = std::time::Instant::now();
        assert!(exchange(&proxy.addr).0.starts_with("HTTP/1.1 200"));
        assert!(t.elapsed() >= Duration::from_millis(700));

        proxy.set(Some(Fault::Hang), 1);
        let (head, _, end) = exchange(&proxy.addr);
        assert!(
            head.is_empty() && end.is_err(),
            "no answer within the client's 3 s"
        );

        let counts = proxy.counts();
        for (name, n) in [
            ("truncated", 1),
            ("reset", 1),
            ("429", 1),
            ("503", 1),
            ("latency", 1),
            ("hang", 1),
            (FORWARDED, 2),
        ] {
            assert_eq!(counts.get(name), Some(&n), "{counts:?}");
        }
    }
}

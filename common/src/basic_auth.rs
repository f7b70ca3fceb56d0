//! Basic authentication against the bcrypt hashes of `--web.config.file`.
//!
//! - **Equal work for unknown users.** bcrypt is slow on purpose (tens of ms at cost 10). An
//!   unknown user is checked against a dummy hash of the same cost as the slowest configured
//!   one, so answering "unknown user" takes as long as "wrong password" and the time of a 401
//!   does not tell which users exist.
//! - **Bounded work.** At most [`BasicAuth::concurrency`] bcrypt checks run at once (half the
//!   cores, at least one), on the blocking pool; the others wait their turn, so a flood of
//!   wrong passwords cannot take every core from scrapes and health checks.
//! - **Successes are remembered** for five minutes by a SHA-256 of user, password and hash
//!   (never the password itself), as exporter-toolkit does, so a scraper with the right
//!   credentials costs one hash lookup per scrape and no blocking task.
//! - **Failures are counted** in `llm_exporter_http_auth_failures_total{reason}` and logged
//!   (user, client address, reason; never the password), at most one line per second with the
//!   number of failures not logged.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::base::lock;
use crate::metrics::SelfMetrics;

/// Why a request was refused (the `reason` label).
pub const MALFORMED: &str = "malformed";
pub const UNKNOWN_USER: &str = "unknown_user";
pub const WRONG_PASSWORD: &str = "wrong_password";

pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Checked for unknown users: a hash of a random password at the highest configured cost.
    dummy: String,
    verified: moka::sync::Cache<[u8; 32], ()>,
    checks: Arc<Semaphore>,
    metrics: Arc<SelfMetrics>,
    log: FailureLog,
    /// bcrypt verifications run, against a user's hash or the dummy (tests).
    bcrypt_runs: AtomicU64,
}

/// The credentials of a request, or why there are none to check.
enum Credentials {
    Missing,
    Malformed,
    Given { user: String, password: String },
}

fn credentials(authorization: Option<&str>) -> Credentials {
    use base64::Engine;
    let Some(value) = authorization else {
        return Credentials::Missing;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return Credentials::Malformed;
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok());
    match decoded.as_deref().and_then(|t| t.split_once(':')) {
        Some((user, password)) => Credentials::Given {
            user: user.to_string(),
            password: password.to_string(),
        },
        None => Credentials::Malformed,
    }
}

/// The cost of a bcrypt hash (`$2y$10$...` is 10).
fn cost(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

impl BasicAuth {
    pub fn new(users: BTreeMap<String, String>, metrics: Arc<SelfMetrics>) -> BasicAuth {
        let cost = users
            .values()
            .filter_map(|h| cost(h))
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        let secret = format!("{:032x}", rand::random::<u128>());
        let dummy = bcrypt::hash(secret, cost)
            // Only an out-of-range cost fails, and the configured hashes verified with it.
            .unwrap_or_else(|_| users.values().next().cloned().unwrap_or_default());
        BasicAuth {
            users,
            dummy,
            verified: moka::sync::Cache::builder()
                .max_capacity(1024)
                .time_to_live(Duration::from_secs(300))
                .build(),
            checks: Arc::new(Semaphore::new(Self::concurrency())),
            metrics,
            log: FailureLog::default(),
            bcrypt_runs: AtomicU64::new(0),
        }
    }

    /// bcrypt checks allowed at once: half the cores, at least one.
    pub fn concurrency() -> usize {
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
    }

    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn key(user: &str, password: &str, hash: &str) -> [u8; 32] {
        Sha256::digest(format!("{user}\0{password}\0{hash}").as_bytes()).into()
    }

    /// True when these credentials were verified in the last five minutes.
    fn remembered(&self, user: &str, password: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|hash| self.verified.contains_key(&Self::key(user, password, hash)))
    }

    /// The slow check (blocking): bcrypt against the user's hash, or against the dummy for an
    /// unknown user, so both take the same time. Err is the refusal reason.
    fn verify(&self, user: &str, password: &str) -> Result<(), &'static str> {
        self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
        match self.users.get(user) {
            Some(hash) => {
                if bcrypt::verify(password, hash).unwrap_or(false) {
                    self.verified.insert(Self::key(user, password, hash), ());
                    Ok(())
                } else {
                    Err(WRONG_PASSWORD)
                }
            }
            None => {
                let _ = bcrypt::verify(password, &self.dummy);
                Err(UNKNOWN_USER)
            }
        }
    }

    /// The whole check, blocking (tests and tools). Err is the refusal reason.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), &'static str> {
        match credentials(authorization) {
            Credentials::Missing => Err("missing"),
            Credentials::Malformed => Err(MALFORMED),
            Credentials::Given { user, password } if self.remembered(&user, &password) => Ok(()),
            Credentials::Given { user, password } => self.verify(&user, &password),
        }
    }

    fn refused(&self, reason: &'static str, user: Option<&str>, peer: Option<SocketAddr>) {
        self.metrics
            .auth_failures
            .with_label_values(&[reason])
            .inc();
        // A user name is attacker-chosen: quote it (Debug escapes) and bound its length.
        let user: String = user.unwrap_or("").chars().take(64).collect();
        self.log.failed(reason, &user, peer);
    }
}

/// One log line per second at most; the lines not written are counted in the next one.
#[derive(Default)]
struct FailureLog {
    last: Mutex<Option<Instant>>,
    unlogged: AtomicU64,
}

impl FailureLog {
    fn failed(&self, reason: &str, user: &str, peer: Option<SocketAddr>) {
        let mut last = lock(&self.last);
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(Instant::now());
        let peer = peer.map(|p| p.to_string()).unwrap_or_default();
        tracing::warn!(reason, user = ?user, client = %peer, failures_not_logged = self.unlogged.swap(0, Ordering::Relaxed), "basic auth failed");
    }
}

/// axum middleware: 401 with a `WWW-Authenticate` challenge unless the credentials match.
pub async fn require_basic_auth(
    State(auth): State<Arc<BasicAuth>>,
    req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().ok());
    let (verdict, user) = match value.map(credentials).unwrap_or(Credentials::Missing) {
        // A browser's first request: a challenge, not a failed login.
        Credentials::Missing => (Err(None), None),
        Credentials::Malformed => (Err(Some(MALFORMED)), None),
        Credentials::Given { user, password } if auth.remembered(&user, &password) => {
            (Ok(()), Some(user))
        }
        Credentials::Given { user, password } => {
            // Queue for one of the few bcrypt slots; the check itself runs off the workers.
            let verdict = match auth.checks.clone().acquire_owned().await {
                Ok(permit) => {
                    let a = auth.clone();
                    let u = user.clone();
                    tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        a.verify(&u, &password)
                    })
                    .await
                    .unwrap_or(Err(WRONG_PASSWORD))
                }
                Err(_) => Err(WRONG_PASSWORD),
            };
            (verdict.map_err(Some), Some(user))
        }
    };
    match verdict {
        Ok(()) => next.run(req).await,
        Err(reason) => {
            if let Some(reason) = reason {
                auth.refused(reason, user.as_deref(), peer);
            }
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"llm-exporter\"")],
                "Unauthorized\n",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(u: &str, p: &str) -> String {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    }

    fn auth() -> BasicAuth {
        let hash = bcrypt::hash("s3cret", 5).unwrap();
        BasicAuth::new(
            BTreeMap::from([("prometheus".to_string(), hash)]),
            Arc::new(SelfMetrics::new("test", "0")),
        )
    }

    #[test]
    fn basic_auth_checks_bcrypt_hashes_and_remembers_successes() {
        let a = auth();
        assert_eq!(a.check(Some(&header("prometheus", "s3cret"))), Ok(()));
        assert_eq!(a.bcrypt_runs.load(Ordering::Relaxed), 1);
        assert_eq!(a.check(Some(&header("prometheus", "s3cret"))), Ok(()));
        assert_eq!(a.bcrypt_runs.load(Ordering::Relaxed), 1, "remembered");
        assert_eq!(
            a.check(Some(&header("prometheus", "wrong"))),
            Err(WRONG_PASSWORD)
        );
        assert_eq!(a.check(None), Err("missing"));
        assert_eq!(a.check(Some("Bearer x")), Err(MALFORMED));
        assert_eq!(a.check(Some("Basic !!!")), Err(MALFORMED));
    }

    #[test]
    fn unknown_users_cost_one_bcrypt_check_at_the_configured_cost() {
        let a = auth();
        assert_eq!(
            cost(&a.dummy),
            Some(5),
            "the dummy hash has the users' cost"
        );
        let before = a.bcrypt_runs.load(Ordering::Relaxed);
        assert_eq!(
            a.check(Some(&header("mallory", "s3cret"))),
            Err(UNKNOWN_USER)
        );
        assert_eq!(
            a.bcrypt_runs.load(Ordering::Relaxed),
            before + 1,
            "an unknown user is verified against the dummy hash, like a known one"
        );
        assert_eq!(
            a.check(Some(&header("prometheus", "nope"))),
            Err(WRONG_PASSWORD)
        );
        assert_eq!(a.bcrypt_runs.load(Ordering::Relaxed), before + 2);
        // Never a match, whatever the password.
        assert!(!bcrypt::verify("", &a.dummy).unwrap());
    }
}

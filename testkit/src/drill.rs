//! What every drill shares: a scraper that runs beside the test like a greedy Prometheus,
//! timing each scrape and checking that no counter ever goes down (across restarts too), a
//! ticker for usage arriving throughout, and the two ways a process dies.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{http_get, Exporter, Scrape};

/// What a scraper saw.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub scrapes: u64,
    pub max_latency: Duration,
    /// Scrapes slower than one second.
    pub slow: u64,
    pub decreases: u64,
    /// Scrapes that failed or answered other than 200 while pointed at an exporter.
    pub errors: u64,
    /// The first problems seen (decreases, errors), for the failure message.
    pub problems: Vec<String>,
}

impl Figures {
    /// One line a report can quote.
    pub fn line(&self) -> String {
        format!(
            "{} scrapes checked, max scrape latency {:.1} ms, {} slower than 1 s, {} decreases, {} failed scrapes",
            self.scrapes,
            self.max_latency.as_secs_f64() * 1e3,
            self.slow,
            self.decreases,
            self.errors
        )
    }

    /// Every scrape answered, each within a second, and no counter went down.
    pub fn assert_clean(&self) {
        assert!(
            self.scrapes > 0 && self.slow == 0 && self.decreases == 0 && self.errors == 0,
            "{}\nfirst problems: {:#?}",
            self.line(),
            self.problems
        );
    }

    fn problem(&mut self, p: String) {
        if self.problems.len() < 20 {
            self.problems.push(p);
        }
    }
}

struct Shared {
    /// host:port of the exporter to scrape; None while it is being restarted. Held during
    /// a scrape, so that pointing elsewhere waits for the scrape in flight.
    addr: Mutex<Option<String>>,
    path: String,
    stop: AtomicBool,
    figures: Mutex<Figures>,
    /// Highest value seen per counter series.
    highest: Mutex<BTreeMap<String, f64>>,
}

/// Scrapes every `every` in a thread of its own until stopped (at most 10 minutes).
pub struct Scraper {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scraper {
    /// Checks every series whose family `counter` accepts (e.g. `|n| n.ends_with("_total")`).
    pub fn start(exporter: &Exporter, every: Duration, counter: fn(&str) -> bool) -> Scraper {
        let shared = Arc::new(Shared {
            addr: Mutex::new(Some(exporter.addr.clone())),
            path: exporter.metrics_path.clone(),
            stop: AtomicBool::new(false),
            figures: Mutex::new(Figures::default()),
            highest: Mutex::new(BTreeMap::new()),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(600);
            while !s.stop.load(Ordering::Acquire) && Instant::now() < end {
                scrape_once(&s, counter);
                std::thread::sleep(every);
            }
        });
        Scraper {
            shared,
            thread: Some(thread),
        }
    }

    /// Points the scraper at another exporter (None: pauses it); returns once no scrape of
    /// the previous one is in flight.
    pub fn point_at(&self, exporter: Option<&Exporter>) {
        *self.shared.addr.lock().unwrap() = exporter.map(|e| e.addr.clone());
    }

    pub fn figures(&self) -> Figures {
        self.shared.figures.lock().unwrap().clone()
    }

    pub fn stop(mut self) -> Figures {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.figures()
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn scrape_once(s: &Shared, counter: fn(&str) -> bool) {
    let addr = s.addr.lock().unwrap();
    let Some(addr) = addr.as_deref() else { return };
    let started = Instant::now();
    let answer = http_get(addr, &s.path);
    let took = started.elapsed();
    let mut f = s.figures.lock().unwrap();
    f.scrapes += 1;
    f.max_latency = f.max_latency.max(took);
    if took > Duration::from_secs(1) {
        f.slow += 1;
        f.problem(format!("scrape took {took:?}"));
    }
    let body = match answer {
        Ok((200, body)) => body,
        Ok((status, body)) => {
            f.errors += 1;
            return f.problem(format!("status {status}: {}", &body[..body.len().min(200)]));
        }
        Err(e) => {
            f.errors += 1;
            return f.problem(format!("scrape failed: {e}"));
        }
    };
    let mut highest = s.highest.lock().unwrap();
    for (name, labels, value) in Scrape::parse(&body).series {
        if !counter(&name) {
            continue;
        }
        let key = format!("{name}{labels:?}");
        let top = highest.entry(key.clone()).or_insert(value);
        if value < *top - 1e-9 * top.abs().max(1.0) {
            f.decreases += 1;
            f.problem(format!("{key}: {value} after {top}"));
        }
        *top = top.max(value);
    }
}

/// Runs `tick` every `every` in a thread of its own until stopped (at most 5 minutes): usage
/// arriving while a drill runs.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    pub fn start(every: Duration, mut tick: impl FnMut() + Send + 'static) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(300);
            while !s.load(Ordering::Acquire) && Instant::now() < end {
                tick();
                std::thread::sleep(every);
            }
        });
        Ticker {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops after the tick in progress; no tick runs after this returns.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// SIGKILL: no shutdown path runs.
pub fn kill_9(mut e: Exporter) {
    let mut child = e.proc.child.take().expect("running");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// SIGTERM and wait for the exit; panics unless the exporter exits 0 within 20 s.
pub fn sigterm(mut e: Exporter) {
    let status = e.proc.stop().expect("running");
    assert!(status.success(), "exit {status:?}\n{}", e.proc.log());
}

/// A tiny xorshift for the random moments (seeded from the clock; print the seed).
pub fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

pub fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1
}

/// The peak resident set (VmHWM) of a running process, in KiB, where /proc has it.
pub fn peak_rss_kib(e: &Exporter) -> Option<u64> {
    let pid = e.proc.child.as_ref()?.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Only the usage counters (`llm_*_total`, not the exporter's own `llm_exporter_*`, which
/// start again at zero in a new process).
pub fn usage_counter(name: &str) -> bool {
    name.ends_with("_total") && !name.starts_with("llm_exporter_")
}

/// Restarts `exporter` `times` times at random moments (0.2-2.5 s apart), each time by
/// `stop` (kill_9 or sigterm) and `start`, while a scraper every 20 ms checks that no usage
/// counter ever goes down across the restarts. Returns the last exporter and the scraper,
/// still running (stop it after checking the totals).
pub fn restart_loop(
    mut exporter: Exporter,
    times: usize,
    stop: fn(Exporter),
    mut start: impl FnMut() -> Exporter,
) -> (Exporter, Scraper) {
    let seed = seed();
    eprintln!("restart loop: seed {seed}");
    let mut rng = seed;
    let scraper = Scraper::start(&exporter, Duration::from_millis(20), usage_counter);
    for _ in 0..times {
        std::thread::sleep(Duration::from_millis(200 + next(&mut rng) % 2_300));
        scraper.point_at(None);
        stop(exporter);
        exporter = start();
        scraper.point_at(Some(&exporter));
    }
    (exporter, scraper)
}

/// The breaker drill: 500 on every request until `is_open` (within `open_within`), then a
/// reset on every request, so the half-open trial meets one and the breaker opens again. The
/// breaker must have stayed open at least 25 s before its trial (it opens for 30 s). The log
/// check and the figures stay with the caller's rig.
pub fn half_open_trial_meets_a_fault(
    proxy: &crate::fault_proxy::FaultProxy,
    exporter: &Exporter,
    open_within: Duration,
    is_open: impl Fn(&Scrape) -> bool,
) {
    use crate::fault_proxy::Fault;
    proxy.set(Some(Fault::Status(500)), 1);
    exporter.wait_for("the breaker to open", open_within, &is_open);
    let opened = Instant::now();
    let before = proxy.count("reset");
    proxy.set(Some(Fault::Reset), 1);
    crate::wait_until("the half-open trial", Duration::from_secs(45), || {
        (proxy.count("reset") > before).then_some(())
    });
    let trial_after = opened.elapsed();
    exporter.wait_for(
        "the breaker to open again",
        Duration::from_secs(10),
        &is_open,
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        trial_after >= Duration::from_secs(25),
        "open for {trial_after:?}"
    );
    eprintln!(
        "breaker: trial after {trial_after:?}; {} attempt(s) reached the proxy while it was open again",
        proxy.count("reset") - before
    );
}

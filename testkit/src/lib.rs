//! Test harness shared by the exporters' integration tests: real processes (exporter binaries,
//! promtool) on 127.0.0.1 with free ports, polled with deadlines, stopped on drop.

pub mod bare;
pub mod cloud;
pub mod drill;
pub mod drills;
pub mod fault_proxy;
pub mod fuzz;
pub mod hostile;
pub mod layers;
pub mod localstack;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// A free port in 20000-29999: below Linux's ephemeral range (32768-60999), which is where
/// every `bind(127.0.0.1:0)` in the test run gets its port from.
pub fn non_ephemeral_free_port() -> u16 {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
    let mut x = seed | 1;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let port = 20_000 + (x % 10_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000-29999 after 10,000 tries");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it returns Some, or panics with `what` after `deadline`.
pub fn wait_until<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Option<Child>,
    pub log: Arc<Mutex<String>>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        Proc {
            child: Some(child),
            log,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM, then wait (SIGKILL after 20 s).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), "-TERM");
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > end {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A minimal blocking HTTP/1.0 GET: (status, body).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// The real exporter binary.
pub struct Exporter {
    pub proc: Proc,
    pub addr: String,
    pub metrics_path: String,
}

impl Exporter {
    /// Starts `bin` (an exporter binary) on a free port with `args` and exactly the
    /// environment variables in `remove` removed and `env` set.
    pub fn start(bin: &str, args: &[&str], remove: &[&str], env: &[(&str, &str)]) -> Exporter {
        let mut cmd = Command::new(bin);
        cmd.args(args).arg("--web.listen-address=127.0.0.1:0");
        for var in remove {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let proc = Proc::spawn(cmd);
        let addr = wait_until("the exporter to listen", Duration::from_secs(30), || {
            let log = proc.log();
            let line = log.lines().find(|l| l.contains("listening"))?;
            // logfmt `address=IP:PORT` or JSON `"address":"IP:PORT"`.
            let rest = line
                .split_once("address=")
                .or_else(|| line.split_once("\"address\":\""))?
                .1;
            Some(rest.split([' ', '"']).next()?.to_string())
        });
        let metrics_path = args
            .iter()
            .position(|a| *a == "--web.telemetry-path")
            .map(|i| args[i + 1].to_string())
            .unwrap_or_else(|| "/metrics".into());
        Exporter {
            proc,
            addr,
            metrics_path,
        }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.addr, path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\nexporter log:\n{}", self.proc.log()))
    }

    pub fn scrape(&self) -> Scrape {
        let (status, body) = self.get(&self.metrics_path);
        assert_eq!(status, 200, "{body}");
        Scrape::parse(&body)
    }

    /// Scrapes until `check` holds; on timeout shows the last scrape and the log.
    pub fn wait_for(
        &self,
        what: &str,
        deadline: Duration,
        check: impl Fn(&Scrape) -> bool,
    ) -> Scrape {
        let end = Instant::now() + deadline;
        loop {
            let s = self.scrape();
            if check(&s) {
                return s;
            }
            if Instant::now() > end {
                panic!(
                    "timed out waiting for {what}\nlast scrape:\n{}\nexporter log:\n{}",
                    s.text,
                    self.proc.log()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Unix seconds as RFC 3339 (`2026-11-21T17:00:00Z`), as the clouds' APIs write times.
pub fn rfc3339(secs: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64),
    )
    .to_string()
}

/// RFC 3339 (fractions allowed) to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    humantime::parse_rfc3339_weak(s)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// True when `a` is present and equals `b` up to floating-point rounding (cost totals are
/// sums of many products).
pub fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
}

/// Asserts every family a scrape declares (`# TYPE` lines) is one of `known` (the contract
/// list docs/metrics.md's metric table is checked against).
pub fn assert_families_known(body: &str, known: &[&str]) {
    for family in body.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = family.split_whitespace().next().unwrap_or("");
        assert!(
            known.contains(&name),
            "{name} is exposed but not in metrics::names::ALL"
        );
    }
}

/// A parsed Prometheus text exposition.
pub struct Scrape {
    pub text: String,
    pub series: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut series = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let (head, value) = line.rsplit_once(' ').expect("sample line");
            let value: f64 = value.parse().expect("sample value");
            let (name, labels) = match head.split_once('{') {
                Some((n, rest)) => (n.to_string(), parse_labels(rest.trim_end_matches('}'))),
                None => (head.to_string(), BTreeMap::new()),
            };
            series.push((name, labels, value));
        }
        Scrape {
            text: text.to_string(),
            series,
        }
    }

    /// Every series of `name` whose labels include `labels`.
    pub fn matching(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Vec<&(String, BTreeMap<String, String>, f64)> {
        self.series
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The sum of every series of `name` whose labels include `labels` (whatever their other
    /// labels); None if there is none.
    pub fn total(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let m = self.matching(name, labels);
        (!m.is_empty()).then(|| m.iter().map(|x| x.2).sum())
    }

    /// The value of the one series of `name` with `labels`; None if there is none.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let m = self.matching(name, labels);
        assert!(m.len() <= 1, "{name}{labels:?} matches {} series", m.len());
        m.first().map(|s| s.2)
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    out
}

/// Runs an axum app on 127.0.0.1 (free port) in a thread of its own; stops on drop.
pub struct Server {
    pub addr: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(app: axum::Router) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx
                    .send(listener.local_addr().unwrap().to_string())
                    .unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Server {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `promtool check metrics` on a scrape: (exit code, output).
pub fn promtool_check_metrics(text: &str) -> (i32, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is not installed: run scripts/install-test-deps.sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A test CA and a server certificate for 127.0.0.1 signed by it (rustls refuses a single
/// self-signed certificate that is both CA and server). Returns (ca.pem, server.pem, server.key).
pub fn make_test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=llm-exporter test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// Terminates TLS on 127.0.0.1 and forwards the bytes to `upstream` (LocalStack, plain HTTP).
pub fn tls_proxy(
    upstream: String,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap().to_string()).unwrap();
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        let acceptor = acceptor.clone();
                        let upstream = upstream.clone();
                        tokio::spawn(async move {
                            // A client that rejects our certificate just closes: fine.
                            let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                            let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else { return };
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                        });
                    }
                }
            }
        });
    });
    (
        addr_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        stop_tx,
    )
}

/// Starts Debian's Prometheus with `config` and its data in `data` on 127.0.0.1:`port`, and
/// waits until it is ready.
pub fn start_prometheus_at(config: &Path, data: &Path, port: u16) -> Proc {
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let proc = Proc::spawn(cmd);
    let addr = format!("127.0.0.1:{port}");
    wait_until("Prometheus to be ready", Duration::from_secs(60), || {
        http_get(&addr, "/-/ready")
            .ok()
            .filter(|r| r.0 == 200)
            .map(|_| ())
    });
    proc
}

/// Standard base64 with padding, for basic-auth headers in tests (no base64 crate linked).
pub fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

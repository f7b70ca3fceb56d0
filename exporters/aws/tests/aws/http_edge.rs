//! The HTTP edge of the real binary (demo source, no cloud): gzip as Prometheus reads it,
//! header and idle timeouts, the connection limit with its health reserve, and basic auth
//! failures counted and logged.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// One HTTP/1.0 request on a fresh connection with short timeouts: (head, body bytes).
fn request(addr: &str, path: &str, headers: &str) -> std::io::Result<(String, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    Ok((
        String::from_utf8_lossy(&raw[..split]).into_owned(),
        raw[split + 4..].to_vec(),
    ))
}

fn status(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Reads until the server closes the connection; the time it took, or None if it stayed
/// open past `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

#[test]
fn gzip_is_negotiated_as_one_member_that_prometheus_and_single_member_readers_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir, "c.yaml", "poll_interval: 1s\n");
    let exporter = start_exporter(&["--demo", "--config.file", &config], &[]);
    exporter.wait_for("usage series", Duration::from_secs(20), |s| {
        !s.matching("llm_tokens_total", &[]).is_empty()
    });

    let (head, plain) = request(&exporter.addr, "/metrics", "").unwrap();
    assert_eq!(status(&head), 200);
    let head = head.to_ascii_lowercase();
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );

    let (head, gz) = request(&exporter.addr, "/metrics", "Accept-Encoding: gzip\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    assert!(
        gz.len() * 4 < plain.len(),
        "{} vs {}",
        gz.len(),
        plain.len()
    );
    // gzip(1) reads every member: self-metrics first, then the published usage part.
    let mut gunzip = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    gunzip.stdin.take().unwrap().write_all(&gz).unwrap();
    let out = gunzip.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for family in [
        "llm_exporter_build_info",
        "llm_tokens_total",
        "llm_exporter_series",
    ] {
        assert!(text.contains(family), "{family} missing after gunzip");
    }
    let (code, lint) = promtool_check_metrics(&text);
    assert_eq!((code, lint.as_str()), (0, ""));
    // One member: a reader that stops after the first one (as curl --compressed does) gets
    // the whole text, usage included; with the self-metrics and the usage in two members,
    // curl would show no usage series.
    let mut single = Command::new("python3")
        .args([
            "-c",
            "import sys, zlib; d = zlib.decompressobj(31); t = d.decompress(sys.stdin.buffer.read()); \
             assert d.eof and not d.unused_data, 'more than one gzip member'; sys.stdout.buffer.write(t)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    single.stdin.take().unwrap().write_all(&gz).unwrap();
    let out = single.wait_with_output().unwrap();
    assert!(out.status.success(), "not one gzip member");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);

    // Prometheus (which always asks for gzip) scrapes it.
    let prom_config = write(
        &dir,
        "prometheus.yml",
        &format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: exporter\n    static_configs: [{{targets: ['{}']}}]\n",
            exporter.addr
        ),
    );
    let port = non_ephemeral_free_port();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={prom_config}"))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut prometheus = Proc::spawn(cmd);
    let addr = format!("127.0.0.1:{port}");
    let query = |q: &str| -> usize {
        let (_, body) = http_get(&addr, &format!("/api/v1/query?query={q}")).unwrap_or_default();
        body.matches("\"metric\"").count()
    };
    wait_until(
        "Prometheus to scrape self-metrics and usage series over gzip",
        Duration::from_secs(60),
        || {
            (query("up%3D%3D1") == 1
                && query("llm_exporter_build_info") == 1
                && query("llm_tokens_total") > 0)
                .then_some(())
        },
    );
    prometheus.stop();
}

#[test]
fn slowloris_and_idle_connections_are_closed_after_the_header_timeout() {
    let exporter = start_exporter(&["--demo", "--web.header-timeout", "1s"], &[]);
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&exporter.addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // A slowloris client keeps sending a header byte now and then; it still gets cut off.
    let started = Instant::now();
    let mut closed = vec![None; slow.len()];
    while started.elapsed() < Duration::from_secs(6) && closed.iter().any(Option::is_none) {
        for (s, c) in slow.iter_mut().zip(closed.iter_mut()) {
            if c.is_none() && s.write_all(b"X").is_err() {
                *c = Some(started.elapsed());
            }
            if c.is_none() {
                *c = closed_within(s, Duration::from_millis(10));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        closed.iter().all(Option::is_some),
        "slowloris connections still open after 6 s: {closed:?}"
    );

    // A keep-alive connection left idle after its request is closed as well.
    let mut idle = TcpStream::connect(&exporter.addr).unwrap();
    idle.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 64];
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = idle.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut idle, Duration::from_secs(6)).is_some(),
        "an idle keep-alive connection stayed open"
    );
    assert_eq!(exporter.get("/-/healthy").0, 200);
}

#[test]
fn health_checks_answer_while_idle_connections_exceed_the_descriptor_limit() {
    // 128 descriptors: without a limit, ~115 idle connections exhaust them and nothing is
    // accepted any more (the health check hangs, nothing is logged).
    let bin = env!("CARGO_BIN_EXE_llm-exporter-aws");
    let exporter = Exporter::start(
        "prlimit",
        &["--nofile=128:128", "--", bin, "--demo"],
        &["AWS_PROFILE", "AWS_ENDPOINT_URL"],
        &[
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        ],
    );
    assert!(exporter.proc.log().contains("max_connections=56"));
    let idle: Vec<TcpStream> = (0..150)
        .filter_map(|_| TcpStream::connect(&exporter.addr).ok())
        .collect();
    assert!(idle.len() > 100, "only {} connections opened", idle.len());
    wait_until(
        "/-/healthy to answer beside 150 idle connections",
        Duration::from_secs(15),
        || {
            request(&exporter.addr, "/-/healthy", "")
                .ok()
                .filter(|(h, _)| status(h) == 200)
        },
    );
    wait_until("the limit to be logged", Duration::from_secs(5), || {
        exporter
            .proc
            .log()
            .contains("connection limit reached")
            .then_some(())
    });
    drop(idle);
    // Once the idle clients leave, scrapes work as before.
    wait_until(
        "a scrape after the idle clients left",
        Duration::from_secs(10),
        || {
            request(&exporter.addr, "/metrics", "")
                .ok()
                .filter(|(h, _)| status(h) == 200)
        },
    );
}

#[test]
fn failed_logins_are_counted_and_logged_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("right-s3cret", 4).unwrap();
    let web = write(
        &dir,
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
    );
    let exporter = start_exporter(&["--demo", "--web.config.file", &web], &[]);
    let basic = |u: &str, p: &str| {
        format!(
            "Authorization: Basic {}\r\n",
            base64(format!("{u}:{p}").as_bytes())
        )
    };
    let attempts = [
        basic("mallory", "hunter2-unknown"),
        basic("mallory", "hunter2-unknown"),
        basic("prometheus", "hunter2-wrong"),
        basic("prometheus", "hunter2-wrong"),
        basic("prometheus", "hunter2-wrong"),
        "Authorization: Bearer hunter2-token\r\n".to_string(),
        String::new(),
    ];
    for a in &attempts {
        let (head, _) = request(&exporter.addr, "/metrics", a).unwrap();
        assert_eq!(status(&head), 401, "{a}");
    }
    let (head, body) = request(
        &exporter.addr,
        "/metrics",
        &basic("prometheus", "right-s3cret"),
    )
    .unwrap();
    assert_eq!(status(&head), 200);
    let s = Scrape::parse(&String::from_utf8(body).unwrap());
    let failures = |reason| {
        s.value(
            "llm_exporter_http_auth_failures_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(failures("unknown_user"), Some(2.0));
    assert_eq!(failures("wrong_password"), Some(3.0));
    assert_eq!(
        failures("malformed"),
        Some(1.0),
        "no credentials is not a failure"
    );
    let log = exporter.proc.log();
    assert!(
        log.contains("basic auth failed") && log.contains("mallory"),
        "{log}"
    );
    assert!(
        !log.contains("hunter2"),
        "a password reached the log:\n{log}"
    );
}

//! The binary's edges: key hashing, config checking (errors name the file and the field),
//! the shipped example config, and the compose service and Dockerfile.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::root;

fn gateway() -> Command {
    Command::new(env!("CARGO_BIN_EXE_llm-gateway"))
}

#[test]
fn version_names_the_git_revision() {
    let out = gateway().arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let revision = text
        .trim()
        .strip_prefix(concat!(
            "llm-gateway ",
            env!("CARGO_PKG_VERSION"),
            " (revision "
        ))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        revision == "unknown"
            || (revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())),
        "{text}"
    );
}

#[test]
fn hash_key_from_argument_stdin_and_generated() {
    let out = gateway().args(["hash-key", "test"]).output().unwrap();
    assert!(out.status.success());
    let want = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n";
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    let mut child = gateway()
        .arg("hash-key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"test\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    let out = gateway().args(["hash-key", "--generate"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let key = text.lines().next().unwrap().strip_prefix("key: ").unwrap();
    let hash = text
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("api_key_sha256: ")
        .unwrap();
    assert_eq!(key.len(), 64);
    let again = gateway().args(["hash-key", key]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), hash);
}

#[test]
fn the_example_config_is_valid_and_bad_configs_name_file_and_field() {
    let example = root().join("gateway/examples/gateway.yaml");
    let out = gateway()
        .args(["check-config", "--config.file", example.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "upstreams: [{cloud: aws, url: 'http://a'}]\ntenants: [{name: x, api_key_sha256: nothex}]\n",
    )
    .unwrap();
    // `--config.check`, the exporters' flag, does what `check-config` does.
    let out = gateway()
        .args(["--config.check", "--config.file", example.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(": ok ("),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for args in [
        vec!["check-config"],
        vec!["--config.check"],
        vec!["--web.listen-address", "127.0.0.1:0"],
        vec!["mcp", "--stdio", "--api-key", "k"],
    ] {
        let out = gateway()
            .args(&args)
            .args(["--config.file", bad.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("config file {}", bad.display()))
                && err.contains("`tenants[0].api_key_sha256`"),
            "{args:?}: {err}"
        );
    }
    // A valid config with an unknown stdio key refuses to start.
    let out = gateway()
        .args(["mcp", "--stdio", "--api-key", "not-a-key", "--config.file"])
        .arg(&example)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown API key"));
}

#[test]
fn compose_runs_the_gateway_from_a_non_root_multi_stage_image() {
    let bin = root().join(".venv-compose/bin/docker-compose-v2");
    assert!(
        bin.exists(),
        "run scripts/install-test-deps.sh (Compose v2)"
    );
    let out = Command::new(&bin)
        .args(["-f", "docker-compose.yml", "config"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = String::from_utf8_lossy(&out.stdout);
    assert!(full.contains("  llm-gateway:"), "{full}");
    assert!(full.contains("docker/gateway.Dockerfile"));
    let dockerfile = std::fs::read_to_string(root().join("docker/gateway.Dockerfile")).unwrap();
    assert!(dockerfile.matches("FROM ").count() >= 2 && dockerfile.contains("USER 10001"));
}

fn post(addr: &str, headers: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /mcp HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn sigterm_stops_the_server_even_with_an_open_mcp_event_stream() {
    let dir = tempfile::tempdir().unwrap();
    let out = gateway().args(["hash-key", "k"]).output().unwrap();
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let config = dir.path().join("gw.yaml");
    std::fs::write(
        &config,
        format!(
            "upstreams: [{{cloud: aws, url: 'http://127.0.0.1:1'}}]\ntenants: [{{name: a, api_key_sha256: {hash}}}]\nstate_file: {}\n",
            dir.path().join("s.json").display()
        ),
    )
    .unwrap();
    let mut g = testkit::Exporter::start(
        env!("CARGO_BIN_EXE_llm-gateway"),
        &["--config.file", config.to_str().unwrap()],
        &[],
        &[],
    );
    let init = post(
        &g.addr,
        "",
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    );
    assert!(init.contains("\"llm-gateway\""), "{init}");
    // Logs are logfmt by default, as documented.
    let log = g.proc.log();
    let line = log.lines().find(|l| l.contains("listening")).unwrap();
    assert!(
        line.starts_with("ts=")
            && line.contains(" level=info ")
            && line.contains(" address=127.0.0.1:"),
        "{line}"
    );
    let session = init
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("mcp-session-id: ")
                .map(|v| v.trim().to_string())
        })
        .expect("a session id");
    post(
        &g.addr,
        &format!("Mcp-Session-Id: {session}\r\n"),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    // The standalone event stream: stays open until the server ends it.
    let mut sse = TcpStream::connect(&g.addr).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        sse,
        "GET /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer k\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\n\r\n",
        g.addr
    )
    .unwrap();
    let mut status = String::new();
    BufReader::new(sse.try_clone().unwrap())
        .read_line(&mut status)
        .unwrap();
    assert!(status.contains(" 200"), "{status}");
    let start = Instant::now();
    let exit = g.proc.stop().unwrap();
    assert!(exit.success(), "{exit:?}\n{}", g.proc.log());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

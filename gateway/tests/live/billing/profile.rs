//! S3 credentials from a named AWS profile (the shared `config` and `credentials` files), with
//! no key in the environment: the export on LocalStack's S3 is read, every request is signed
//! with the profile's key (not the `default` profile's), and neither secret reaches the log or
//! the answer. LocalStack does not tell accounts' buckets apart on object requests, so a tap
//! in front of it reads the key id each request is signed with.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Duration as Days, Utc};
use serde_json::{json, Value};
use testkit::localstack::LocalStack;
use testkit::*;

use super::{bedrock, by_period, f, gateway_bin, generate, hash, rows, upload, Gw, A, KEY_ADMIN};

const PROFILE_KEY: &str = "111111111111";
const PROFILE_SECRET: &str = "profile-secret-never-logged";
const DEFAULT_KEY: &str = "222222222222";
const DEFAULT_SECRET: &str = "default-secret-never-used";

/// A TCP proxy that keeps every byte a client sends (the requests' heads: the gateway's S3
/// requests have no bodies).
struct Tap {
    addr: String,
    sent: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tap {
    fn start(upstream: &str) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let sent: Arc<Mutex<Vec<u8>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt, upstream) = (sent.clone(), stop.clone(), upstream.to_string());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut from_server, mut to_client) = (server.try_clone().unwrap(), client);
                let mut from_client = to_client.try_clone().unwrap();
                let mut to_server = server;
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                    let _ = to_client.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from_client.read(&mut buf) {
                        if n == 0 || to_server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = to_server.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Tap {
            addr,
            sent,
            stop,
            thread: Some(thread),
        }
    }

    fn sent(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().unwrap()).into_owned()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn billing_reads_s3_with_credentials_from_an_aws_profile() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let today = Utc::now().date_naive();
    let day = today - Days::days(1);
    let local = d.join("s3");
    generate(
        d,
        json!({"dir": local, "bucket": "owned", "prefix": "cur", "export": "llm-cur",
               "layout": "cur2", "file_format": "parquet",
               "periods": by_period(&[json!([
                   bedrock(day, 3, A, 2.5, "USE1-NovaPro-input-tokens", "x"),
                   bedrock(today, 0, A, 1.0, "USE1-NovaPro-input-tokens", "x")])], None)}),
    );
    let ls = LocalStack::start("s3", "s3");
    upload(&ls, "owned", &local);
    let tap = Tap::start(ls.url.trim_start_matches("http://"));

    let aws = d.join("aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("config"),
        "[default]\nregion = us-east-1\n\n[profile billing]\nregion = us-east-1\n",
    )
    .unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!("[default]\naws_access_key_id = {DEFAULT_KEY}\naws_secret_access_key = {DEFAULT_SECRET}\n\n[billing]\naws_access_key_id = {PROFILE_KEY}\naws_secret_access_key = {PROFILE_SECRET}\n"),
    )
    .unwrap();
    // Prometheus is not running: the billed side is answered without it.
    let config = d.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "upstreams: [{{cloud: aws, url: 'http://127.0.0.1:9', timeout: 2s}}]\nadmin: {{api_key_sha256: {}}}\nstate_file: {}\nbilling:\n  - {{cloud: aws, format: cur2, url: 's3://owned/cur/llm-cur/'}}\n",
            hash(KEY_ADMIN),
            d.join("gw.state.json").display()
        ),
    )
    .unwrap();
    let endpoint = format!("http://{}", tap.addr);
    let (config_file, credentials_file) = (
        aws.join("config").display().to_string(),
        aws.join("credentials").display().to_string(),
    );
    let home = d.display().to_string();
    let g = Exporter::start(
        gateway_bin(),
        &["--config.file", config.to_str().unwrap()],
        &[
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_ENDPOINT_URL",
        ],
        &[
            ("HOME", &home),
            ("AWS_CONFIG_FILE", &config_file),
            ("AWS_SHARED_CREDENTIALS_FILE", &credentials_file),
            ("AWS_PROFILE", "billing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            // object_store's own instance-metadata fallback: nothing listens there.
            ("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9"),
            ("AWS_ENDPOINT", &endpoint),
            ("AWS_ALLOW_HTTP", "true"),
        ],
    );
    let gw = Gw { g: &g };
    let path = format!("/api/v1/costs/reconciliation?from={day}&to={day}");
    let v: Value = wait_until("the export read or failed", Duration::from_secs(30), || {
        let v = gw.ok(KEY_ADMIN, &path);
        let e = &v["billing"][0];
        (e["last_read"].is_number() || e["errors"].as_array().is_some_and(|a| !a.is_empty()))
            .then_some(v)
    });
    assert_eq!(
        v["billing"][0]["errors"],
        json!([]),
        "{v:#}\n{}",
        g.proc.log()
    );
    let r = rows(&v);
    let nova = &r[&(day.to_string(), A.to_string(), "NovaPro".to_string())];
    assert!(close(Some(f(&nova["billed_usd"])), 2.5), "{nova}");

    let sent = tap.sent();
    assert!(
        sent.contains(&format!("Credential={PROFILE_KEY}/")),
        "requests not signed with the profile's key:\n{sent}"
    );
    assert!(
        !sent.contains(&format!("Credential={DEFAULT_KEY}/")),
        "{sent}"
    );
    let log = g.proc.log();
    for secret in [PROFILE_SECRET, DEFAULT_SECRET] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
        assert!(!v.to_string().contains(secret));
    }
}

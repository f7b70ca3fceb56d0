//! AWS-side test support: LocalStack, and the exporter started with no ambient AWS set-up.
#![allow(dead_code)]

use std::process::Command;
use std::time::Duration;

pub use testkit::*;

pub mod cloud;
pub mod proxy;

#[allow(unused_imports)]
pub use cloud::*;

/// The AWS exporter with test credentials and nothing from the machine's AWS configuration.
pub fn start_exporter(args: &[&str], env: &[(&str, &str)]) -> Exporter {
    let remove = [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_CLOUDWATCH",
        "AWS_ENDPOINT_URL_BEDROCK",
        "AWS_ENDPOINT_URL_STS",
    ];
    let mut all = vec![
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret-never-logged"),
        ("AWS_REGION", "us-east-1"),
    ];
    all.extend_from_slice(env);
    Exporter::start(env!("CARGO_BIN_EXE_llm-exporter-aws"), args, &remove, &all)
}

/// LocalStack (CloudWatch and STS) from the venv that scripts/install-test-deps.sh makes.
pub struct LocalStack {
    pub proc: Proc,
    pub url: String,
    _data: tempfile::TempDir,
}

impl LocalStack {
    /// Starts LocalStack on a port outside the kernel's ephemeral range, so no other server
    /// of the test run (which bind port 0) can take it during LocalStack's slow start-up;
    /// and checks that the process answering health checks is ours.
    pub fn start() -> LocalStack {
        let python = workspace_root().join(".venv-localstack/bin/python");
        assert!(
            python.exists(),
            "LocalStack is not installed: run scripts/install-test-deps.sh ({} missing)",
            python.display()
        );
        for _attempt in 0..3 {
            let port = non_ephemeral_free_port();
            let data = tempfile::tempdir().unwrap();
            let mut cmd = Command::new(&python);
            cmd.args(["-m", "localstack.runtime.main"])
                .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
                .env("SERVICES", "cloudwatch,sts")
                .env("DNS_ADDRESS", "0")
                .env("DISABLE_EVENTS", "1")
                .env("SKIP_SSL_CERT_DOWNLOAD", "1")
                .env("LOCALSTACK_VOLUME_DIR", data.path())
                .env("FILESYSTEM_ROOT", data.path())
                // Detected as running in a container, LocalStack keeps its CloudWatch store
                // under tempfile.gettempdir(): without this, every LocalStack on the machine
                // (parallel tests, other checkouts) shares one store of datapoints.
                .env("TMPDIR", data.path())
                .current_dir(data.path());
            let mut proc = Proc::spawn(cmd);
            let url = format!("http://127.0.0.1:{port}");
            let health = format!("127.0.0.1:{port}");
            wait_until(
                "LocalStack to become healthy",
                Duration::from_secs(90),
                || {
                    if let Some(Ok(Some(_))) = proc.child.as_mut().map(|c| c.try_wait()) {
                        return Some(());
                    }
                    let body = http_get(&health, "/_localstack/health").ok()?;
                    body.1
                        .contains("\"cloudwatch\": \"available\"")
                        .then_some(())
                },
            );
            let alive = matches!(proc.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)));
            if alive {
                return LocalStack {
                    proc,
                    url,
                    _data: data,
                };
            }
            eprintln!(
                "LocalStack on port {port} exited; retrying on another port:\n{}",
                proc.log()
            );
        }
        panic!("LocalStack did not start three times");
    }
}

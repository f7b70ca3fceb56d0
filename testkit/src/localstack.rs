//! LocalStack (from the venv scripts/install-test-deps.sh makes) with the services a test
//! names, on a port outside the kernel's ephemeral range, its state in a private directory.

use std::process::Command;
use std::time::Duration;

use crate::{http_get, non_ephemeral_free_port, wait_until, workspace_root, Proc};

pub struct LocalStack {
    pub proc: Proc,
    pub url: String,
    _data: tempfile::TempDir,
}

impl LocalStack {
    /// Starts LocalStack with `services` (e.g. `s3`) and waits until `ready` (e.g. `s3`)
    /// reports available.
    pub fn start(services: &str, ready: &str) -> LocalStack {
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
                .env("SERVICES", services)
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
            let health = format!("127.0.0.1:{port}");
            let want = format!("\"{ready}\": \"available\"");
            let want_running = format!("\"{ready}\": \"running\"");
            wait_until(
                "LocalStack to become healthy",
                Duration::from_secs(90),
                || {
                    if let Some(Ok(Some(_))) = proc.child.as_mut().map(|c| c.try_wait()) {
                        return Some(());
                    }
                    let body = http_get(&health, "/_localstack/health").ok()?;
                    (body.1.contains(&want) || body.1.contains(&want_running)).then_some(())
                },
            );
            let alive = matches!(proc.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)));
            if alive {
                return LocalStack {
                    proc,
                    url: format!("http://127.0.0.1:{port}"),
                    _data: data,
                };
            }
            eprintln!(
                "LocalStack on port {port} exited; retrying:\n{}",
                proc.log()
            );
        }
        panic!("LocalStack did not start three times");
    }
}

//! `extra_ca_file` leaves nothing behind in the temporary directory, not even after kill -9.

use std::time::Duration;

use crate::support::*;

#[test]
fn the_ca_bundle_leaves_no_file_behind() {
    let fake = Fake::default();
    let server = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let key = service_account_key(dir.path());
    let (ca, cert, tls_key) = make_test_ca(dir.path());
    let (addr, _stop) = tls_proxy(server.addr.clone(), &cert, &tls_key);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!("https://{addr}"),
        "proj-a",
        &format!("extra_ca_file: {}\n", ca.display()),
    );
    let listing = || -> Vec<String> {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    for _ in 0..2 {
        let mut exporter = start_exporter_with(
            &["--config.file", &cfg],
            &key,
            &[("TMPDIR", tmp.path().to_str().unwrap())],
        );
        exporter.wait_for("a successful poll over TLS", Duration::from_secs(60), |s| {
            s.value("llm_exporter_up", &[]) == Some(1.0)
        });
        // Nothing has a name even while it runs, so a kill -9 cannot leave it behind.
        assert_eq!(listing(), Vec::<String>::new(), "while running");
        exporter.proc.stop();
        assert_eq!(listing(), Vec::<String>::new(), "after exit");
    }
}

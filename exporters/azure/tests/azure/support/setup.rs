//! One fake Azure on TLS with its test CA, and a config pointing the exporter at it.

use super::*;

pub struct Setup {
    pub fake: FakeAzure,
    pub _server: Server,
    pub _tls: tokio::sync::oneshot::Sender<()>,
    pub public: String,
    pub dir: tempfile::TempDir,
    pub ca: std::path::PathBuf,
}

pub fn setup(accounts: Vec<FakeAccount>) -> Setup {
    let fake = FakeAzure::default();
    fake.state().accounts = accounts;
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_test_ca(dir.path());
    let (server, tls, public) = fake.start(&cert, &key);
    Setup {
        fake,
        _server: server,
        _tls: tls,
        public,
        dir,
        ca,
    }
}

/// `config(...)` with lines added to the `azure:` section (e.g. `discovery_ttl: 3s`).
pub fn config_with(t: &Setup, subscriptions: &[&str], top: &str, azure: &str) -> String {
    let path = config(t.dir.path(), &t.public, &t.ca, subscriptions, top);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: String = azure.lines().map(|l| format!("  {l}\n")).collect();
    std::fs::write(
        &path,
        text.replacen("azure:\n", &format!("azure:\n{lines}"), 1),
    )
    .unwrap();
    path
}

/// The sum of every series of `name` matching `labels` (whatever their other labels).
pub fn sum(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.total(name, labels).unwrap_or(0.0)
}

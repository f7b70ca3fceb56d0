//! The fake Cloud Monitoring as the shared drills' fake cloud
//! ([`testkit::cloud::FakeCloud`]): a fake of its own per drill, project `proj-a`,
//! pay-as-you-go input tokens of gemini-2.5-flash.

use testkit::cloud::{FakeCloud, Oversize};

use super::*;

pub const GEMINI: [(&str, &str); 4] = [
    ("model_user_id", "gemini-2.5-flash"),
    ("model_version_id", ""),
    ("publisher", "google"),
    ("location", "us-central1"),
];
pub const INPUT: [(&str, &str); 2] = [("model", "gemini-2.5-flash"), ("token_type", "input")];
/// gemini-2.5-flash, USD per input token.
pub const FLASH_IN: f64 = 0.30e-6;

/// Adds `n` input tokens of gemini-2.5-flash in `proj-a` at `period`.
pub fn add_input(fake: &Fake, period: i64, n: i64) {
    fake.add(
        "proj-a",
        "token_count",
        &GEMINI,
        &[("type", "input"), ("request_type", "shared")],
        period,
        PointValue::Int(n),
    );
}

pub struct GcpCloud {
    fake: Fake,
    server: Server,
    endpoint: String,
    key: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl FakeCloud for GcpCloud {
    const NAME: &'static str = "gcp";
    type Host = ();

    fn host() {}

    fn start(_: &(), _lane: usize) -> GcpCloud {
        let fake = Fake::default();
        let server = fake.start();
        let dir = tempfile::tempdir().unwrap();
        GcpCloud {
            key: service_account_key(dir.path()),
            endpoint: server.url(),
            fake,
            server,
            dir,
        }
    }

    fn upstream(&self) -> String {
        self.server.addr.clone()
    }

    fn route_through(&mut self, proxy: &str) {
        self.endpoint = format!("http://{proxy}");
    }

    fn config(&self, top: &str, timeout: Option<&str>) -> String {
        let path = self.dir.path().join("config.yaml");
        let (endpoint, timeout) = (&self.endpoint, timeout.unwrap_or("2s"));
        std::fs::write(
            &path,
            format!(
                "poll_interval: 1s\n{top}gcp:\n  projects: [proj-a]\n  monitoring_endpoint: {endpoint}\n  timeout: {timeout}\n  {IDLE_WATCH}\n"
            ),
        )
        .unwrap();
        path.display().to_string()
    }

    fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn start_exporter(&self, config: &str) -> Exporter {
        start_exporter(&["--config.file", config], &self.key)
    }

    fn add_baseline(&self) {
        add_input(&self.fake, now_minute() - 60, 1_000);
    }

    fn feed(&self) -> Box<dyn FnMut(i64) + Send> {
        let fake = self.fake.clone();
        Box::new(move |n| add_input(&fake, now_minute(), n))
    }

    fn input_labels(&self) -> Vec<(&'static str, &'static str)> {
        INPUT.to_vec()
    }

    const INPUT_PRICE: Option<f64> = Some(FLASH_IN);

    const CIRCUIT: &'static [(&'static str, &'static str)] =
        &[("api", "timeSeries.list"), ("target", "proj-a")];
    /// One project, one API: one breaker.
    const ONE_BREAKER: bool = true;
    const KILL_9_RESTARTS: usize = 12;

    const API: &'static str = "timeSeries.list";

    fn set_oversize(&self, oversize: Option<Oversize>) {
        self.fake.state().sticky = oversize.map(|o| match o {
            Oversize::Sized(n) => Fault::Oversized(n),
            Oversize::Endless => Fault::Endless,
        });
    }

    const PEAK_RSS_MIB: u64 = 150;

    fn check_refused(&self, oversize: Oversize, exporter: &Exporter, log: &str) {
        if let Oversize::Sized(_) = oversize {
            let s = exporter.scrape();
            assert!(
                s.value("llm_exporter_polls_total", &[("outcome", "error")])
                    .is_some_and(|n| n >= 2.0),
                "each refused body fails its poll: {}",
                s.text
            );
            assert!(
                log.contains(
                    "response body of timeSeries.list exceeds max_response_bytes (65536 bytes)"
                ),
                "the log names the API, the key and the limit: {log}"
            );
        }
    }
}

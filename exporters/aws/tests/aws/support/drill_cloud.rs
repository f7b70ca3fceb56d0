//! LocalStack's CloudWatch as the shared drills' fake cloud ([`testkit::cloud::FakeCloud`]):
//! one LocalStack per test, each drill on it with a model of its own. The exporter reaches
//! LocalStack through the CBOR proxy of [`super::proxy`] (which makes answers large), or
//! through the fault proxy once routed there.

use std::sync::Arc;
use std::time::Duration;

use testkit::cloud::{FakeCloud, Oversize};

use super::proxy::{self, Rules};
use super::*;

pub const ACCOUNT: &str = "111122223333";
const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const SONNET: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

pub struct AwsCloud {
    localstack: String,
    model: &'static str,
    rules: Arc<Rules>,
    _cbor: Server,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl FakeCloud for AwsCloud {
    const NAME: &'static str = "aws";
    type Host = LocalStack;

    fn host() -> LocalStack {
        start_localstack()
    }

    fn start(host: &LocalStack, lane: usize) -> AwsCloud {
        let rules = Arc::new(Rules::default());
        let cbor = proxy::start(host.url.clone(), rules.clone());
        AwsCloud {
            localstack: host.url.clone(),
            model: [HAIKU, SONNET][lane % 2],
            rules,
            endpoint: cbor.url(),
            _cbor: cbor,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn upstream(&self) -> String {
        self.localstack.trim_start_matches("http://").to_string()
    }

    fn route_through(&mut self, proxy: &str) {
        self.endpoint = format!("http://{proxy}");
    }

    fn config(&self, top: &str, timeout: Option<&str>) -> String {
        let path = self.dir.path().join("config.yaml");
        let timeout = timeout.unwrap_or("5s");
        std::fs::write(
            &path,
            format!(
                "poll_interval: 1s\nlookback: 2m\n{top}aws:\n  latency_stats: [avg]\n  \
                 timeout: {timeout}\n  regions: [us-east-1]\n  accounts: [{{account_id: '{ACCOUNT}'}}]\n"
            ),
        )
        .unwrap();
        path.display().to_string()
    }

    fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn start_exporter(&self, config: &str) -> Exporter {
        start_exporter(
            &["--config.file", config],
            &[("AWS_ENDPOINT_URL", &self.endpoint)],
        )
    }

    fn add_baseline(&self) {
        let (rt, cw) = (runtime(), cloudwatch(&self.localstack));
        put(
            &rt,
            &cw,
            &[("InputTokenCount", self.model, now() - 30, 10.0)],
        );
    }

    fn feed(&self) -> Box<dyn FnMut(i64) + Send> {
        let (rt, cw, model) = (runtime(), cloudwatch(&self.localstack), self.model);
        Box::new(move |n| put(&rt, &cw, &[("InputTokenCount", model, now(), n as f64)]))
    }

    fn input_labels(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("model", self.model),
            ("region", "us-east-1"),
            ("token_type", "input"),
        ]
    }

    const INPUT_PRICE: Option<f64> = None;

    /// The model's series, published by the first poll.
    fn baseline_seen(&self, s: &Scrape) -> bool {
        s.value("llm_tokens_total", &self.input_labels()).is_some()
    }

    const CIRCUIT: &'static [(&'static str, &'static str)] = &[("api", "GetMetricData")];
    /// The SDK retries each failed call before the breaker counts it.
    const BREAKER_OPENS_WITHIN: Duration = Duration::from_secs(30);
    /// LocalStack's PutMetricData is slower than the fakes' in-memory additions.
    const DRILL_USAGE_EVERY: Duration = Duration::from_millis(400);
    const RESTART_USAGE_EVERY: Duration = Duration::from_millis(250);

    const API: &'static str = "GetMetricData";

    fn set_oversize(&self, oversize: Option<Oversize>) {
        *self.rules.oversize.lock().unwrap() = oversize.map(|o| match o {
            Oversize::Sized(n) => proxy::Oversize::Padded(n),
            Oversize::Endless => proxy::Oversize::Streamed(64 << 20),
        });
    }

    const PEAK_RSS_MIB: u64 = 48;
}

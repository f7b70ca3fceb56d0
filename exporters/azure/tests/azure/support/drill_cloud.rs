//! The fake Azure as the shared drills' fake cloud ([`testkit::cloud::FakeCloud`]): a fake of
//! its own per drill (its TLS front and token audience are per exporter). Routed through the
//! fault proxy, a second TLS front before the proxy is what the exporter talks to, so every
//! call (token, ARM, `metrics:getBatch`) meets the faults.

use std::sync::Mutex;

use testkit::cloud::{FakeCloud, Oversize};

use super::*;

pub const SUB: &str = "aaaaaaaa-1111-2222-3333-444444444444";
/// gpt-4o GlobalStandard, USD per input token.
const GPT4O_GLOBAL_IN: f64 = 2.50e-6;

pub fn account() -> FakeAccount {
    FakeAccount {
        subscription: SUB.into(),
        name: "oai-east".into(),
        location: "eastus".into(),
        deployments: vec![deployment(
            "chat-prod",
            "gpt-4o",
            "2024-08-06",
            "OpenAI",
            "GlobalStandard",
        )],
    }
}

pub struct AzureCloud {
    setup: Setup,
    account: FakeAccount,
    /// What the exporter is given as every endpoint: the fake's TLS front, or the one before
    /// the fault proxy.
    endpoint: String,
    _front: Option<tokio::sync::oneshot::Sender<()>>,
    /// getBatch calls and endless bytes handed out when the answers were last made large.
    oversized_at: Mutex<(usize, u64)>,
}

impl FakeCloud for AzureCloud {
    const NAME: &'static str = "azure";
    type Host = ();

    fn host() {}

    fn start(_: &(), _lane: usize) -> AzureCloud {
        let account = account();
        let setup = setup(vec![account.clone()]);
        AzureCloud {
            endpoint: setup.public.clone(),
            setup,
            account,
            _front: None,
            oversized_at: Mutex::new((0, 0)),
        }
    }

    fn upstream(&self) -> String {
        self.setup._server.addr.clone()
    }

    fn route_through(&mut self, proxy: &str) {
        let dir = self.setup.dir.path();
        let (front, stop) = tls_proxy(
            proxy.to_string(),
            &dir.join("server.pem"),
            &dir.join("server.key"),
        );
        self.endpoint = format!("https://{front}");
        self.setup.fake.state().public = self.endpoint.clone();
        self._front = Some(stop);
    }

    fn config(&self, top: &str, timeout: Option<&str>) -> String {
        let t = &self.setup;
        let cfg = config(t.dir.path(), &self.endpoint, &t.ca, &[SUB], top);
        if let Some(timeout) = timeout {
            let text = std::fs::read_to_string(&cfg).unwrap();
            std::fs::write(
                &cfg,
                text.replace("timeout: 3s", &format!("timeout: {timeout}")),
            )
            .unwrap();
        }
        cfg
    }

    fn dir(&self) -> &std::path::Path {
        self.setup.dir.path()
    }

    fn start_exporter(&self, config: &str) -> Exporter {
        start_exporter(&["--config.file", config])
    }

    fn add_baseline(&self) {
        let minute = now_minute() - 120;
        self.setup.fake.add(
            &self.account,
            "ProcessedPromptTokens",
            "chat-prod",
            "",
            minute,
            1_000.0,
        );
    }

    fn feed(&self) -> Box<dyn FnMut(i64) + Send> {
        let (fake, account) = (self.setup.fake.clone(), self.account.clone());
        Box::new(move |n| {
            let minute = now_minute();
            fake.add(
                &account,
                "ProcessedPromptTokens",
                "chat-prod",
                "",
                minute,
                n as f64,
            )
        })
    }

    fn input_labels(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("deployment", "oai-east/chat-prod"),
            ("token_type", "input"),
        ]
    }

    const INPUT_PRICE: Option<f64> = Some(GPT4O_GLOBAL_IN);

    /// Every breaker (ARM and the metrics APIs): the proxy faults every call.
    const CIRCUIT: &'static [(&'static str, &'static str)] = &[];

    const API: &'static str = "metrics:getBatch";

    fn set_oversize(&self, oversize: Option<Oversize>) {
        *self.oversized_at.lock().unwrap() =
            (self.setup.fake.calls(BATCH), self.setup.fake.endless_sent());
        let mut state = self.setup.fake.state();
        match oversize {
            Some(Oversize::Sized(n)) => state.sticky.insert(BATCH.into(), Fault::Huge(n)),
            Some(Oversize::Endless) => state.sticky.insert(BATCH.into(), Fault::Endless),
            None => state.sticky.remove(BATCH),
        };
    }

    const PEAK_RSS_MIB: u64 = 100;

    fn check_refused(&self, oversize: Oversize, _: &Exporter, log: &str) {
        match oversize {
            Oversize::Sized(n) => assert!(log.contains(&format!("Content-Length is {n}")), "{log}"),
            Oversize::Endless => {
                let (calls_at, sent_at) = *self.oversized_at.lock().unwrap();
                let calls = (self.setup.fake.calls(BATCH) - calls_at) as u64;
                let sent = self.setup.fake.endless_sent() - sent_at;
                // Loopback socket buffers (autotuned to a few MB) and the TLS front take what
                // the exporter leaves unread: a bound per call well above them, far below
                // what reading until the 3 s timeout would pull (gigabytes on loopback).
                assert!(
                    sent <= calls * 16 * 1024 * 1024,
                    "{sent} bytes handed out for {calls} calls: the body was read far past the cap"
                );
                assert!(!log.contains("timed out"), "refused, not timed out: {log}");
            }
        }
    }
}

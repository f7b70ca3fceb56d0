//! Idle models in a poll of one scope: which models of the plan are fetched in full, after
//! probing the idle ones that are due ([`crate::watch`] decides who is asked what).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use common::base::{lock, unix_now};
use common::error::SourceError;
use common::source::{SampleKind, Window};

use crate::listed::ListedMetric;
use crate::metrics_api::{CloudWatch, Query};
use crate::plan::{model_key, Meaning};
use crate::watch::{newest_traffic, query_start, Ask, Pace, Watch};

/// What a probe of one scope reads and updates.
pub struct Prober<'a> {
    pub scope: &'a str,
    pub cloudwatch: &'a CloudWatch,
    /// Which models are in use, and when each was last fetched or probed.
    pub watch: &'a Mutex<Watch>,
    /// Counter metrics fetched successfully at least once by this process.
    pub fetched: &'a Mutex<HashSet<ListedMetric>>,
    /// How often models are asked for, this poll.
    pub pace: Pace,
}

impl Prober<'_> {
    /// The part of `plan` to fetch in full this poll: models in use and due, and models with
    /// nothing to probe; idle models due for a probe are asked for their request metrics
    /// ([`probe_queries`]) over the open window and kept when the probe finds traffic; the
    /// rest wait ([`crate::watch`] decides).
    pub async fn in_full(
        &self,
        plan: Vec<(Query, Meaning)>,
        window: Window,
    ) -> Result<Vec<(Query, Meaning)>, SourceError> {
        let now = unix_now();
        let pace = self.pace;
        let mut asks: HashMap<String, Ask> = HashMap::new();
        {
            let mut watch = lock(self.watch);
            let listed: HashSet<String> = plan.iter().map(|(q, _)| model_key(&q.metric)).collect();
            watch.retain(|m| listed.contains(m));
            for (q, _) in &plan {
                let key = model_key(&q.metric);
                let ask = watch.ask(&key, now, window.start, pace);
                asks.entry(key).or_insert(ask);
            }
        }
        let probes = probe_queries(&plan, &asks);
        // A model with nothing to probe (latency metrics only) is fetched in full.
        let probed: HashSet<&str> = probes.iter().map(|(k, _)| k.as_str()).collect();
        for (key, ask) in asks.iter_mut() {
            if *ask == Ask::Probe && !probed.contains(key.as_str()) {
                *ask = Ask::Full;
            }
        }
        if !probes.is_empty() {
            let queries: Vec<(Query, i64)> = {
                let fetched = lock(self.fetched);
                probes
                    .iter()
                    .map(|(_, q)| (q.clone(), query_start(window, fetched.contains(&q.metric))))
                    .collect()
            };
            let series = self.cloudwatch.get_metric_data(&queries, window).await?;
            let mut traffic: HashMap<&str, Option<i64>> = HashMap::new();
            for ((key, _), points) in probes.iter().zip(&series) {
                let seen = traffic.entry(key.as_str()).or_default();
                *seen = (*seen).max(newest_traffic(points, window.period));
            }
            let mut watch = lock(self.watch);
            for (key, newest) in traffic {
                if watch.probed(key, now, newest) {
                    tracing::debug!(scope = %self.scope, model = key, "traffic on an idle model: fetched in full");
                    asks.insert(key.to_string(), Ask::Full);
                }
            }
        }
        Ok(plan
            .into_iter()
            .filter(|(q, _)| asks.get(&model_key(&q.metric)) == Some(&Ask::Full))
            .collect())
    }
}

/// The probe of each model asked for one: its model-level request metrics (requests accepted,
/// failed and throttled: no token is billed without an accepted request, and throttles are
/// not in `Invocations`), or where none is listed its first counter.
fn probe_queries(plan: &[(Query, Meaning)], asks: &HashMap<String, Ask>) -> Vec<(String, Query)> {
    let mut out: Vec<(String, Query)> = Vec::new();
    let mut fallback: HashMap<String, Query> = HashMap::new();
    for (q, meaning) in plan {
        let key = model_key(&q.metric);
        if asks.get(&key) != Some(&Ask::Probe) || q.metric.tier.is_some() {
            continue;
        }
        match meaning {
            Meaning::Counter(SampleKind::Invocations | SampleKind::Errors(_)) => {
                out.push((key, q.clone()))
            }
            Meaning::Counter(_) => {
                fallback.entry(key).or_insert_with(|| q.clone());
            }
            Meaning::Latency(..) => {}
        }
    }
    let found: HashSet<String> = out.iter().map(|(k, _)| k.clone()).collect();
    out.extend(fallback.into_iter().filter(|(k, _)| !found.contains(k)));
    out
}

//! `impl Source` for Bedrock in one account and region: discover the metrics that exist
//! (ListMetrics, in `AWS/Bedrock` and `AWS/BedrockMantle`) and the Provisioned Throughputs
//! (Bedrock), fetch the metrics (GetMetricData), and normalize them into samples: tokens,
//! requests and latency per model and billing mode, and the model-unit hours of each
//! Provisioned Throughput. A counter metric this process has not fetched before is fetched
//! from `window.backfill_start`: ListMetrics can list a new metric up to 15 minutes late, and
//! its first minutes must still count.
//!
//! Each exporter has the same files for the same roles (docs/architecture.md, "File map").
//! Bedrock's own: `tiers.rs` (service tiers, its billing modes) and `provisioned.rs`
//! (Provisioned Throughput) in place of `billing.rs`; `listed.rs`, `listing.rs`, `pages.rs`,
//! `plan.rs`, `probe.rs`, `assemble.rs`, `regions.rs`, `costs.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use common::base::{lock, unix_now};
use common::error::{FailureKind, SourceError};
use common::guard::Guard;
use common::pricing::Pricing;
use common::source::{
    Billing, BillingMode, PeriodSums, Sample, SampleKind, SeriesLabels, Source, Window,
};
use tokio::sync::OnceCell;

use crate::assemble::{Counters, ModelLabels};
use crate::discovery::ProfileResolver;
use crate::error::from_sdk;
use crate::listed::ListedMetric;
use crate::metrics_api::{CloudWatch, Query};
use crate::models::{self, classify, ModelRef};
use crate::plan::{self, model_key, Meaning};
use crate::probe::Prober;
use crate::provisioned::{self, ThroughputLister, Throughputs};
use crate::tiers::{Levels, SplitDelay};
use crate::watch::{newest_traffic, query_start, Pace, Watch};

/// Where the `account` label comes from.
pub enum AccountId {
    Known(String),
    /// Asked of STS GetCallerIdentity on first use, so start-up does not need the network.
    FromSts {
        client: aws_sdk_sts::Client,
        guard: Arc<Guard>,
    },
}

pub struct BedrockSource {
    pub scope: String,
    pub region: String,
    pub account_id: AccountId,
    pub account: OnceCell<String>,
    pub cloudwatch: CloudWatch,
    pub profiles: ProfileResolver,
    pub throughputs: ThroughputLister,
    /// (contract stat label, CloudWatch statistic), e.g. ("avg", "Average").
    pub latency_stats: Vec<(String, String)>,
    /// Counter metrics fetched successfully at least once by this process.
    pub fetched: Mutex<HashSet<ListedMetric>>,
    /// Which level (model-only, or per service tier) each minute of a model is read at.
    pub levels: Mutex<Levels>,
    /// Which models are in use, and when each was last fetched or probed.
    pub watch: Mutex<Watch>,
    /// `poll_interval` and the longest interval a budget slowdown may reach (half the
    /// lookback), in seconds.
    pub poll_interval: i64,
    pub slowest: i64,
    /// `aws.idle_probe_interval` in seconds; 0: every model fetched in full every poll.
    pub probe_every: i64,
    /// `aws.tier_split_delay` in seconds (tiers.rs says why).
    pub tier_split_delay: i64,
    /// The API budget's slowdown factor.
    pub metrics: Arc<common::metrics::SelfMetrics>,
    /// The catalog loaded at start-up, only to label a bedrock-mantle model with the name the
    /// runtime endpoint uses for it (prices are chosen from every candidate at each poll).
    pub catalog: Arc<Pricing>,
}

impl BedrockSource {
    async fn account(&self) -> Result<&str, SourceError> {
        let id = self
            .account
            .get_or_try_init(|| async {
                match &self.account_id {
                    AccountId::Known(id) => Ok(id.clone()),
                    AccountId::FromSts { client, guard } => {
                        let out = guard
                            .call(|| {
                                let req = client.get_caller_identity();
                                async move { req.send().await.map_err(from_sdk) }
                            })
                            .await
                            .map_err(|e| {
                                SourceError::from(e).context("cannot tell the account id")
                            })?;
                        out.account().map(str::to_string).ok_or_else(|| {
                            SourceError::new(
                                FailureKind::InvalidAnswer,
                                "STS GetCallerIdentity returned no account",
                            )
                        })
                    }
                }
            })
            .await?;
        Ok(id)
    }

    fn series_labels(&self, account: &str, model: String, deployment: String) -> SeriesLabels {
        let regional = models::is_regional(&model);
        SeriesLabels {
            account: account.to_string(),
            region: self.region.clone(),
            model,
            deployment,
            billing: Billing {
                regional,
                ..Billing::default()
            },
        }
    }

    /// Labels and price keys of a listed metric's model: bedrock-mantle traffic is told apart
    /// by its `deployment` (`mantle`, `mantle:<project>`); for a ModelId value, application
    /// inference profiles are resolved to their model (a profile copied from a geo profile is
    /// priced at the geo model's rate, else at its foundation model's), and a Provisioned
    /// Throughput's ARN to its model and name (billed by the hour, not per token).
    async fn labels(
        &self,
        account: &str,
        metric: &ListedMetric,
        throughputs: Option<&Throughputs>,
    ) -> ModelLabels {
        if let Some(project) = &metric.mantle_project {
            let keys = models::mantle_price_keys(&metric.model_id);
            let model = keys
                .iter()
                .find(|k| self.catalog.model(k).is_some())
                .unwrap_or(&keys[0])
                .clone();
            let mut labels = self.series_labels(account, model, models::mantle_deployment(project));
            // "bedrock-mantle is in-Region only".
            labels.billing.regional = true;
            return ModelLabels {
                labels,
                price_keys: keys,
            };
        }
        let model_id = metric.model_id.as_str();
        match classify(model_id) {
            ModelRef::Model(m) => ModelLabels {
                price_keys: vec![m.clone()],
                labels: self.series_labels(account, m, String::new()),
            },
            ModelRef::ApplicationProfile(p) => match self.profiles.resolve(&p).await {
                Ok(Some(profile)) => {
                    let mut price_keys = vec![profile.model.clone()];
                    if profile.base_model != profile.model {
                        price_keys.push(profile.base_model.clone());
                    }
                    ModelLabels {
                        labels: self.series_labels(account, profile.model, profile.name),
                        price_keys,
                    }
                }
                Ok(None) => {
                    tracing::warn!(scope = %self.scope, profile = %p, "unknown application inference profile: labelled with its id, not priced");
                    self.unresolved(account, p)
                }
                Err(e) => {
                    tracing::warn!(scope = %self.scope, profile = %p, error = %e, "cannot list application inference profiles: labelled with the profile id, not priced, until a listing succeeds (its minutes are counted once either way)");
                    self.unresolved(account, p)
                }
            },
            ModelRef::Provisioned(arn) => {
                let (model, name) = match throughputs.and_then(|t| t.get(&arn)) {
                    Some(t) => (t.model.clone(), t.name.clone()),
                    // Deleted, or the listing failed: the ARN's id names it.
                    None => (
                        arn.clone(),
                        arn.rsplit('/').next().unwrap_or(&arn).to_string(),
                    ),
                };
                let mut labels = self.series_labels(account, model.clone(), name);
                labels.billing.mode = BillingMode::Provisioned;
                ModelLabels {
                    labels,
                    price_keys: vec![model],
                }
            }
        }
    }

    fn unresolved(&self, account: &str, profile: String) -> ModelLabels {
        ModelLabels {
            labels: self.series_labels(account, profile.clone(), profile.clone()),
            price_keys: vec![profile],
        }
    }

    /// The model-unit hours of every billed Provisioned Throughput, per minute of the window.
    fn capacity(
        &self,
        account: &str,
        throughputs: &Throughputs,
        window: Window,
        sums: &mut PeriodSums,
    ) {
        for t in throughputs.values() {
            let mut labels = self.series_labels(account, t.model.clone(), t.name.clone());
            labels.billing.mode = BillingMode::Provisioned;
            let keys = provisioned::capacity_price_keys(&self.region, t.term, &t.model);
            let series = format!("{}#capacity", t.arn);
            for (period, hours) in
                provisioned::unit_hours(t, window.start, window.end, window.period)
            {
                sums.add(
                    &series,
                    &labels,
                    SampleKind::CapacityUnitHours,
                    period,
                    hours,
                    &keys,
                );
            }
        }
    }
}

impl Source for BedrockSource {
    fn scope(&self) -> &str {
        &self.scope
    }

    fn budget_max_factor(&self, poll_interval_secs: i64, cap_secs: i64) -> Option<f64> {
        (self.probe_every > 0)
            .then(|| Pace::max_factor(poll_interval_secs, self.probe_every, cap_secs))
    }

    async fn fetch(&self, window: Window) -> Result<Vec<Sample>, SourceError> {
        let account = self.account().await?.to_string();
        // Bedrock's listing runs beside CloudWatch's, so it adds no time to the poll. A failed
        // listing of Provisioned Throughputs holds back neither the tokens nor the other
        // scopes: their hours are added by the next poll that lists them while the minutes are
        // still open (within `lookback`).
        let (listed, throughputs) = tokio::join!(self.cloudwatch.list_metrics(), async {
            match self.throughputs.list().await {
                Some(Ok(t)) => Some(t),
                Some(Err(e)) => {
                    tracing::warn!(scope = %self.scope, error = %e, "cannot list Provisioned Throughputs (bedrock:ListProvisionedModelThroughputs): their hourly cost is not counted until a listing succeeds; their tokens are counted");
                    None
                }
                None => None,
            }
        });
        let listed = listed?;
        plan::observe_levels(&self.levels, &listed, window, unix_now());
        let since = window.start.min(window.backfill_start);
        let plan = plan::plan(&self.levels, &self.latency_stats, &listed, since);
        let mut sums = PeriodSums::default();
        if let Some(t) = &throughputs {
            self.capacity(&account, t, window, &mut sums);
        }
        // Idle models are probed; those in use, or found in use by the probe, fetched in full.
        let plan = if self.probe_every == 0 {
            plan
        } else {
            let pace = Pace::at(
                self.poll_interval,
                self.probe_every,
                self.slowest,
                self.metrics.budget.factor(),
            );
            let prober = Prober {
                scope: &self.scope,
                cloudwatch: &self.cloudwatch,
                watch: &self.watch,
                fetched: &self.fetched,
                pace,
            };
            prober.in_full(plan, window).await?
        };
        if plan.is_empty() {
            return Ok(sums.into_samples().collect());
        }
        // Counter metrics not fetched before reach back to backfill_start (the accumulator
        // counts those older minutes only for series it has never seen); the rest, and every
        // latency gauge, from the window's start.
        let new: Vec<ListedMetric> = {
            let fetched = lock(&self.fetched);
            plan.iter()
                .filter(|(q, m)| matches!(m, Meaning::Counter(_)) && !fetched.contains(&q.metric))
                .map(|(q, _)| q.metric.clone())
                .collect()
        };
        let new_set: HashSet<&ListedMetric> = new.iter().collect();
        let queries: Vec<(Query, i64)> = plan
            .iter()
            .map(|(q, _)| (q.clone(), query_start(window, !new_set.contains(&q.metric))))
            .collect();
        let series = self.cloudwatch.get_metric_data(&queries, window).await?;
        {
            let now = unix_now();
            let mut traffic: HashMap<String, Option<i64>> = HashMap::new();
            for ((q, meaning), points) in plan.iter().zip(&series) {
                let seen = traffic.entry(model_key(&q.metric)).or_default();
                if matches!(meaning, Meaning::Counter(_)) {
                    *seen = (*seen).max(newest_traffic(points, window.period));
                }
            }
            let mut watch = lock(&self.watch);
            for (model, newest) in traffic {
                watch.fetched(&model, now, newest);
            }
        }
        if !new.is_empty() {
            tracing::debug!(scope = %self.scope, metrics = new.len(), from = window.backfill_start, "new metrics fetched from when counting started");
            lock(&self.fetched).extend(new.iter().cloned());
        }

        // Labels per model (ModelId value, or mantle project and model).
        let mut labels_of: HashMap<String, ModelLabels> = HashMap::new();
        for (q, _) in &plan {
            let key = model_key(&q.metric);
            if let std::collections::hash_map::Entry::Vacant(e) = labels_of.entry(key) {
                let labels = self
                    .labels(&account, &q.metric, throughputs.as_deref())
                    .await;
                e.insert(labels);
            }
        }

        // The cloud's identity of a series is the ModelId value (a tier's share:
        // `<ModelId>|tier|<tiers>`; bedrock-mantle: `mantle|<project>|<model>`): labels (a
        // profile resolved late) may change, its minutes are counted once. Two ModelId values
        // can name one model (a base id and its ARN): each is revised on its own and both add
        // into the model's counters.
        let mut runtime = Counters::default();
        let mut samples = Vec::new();
        let levels = lock(&self.levels);
        for ((q, meaning), points) in plan.iter().zip(series) {
            let m = &q.metric;
            let base = &labels_of[&model_key(m)];
            let tier = m
                .tier
                .as_ref()
                .map(|t| (t, levels.listed_since(&plan::tier_metric(m))));
            for (t, v) in points {
                let period = common::source::align_down(t, window.period);
                match meaning {
                    Meaning::Counter(kind) if m.mantle_project.is_some() => sums.add(
                        &m.series_id(),
                        &base.labels,
                        kind.clone(),
                        period,
                        v,
                        &base.price_keys,
                    ),
                    Meaning::Counter(kind) => runtime.add(&m.model_id, tier, kind, period, v),
                    Meaning::Latency(kind, stat) => {
                        let mut labels = base.labels.clone();
                        if let (Some(t), false) =
                            (&m.tier, labels.billing.mode == BillingMode::Provisioned)
                        {
                            labels.billing.mode = t.mode();
                        }
                        // CloudWatch reports milliseconds; the contract uses seconds.
                        let mut sample = Sample::new(
                            m.series_id(),
                            labels,
                            SampleKind::Latency {
                                kind: *kind,
                                stat: stat.clone(),
                            },
                            period,
                            v / 1000.0,
                        );
                        sample.price_keys = base.price_keys.clone();
                        samples.push(sample);
                    }
                }
            }
        }
        let delay = SplitDelay {
            period: window.period,
            delay: self.tier_split_delay,
        };
        runtime.into_sums(&levels, &labels_of, delay, unix_now(), &mut sums);
        drop(levels);
        samples.extend(sums.into_samples());
        Ok(samples)
    }
}

#[cfg(test)]
mod layer_tests {
    /// The crate's layers, lowest first: a module uses only modules before it.
    const LAYERS: &[&str] = &[
        "regions",
        "models",
        "tiers",
        "listed",
        "listing",
        "capped",
        "error",
        "pages",
        "metrics_api",
        "discovery",
        "provisioned",
        "assemble",
        "plan",
        "watch",
        "probe",
        "demo",
        "source",
        "costs",
    ];

    #[test]
    fn modules_import_each_other_one_way() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        testkit::layers::assert_one_way(&src, LAYERS);
    }
}

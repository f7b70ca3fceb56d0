//! `impl Source` for Bedrock in one account and region: discover the metrics that exist
//! (ListMetrics, in `AWS/Bedrock` and `AWS/BedrockMantle`), fetch them (GetMetricData), and
//! normalize them into samples. A counter metric
//! this process has not fetched before is fetched from `window.backfill_start`: ListMetrics
//! can list a new metric up to 15 minutes late, and its first minutes must still count.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use common::guard::Guard;
use common::pricing::Pricing;
use common::source::{
    Billing, LatencyKind, PeriodSums, Sample, SampleKind, SeriesLabels, Source, SourceError, Window,
};
use tokio::sync::OnceCell;

use crate::bedrock::ProfileResolver;
use crate::cloudwatch::{CloudWatch, ListedMetric, Query};
use crate::error::AwsError;
use crate::models::{self, classify, ModelRef};

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
    /// (contract stat label, CloudWatch statistic), e.g. ("avg", "Average").
    pub latency_stats: Vec<(String, String)>,
    /// Counter metrics fetched successfully at least once by this process.
    pub fetched: Mutex<HashSet<ListedMetric>>,
    /// The catalog loaded at start-up, to map bedrock-mantle model names to catalog keys.
    pub catalog: Arc<Pricing>,
}

/// What one query's datapoints become.
enum Meaning {
    Counter(SampleKind),
    Latency(LatencyKind, String),
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
                                async move { req.send().await.map_err(AwsError::from) }
                            })
                            .await
                            .map_err(|e| {
                                SourceError::new(format!("cannot tell the account id: {e}"))
                            })?;
                        out.account().map(str::to_string).ok_or_else(|| {
                            SourceError::new("STS GetCallerIdentity returned no account")
                        })
                    }
                }
            })
            .await?;
        Ok(id)
    }

    /// Labels for a listed metric: bedrock-mantle traffic is told apart by its `deployment`
    /// (`mantle`, `mantle:<project>`); for a ModelId value, application inference profiles are
    /// resolved to their model.
    ///
    /// Also the catalog keys when they are not just `model` (empty otherwise): a profile
    /// copied from a geo profile whose geo model the catalog lacks is priced at its foundation
    /// model's rate.
    async fn labels(&self, account: &str, metric: &ListedMetric) -> (SeriesLabels, Vec<String>) {
        if let Some(project) = &metric.mantle_project {
            let labels = SeriesLabels {
                account: account.to_string(),
                region: self.region.clone(),
                model: models::mantle_price_key(&metric.model_id, |k| {
                    self.catalog.model(k).is_some()
                }),
                deployment: models::mantle_deployment(project),
                billing: Billing::default(),
            };
            return (labels, Vec::new());
        }
        let model_id = metric.model_id.as_str();
        let mut price_keys = Vec::new();
        let (model, deployment) = match classify(model_id) {
            ModelRef::Model(m) => (m, String::new()),
            ModelRef::ApplicationProfile(p) => match self.profiles.resolve(&p).await {
                Ok(Some(profile)) => {
                    price_keys = vec![profile.model.clone(), profile.base_model];
                    (profile.model, profile.name)
                }
                Ok(None) => {
                    tracing::warn!(scope = %self.scope, profile = %p, "unknown application inference profile: labelled with its id, not priced");
                    (p.clone(), p)
                }
                Err(e) => {
                    tracing::warn!(scope = %self.scope, profile = %p, error = %e, "cannot list application inference profiles: labelled with the profile id, not priced, until a listing succeeds (its minutes are counted once either way)");
                    (p.clone(), p)
                }
            },
        };
        let labels = SeriesLabels {
            account: account.to_string(),
            region: self.region.clone(),
            model,
            deployment,
            billing: Billing::default(),
        };
        (labels, price_keys)
    }

    /// The queries to make for the listed metrics, and what each one means.
    fn plan(&self, listed: &[ListedMetric]) -> Vec<(Query, Meaning)> {
        let mut plan = Vec::new();
        // A model that has a cache metric under both spellings is queried under the preferred
        // one only (models::COUNTERS order), so its tokens are not counted twice.
        let mut taken: HashMap<(&str, SampleKind), usize> = HashMap::new();
        for (rank, counter) in models::COUNTERS.iter().enumerate() {
            for m in listed
                .iter()
                .filter(|m| m.mantle_project.is_none() && m.metric_name == counter.name)
            {
                let slot = taken
                    .entry((m.model_id.as_str(), counter.kind.clone()))
                    .or_insert(rank);
                if *slot == rank {
                    plan.push((
                        Query {
                            metric: m.clone(),
                            stat: "Sum".into(),
                        },
                        Meaning::Counter(counter.kind.clone()),
                    ));
                }
            }
        }
        // bedrock-mantle: one level only (Project+Model, all ListMetrics kept), one metric per
        // kind, so nothing to choose between.
        for m in listed.iter().filter(|m| m.mantle_project.is_some()) {
            if let Some(counter) = models::mantle_counter(&m.metric_name) {
                plan.push((
                    Query {
                        metric: m.clone(),
                        stat: "Sum".into(),
                    },
                    Meaning::Counter(counter.kind.clone()),
                ));
            }
        }
        for m in listed.iter().filter(|m| m.mantle_project.is_none()) {
            if let Some(kind) = models::latency(&m.metric_name) {
                for (label, cw_stat) in &self.latency_stats {
                    plan.push((
                        Query {
                            metric: m.clone(),
                            stat: cw_stat.clone(),
                        },
                        Meaning::Latency(kind, label.clone()),
                    ));
                }
            }
        }
        plan
    }
}

impl Source for BedrockSource {
    fn scope(&self) -> &str {
        &self.scope
    }

    async fn fetch(&self, window: Window) -> Result<Vec<Sample>, SourceError> {
        let account = self.account().await?.to_string();
        let listed = self
            .cloudwatch
            .list_metrics()
            .await
            .map_err(|e| SourceError::new(e.to_string()))?;
        let plan = self.plan(&listed);
        if plan.is_empty() {
            return Ok(Vec::new());
        }
        // Counter metrics not fetched before reach back to backfill_start (the accumulator
        // counts those older minutes only for series it has never seen); the rest, and every
        // latency gauge, from the window's start.
        let new: Vec<ListedMetric> = {
            let fetched = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
            plan.iter()
                .filter(|(q, m)| matches!(m, Meaning::Counter(_)) && !fetched.contains(&q.metric))
                .map(|(q, _)| q.metric.clone())
                .collect()
        };
        let new_set: HashSet<&ListedMetric> = new.iter().collect();
        let queries: Vec<(Query, i64)> = plan
            .iter()
            .map(|(q, _)| {
                let start = if new_set.contains(&q.metric) {
                    window.backfill_start.min(window.start)
                } else {
                    window.start
                };
                (q.clone(), start)
            })
            .collect();
        let series = self
            .cloudwatch
            .get_metric_data(&queries, window)
            .await
            .map_err(|e| SourceError::new(e.to_string()))?;
        if !new.is_empty() {
            tracing::debug!(scope = %self.scope, metrics = new.len(), from = window.backfill_start, "new metrics fetched from when counting started");
            self.fetched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(new.iter().cloned());
        }

        let mut labels_of: HashMap<String, (SeriesLabels, Vec<String>)> = HashMap::new();
        for (q, _) in &plan {
            if let std::collections::hash_map::Entry::Vacant(e) =
                labels_of.entry(q.metric.series_id())
            {
                e.insert(self.labels(&account, &q.metric).await);
            }
        }

        // Two ModelId values can name one model (a base id and its ARN): each is revised on
        // its own and both add into the model's counters.
        let mut counters = PeriodSums::default();
        let mut samples = Vec::new();
        for ((q, meaning), points) in plan.iter().zip(series) {
            let id = q.metric.series_id();
            let (labels, price_keys) = &labels_of[&id];
            for (t, v) in points {
                let period = common::source::align_down(t, window.period);
                match meaning {
                    // The cloud's identity of the series is the ModelId value (or
                    // `mantle|<project>|<model>`): labels (a profile resolved late) may
                    // change, its minutes are counted once.
                    Meaning::Counter(kind) => {
                        counters.add(&id, labels, kind.clone(), period, v, price_keys)
                    }
                    Meaning::Latency(kind, stat) => {
                        // CloudWatch reports milliseconds; the contract uses seconds.
                        samples.push(Sample::new(
                            id.clone(),
                            labels.clone(),
                            SampleKind::Latency {
                                kind: *kind,
                                stat: stat.clone(),
                            },
                            period,
                            v / 1000.0,
                        ));
                    }
                }
            }
        }
        samples.extend(counters.into_samples());
        Ok(samples)
    }
}

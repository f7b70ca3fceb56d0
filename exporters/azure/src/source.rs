//! `impl Source` for Azure OpenAI / AI Foundry in one subscription: discover accounts and
//! deployments (ARM, cached), fetch their metrics in batches per region, and turn them into
//! samples labelled with the deployment and the model it serves.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use common::pricing::Pricing;
use common::source::{
    align_down, PeriodSums, Sample, SampleKind, SeriesLabels, Source, SourceError, Window,
};

use crate::arm::{Account, Arm, Deployment};
use crate::models::{is_openai, meaning, outcome, pricing_of, Meaning, QUERIES};
use crate::monitor::Monitor;

pub struct AzureSource {
    pub subscription: String,
    pub arm: Arc<Arm>,
    pub monitor: Arc<Monitor>,
    pub pricing: Arc<Pricing>,
}

fn err(e: impl std::fmt::Display) -> SourceError {
    SourceError::new(e.to_string())
}

impl Source for AzureSource {
    fn scope(&self) -> &str {
        &self.subscription
    }

    async fn fetch(&self, window: Window) -> Result<Vec<Sample>, SourceError> {
        let accounts = self.arm.accounts(&self.subscription).await.map_err(err)?;
        // Resource ids come back in any case: index by lower case.
        let mut deployments: HashMap<String, HashMap<String, Deployment>> = HashMap::new();
        let mut by_id: HashMap<String, &Account> = HashMap::new();
        let mut by_region: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in accounts.iter() {
            let list = self.arm.deployments(&a.id).await.map_err(err)?;
            deployments.insert(
                a.id.to_ascii_lowercase(),
                list.iter()
                    .map(|d| (d.name.to_ascii_lowercase(), d.clone()))
                    .collect(),
            );
            by_id.insert(a.id.to_ascii_lowercase(), a);
            by_region
                .entry(a.location.to_ascii_lowercase())
                .or_default()
                .push(a.id.clone());
        }

        let mut sums = PeriodSums::default();
        let mut samples = Vec::new();
        for (region, ids) in &by_region {
            for query in &QUERIES {
                for (resource, metric) in self
                    .monitor
                    .fetch(&self.subscription, region, ids, query, window)
                    .await
                    .map_err(err)?
                {
                    let key = resource.to_ascii_lowercase();
                    let Some(account) = by_id.get(&key) else {
                        continue;
                    };
                    for ts in &metric.timeseries {
                        let name = ts.dimension("ModelDeploymentName");
                        let deployment = deployments
                            .get(&key)
                            .and_then(|d| d.get(&name.to_ascii_lowercase()));
                        let Some(what) = meaning(&metric.name.value, is_openai(deployment)) else {
                            continue;
                        };
                        let model = deployment
                            .and_then(|d| d.properties.as_ref()?.model.as_ref())
                            .map(|m| m.name.clone())
                            .unwrap_or_else(|| name.to_string());
                        let labels = SeriesLabels {
                            account: self.subscription.clone(),
                            region: account.location.clone(),
                            model: model.clone(),
                            deployment: name.to_string(),
                        };
                        let (billing, price_key) =
                            pricing_of(&self.pricing, deployment, &account.location, &model);
                        // The cloud's identity: the account's resource id and the deployment
                        // name. The model label may change (ARM listing refreshed, model
                        // replaced under the same name); counted minutes stay counted.
                        let series = format!("{key}|{}", name.to_ascii_lowercase());
                        for point in &ts.data {
                            let Some(period) =
                                point.seconds().map(|t| align_down(t, window.period))
                            else {
                                continue;
                            };
                            match what {
                                Meaning::Tokens(t) => {
                                    // A minute without data may have no `total` at all.
                                    if let Some(v) = point.total {
                                        sums.add(
                                            &series,
                                            &labels,
                                            SampleKind::Tokens(t),
                                            billing,
                                            period,
                                            v,
                                            &price_key,
                                        );
                                    }
                                }
                                Meaning::Requests => {
                                    let Some(v) = point.total else { continue };
                                    sums.add_requests(
                                        &series,
                                        &labels,
                                        period,
                                        v,
                                        outcome(ts.dimension("StatusCode")),
                                    );
                                }
                                Meaning::Latency(kind) => {
                                    if let Some(ms) = point.average {
                                        samples.push(Sample::new(
                                            series.clone(),
                                            labels.clone(),
                                            SampleKind::Latency {
                                                kind,
                                                stat: "avg".into(),
                                            },
                                            period,
                                            ms / 1000.0,
                                        ));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        samples.extend(sums.into_samples());
        Ok(samples)
    }
}

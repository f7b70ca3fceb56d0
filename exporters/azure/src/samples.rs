//! One account's metrics as samples: each deployment's tokens, requests and latencies labelled
//! with the model it serves and how it is billed, and the hours of its provisioned capacity.

use std::collections::HashMap;

use common::source::{
    align_down, Billing, BillingMode, PeriodSums, Sample, SampleKind, SeriesLabels, Window,
};

use crate::answer::Metric;
use crate::billing;
use crate::discovery::{Account, Deployment};
use crate::models::{is_openai, meaning, outcome, price_keys, Meaning};

/// One account as a poll read it: its window and its deployments by lower-case name.
pub struct Listed<'a> {
    pub account: &'a Account,
    pub window: Window,
    pub deployments: &'a HashMap<String, Deployment>,
}

/// Turns one account's metrics into samples, and its provisioned deployments into hours
/// of capacity.
pub fn samples(
    subscription: &str,
    t: &Listed<'_>,
    metrics: &[Metric],
    sums: &mut PeriodSums,
    out: &mut Vec<Sample>,
) {
    let key = t.account.id.to_ascii_lowercase();
    let period = t.window.period;
    for metric in metrics {
        for ts in &metric.timeseries {
            let name = ts.dimension("ModelDeploymentName");
            let deployment = t.deployments.get(&name.to_ascii_lowercase());
            let Some(what) = meaning(&metric.name.value, is_openai(deployment)) else {
                continue;
            };
            let model = deployment
                .and_then(|d| d.properties.as_ref()?.model.as_ref())
                .map(|m| m.name.clone())
                .unwrap_or_else(|| name.to_string());
            let keys = price_keys(deployment, &t.account.location, &model);
            let mut labels = SeriesLabels {
                account: subscription.to_string(),
                region: t.account.location.clone(),
                model,
                deployment: deployment_label(&t.account.id, name),
                billing: billing::of_tokens(deployment),
            };
            // The cloud's identity: the account's resource id and the deployment name,
            // never the billing mode (a deployment re-created under the same name as
            // provisioned keeps what it counted). The model label may change (listing
            // refreshed, model replaced under the same name); minutes counted stay
            // counted. Slices Azure reports apart (cache tokens of long requests,
            // requests served by another tier) are series of their own.
            let mut series = format!("{key}|{}", name.to_ascii_lowercase());
            match what {
                Meaning::Tokens(_) if billing::long_context(ts.dimension("ContextLength")) => {
                    labels.billing.long_context = true;
                    series.push_str("#long");
                }
                Meaning::Requests => {
                    let served = ts.dimension("ServiceTierResponse");
                    labels.billing.mode = billing::of_requests(served, labels.billing.mode);
                    match billing::of_requests(served, BillingMode::Standard) {
                        BillingMode::Priority => series.push_str("#priority"),
                        BillingMode::Flex => series.push_str("#flex"),
                        _ => {}
                    }
                }
                _ => {}
            }
            for point in &ts.data {
                let Some(p) = point.seconds().map(|s| align_down(s, period)) else {
                    continue;
                };
                match what {
                    // A minute without data may have no `total` at all.
                    Meaning::Tokens(tt) => {
                        if let Some(v) = point.total {
                            let kind = SampleKind::Tokens(tt);
                            sums.add(&series, &labels, kind, p, v, &keys);
                        }
                    }
                    Meaning::Requests => {
                        if let Some(v) = point.total {
                            let error = outcome(ts.dimension("StatusCode"));
                            sums.add_requests(&series, &labels, p, v, error);
                        }
                    }
                    Meaning::Latency(kind) => {
                        if let Some(ms) = point.average {
                            let kind = SampleKind::Latency {
                                kind,
                                stat: "avg".into(),
                            };
                            out.push(Sample::new(
                                series.clone(),
                                labels.clone(),
                                kind,
                                p,
                                ms / 1000.0,
                            ));
                        }
                    }
                }
            }
        }
    }
    capacity(subscription, t, out);
}

/// Hours of provisioned capacity: for every minute of the account's window that each
/// provisioned deployment of the listing exists (from its ARM `createdAt`, where given),
/// deployed PTUs (`sku.capacity`) x 60 s / 3600. Azure bills provisioned deployments per
/// PTU and hour, prorated by the minute (how-to/provisioned-throughput-onboarding, "Hourly
/// usage"). Priced with `capacity_keys` (exporters/azure/pricing/capacity-azure.yaml, or the
/// pricing file for reservations).
fn capacity(subscription: &str, t: &Listed<'_>, out: &mut Vec<Sample>) {
    let key = t.account.id.to_ascii_lowercase();
    let period = t.window.period;
    for d in t.deployments.values() {
        let Some((kind, units)) = billing::deployed_units(d) else {
            continue;
        };
        let labels = SeriesLabels {
            account: subscription.to_string(),
            region: t.account.location.clone(),
            model: d
                .properties
                .as_ref()
                .and_then(|p| p.model.as_ref())
                .map_or_else(|| d.name.clone(), |m| m.name.clone()),
            deployment: deployment_label(&t.account.id, &d.name),
            billing: Billing::mode(BillingMode::Provisioned),
        };
        let series = format!("{key}|{}#capacity", d.name.to_ascii_lowercase());
        let keys = billing::capacity_keys(kind, &t.account.location);
        let created = d.created();
        for p in t.window.periods() {
            if created.is_some_and(|c| p + period <= c) {
                continue;
            }
            let hours = units * period as f64 / 3600.0;
            let mut s = Sample::new(
                series.clone(),
                labels.clone(),
                SampleKind::CapacityUnitHours,
                p,
                hours,
            );
            s.price_keys = keys.clone();
            out.push(s);
        }
    }
}

/// The `deployment` label: `<account>/<deployment>`. A deployment name is unique only within
/// its Cognitive Services account, and `account` is the subscription, so two accounts of one
/// region with a deployment of the same name would otherwise export one series for two
/// deployments (perhaps of different SKUs and prices).
pub fn deployment_label(account_id: &str, deployment: &str) -> String {
    let account = account_id.rsplit('/').find(|p| !p.is_empty()).unwrap_or("");
    format!("{account}/{deployment}")
}

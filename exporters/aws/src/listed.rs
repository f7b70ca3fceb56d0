//! A metric the exporter reads, as ListMetrics lists it: which namespace and dimensions it has,
//! and the cloud's identity of its series.

use aws_sdk_cloudwatch::types::{Dimension, Metric};

use crate::models::{
    MANTLE_MODEL_DIMENSION, MANTLE_NAMESPACE, MANTLE_PROJECT_DIMENSION, MODEL_DIMENSION, NAMESPACE,
};
use crate::tiers::{TierDims, RESOLVED_TIER_DIMENSION, SERVICE_TIER_DIMENSION};

/// A metric as ListMetrics returns it: of `AWS/Bedrock` with a `ModelId` dimension and at
/// most the service-tier dimensions besides (`mantle_project` None), or of
/// `AWS/BedrockMantle` at the Project+Model level (exactly the `Project` and `Model`
/// dimensions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListedMetric {
    pub metric_name: String,
    /// `ModelId` (AWS/Bedrock) or `Model` (AWS/BedrockMantle) dimension value.
    pub model_id: String,
    /// `Project` dimension value of an `AWS/BedrockMantle` metric.
    pub mantle_project: Option<String>,
    /// `ServiceTier`/`ResolvedServiceTier` of an `AWS/Bedrock` metric published per tier.
    pub tier: Option<TierDims>,
}

impl ListedMetric {
    #[cfg(test)]
    pub fn runtime(metric_name: &str, model_id: &str) -> Self {
        ListedMetric {
            metric_name: metric_name.into(),
            model_id: model_id.into(),
            mantle_project: None,
            tier: None,
        }
    }

    /// The cloud's identity of the series. A bedrock-mantle series is `mantle|<project>|<model>`,
    /// a tier's share of a model `<model>|tier|<requested>|<served>`: `|` never occurs in a
    /// Bedrock ModelId (ids, ARNs), so neither can collide with one.
    pub fn series_id(&self) -> String {
        match (&self.mantle_project, &self.tier) {
            (Some(p), _) => format!("mantle|{p}|{}", self.model_id),
            (None, Some(t)) => format!("{}|tier|{}", self.model_id, t.key()),
            (None, None) => self.model_id.clone(),
        }
    }

    pub fn namespace(&self) -> &'static str {
        if self.mantle_project.is_some() {
            MANTLE_NAMESPACE
        } else {
            NAMESPACE
        }
    }

    pub fn dimensions(&self) -> Vec<Dimension> {
        let d = |n: &str, v: &str| Dimension::builder().name(n).value(v).build();
        match &self.mantle_project {
            None => {
                let mut dims = vec![d(MODEL_DIMENSION, &self.model_id)];
                if let Some(t) = &self.tier {
                    if let Some(r) = &t.requested {
                        dims.push(d(SERVICE_TIER_DIMENSION, r));
                    }
                    if let Some(s) = &t.served {
                        dims.push(d(RESOLVED_TIER_DIMENSION, s));
                    }
                }
                dims
            }
            Some(p) => vec![
                d(MANTLE_PROJECT_DIMENSION, p),
                d(MANTLE_MODEL_DIMENSION, &self.model_id),
            ],
        }
    }

    /// For error messages: `InputTokenCount of ModelId m`, `InputTokens of AWS/BedrockMantle
    /// Project p Model m`.
    pub fn describe(&self) -> String {
        match &self.mantle_project {
            None => match &self.tier {
                None => format!("{} of ModelId {}", self.metric_name, self.model_id),
                Some(t) => format!(
                    "{} of ModelId {} ServiceTier {} ResolvedServiceTier {}",
                    self.metric_name,
                    self.model_id,
                    t.requested.as_deref().unwrap_or("-"),
                    t.served.as_deref().unwrap_or("-")
                ),
            },
            Some(p) => format!(
                "{} of {MANTLE_NAMESPACE} Project {p} Model {}",
                self.metric_name, self.model_id
            ),
        }
    }

    /// The metric ListMetrics reported, if it is one the exporter reads.
    pub fn from_listed(namespace: &str, m: &Metric) -> Option<ListedMetric> {
        let name = m.metric_name()?.to_string();
        let dim = |want: &str| {
            m.dimensions()
                .iter()
                .find(|d| d.name() == Some(want))
                .and_then(|d| d.value())
                .map(str::to_string)
        };
        let known = |names: &[&str]| {
            m.dimensions()
                .iter()
                .all(|d| d.name().is_some_and(|n| names.contains(&n)))
        };
        match (namespace, m.dimensions().len()) {
            (NAMESPACE, 1) => Some(ListedMetric {
                metric_name: name,
                model_id: dim(MODEL_DIMENSION)?,
                mantle_project: None,
                tier: None,
            }),
            // The same traffic per service tier (tiers.rs); any other dimension set (e.g.
            // OutputImageCount's ImageSize) is not read.
            (NAMESPACE, 2 | 3)
                if known(&[
                    MODEL_DIMENSION,
                    SERVICE_TIER_DIMENSION,
                    RESOLVED_TIER_DIMENSION,
                ]) =>
            {
                Some(ListedMetric {
                    metric_name: name,
                    model_id: dim(MODEL_DIMENSION)?,
                    mantle_project: None,
                    tier: Some(TierDims {
                        requested: dim(SERVICE_TIER_DIMENSION),
                        served: dim(RESOLVED_TIER_DIMENSION),
                    }),
                })
            }
            // Only the Project+Model level: the Account, Project and Model levels carry the
            // same requests again.
            (MANTLE_NAMESPACE, 2) => Some(ListedMetric {
                metric_name: name,
                model_id: dim(MANTLE_MODEL_DIMENSION)?,
                mantle_project: Some(dim(MANTLE_PROJECT_DIMENSION)?),
                tier: None,
            }),
            _ => None,
        }
    }
}

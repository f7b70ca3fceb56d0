//! A metric the exporter reads, as ListMetrics lists it: which namespace and dimensions it has,
//! and the cloud's identity of its series.

use aws_sdk_cloudwatch::types::{Dimension, Metric};

use crate::models::{
    MANTLE_MODEL_DIMENSION, MANTLE_NAMESPACE, MANTLE_PROJECT_DIMENSION, MODEL_DIMENSION, NAMESPACE,
};

/// A metric as ListMetrics returns it: of `AWS/Bedrock` with exactly a `ModelId` dimension
/// (`mantle_project` None), or of `AWS/BedrockMantle` at the Project+Model level (exactly the
/// `Project` and `Model` dimensions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListedMetric {
    pub metric_name: String,
    /// `ModelId` (AWS/Bedrock) or `Model` (AWS/BedrockMantle) dimension value.
    pub model_id: String,
    /// `Project` dimension value of an `AWS/BedrockMantle` metric.
    pub mantle_project: Option<String>,
}

impl ListedMetric {
    #[cfg(test)]
    pub fn runtime(metric_name: &str, model_id: &str) -> Self {
        ListedMetric {
            metric_name: metric_name.into(),
            model_id: model_id.into(),
            mantle_project: None,
        }
    }

    /// The cloud's identity of the series. A bedrock-mantle series is `mantle|<project>|<model>`:
    /// `|` never occurs in a Bedrock ModelId (ids, ARNs), so it cannot collide with one.
    pub fn series_id(&self) -> String {
        match &self.mantle_project {
            None => self.model_id.clone(),
            Some(p) => format!("mantle|{p}|{}", self.model_id),
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
            None => vec![d(MODEL_DIMENSION, &self.model_id)],
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
            None => format!("{} of ModelId {}", self.metric_name, self.model_id),
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
        match (namespace, m.dimensions().len()) {
            (NAMESPACE, 1) => Some(ListedMetric {
                metric_name: name,
                model_id: dim(MODEL_DIMENSION)?,
                mantle_project: None,
            }),
            // Only the Project+Model level: the Account, Project and Model levels carry the
            // same requests again.
            (MANTLE_NAMESPACE, 2) => Some(ListedMetric {
                metric_name: name,
                model_id: dim(MANTLE_MODEL_DIMENSION)?,
                mantle_project: Some(dim(MANTLE_PROJECT_DIMENSION)?),
            }),
            _ => None,
        }
    }
}

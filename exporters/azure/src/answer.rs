//! A metrics answer as both APIs return it (getBatch's `metricBatch.json`, Metrics - List's
//! `metrics_API.json` in Azure/azure-rest-api-specs, specification/monitor): per resource, its metrics,
//! each with one time series per combination of dimension values.

use std::time::UNIX_EPOCH;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct BatchResponse {
    #[serde(default)]
    pub values: Vec<ResourceValues>,
}

#[derive(Debug, Deserialize)]
pub struct ResourceValues {
    #[serde(default)]
    pub resourceid: Option<String>,
    #[serde(default)]
    pub value: Vec<Metric>,
}

#[derive(Debug, Deserialize)]
pub struct ListResponse {
    #[serde(default)]
    pub value: Vec<Metric>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Localizable {
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Metric {
    pub name: Localizable,
    #[serde(rename = "errorCode", default)]
    pub error_code: Option<String>,
    #[serde(rename = "errorMessage", default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TimeSeries {
    #[serde(default)]
    pub metadatavalues: Vec<MetadataValue>,
    #[serde(default)]
    pub data: Vec<MetricValue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetadataValue {
    pub name: Localizable,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricValue {
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(default)]
    pub total: Option<f64>,
    #[serde(default)]
    pub average: Option<f64>,
}

impl TimeSeries {
    /// A dimension's value; Azure lower-cases dimension names in responses, so the match
    /// ignores case.
    pub fn dimension(&self, name: &str) -> &str {
        self.metadatavalues
            .iter()
            .find(|m| m.name.value.eq_ignore_ascii_case(name))
            .and_then(|m| m.value.as_deref())
            .unwrap_or("")
    }
}

impl MetricValue {
    /// Unix seconds of the point.
    pub fn seconds(&self) -> Option<i64> {
        humantime::parse_rfc3339_weak(&self.time_stamp)
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs() as i64)
    }
}

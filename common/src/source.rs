//! The only seam between the shared pipeline and a cloud: a [`Source`] returns normalized
//! per-period samples for a time window. Everything after it (accumulation, pricing,
//! exposition) is cloud-agnostic.

use std::collections::HashMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::error::SourceError;

/// Kinds of token the metric contract distinguishes (`token_type` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    Input,
    Output,
    CacheRead,
    /// Cache writes at the base (five-minute) rate, or where the cloud reports one number.
    CacheWrite,
    /// One-hour cache writes, which cost more (Azure `ephemeral1hInputTokens`, Vertex
    /// `cache_write_1h_input`). Counted as `cache_write`, priced at their own rate.
    CacheWrite1h,
}

impl TokenType {
    /// The contract's `token_type` values.
    pub const ALL: [TokenType; 4] = [
        TokenType::Input,
        TokenType::Output,
        TokenType::CacheRead,
        TokenType::CacheWrite,
    ];

    /// Every rate a catalog entry can have.
    pub const PRICED: [TokenType; 5] = [
        TokenType::Input,
        TokenType::Output,
        TokenType::CacheRead,
        TokenType::CacheWrite,
        TokenType::CacheWrite1h,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Input => "input",
            TokenType::Output => "output",
            TokenType::CacheRead => "cache_read",
            TokenType::CacheWrite => "cache_write",
            TokenType::CacheWrite1h => "cache_write_1h",
        }
    }

    /// The `token_type` a token of this rate is counted under.
    pub fn counted_as(self) -> TokenType {
        match self {
            TokenType::CacheWrite1h => TokenType::CacheWrite,
            t => t,
        }
    }
}

/// Why an invocation failed (`error_type` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    Client,
    Server,
    Throttled,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Client => "client",
            ErrorType::Server => "server",
            ErrorType::Throttled => "throttled",
        }
    }
}

/// Which gauge a latency sample feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyKind {
    /// Request sent to last token received (`llm_invocation_latency_seconds`).
    Invocation,
    /// Request to first token (`llm_time_to_first_token_seconds`).
    FirstToken,
}

/// What a sample measures. Counter kinds are per-period sums; gauge kinds are per-period
/// statistics in seconds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    Tokens(TokenType),
    Invocations,
    Errors(ErrorType),
    /// Hours of provisioned capacity (Azure PTUs, Bedrock model units, Vertex GSUs) in the
    /// period: units x period seconds / 3600. Priced at the catalog entry's
    /// `provisioned_usd_per_unit_hour`.
    CapacityUnitHours,
    /// `stat` is `avg` or a percentile such as `p99`.
    Latency {
        kind: LatencyKind,
        stat: String,
    },
}

impl SampleKind {
    pub fn is_counter(&self) -> bool {
        !matches!(self, SampleKind::Latency { .. })
    }
}

/// The labels every usage series carries besides `cloud` (fixed per exporter) and `tenant`
/// (derived from the config).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesLabels {
    pub account: String,
    pub region: String,
    /// The model as priced (the `model` label).
    pub model: String,
    /// Azure deployment, Bedrock application inference profile, else empty.
    pub deployment: String,
    /// How the cloud bills the series (`billing_mode` and `context` labels).
    #[serde(default)]
    pub billing: Billing,
}

/// How the cloud bills a series (the `billing_mode` label). Presentation, like every label:
/// a deployment re-created under another mode keeps its cloud identity and revision state.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BillingMode {
    /// On demand, per token at the standard rate.
    #[default]
    Standard,
    /// Asynchronous batch jobs (Azure Global/Data Zone Batch, Vertex `batch_` sources).
    Batch,
    /// A cheaper, slower tier (Bedrock and Vertex Flex).
    Flex,
    /// A faster tier at a premium (Bedrock Priority, Azure priority processing, Vertex
    /// Priority PayGo).
    Priority,
    /// Prepaid capacity priced per month (Bedrock Reserved): tokens counted, not priced.
    Reserved,
    /// Capacity billed per hour (Azure PTU, Bedrock and Vertex Provisioned Throughput):
    /// tokens counted, not priced; the capacity's hours are priced instead.
    Provisioned,
}

impl BillingMode {
    pub const ALL: [BillingMode; 6] = [
        BillingMode::Standard,
        BillingMode::Batch,
        BillingMode::Flex,
        BillingMode::Priority,
        BillingMode::Reserved,
        BillingMode::Provisioned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BillingMode::Standard => "standard",
            BillingMode::Batch => "batch",
            BillingMode::Flex => "flex",
            BillingMode::Priority => "priority",
            BillingMode::Reserved => "reserved",
            BillingMode::Provisioned => "provisioned",
        }
    }

    /// Whether tokens in this mode have a per-token price.
    pub fn per_token(self) -> bool {
        !matches!(self, BillingMode::Reserved | BillingMode::Provisioned)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How the cloud bills a series' tokens: the mode, and the two surcharges a request can carry.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Billing {
    #[serde(default)]
    pub mode: BillingMode,
    /// Tokens of requests above the long-context threshold (200k input tokens): priced at the
    /// catalog's `above_200k` rates. Exported as `context="long"` (else `standard`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub long_context: bool,
    /// Served from a regional endpoint rather than a global one: priced with the catalog
    /// entry's `regional_uplift` where it has one. Not a label of its own (the region says it).
    #[serde(default, skip_serializing_if = "is_false")]
    pub regional: bool,
}

impl Billing {
    pub fn mode(mode: BillingMode) -> Self {
        Billing {
            mode,
            ..Billing::default()
        }
    }

    /// The `context` label value.
    pub fn context(&self) -> &'static str {
        if self.long_context {
            "long"
        } else {
            "standard"
        }
    }
}

/// The suffix of a cloud series id for the provisioned part of a series the cloud reports in
/// two parts (Vertex `request_type="dedicated"` beside `shared`).
pub const PROVISIONED_PART: &str = "#provisioned";

/// The cloud's own identity of a series: what the cloud keys it by (AWS `ModelId` dimension
/// value, Azure resource id + deployment name, GCP resource labels), never the labels we
/// export. Revision state is kept per identity, so a label change (a deployment's model
/// resolved late, a profile resolved after an outage) never counts a minute twice.
pub type SeriesId = String;

/// One normalized value for one period of one series.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The cloud's identity of the series (see [`SeriesId`]).
    pub series: SeriesId,
    /// Presentation: the labels exported for the series now. They may change for the same
    /// `series`; minutes counted under old labels stay there.
    pub labels: SeriesLabels,
    pub kind: SampleKind,
    /// Unix seconds of the period's start; a multiple of the source's period.
    pub period_start: i64,
    pub value: f64,
    /// Catalog keys for pricing, in order of preference: the accumulator prices with the
    /// first one the catalog loaded *now* has (so a price added by a reload is used from the
    /// next poll). Usually `[labels.model]`; an Azure Data Zone deployment of `gpt-4o` is
    /// priced as `us/gpt-4o`, else `gpt-4o`.
    pub price_keys: Vec<String>,
}

impl Sample {
    /// A per-token-billed sample of cloud series `series`, priced under its model name.
    pub fn new(
        series: impl Into<SeriesId>,
        labels: SeriesLabels,
        kind: SampleKind,
        period_start: i64,
        value: f64,
    ) -> Self {
        let price_keys = vec![labels.model.clone()];
        Sample {
            series: series.into(),
            labels,
            kind,
            period_start,
            value,
            price_keys,
        }
    }
}

/// Counter values summed per (cloud series, kind, period) within one fetch. Clouds return one
/// series per label combination (per response code, per request type), several of which feed
/// one contract series; the accumulator must see one value per cloud series and period.
#[derive(Default)]
pub struct PeriodSums(HashMap<(SeriesId, SampleKind, i64), PeriodSum>);

struct PeriodSum {
    value: f64,
    labels: SeriesLabels,
    price_keys: Vec<String>,
}

impl PeriodSums {
    /// Adds `value` to the sum of cloud series `series`; labels and `price_keys` are kept from
    /// the first addition (empty keys: priced under the model).
    pub fn add(
        &mut self,
        series: &str,
        labels: &SeriesLabels,
        kind: SampleKind,
        period: i64,
        value: f64,
        price_keys: &[String],
    ) {
        let entry = self
            .0
            .entry((series.to_string(), kind, period))
            .or_insert_with(|| PeriodSum {
                value: 0.0,
                labels: labels.clone(),
                price_keys: price_keys.to_vec(),
            });
        entry.value += value;
    }

    /// Adds `count` requests that ended as `error` (None: success). Throttled requests were
    /// not accepted, so they count as errors only; every other request is an invocation.
    pub fn add_requests(
        &mut self,
        series: &str,
        labels: &SeriesLabels,
        period: i64,
        count: f64,
        error: Option<ErrorType>,
    ) {
        if error != Some(ErrorType::Throttled) {
            self.add(series, labels, SampleKind::Invocations, period, count, &[]);
        }
        if let Some(e) = error {
            self.add(series, labels, SampleKind::Errors(e), period, count, &[]);
        }
    }

    pub fn into_samples(self) -> impl Iterator<Item = Sample> {
        self.0.into_iter().map(|((series, kind, period), sum)| {
            let mut s = Sample::new(series, sum.labels, kind, period, sum.value);
            if !sum.price_keys.is_empty() {
                s.price_keys = sum.price_keys;
            }
            s
        })
    }
}

/// A half-open window `[start, end)` of whole periods, in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
    pub period: i64,
    /// How far back a series the source has not fetched before must be fetched (<= `start`):
    /// a series that discovery reports late (CloudWatch's ListMetrics can lag 15 minutes) is
    /// counted from when the exporter started, bounded by `max_backfill`. The accumulator
    /// counts those older periods only for series it has never seen.
    pub backfill_start: i64,
}

impl Window {
    /// Period starts covered by the window, oldest first.
    pub fn periods(&self) -> impl Iterator<Item = i64> {
        let period = self.period.max(1);
        (self.start..self.end).step_by(period as usize)
    }
}

/// Rounds `t` down to a whole period.
pub fn align_down(t: i64, period: i64) -> i64 {
    t.div_euclid(period) * period
}

/// Rounds `t` up to a whole period.
pub fn align_up(t: i64, period: i64) -> i64 {
    let down = align_down(t, period);
    if down == t {
        t
    } else {
        down + period
    }
}

/// The window each scope must fetch next, from the accumulator's revision state.
pub trait Windows: Send + Sync {
    fn window(&self, scope: &str) -> Window;
}

/// What a source fetched for one scope.
#[derive(Debug)]
pub struct ScopeFetch {
    pub scope: String,
    pub window: Window,
    pub result: Result<Vec<Sample>, SourceError>,
}

/// A cloud's metric store for one scope (an AWS account and region, a GCP project), or for
/// several scopes found by discovery (an Azure subscription's accounts). Implemented once per
/// cloud, plus the built-in demo source.
pub trait Source: Send + Sync + 'static {
    /// Identifies this source (and its scope, for single-scope sources) in logs, the state
    /// file and `llm_exporter_target_up`.
    fn scope(&self) -> &str;

    /// The length of one period in seconds (60 on every cloud today).
    fn period_secs(&self) -> i64 {
        60
    }

    /// The largest API-budget slowdown this source applies itself, stretching its own
    /// intervals up to `cap_secs` (the AWS exporter probes idle models less often first);
    /// None: the poller skips whole polls instead.
    fn budget_max_factor(&self, _poll_interval_secs: i64, _cap_secs: i64) -> Option<f64> {
        None
    }

    /// Returns every sample for periods in `window`, for the source's one scope.
    fn fetch(
        &self,
        window: Window,
    ) -> impl Future<Output = Result<Vec<Sample>, SourceError>> + Send;

    /// Fetches every scope of this source; each scope succeeds or fails on its own, so one
    /// bad scope never holds back the others. Single-scope sources keep the default.
    fn fetch_scopes(
        &self,
        windows: &(dyn Windows + '_),
    ) -> impl Future<Output = Vec<ScopeFetch>> + Send {
        let window = windows.window(self.scope());
        async move {
            let result = self.fetch(window).await;
            vec![ScopeFetch {
                scope: self.scope().to_string(),
                window,
                result,
            }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_rounds_to_whole_periods() {
        assert_eq!(align_down(125, 60), 120);
        assert_eq!(align_down(120, 60), 120);
        assert_eq!(align_up(121, 60), 180);
        assert_eq!(align_up(120, 60), 120);
        assert_eq!(align_down(-1, 60), -60);
    }

    #[test]
    fn period_sums_add_per_series_and_period() {
        let l = SeriesLabels {
            model: "m".into(),
            ..SeriesLabels::default()
        };
        let mut provisioned = l.clone();
        provisioned.billing.mode = BillingMode::Provisioned;
        let mut sums = PeriodSums::default();
        sums.add("m", &l, SampleKind::Invocations, 60, 2.0, &[]);
        sums.add("m", &l, SampleKind::Invocations, 60, 3.0, &[]);
        sums.add("m", &l, SampleKind::Invocations, 120, 1.0, &[]);
        // Another cloud series with the same labels is summed apart.
        sums.add("arn/m", &l, SampleKind::Invocations, 120, 4.0, &[]);
        let key = vec!["key".to_string(), "m".to_string()];
        let tokens = SampleKind::Tokens(TokenType::Input);
        sums.add("m#provisioned", &provisioned, tokens, 60, 7.0, &key);
        let mut out: Vec<Sample> = sums.into_samples().collect();
        out.sort_by(|a, b| {
            (a.period_start, a.value.to_bits()).cmp(&(b.period_start, b.value.to_bits()))
        });
        assert_eq!(out.len(), 4);
        assert_eq!(
            (out[0].value, out[1].value, out[2].value, out[3].value),
            (5.0, 7.0, 1.0, 4.0)
        );
        assert_eq!(out[3].series, "arn/m");
        assert_eq!(out[1].labels.billing.mode, BillingMode::Provisioned);
        assert_eq!(out[1].price_keys, key);
        assert_eq!(
            out[0].price_keys,
            ["m"],
            "no key given: priced under the model"
        );
    }

    #[test]
    fn window_lists_its_periods() {
        let w = Window {
            start: 120,
            end: 300,
            period: 60,
            backfill_start: 120,
        };
        assert_eq!(w.periods().collect::<Vec<_>>(), vec![120, 180, 240]);
    }
}

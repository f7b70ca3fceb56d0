//! The usage exposition, written straight into a byte buffer in the Prometheus text format
//! (0.0.4). Called once per publish, under the accumulator's lock.
//!
//! Written by hand rather than through the `prometheus` crate's protobuf `MetricFamily`
//! structs: at 10k series those cost two `String`s per label per series (tens of MB of short
//! allocations per publish that fragment the heap), and the encoder then copies everything
//! again. Here each series is formatted once into a buffer the publisher reuses. Escaping
//! follows the text format exactly: in label values `\` `"` and newline become `\\` `\"` `\n`;
//! in HELP text `\` and newline; values are Go-style floats (`+Inf`, `-Inf`, `NaN`).

use std::io::Write;

use crate::accumulator::{
    Accumulator, CounterMetric, REJECT_REASONS, SKIP_LATE_DISCOVERY, SKIP_OUTAGE,
};
use crate::config::Config;
use crate::metrics::names;
use crate::source::{LatencyKind, SeriesLabels, TokenType};

/// `# HELP` and `# TYPE` lines for `name`.
pub fn header(out: &mut Vec<u8>, name: &str, help: &str, kind: &str) {
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    for b in help.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
}

/// A label value, escaped for the text format (the quotes are the caller's).
pub fn label_value(out: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// A sample value as Go and Prometheus write it.
pub fn value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{v}");
    }
}

/// One sample: `name{l1="v1",...} value`.
pub fn sample(out: &mut Vec<u8>, name: &str, labels: &[(&str, &str)], v: f64) {
    out.extend_from_slice(name.as_bytes());
    if !labels.is_empty() {
        let mut sep = b'{';
        for (n, val) in labels {
            out.push(sep);
            sep = b',';
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b"=\"");
            label_value(out, val);
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.push(b' ');
    value(out, v);
    out.push(b'\n');
}

/// Writes a family's header before its first sample only: an empty family is left out, as
/// `Registry::gather` does.
struct Family<'a> {
    out: &'a mut Vec<u8>,
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    started: bool,
}

impl<'a> Family<'a> {
    fn new(
        out: &'a mut Vec<u8>,
        name: &'static str,
        help: &'static str,
        kind: &'static str,
    ) -> Self {
        Family {
            out,
            name,
            help,
            kind,
            started: false,
        }
    }

    fn sample(&mut self, labels: &[(&str, &str)], v: f64) {
        if !self.started {
            header(self.out, self.name, self.help, self.kind);
            self.started = true;
        }
        sample(self.out, self.name, labels, v);
    }
}

/// Renders the accumulator's counters and gauges, the price catalog, the budgets and the
/// accumulator's own counts. Called by the publisher once per publish, never per scrape.
pub struct UsageRenderer {
    tenants: bool,
    budgets: Vec<(String, Option<f64>, f64)>,
}

const COUNTER_FAMILIES: [(&str, &str); 5] = [
    (names::TOKENS, "Tokens the cloud reported, by token type."),
    (names::INVOCATIONS, "Requests the cloud accepted."),
    (
        names::INVOCATION_ERRORS,
        "Failed or throttled requests, by error type (client, server, throttled).",
    ),
    (
        names::COST,
        "Estimated cost in USD: tokens times the rate of their billing mode, and provisioned capacity hours times their hourly rate (token_type=\"provisioned\").",
    ),
    (
        names::CAPACITY_SECONDS,
        "Unit-seconds of provisioned capacity (Azure PTUs, Bedrock model units, Vertex GSUs): units times seconds provisioned.",
    ),
];

fn family_index(metric: &CounterMetric) -> (usize, Option<(&'static str, &'static str)>) {
    match metric {
        CounterMetric::Tokens(t) => (0, Some(("token_type", t.as_str()))),
        CounterMetric::Invocations => (1, None),
        CounterMetric::Errors(e) => (2, Some(("error_type", e.as_str()))),
        CounterMetric::Cost(t) => (3, Some(("token_type", t.as_str()))),
        CounterMetric::CapacityCost => (3, Some(("token_type", "provisioned"))),
        CounterMetric::CapacityUnitHours => (4, None),
    }
}

/// The series labels of the contract, in the order they are written (`tenant` last, left out
/// when no tenants are configured).
fn series_labels<'a>(
    cloud: &'a str,
    labels: &'a SeriesLabels,
    tenant: &'a str,
) -> [(&'static str, &'a str); 8] {
    [
        ("cloud", cloud),
        ("account", &labels.account),
        ("region", &labels.region),
        ("model", &labels.model),
        ("deployment", &labels.deployment),
        ("billing_mode", labels.billing.mode.as_str()),
        ("context", labels.billing.context()),
        ("tenant", tenant),
    ]
}

impl UsageRenderer {
    pub fn new(config: &Config) -> Self {
        UsageRenderer {
            tenants: !config.tenants.is_empty(),
            budgets: config
                .tenants
                .iter()
                .map(|t| (t.name.clone(), t.monthly_budget_usd, t.alert_ratio))
                .collect(),
        }
    }

    /// The usage exposition in the Prometheus text format, as a string (tests, tools).
    pub fn render(&self, acc: &Accumulator) -> String {
        let mut out = Vec::new();
        self.render_into(acc, &mut out);
        // Everything written is UTF-8 (labels are Rust strings).
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends the usage exposition to `out` (a buffer the caller reuses between publishes).
    pub fn render_into(&self, acc: &Accumulator, out: &mut Vec<u8>) {
        let cloud = acc.cloud();
        let n = if self.tenants { 8 } else { 7 };
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(9);
        // One pass per family keeps each family's samples together without sorting or
        // intermediate buffers; walking a map is cheap next to formatting.
        for (idx, (name, help)) in COUNTER_FAMILIES.iter().enumerate() {
            let mut fam = Family::new(out, name, help, "counter");
            for (key, v) in acc.counters() {
                let (i, extra) = family_index(&key.metric);
                if i != idx {
                    continue;
                }
                pairs.clear();
                pairs.extend_from_slice(&series_labels(cloud, &key.labels, &v.tenant)[..n]);
                pairs.extend(extra);
                // Capacity is counted in unit-hours (the unit it is priced in) and exported in
                // the base unit, seconds.
                let scale = match key.metric {
                    CounterMetric::CapacityUnitHours => 3600.0,
                    _ => 1.0,
                };
                fam.sample(&pairs, v.total * scale);
            }
        }
        for (kind, name, help) in [
            (
                LatencyKind::Invocation,
                names::LATENCY,
                "Invocation latency of the newest complete period, by statistic.",
            ),
            (
                LatencyKind::FirstToken,
                names::TTFT,
                "Time to first token of the newest complete period, by statistic.",
            ),
        ] {
            let mut fam = Family::new(out, name, help, "gauge");
            for (key, v) in acc.gauges() {
                if key.kind != kind {
                    continue;
                }
                pairs.clear();
                pairs.extend_from_slice(&series_labels(cloud, &key.labels, &v.tenant)[..n]);
                pairs.push(("stat", &key.stat));
                fam.sample(&pairs, v.value);
            }
        }
        self.catalog(acc, out);
        self.budgets(out);
        self.accumulator_counts(acc, out);
    }

    fn catalog(&self, acc: &Accumulator, out: &mut Vec<u8>) {
        let cloud = acc.cloud();
        let n = if self.tenants { 8 } else { 7 };
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(9);
        let mut price = Family::new(
            out,
            names::PRICE,
            "USD per token each token series is priced at (its billing mode, context and region applied), with that series' labels (join one to one with llm_tokens_total).",
            "gauge",
        );
        // One price per token series, with that series' labels: the model label alone is
        // not enough to find a price (Azure SKUs, AWS geo profiles and regions differ).
        for (key, v) in acc.counters() {
            let CounterMetric::Tokens(counted) = key.metric else {
                continue;
            };
            let Some(prices) = acc
                .priced()
                .get(&key.labels)
                .and_then(|price_key| acc.pricing().model(price_key))
            else {
                continue;
            };
            // Cache writes are one counter; their one-hour rate is shown beside it.
            let rates: &[TokenType] = match counted {
                TokenType::CacheWrite => &[TokenType::CacheWrite, TokenType::CacheWrite1h],
                _ => std::slice::from_ref(&counted),
            };
            for t in rates {
                if let Some(p) = prices.rate(*t, key.labels.billing) {
                    pairs.clear();
                    pairs.extend_from_slice(&series_labels(cloud, &key.labels, &v.tenant)[..n]);
                    pairs.push(("token_type", t.as_str()));
                    price.sample(&pairs, p);
                }
            }
        }
        let mut info = Family::new(
            out,
            names::CATALOG_INFO,
            "The price catalogs loaded (bundled, then the pricing file).",
            "gauge",
        );
        for s in acc.pricing().sources() {
            info.sample(&[("source", &s.source), ("version", &s.version)], 1.0);
        }
        let mut built = Family::new(
            out,
            names::CATALOG_TIMESTAMP,
            "Unix time the loaded price catalogs were published (alert when they grow old).",
            "gauge",
        );
        for s in acc.pricing().sources() {
            if let Some(t) = s.built_at {
                built.sample(&[("source", &s.source), ("version", &s.version)], t as f64);
            }
        }
        let mut unpriced = Family::new(
            out,
            names::UNPRICED_INFO,
            "Models whose usage was counted without a price for this token type (provisioned: capacity hours).",
            "gauge",
        );
        for (model, t) in acc.unpriced() {
            unpriced.sample(
                &[("cloud", cloud), ("model", model), ("token_type", t)],
                1.0,
            );
        }
    }

    fn budgets(&self, out: &mut Vec<u8>) {
        let mut budget = Family::new(
            out,
            names::BUDGET,
            "Configured tenant budgets in USD.",
            "gauge",
        );
        for (tenant, usd, _) in &self.budgets {
            if let Some(usd) = usd {
                budget.sample(&[("tenant", tenant), ("period", "monthly")], *usd);
            }
        }
        let mut ratio = Family::new(
            out,
            names::BUDGET_ALERT_RATIO,
            "Fraction of the budget at which budget alerts fire.",
            "gauge",
        );
        for (tenant, _, alert_ratio) in &self.budgets {
            ratio.sample(&[("tenant", tenant)], *alert_ratio);
        }
    }

    fn accumulator_counts(&self, acc: &Accumulator, out: &mut Vec<u8>) {
        let stats = acc.stats();
        let plain = |out: &mut Vec<u8>, name, help, kind, v: f64| {
            header(out, name, help, kind);
            sample(out, name, &[], v);
        };
        plain(
            out,
            names::LATE_DATA,
            "Periods whose value grew after they were first counted.",
            "counter",
            stats.late_data as f64,
        );
        plain(
            out,
            names::DOWNWARD_REVISIONS,
            "Periods the cloud revised downwards (never subtracted from counters).",
            "counter",
            stats.downward_revisions as f64,
        );
        header(out, names::PERIODS_SKIPPED, "Periods given up, by reason: outage (an outage outlasted max_backfill), late_discovery (a series discovered later than max_backfill after counting started).", "counter");
        for reason in [SKIP_OUTAGE, SKIP_LATE_DISCOVERY] {
            let v = stats.periods_skipped.get(reason).copied().unwrap_or(0);
            sample(out, names::PERIODS_SKIPPED, &[("reason", reason)], v as f64);
        }
        plain(
            out,
            names::LATE_SERIES,
            "Cloud series first seen after their first minute had passed the lookback (discovery lag); counted back from that minute.",
            "counter",
            stats.late_series as f64,
        );
        header(out, names::SAMPLES_REJECTED, "Samples from the cloud not used, by reason: non_finite, negative, implausible (above max_value_per_minute), future (held until their minute is reached), before_window, duplicate (the same point of one cloud series given twice in an answer: counted once).", "counter");
        for reason in REJECT_REASONS {
            let v = stats.rejected.get(reason).copied().unwrap_or(0);
            sample(
                out,
                names::SAMPLES_REJECTED,
                &[("reason", reason)],
                v as f64,
            );
        }
        plain(
            out,
            names::CLOCK_REPAIRS,
            "Times the host clock was found to have stepped back and open periods were fetched again.",
            "counter",
            stats.clock_repairs as f64,
        );
        plain(
            out,
            names::SERIES,
            "Usage series held in memory.",
            "gauge",
            acc.series() as f64,
        );
        plain(
            out,
            names::SERIES_DROPPED,
            "Samples of new series refused by the max_series cap.",
            "counter",
            stats.series_dropped as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped_as_the_text_format_says() {
        let mut out = Vec::new();
        header(&mut out, "x", "a \\ b\nc \"q\"", "gauge");
        sample(&mut out, "x", &[("l", "a\\b\"c\nd"), ("m", "")], 1.5);
        sample(&mut out, "x", &[], f64::INFINITY);
        sample(&mut out, "x", &[], f64::NEG_INFINITY);
        sample(&mut out, "x", &[], f64::NAN);
        sample(&mut out, "x", &[], 1e21);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# HELP x a \\\\ b\\nc \"q\"\n# TYPE x gauge\n\
             x{l=\"a\\\\b\\\"c\\nd\",m=\"\"} 1.5\nx +Inf\nx -Inf\nx NaN\nx 1000000000000000000000\n"
        );
    }
}

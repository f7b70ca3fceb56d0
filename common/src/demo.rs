//! A built-in synthetic source (`--demo`): no cloud calls, realistic daily patterns and
//! occasional spikes, served through the same pipeline and metric names as a real cloud.
//!
//! Values are a pure function of (series, period), so polling the same period twice returns
//! the same number, except for the current minute, which grows as it elapses: exactly what
//! the clouds do, so the demo exercises the accumulator's late-data path too.

use std::f64::consts::PI;

use std::sync::Arc;

use crate::base::unix_now;
use crate::error::SourceError;
use crate::guard::{Guard, GuardSettings};
use crate::metrics::SelfMetrics;
use crate::source::{
    ErrorType, LatencyKind, Sample, SampleKind, SeriesLabels, Source, TokenType, Window,
};

/// One synthetic model: its labels and how busy it is.
#[derive(Clone, Debug)]
pub struct DemoModel {
    pub labels: SeriesLabels,
    /// Mean invocations per minute at the daily peak.
    pub peak_per_minute: f64,
    pub input_tokens_per_call: f64,
    pub output_tokens_per_call: f64,
    /// Cache-read tokens per call (prompt caching); 0 for models without it.
    pub cache_read_per_call: f64,
    pub cache_write_per_call: f64,
    pub reports_first_token: bool,
}

pub struct DemoSource {
    scope: String,
    models: Vec<DemoModel>,
    /// The demo's "cloud call" goes through a guard like a real one, so the breaker and API
    /// self-metrics show up in the demo as well.
    guard: Option<Arc<Guard>>,
    /// The latency statistics the cloud reports (stat, factor of the mean), so the demo shows
    /// what real data will: CloudWatch gives percentiles, Azure Monitor only averages.
    invocation_stats: Vec<(&'static str, f64)>,
    first_token_stats: Vec<(&'static str, f64)>,
}

/// Puts every demo source behind one guard (API `demo.synthetic`).
pub fn guarded(sources: Vec<DemoSource>, metrics: &Arc<SelfMetrics>) -> Vec<DemoSource> {
    let guard = Arc::new(Guard::new(
        "demo.synthetic",
        GuardSettings::default(),
        metrics.clone(),
    ));
    sources
        .into_iter()
        .map(|mut s| {
            s.guard = Some(guard.clone());
            s
        })
        .collect()
}

impl DemoSource {
    pub fn new(scope: &str, models: Vec<DemoModel>) -> Self {
        DemoSource {
            scope: scope.to_string(),
            models,
            guard: None,
            invocation_stats: vec![("avg", 1.0), ("p90", 1.7), ("p99", 2.6)],
            first_token_stats: vec![("avg", 1.0)],
        }
    }

    /// The latency statistics this cloud reports, as (stat, factor of the mean).
    pub fn with_latency_stats(
        mut self,
        invocation: &[(&'static str, f64)],
        first_token: &[(&'static str, f64)],
    ) -> Self {
        self.invocation_stats = invocation.to_vec();
        self.first_token_stats = first_token.to_vec();
        self
    }

    /// Adds `n` copies of this source's models, as deployments `load-<i>`, for load tests.
    pub fn with_extra_models(mut self, n: usize) -> Self {
        let base = self.models.clone();
        for i in 0..n {
            if let Some(m) = base.get(i % base.len().max(1)) {
                let mut m = m.clone();
                m.labels.deployment = format!("load-{i}");
                self.models.push(m);
            }
        }
        self
    }
}

/// splitmix64: a tiny, stable hash for deterministic noise.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform number in [0, 1) from (series, time, salt).
fn unit(series: usize, t: i64, salt: u64) -> f64 {
    (mix(mix(series as u64 ^ (salt << 32)) ^ t as u64) >> 11) as f64 / (1u64 << 53) as f64
}

impl DemoSource {
    fn minute(&self, i: usize, m: &DemoModel, period: i64, now: i64) -> Vec<Sample> {
        // Business-hours peak around 15:00 UTC, trough at night.
        let day = (period.rem_euclid(86_400)) as f64 / 86_400.0;
        let daily = 0.55 + 0.45 * (2.0 * PI * (day - 0.375)).sin();
        // A spike in about one ten-minute block in forty.
        let spike = if unit(i, period / 600, 1) < 0.025 {
            6.0
        } else {
            1.0
        };
        let noise = 0.8 + 0.4 * unit(i, period, 2);
        // The current minute is partial: it grows as it elapses.
        let elapsed = ((now - period) as f64 / 60.0).clamp(0.0, 1.0);
        let calls = (m.peak_per_minute * daily * spike * noise).round();
        let seen = (calls * elapsed).floor();
        let tokens =
            |per_call: f64, salt| (seen * per_call * (0.9 + 0.2 * unit(i, period, salt))).round();
        let throttled = if spike > 1.0 {
            (seen * 0.04).round()
        } else {
            0.0
        };
        let l = &m.labels;
        // The demo's cloud identity of a series: its labels, which never change.
        let id = format!("{}|{}|{}|{}", l.account, l.region, l.model, l.deployment);
        let mut out = vec![
            Sample::new(id.clone(), l.clone(), SampleKind::Invocations, period, seen),
            Sample::new(
                id.clone(),
                l.clone(),
                SampleKind::Tokens(TokenType::Input),
                period,
                tokens(m.input_tokens_per_call, 3),
            ),
            Sample::new(
                id.clone(),
                l.clone(),
                SampleKind::Tokens(TokenType::Output),
                period,
                tokens(m.output_tokens_per_call, 4),
            ),
            Sample::new(
                id.clone(),
                l.clone(),
                SampleKind::Errors(ErrorType::Client),
                period,
                (seen * 0.01 * unit(i, period, 5) * 2.0).round(),
            ),
            Sample::new(
                id.clone(),
                l.clone(),
                SampleKind::Errors(ErrorType::Server),
                period,
                (seen * 0.002 * unit(i, period, 6) * 2.0).round(),
            ),
            Sample::new(
                id.clone(),
                l.clone(),
                SampleKind::Errors(ErrorType::Throttled),
                period,
                throttled,
            ),
        ];
        if m.cache_read_per_call > 0.0 {
            out.push(Sample::new(
                id.clone(),
                l.clone(),
                SampleKind::Tokens(TokenType::CacheRead),
                period,
                tokens(m.cache_read_per_call, 7),
            ));
        }
        if m.cache_write_per_call > 0.0 {
            out.push(Sample::new(
                id.clone(),
                l.clone(),
                SampleKind::Tokens(TokenType::CacheWrite),
                period,
                tokens(m.cache_write_per_call, 8),
            ));
        }
        if seen > 0.0 {
            let avg = 0.4
                + m.output_tokens_per_call / 90.0
                    * (0.9 + 0.3 * unit(i, period, 9))
                    * if spike > 1.0 { 1.5 } else { 1.0 };
            let lat = |stat: &str, v: f64| {
                Sample::new(
                    id.clone(),
                    l.clone(),
                    SampleKind::Latency {
                        kind: LatencyKind::Invocation,
                        stat: stat.into(),
                    },
                    period,
                    v,
                )
            };
            for (stat, factor) in &self.invocation_stats {
                out.push(lat(stat, avg * factor));
            }
            if m.reports_first_token {
                let ttft = 0.25 + 0.3 * unit(i, period, 10);
                for (stat, factor) in &self.first_token_stats {
                    out.push(Sample::new(
                        id.clone(),
                        l.clone(),
                        SampleKind::Latency {
                            kind: LatencyKind::FirstToken,
                            stat: stat.to_string(),
                        },
                        period,
                        ttft * factor,
                    ));
                }
            }
        }
        out
    }
}

impl Source for DemoSource {
    fn scope(&self) -> &str {
        &self.scope
    }

    async fn fetch(&self, window: Window) -> Result<Vec<Sample>, SourceError> {
        match &self.guard {
            Some(g) => g
                .call(|| async { Ok::<_, SourceError>(self.synthesize(window)) })
                .await
                .map_err(SourceError::from),
            None => Ok(self.synthesize(window)),
        }
    }
}

impl DemoSource {
    fn synthesize(&self, window: Window) -> Vec<Sample> {
        let now = unix_now();
        let mut samples = Vec::new();
        for period in window.periods().filter(|&p| p <= now) {
            for (i, m) in self.models.iter().enumerate() {
                samples.extend(self.minute(i, m, period, now));
            }
        }
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> DemoModel {
        DemoModel {
            labels: SeriesLabels {
                account: "a".into(),
                region: "r".into(),
                model: "m".into(),
                deployment: String::new(),
                billing: Default::default(),
            },
            peak_per_minute: 100.0,
            input_tokens_per_call: 800.0,
            output_tokens_per_call: 200.0,
            cache_read_per_call: 100.0,
            cache_write_per_call: 0.0,
            reports_first_token: true,
        }
    }

    #[test]
    fn complete_minutes_are_stable_and_the_current_one_grows() {
        let s = DemoSource::new("demo", vec![model()]);
        let p = 1_790_000_000 / 60 * 60;
        let a = s.minute(0, &s.models[0], p, p + 3600);
        let b = s.minute(0, &s.models[0], p, p + 7200);
        assert_eq!(a, b, "a complete minute never changes");
        let early = s.minute(0, &s.models[0], p, p + 10);
        let later = s.minute(0, &s.models[0], p, p + 50);
        assert!(early[0].value < later[0].value, "the current minute grows");
        assert!(a
            .iter()
            .any(|x| x.kind == SampleKind::Tokens(TokenType::CacheRead)));
        assert!(!a
            .iter()
            .any(|x| x.kind == SampleKind::Tokens(TokenType::CacheWrite)));
    }
}

//! From fetched `AWS/Bedrock` counter datapoints to period sums: each minute of each model
//! counted once, at the level `tiers::Levels` assigns it (tiers.rs says why).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::source::{BillingMode, PeriodSums, SampleKind, SeriesLabels};

use crate::tiers::{split, Level, Levels, Share, SplitDelay, TierDims};

/// How one `ModelId` value's series are labelled and priced.
#[derive(Debug, Clone)]
pub struct ModelLabels {
    pub labels: SeriesLabels,
    pub price_keys: Vec<String>,
}

/// (ModelId, kind).
type Key = (String, SampleKind);

/// The counter datapoints of the runtime namespace, by model and kind.
#[derive(Default)]
pub struct Counters {
    /// Model-only totals: (ModelId, kind) -> period -> value.
    totals: HashMap<Key, BTreeMap<i64, f64>>,
    /// Tier shares: (ModelId, kind) -> period -> shares.
    parts: HashMap<Key, BTreeMap<i64, Vec<Share>>>,
}

impl Counters {
    /// Adds one datapoint: of the model-only set (`tier` None), or of a tier set with when
    /// its metric was first listed.
    pub fn add(
        &mut self,
        model_id: &str,
        tier: Option<(&TierDims, i64)>,
        kind: &SampleKind,
        period: i64,
        value: f64,
    ) {
        let key = (model_id.to_string(), kind.clone());
        match tier {
            None => {
                *self
                    .totals
                    .entry(key)
                    .or_default()
                    .entry(period)
                    .or_default() += value
            }
            Some((tier, listed_since)) => self
                .parts
                .entry(key)
                .or_default()
                .entry(period)
                .or_default()
                .push(Share {
                    tier: tier.clone(),
                    value,
                    listed_since,
                }),
        }
    }

    /// Adds every minute to `sums`: at the model level under the model's own series (labels
    /// as given); at a tier level each tier's share under `<model>|tier|<tiers>` with the
    /// served tier's billing mode, and the Standard remainder under the model's series once
    /// the split is final at Unix time `now` (`tiers::split`). A model billed as a whole
    /// (Provisioned) keeps its mode for every share.
    pub fn into_sums(
        self,
        levels: &Levels,
        labels: &HashMap<String, ModelLabels>,
        delay: SplitDelay,
        now: i64,
        sums: &mut PeriodSums,
    ) {
        let keys: BTreeSet<(String, SampleKind)> = self
            .totals
            .keys()
            .chain(self.parts.keys())
            .cloned()
            .collect();
        let empty_totals = BTreeMap::new();
        let empty_parts = BTreeMap::new();
        for key in keys {
            let (model_id, kind) = &key;
            let Some(base) = labels.get(model_id) else {
                continue;
            };
            let totals = self.totals.get(&key).unwrap_or(&empty_totals);
            let parts = self.parts.get(&key).unwrap_or(&empty_parts);
            let periods: BTreeSet<i64> = totals.keys().chain(parts.keys()).copied().collect();
            for period in periods {
                let total = totals.get(&period).copied().unwrap_or(0.0);
                let shape = match levels.at(model_id, period) {
                    Level::Model => None,
                    Level::Tiers(shape) => Some(shape),
                };
                let Some(shape) = shape else {
                    if totals.contains_key(&period) {
                        let l = &base.labels;
                        sums.add(model_id, l, kind.clone(), period, total, &base.price_keys);
                    }
                    continue;
                };
                let at = parts.get(&period).map(Vec::as_slice).unwrap_or(&[]);
                let (shares, standard) = split(total, at, shape, period, delay, now);
                for share in shares {
                    let mut l = base.labels.clone();
                    if l.billing.mode != BillingMode::Provisioned {
                        l.billing.mode = share.tier.mode();
                    }
                    let series = format!("{model_id}|tier|{}", share.tier.key());
                    sums.add(
                        &series,
                        &l,
                        kind.clone(),
                        period,
                        share.value,
                        &base.price_keys,
                    );
                }
                if standard > 0.0 {
                    let l = &base.labels;
                    sums.add(
                        model_id,
                        l,
                        kind.clone(),
                        period,
                        standard,
                        &base.price_keys,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiers::Shape;
    use common::source::{Sample, TokenType};

    fn tier(r: &str, s: &str) -> TierDims {
        TierDims {
            requested: Some(r.into()),
            served: Some(s.into()),
        }
    }

    fn labels(model: &str) -> HashMap<String, ModelLabels> {
        let l = SeriesLabels {
            model: model.into(),
            ..SeriesLabels::default()
        };
        [(
            model.to_string(),
            ModelLabels {
                labels: l,
                price_keys: vec![model.to_string()],
            },
        )]
        .into()
    }

    fn run(levels: &Levels, c: Counters) -> Vec<Sample> {
        let mut sums = PeriodSums::default();
        let delay = SplitDelay {
            period: 60,
            delay: 120,
        };
        // Every minute's split is final.
        c.into_sums(levels, &labels("m"), delay, 1_000, &mut sums);
        let mut out: Vec<Sample> = sums.into_samples().collect();
        out.sort_by(|a, b| (a.period_start, &a.series).cmp(&(b.period_start, &b.series)));
        out
    }

    #[test]
    fn before_the_switch_the_total_after_it_the_tiers() {
        let input = SampleKind::Tokens(TokenType::Input);
        let mut levels = Levels::default();
        levels.observe("m", Level::Model, 0);
        levels.observe("m", Level::Tiers(Shape::Both), 120);
        let mut c = Counters::default();
        for period in [60, 120] {
            c.add("m", None, &input, period, 1000.0);
            c.add(
                "m",
                Some((&tier("priority", "priority"), i64::MIN)),
                &input,
                period,
                300.0,
            );
            c.add(
                "m",
                Some((&tier("default", "default"), i64::MIN)),
                &input,
                period,
                700.0,
            );
        }
        let out = run(&levels, c);
        let got: Vec<(i64, &str, BillingMode, f64)> = out
            .iter()
            .map(|s| {
                (
                    s.period_start,
                    s.series.as_str(),
                    s.labels.billing.mode,
                    s.value,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (60, "m", BillingMode::Standard, 1000.0),
                (120, "m|tier|default|default", BillingMode::Standard, 700.0),
                (
                    120,
                    "m|tier|priority|priority",
                    BillingMode::Priority,
                    300.0
                ),
            ]
        );
        let total: f64 = out.iter().map(|s| s.value).sum();
        assert_eq!(total, 2000.0, "each minute once");
    }
}

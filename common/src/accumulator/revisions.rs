//! Revision tracking for one scope: which value of which minute of which cloud series has
//! been counted, so a minute is counted once however often, however late and under whatever
//! labels the cloud reports it.
//!
//! - Revision state is keyed by the cloud's identity of a series ([`RevisionKey`]), never by
//!   the labels exported.
//! - A period at or after the scope's *horizon* is open: a larger value adds the difference,
//!   a smaller one is never subtracted. Before the horizon a period is final.
//! - When the horizon passes a series' periods they are forgotten, but the series keeps its
//!   `final_through` mark: nothing at or before it is counted again, even if the horizon is
//!   later moved back (a clock that stepped back) or the series is fetched again from further
//!   back (a restart, a late discovery).
//! - A series this scope has never seen may count periods back to `floor_for_new` (when the
//!   exporter started, bounded by `max_backfill`): a model CloudWatch's ListMetrics reports
//!   15 minutes late is counted from its first minute.
//! - A series is forgotten (final mark and all) once no fetch can reach its newest final
//!   period. The scope keeps the newest final period of every series it forgot
//!   (`forgotten_through`), and a series it does not know never counts a period at or before
//!   it: a clock that ran ahead and made an idle series unreachable too early, then stepped
//!   back, cannot count that series' minutes again. With a correct clock no fetch reaches
//!   that far back anyway.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::accumulator::CounterMetric;
use crate::source::SeriesId;

/// What is revised independently: one cloud series and one counter. How the series is billed
/// is not part of it: a deployment re-created under another billing mode is the same cloud
/// series, and its open minutes count once. A cloud that reports one model in parts (Vertex
/// provisioned and pay-as-you-go tokens) gives each part its own series id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "SavedRevisionKey")]
pub struct RevisionKey {
    pub series: SeriesId,
    pub metric: CounterMetric,
}

/// A revision key as state files have written it: older files mark the provisioned part of
/// a series with a flag, which current files carry as the suffix of its series id.
#[derive(Deserialize)]
struct SavedRevisionKey {
    series: SeriesId,
    metric: CounterMetric,
    #[serde(default)]
    provisioned: bool,
}

impl From<SavedRevisionKey> for RevisionKey {
    fn from(saved: SavedRevisionKey) -> Self {
        let mut series = saved.series;
        if saved.provisioned {
            series.push_str(crate::source::PROVISIONED_PART);
        }
        RevisionKey {
            series,
            metric: saved.metric,
        }
    }
}

/// What one cloud series has seen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct SeriesRevisions {
    /// The largest value seen per open period, oldest first.
    periods: Vec<(i64, f64)>,
    /// The newest period that is final for this series (counted, then forgotten).
    #[serde(default = "never")]
    final_through: i64,
    /// First seen in the poll being applied: its older periods still count back to the
    /// floor for new series (they arrive in the same poll, oldest first).
    #[serde(skip)]
    fresh: bool,
}

fn never() -> i64 {
    i64::MIN
}

fn is_never(t: &i64) -> bool {
    *t == i64::MIN
}

/// What a value offered for a period would do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Offer {
    /// Count `delta` more: the first value of the period, or a larger one (`late`).
    Count { delta: f64, late: bool },
    /// The value seen already.
    Same,
    /// Smaller than the value counted: never subtracted.
    Lower,
    /// The period is final for this series (or older than a new series may count).
    Final,
}

/// Revision state of one scope (an account and region, a subscription's account, a project).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScopeRevisions {
    /// Oldest period still open for the series this scope has seen.
    pub horizon: i64,
    /// The oldest period this scope counts for a series it has never seen: the start of its
    /// first poll's window (the baseline recorded every series there), or after a repaired
    /// clock the process start's.
    pub counting_since: i64,
    /// True until the first poll after restoring a state file that had no per-series state
    /// (version 1): that poll records what the cloud reports without counting it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebaseline: bool,
    /// The newest final period of any series forgotten: nothing at or before it counts for a
    /// series this scope does not know.
    #[serde(default = "never", skip_serializing_if = "is_never")]
    forgotten_through: i64,
    #[serde(with = "as_list")]
    series: HashMap<RevisionKey, SeriesRevisions>,
}

impl ScopeRevisions {
    pub fn new(horizon: i64, counting_since: i64) -> Self {
        ScopeRevisions {
            horizon,
            counting_since,
            rebaseline: false,
            forgotten_through: never(),
            series: HashMap::new(),
        }
    }

    /// What offering `value` for `period` of `key` would do; nothing changes.
    pub fn peek(&self, key: &RevisionKey, period: i64, value: f64, floor_for_new: i64) -> Offer {
        let Some(s) = self.series.get(key) else {
            return if period < floor_for_new || period <= self.forgotten_through {
                Offer::Final
            } else {
                Offer::Count {
                    delta: value,
                    late: false,
                }
            };
        };
        let floor = if s.fresh {
            floor_for_new.max(self.forgotten_through.saturating_add(1))
        } else {
            self.horizon
        };
        if period < floor || period <= s.final_through {
            return Offer::Final;
        }
        match s.periods.binary_search_by_key(&period, |(p, _)| *p) {
            Err(_) => Offer::Count {
                delta: value,
                late: false,
            },
            Ok(i) => {
                let old = s.periods[i].1;
                if value > old {
                    Offer::Count {
                        delta: value - old,
                        late: true,
                    }
                } else if value < old {
                    Offer::Lower
                } else {
                    Offer::Same
                }
            }
        }
    }

    /// True when this scope has seen `key` (its revision state or its final mark).
    pub fn knows(&self, key: &RevisionKey) -> bool {
        self.series.contains_key(key)
    }

    /// Records `value` as the largest seen for `period` of `key` (after [`peek`](Self::peek)
    /// said it counts and the counter accepted it).
    pub fn record(&mut self, key: &RevisionKey, period: i64, value: f64) {
        let s = self
            .series
            .entry(key.clone())
            .or_insert_with(|| SeriesRevisions {
                periods: Vec::new(),
                final_through: never(),
                fresh: true,
            });
        match s.periods.binary_search_by_key(&period, |(p, _)| *p) {
            Ok(i) => s.periods[i].1 = s.periods[i].1.max(value),
            Err(i) => s.periods.insert(i, (period, value)),
        }
    }

    /// Moves the horizon to `horizon` (never back: use [`repair`](Self::repair)); periods
    /// before it become final. A series whose newest final period is older than `forget_before`
    /// (no fetch can reach back that far any more) is forgotten entirely.
    pub fn advance(&mut self, horizon: i64, forget_before: i64) {
        self.horizon = self.horizon.max(horizon);
        let h = self.horizon;
        for s in self.series.values_mut() {
            s.fresh = false;
            let closed = s.periods.partition_point(|(p, _)| *p < h);
            if closed > 0 {
                s.final_through = s.final_through.max(s.periods[closed - 1].0);
                s.periods.drain(..closed);
            }
        }
        let mut forgotten = self.forgotten_through;
        self.series.retain(|_, s| {
            let keep = !s.periods.is_empty() || s.final_through >= forget_before;
            if !keep {
                forgotten = forgotten.max(s.final_through);
            }
            keep
        });
        self.forgotten_through = forgotten;
    }

    /// Moves the horizon back after the clock stepped back. Safe: what each series counted is
    /// still final through its `final_through` mark.
    pub fn repair(&mut self, horizon: i64, counting_since: i64) {
        self.horizon = self.horizon.min(horizon);
        self.counting_since = self.counting_since.min(counting_since);
    }

    /// Series with revision state (or a final mark), for tests and the state file.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Revision keys whose values were recorded, for tests.
    #[cfg(test)]
    pub fn open_periods(&self, key: &RevisionKey) -> Vec<(i64, f64)> {
        self.series
            .get(key)
            .map(|s| s.periods.clone())
            .unwrap_or_default()
    }
}

/// JSON maps need string keys; revision state is saved as a list instead.
mod as_list {
    use super::*;
    use serde::{Deserializer, Serializer};

    type Map = HashMap<RevisionKey, SeriesRevisions>;

    pub fn serialize<S: Serializer>(map: &Map, s: S) -> Result<S::Ok, S::Error> {
        let list: Vec<(&RevisionKey, &SeriesRevisions)> = map.iter().collect();
        list.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        let list: Vec<(RevisionKey, SeriesRevisions)> = Vec::deserialize(d)?;
        Ok(list.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::TokenType;

    fn key(series: &str) -> RevisionKey {
        RevisionKey {
            series: series.into(),
            metric: CounterMetric::Tokens(TokenType::Input),
        }
    }

    fn offer(s: &mut ScopeRevisions, k: &RevisionKey, p: i64, v: f64, floor: i64) -> Offer {
        let o = s.peek(k, p, v, floor);
        if matches!(o, Offer::Count { .. }) {
            s.record(k, p, v);
        }
        o
    }

    #[test]
    fn a_period_counts_its_growth_once() {
        let mut s = ScopeRevisions::new(0, 0);
        let k = key("m");
        assert_eq!(
            offer(&mut s, &k, 60, 10.0, 0),
            Offer::Count {
                delta: 10.0,
                late: false
            }
        );
        assert_eq!(offer(&mut s, &k, 60, 10.0, 0), Offer::Same);
        assert_eq!(
            offer(&mut s, &k, 60, 15.0, 0),
            Offer::Count {
                delta: 5.0,
                late: true
            }
        );
        assert_eq!(offer(&mut s, &k, 60, 12.0, 0), Offer::Lower);
        assert_eq!(offer(&mut s, &k, 60, 15.0, 0), Offer::Same);
    }

    #[test]
    fn final_periods_stay_final_when_the_horizon_moves_back() {
        let mut s = ScopeRevisions::new(0, 0);
        let k = key("m");
        offer(&mut s, &k, 60, 1.0, 0);
        offer(&mut s, &k, 120, 1.0, 0);
        s.advance(180, 0);
        assert_eq!(s.open_periods(&k), vec![]);
        // The clock stepped back: the horizon returns to 0, but what was counted stays final.
        s.repair(0, 0);
        assert_eq!(s.peek(&k, 60, 5.0, 0), Offer::Final);
        assert_eq!(s.peek(&k, 120, 5.0, 0), Offer::Final);
        assert_eq!(
            s.peek(&k, 180, 5.0, 0),
            Offer::Count {
                delta: 5.0,
                late: false
            }
        );
    }

    #[test]
    fn unknown_series_count_back_to_the_floor_known_ones_only_to_the_horizon() {
        let mut s = ScopeRevisions::new(600, 0);
        let known = key("known");
        offer(&mut s, &known, 600, 1.0, 0);
        // Within the poll that first saw it, older periods still count back to the floor.
        assert_eq!(
            s.peek(&known, 300, 1.0, 0),
            Offer::Count {
                delta: 1.0,
                late: false
            }
        );
        s.advance(600, i64::MIN);
        assert_eq!(s.peek(&known, 300, 1.0, 0), Offer::Final);
        let late = key("late");
        assert_eq!(
            s.peek(&late, 300, 4.0, 120),
            Offer::Count {
                delta: 4.0,
                late: false
            }
        );
        assert_eq!(
            s.peek(&late, 60, 4.0, 120),
            Offer::Final,
            "before the floor"
        );
    }

    #[test]
    fn a_series_is_forgotten_only_when_no_fetch_can_reach_it() {
        let mut s = ScopeRevisions::new(0, 0);
        let k = key("m");
        offer(&mut s, &k, 60, 1.0, 0);
        s.advance(600, 0);
        assert!(s.knows(&k), "still reachable by a backfill");
        s.advance(600, 120);
        assert!(!s.knows(&k));
    }

    #[test]
    fn saved_provisioned_parts_become_their_own_series() {
        let json = r#"[{"series":"p/m","metric":{"tokens":"input"},"provisioned":true},{"series":"p/m","metric":{"tokens":"input"}}]"#;
        let keys: Vec<RevisionKey> = serde_json::from_str(json).unwrap();
        assert_eq!(keys[0].series, "p/m#provisioned");
        assert_eq!(keys[1].series, "p/m");
    }
}

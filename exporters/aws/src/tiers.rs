//! Bedrock service tiers (Reserved, Priority, Standard, Flex) in CloudWatch, and which level of
//! a model's metrics each minute is read from.
//!
//! Bedrock user guide, "Service tiers for optimizing performance and cost": "You can also view
//! service tier metrics in Amazon CloudWatch Metrics under ModelId, ServiceTier, and
//! ResolvedServiceTier, where ResolvedServiceTier shows the actual tier that served your
//! requests" (an earlier revision said "model-id+priority" and "model-id+flex"). The runtime
//! metrics page lists only the `ModelId` dimension set for the same metrics. So a tier
//! dimension set is the same traffic as the model-only set, split by tier: it is never added
//! to it. Whether the tier sets also carry Standard traffic is not documented; the exporter
//! therefore counts each minute's model-only total once and splits it: every tier's share at
//! the tier that served it, and whatever the tier sets do not cover at Standard.
//!
//! ListMetrics can list a model's tier metrics up to 15 minutes after its model-only metrics.
//! Minutes already read at one level stay at that level: a change of level for a model takes
//! effect from the first minute no poll has read yet, so no minute is counted twice or lost.
//!
//! A minute's model-only total and its tier shares are separate series: one poll can see the
//! total with some shares missing (a share not yet published, or a tier series not yet
//! listed). Its Standard remainder would then include them, and a counter cannot go down when
//! they arrive. So a tier-level minute's split stays open for `aws.tier_split_delay` after the
//! minute ends ([`SplitDelay`]): its Standard remainder is held back until then, and a tier
//! series listed for the first time after that no longer counts the minute (its traffic is
//! already in the remainder, at Standard). Either way each minute counts once.

use std::collections::HashMap;

use common::source::BillingMode;

pub const SERVICE_TIER_DIMENSION: &str = "ServiceTier";
pub const RESOLVED_TIER_DIMENSION: &str = "ResolvedServiceTier";

/// The tier dimensions of one metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TierDims {
    /// `ServiceTier`: the tier asked for.
    pub requested: Option<String>,
    /// `ResolvedServiceTier`: the tier that served the requests.
    pub served: Option<String>,
}

/// Which tier dimension set a metric comes in, best first: the served tier is what is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    Both,
    ServedOnly,
    RequestedOnly,
}

impl TierDims {
    pub fn shape(&self) -> Shape {
        match (&self.requested, &self.served) {
            (Some(_), Some(_)) => Shape::Both,
            (None, Some(_)) => Shape::ServedOnly,
            _ => Shape::RequestedOnly,
        }
    }

    /// How the traffic is billed: by the tier that served it, else by the one asked for.
    pub fn mode(&self) -> BillingMode {
        mode_of(
            self.served
                .as_deref()
                .or(self.requested.as_deref())
                .unwrap_or(""),
        )
    }

    /// For series ids: `<requested>|<served>` (`|` never occurs in a tier name).
    pub fn key(&self) -> String {
        format!(
            "{}|{}",
            self.requested.as_deref().unwrap_or(""),
            self.served.as_deref().unwrap_or("")
        )
    }
}

/// The billing mode of a tier name. The API's values are `priority | default | flex |
/// reserved` (Bedrock API reference, ServiceTier); `default` is the Standard tier. An unknown
/// name is counted at Standard (its tokens still count; a warning names it).
pub fn mode_of(tier: &str) -> BillingMode {
    match tier.to_ascii_lowercase().as_str() {
        "priority" => BillingMode::Priority,
        "flex" => BillingMode::Flex,
        "reserved" => BillingMode::Reserved,
        "default" | "standard" | "" => BillingMode::Standard,
        other => {
            tracing::warn!(tier = %common::config::shorten(other, 40), "unknown Bedrock service tier: priced at Standard");
            BillingMode::Standard
        }
    }
}

/// Where a minute of one model is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The model-only metrics, all at Standard.
    Model,
    /// The model-only total split by the tier metrics of this shape.
    Tiers(Shape),
}

/// The level of each model over time: `(from period, level)`, oldest first; and when each
/// tier metric was first listed.
#[derive(Debug, Default)]
pub struct Levels {
    /// Per model: `(from period, level)`, oldest first.
    changes: HashMap<String, Vec<(i64, Level)>>,
    /// Per tier metric: the Unix time it was first listed (`i64::MIN`: since forever).
    listed_since: HashMap<TierMetric, i64>,
}

/// One tier metric as listed: (ModelId, metric name, [`TierDims::key`]).
pub type TierMetric = (String, String, String);

/// Level changes remembered per model (older ones are pruned once no open minute needs them).
const MAX_CHANGES: usize = 16;

impl Levels {
    /// Records the level the listing offers for `model` at a poll whose window ends at `end`.
    /// A model seen for the first time is at that level for every minute; a change takes
    /// effect from `end`, the first minute no poll has read.
    pub fn observe(&mut self, model: &str, level: Level, end: i64) {
        let changes = self.changes.entry(model.to_string()).or_default();
        match changes.last() {
            None => changes.push((i64::MIN, level)),
            Some((_, current)) if *current == level => {}
            Some(_) => {
                changes.push((end, level));
                if changes.len() > MAX_CHANGES {
                    changes.remove(0);
                }
            }
        }
    }

    /// The level minute `period` of `model` is read at.
    pub fn at(&self, model: &str, period: i64) -> Level {
        self.changes
            .get(model)
            .and_then(|c| c.iter().rev().find(|(from, _)| *from <= period))
            .map(|(_, l)| *l)
            .unwrap_or(Level::Model)
    }

    /// The tier shapes some minute at or after `since` of `model` is read at.
    pub fn shapes_since(&self, model: &str, since: i64) -> Vec<Shape> {
        let Some(changes) = self.changes.get(model) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, (_, level)) in changes.iter().enumerate() {
            let until = changes.get(i + 1).map(|c| c.0).unwrap_or(i64::MAX);
            if let (Level::Tiers(s), true) = (level, until > since) {
                if !out.contains(s) {
                    out.push(*s);
                }
            }
        }
        out
    }

    /// True when `model` has been observed before.
    pub fn knows(&self, model: &str) -> bool {
        self.changes.contains_key(model)
    }

    /// Records that `metric` is listed at Unix time `now`. A metric in the first listing of
    /// its model is listed since forever: this process has counted nothing of the model
    /// before. After a restart that is nearly so: the open minutes were split with the tier
    /// metrics listed then, which the listing still holds; only a metric that was listed
    /// after some open minute's split was final (its traffic in that minute's remainder)
    /// counts that minute again. A metric first listed later, beside a model already known,
    /// is listed since `now`. Entries are kept: one per tier metric ListMetrics has listed
    /// in this scope.
    pub fn observe_tier_metric(&mut self, metric: TierMetric, model_known: bool, now: i64) {
        self.listed_since
            .entry(metric)
            .or_insert(if model_known { now } else { i64::MIN });
    }

    /// When `metric` was first listed (`i64::MIN`: since forever).
    pub fn listed_since(&self, metric: &TierMetric) -> i64 {
        self.listed_since.get(metric).copied().unwrap_or(i64::MIN)
    }

    /// Forgets changes no minute at or after `before` is read at.
    pub fn prune(&mut self, before: i64) {
        for changes in self.changes.values_mut() {
            while changes.len() > 1 && changes[1].0 <= before {
                changes.remove(0);
            }
        }
    }
}

/// The best tier shape among a model's listed tier metrics.
pub fn best_shape(shapes: impl IntoIterator<Item = Shape>) -> Option<Shape> {
    shapes.into_iter().min()
}

/// How long a tier-level minute's split stays open after the minute ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitDelay {
    /// The minute's length (CloudWatch's period), in seconds.
    pub period: i64,
    /// `aws.tier_split_delay`, in seconds.
    pub delay: i64,
}

impl SplitDelay {
    /// True when the split of the minute starting at `minute` is final at Unix time `at`.
    pub fn is_final(&self, minute: i64, at: i64) -> bool {
        minute.saturating_add(self.period + self.delay) <= at
    }
}

/// One tier share of one minute, and when its tier metric was first listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub tier: TierDims,
    pub value: f64,
    pub listed_since: i64,
}

/// One minute (starting at `minute`) of one model and counter at a tier level, split at Unix
/// time `now`: the shares that count, and the Standard remainder of the model-only total
/// they do not cover.
///
/// - A share counts when it is of `shape` and its metric was listed while the split was
///   open (a metric listed after that is already in the remainder).
/// - The remainder is 0 until the split is final: a share still missing would otherwise be
///   counted in it, and again when it arrives. It is never negative: shares that arrive
///   before the total are not taken from it twice.
pub fn split(
    total: f64,
    shares: &[Share],
    shape: Shape,
    minute: i64,
    delay: SplitDelay,
    now: i64,
) -> (Vec<&Share>, f64) {
    let counted: Vec<&Share> = shares
        .iter()
        .filter(|s| s.tier.shape() == shape && !delay.is_final(minute, s.listed_since))
        .collect();
    if !delay.is_final(minute, now) {
        return (counted, 0.0);
    }
    let covered: f64 = counted.iter().map(|s| s.value).sum();
    (counted, (total - covered).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(requested: Option<&str>, served: Option<&str>) -> TierDims {
        TierDims {
            requested: requested.map(str::to_string),
            served: served.map(str::to_string),
        }
    }

    #[test]
    fn the_served_tier_sets_the_price() {
        assert_eq!(
            dims(Some("reserved"), Some("default")).mode(),
            BillingMode::Standard,
            "reserved capacity overflowed to Standard"
        );
        assert_eq!(
            dims(Some("priority"), Some("priority")).mode(),
            BillingMode::Priority
        );
        assert_eq!(dims(None, Some("flex")).mode(), BillingMode::Flex);
        assert_eq!(
            dims(Some("Reserved"), None).mode(),
            BillingMode::Reserved,
            "only the asked tier known"
        );
        assert_eq!(dims(None, Some("default")).shape(), Shape::ServedOnly);
        assert_eq!(
            best_shape([Shape::RequestedOnly, Shape::Both]),
            Some(Shape::Both)
        );
    }

    #[test]
    fn a_late_tier_level_takes_over_only_from_the_first_unread_minute() {
        let mut l = Levels::default();
        l.observe("m", Level::Model, 600);
        assert_eq!(l.at("m", 0), Level::Model);
        // Tier metrics listed at the poll whose window ends at 660: minutes before stay.
        l.observe("m", Level::Tiers(Shape::Both), 660);
        l.observe("m", Level::Tiers(Shape::Both), 720);
        assert_eq!(l.at("m", 600), Level::Model);
        assert_eq!(l.at("m", 660), Level::Tiers(Shape::Both));
        assert_eq!(l.shapes_since("m", 0), vec![Shape::Both]);
        // And back: the tier metrics no longer listed.
        l.observe("m", Level::Model, 900);
        assert_eq!(l.at("m", 840), Level::Tiers(Shape::Both));
        assert_eq!(l.at("m", 900), Level::Model);
        assert_eq!(l.shapes_since("m", 900), Vec::<Shape>::new());
        assert_eq!(l.shapes_since("m", 899), vec![Shape::Both]);
        l.prune(900);
        assert_eq!(l.changes["m"].len(), 1);
        assert_eq!(l.at("m", 960), Level::Model);
        // A model first seen with tier metrics is at the tier level for every minute.
        l.observe("n", Level::Tiers(Shape::ServedOnly), 900);
        assert_eq!(l.at("n", 0), Level::Tiers(Shape::ServedOnly));
        assert_eq!(l.at("unknown", 0), Level::Model);
    }

    fn share(requested: Option<&str>, served: Option<&str>, value: f64) -> Share {
        Share {
            tier: dims(requested, served),
            value,
            listed_since: i64::MIN,
        }
    }

    const DELAY: SplitDelay = SplitDelay {
        period: 60,
        delay: 120,
    };

    #[test]
    fn a_minute_is_split_never_added() {
        let shares = vec![
            share(Some("priority"), Some("priority"), 300.0),
            share(Some("flex"), Some("flex"), 200.0),
            share(None, Some("priority"), 300.0),
        ];
        // Final: the minute 0..60 ended 120 s ago.
        let (counted, standard) = split(1000.0, &shares, Shape::Both, 0, DELAY, 180);
        assert_eq!(counted.len(), 2, "one shape only");
        assert_eq!(standard, 500.0, "what the tier sets do not cover");
        let (_, standard) = split(400.0, &shares, Shape::Both, 0, DELAY, 180);
        assert_eq!(standard, 0.0, "never negative");
    }

    #[test]
    fn the_remainder_waits_for_the_split_to_be_final() {
        let shares = vec![share(Some("flex"), Some("flex"), 200.0)];
        let (counted, standard) = split(1000.0, &shares, Shape::Both, 0, DELAY, 179);
        assert_eq!((counted.len(), standard), (1, 0.0), "shares count at once");
        let (_, standard) = split(1000.0, &shares, Shape::Both, 0, DELAY, 180);
        assert_eq!(standard, 800.0);
    }

    #[test]
    fn a_tier_metric_listed_after_the_split_is_final_does_not_count_that_minute() {
        let mut late = share(Some("priority"), Some("priority"), 300.0);
        late.listed_since = 180;
        let shares = vec![share(Some("flex"), Some("flex"), 200.0), late.clone()];
        let (counted, standard) = split(1000.0, &shares, Shape::Both, 0, DELAY, 240);
        assert_eq!(counted.len(), 1, "listed once the minute was final");
        assert_eq!(standard, 800.0, "its traffic stays in the remainder");
        late.listed_since = 179;
        let shares = vec![share(Some("flex"), Some("flex"), 200.0), late];
        let (counted, standard) = split(1000.0, &shares, Shape::Both, 0, DELAY, 240);
        assert_eq!((counted.len(), standard), (2, 500.0), "listed while open");
    }

    /// Every order in which a minute's total and its shares can arrive, and their metrics be
    /// listed, over polls a minute apart: what is counted (each series' largest value, as
    /// the accumulator keeps it) adds up to the total once every share has arrived.
    #[test]
    fn every_arrival_order_counts_the_minute_once() {
        let values = [
            ("priority", 1_000.0),
            ("flex", 2_000.0),
            ("reserved", 3_000.0),
        ];
        let total = 10_000.0;
        // Poll times 30 s apart from the minute's end (the split is final from the fifth);
        // each share arrives (listed and published) at one of them, the total at another.
        let polls: Vec<i64> = (0..8).map(|i| 60 + i * 30).collect();
        let mut cases = 0;
        for total_at in 0..polls.len() {
            for arrivals in 0..polls.len().pow(values.len() as u32) {
                let at: Vec<usize> = (0..values.len())
                    .map(|i| arrivals / polls.len().pow(i as u32) % polls.len())
                    .collect();
                let mut models = Levels::default();
                let mut kept: HashMap<String, f64> = HashMap::new();
                for (p, &now) in polls.iter().enumerate() {
                    let mut shares = Vec::new();
                    for (i, (tier, v)) in values.iter().enumerate() {
                        if at[i] <= p {
                            let metric = ("m".into(), "InputTokenCount".into(), tier.to_string());
                            models.observe_tier_metric(metric.clone(), p > 0, now);
                            let mut s = share(Some(tier), Some(tier), *v);
                            s.listed_since = models.listed_since(&metric);
                            shares.push(s);
                        }
                    }
                    let seen = if total_at <= p { total } else { 0.0 };
                    let (counted, standard) = split(seen, &shares, Shape::Both, 0, DELAY, now);
                    for s in counted {
                        let k = kept.entry(s.tier.key()).or_default();
                        *k = k.max(s.value);
                    }
                    let k = kept.entry("standard".into()).or_default();
                    *k = k.max(standard);
                }
                let counted: f64 = kept.values().sum();
                assert_eq!(counted, total, "total at poll {total_at}, shares at {at:?}");
                cases += 1;
            }
        }
        assert_eq!(cases, 8 * 8 * 8 * 8);
    }
}

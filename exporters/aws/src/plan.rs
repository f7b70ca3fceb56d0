//! What one poll of a scope asks CloudWatch: the queries for the listed metrics, what each
//! query's datapoints mean, and the level (model-only, or per service tier) each model is read
//! at (tiers.rs says why).

use std::collections::HashMap;
use std::sync::Mutex;

use common::base::lock;
use common::source::{LatencyKind, SampleKind, Window};

use crate::listed::ListedMetric;
use crate::metrics_api::Query;
use crate::models;
use crate::tiers::{best_shape, Level, Levels, Shape, TierMetric};

/// What one query's datapoints become.
pub enum Meaning {
    Counter(SampleKind),
    Latency(LatencyKind, String),
}

/// The key of a metric's model in the labels map: the ModelId value, or for bedrock-mantle
/// `mantle|<project>|<model>` (its series id).
pub fn model_key(m: &ListedMetric) -> String {
    match &m.mantle_project {
        Some(_) => m.series_id(),
        None => m.model_id.clone(),
    }
}

/// Records the level each runtime model is read at from this listing: per service tier
/// where tier metrics are listed (the best tier dimension set), else model-only; and when
/// each tier metric was first listed (`now`, Unix seconds).
pub fn observe_levels(levels: &Mutex<Levels>, listed: &[ListedMetric], window: Window, now: i64) {
    let mut levels = lock(levels);
    let mut shapes: HashMap<&str, Vec<Shape>> = HashMap::new();
    for m in listed.iter().filter(|m| m.mantle_project.is_none()) {
        let entry = shapes.entry(m.model_id.as_str()).or_default();
        if let Some(t) = &m.tier {
            entry.push(t.shape());
            // Known from an earlier listing: the levels of this one are observed below.
            let known = levels.knows(&m.model_id);
            levels.observe_tier_metric(tier_metric(m), known, now);
        }
    }
    for (model, s) in shapes {
        let level = best_shape(s).map(Level::Tiers).unwrap_or(Level::Model);
        levels.observe(model, level, window.end);
    }
    levels.prune(window.start.min(window.backfill_start));
}

/// The key `Levels` knows a tier metric by.
pub fn tier_metric(m: &ListedMetric) -> TierMetric {
    let tier = m.tier.as_ref().map(|t| t.key()).unwrap_or_default();
    (m.model_id.clone(), m.metric_name.clone(), tier)
}

/// The queries to make for the listed metrics, and what each one means. Model-only
/// counters always (they are the total a tier level splits); tier counters of the shapes
/// some open minute is read at; latency at each model's current level.
pub fn plan(
    levels: &Mutex<Levels>,
    latency_stats: &[(String, String)],
    listed: &[ListedMetric],
    since: i64,
) -> Vec<(Query, Meaning)> {
    let levels = lock(levels);
    let wanted = |m: &ListedMetric| match &m.tier {
        None => true,
        Some(t) => levels.shapes_since(&m.model_id, since).contains(&t.shape()),
    };
    let mut plan = Vec::new();
    // A series that has a cache metric under both spellings is queried under the
    // preferred one only (models::COUNTERS order), so its tokens are not counted twice.
    let mut taken: HashMap<(String, SampleKind), usize> = HashMap::new();
    for (rank, counter) in models::COUNTERS.iter().enumerate() {
        for m in listed
            .iter()
            .filter(|m| m.mantle_project.is_none() && m.metric_name == counter.name && wanted(m))
        {
            let slot = taken
                .entry((m.series_id(), counter.kind.clone()))
                .or_insert(rank);
            if *slot == rank {
                plan.push((
                    Query {
                        metric: m.clone(),
                        stat: "Sum".into(),
                    },
                    Meaning::Counter(counter.kind.clone()),
                ));
            }
        }
    }
    // bedrock-mantle: one level only (Project+Model, all ListMetrics kept), one metric per
    // kind, so nothing to choose between.
    for m in listed.iter().filter(|m| m.mantle_project.is_some()) {
        if let Some(counter) = models::mantle_counter(&m.metric_name) {
            plan.push((
                Query {
                    metric: m.clone(),
                    stat: "Sum".into(),
                },
                Meaning::Counter(counter.kind.clone()),
            ));
        }
    }
    // Latency: per tier where the model is read per tier and its tier sets carry the
    // metric, else model-only.
    let now_level = |model: &str| levels.at(model, i64::MAX);
    for m in listed.iter().filter(|m| m.mantle_project.is_none()) {
        let Some(kind) = models::latency(&m.metric_name) else {
            continue;
        };
        let read = match (now_level(&m.model_id), &m.tier) {
            (Level::Model, None) => true,
            (Level::Model, Some(_)) => false,
            (Level::Tiers(shape), Some(t)) => t.shape() == shape,
            (Level::Tiers(shape), None) => !listed.iter().any(|o| {
                o.model_id == m.model_id
                    && o.metric_name == m.metric_name
                    && o.tier.as_ref().is_some_and(|t| t.shape() == shape)
            }),
        };
        if !read {
            continue;
        }
        for (label, cw_stat) in latency_stats {
            plan.push((
                Query {
                    metric: m.clone(),
                    stat: cw_stat.clone(),
                },
                Meaning::Latency(kind, label.clone()),
            ));
        }
    }
    plan
}

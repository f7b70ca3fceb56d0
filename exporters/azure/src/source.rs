//! `impl Source` for Azure OpenAI / AI Foundry in one subscription: discover accounts and
//! deployments (ARM, cached), fetch their metrics in batches per region, and turn them into
//! samples labelled with the deployment and the model it serves.
//!
//! Each Cognitive Services account is a scope of its own (`<subscription>/<resource
//! group>/<account>`): it has its own horizon, succeeds or fails on its own and gets its own
//! `llm_exporter_target_up`. One getBatch call still serves every account of a region, over
//! the oldest of their windows; the accumulator drops what each account has already made final.
//!
//! Each exporter has the same files for the same roles (docs/architecture.md, "File map").
//! Azure's own: `answer.rs` (the metrics answer's shape), `guards.rs`, `samples.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::accumulator::{REJECT_BEFORE_WINDOW, REJECT_DUPLICATE};
use common::base::lock;
use common::error::{FailureKind, SourceError};
use common::idle::{Idle, Plan};
use common::source::{PeriodSums, Sample, ScopeFetch, Source, Window, Windows};

use crate::answer::Metric;
use crate::discovery::{account_scope, Account, Arm, Deployment};
use crate::metrics_api::{Monitor, MAX_RESOURCES_PER_BATCH};
use crate::models::QUERIES;
use crate::samples::{self, Listed};
use crate::watch::{asks, traffic, LATENCIES, QUERY_ORDER};

pub struct AzureSource {
    pub subscription: String,
    pub arm: Arc<Arm>,
    pub monitor: Arc<Monitor>,
    /// Scope names of the last successful account listing: when a listing fails, these fail.
    listed: Mutex<Vec<String>>,
    /// Accounts polled by this process; None before the first successful listing.
    seen: Mutex<Option<HashSet<String>>>,
    /// True while the subscription itself (target `<subscription>`: its account listing) is
    /// reported failed: the next successful listing reports it up again, so its
    /// `llm_exporter_target_up` does not stay 0.
    subscription_failed: Mutex<bool>,
    /// When repeated points were last logged.
    repeat_warned: Mutex<Option<std::time::Instant>>,
    /// When points dated before 1970 were last logged.
    ancient_warned: Mutex<Option<std::time::Instant>>,
    /// Per account scope, the deployments (lower-case names) this process has fetched from
    /// `window.backfill_start`.
    backfilled: Mutex<HashMap<String, HashSet<String>>>,
    /// Which accounts are idle (watched without their latencies, once per
    /// `azure.idle_poll_interval`) and which are polled in full.
    pub idle: Idle,
}

/// One account of the poll: its scope, window and deployments by lower-case name.
struct Target<'a> {
    account: &'a Account,
    scope: String,
    window: Window,
    /// What is asked of Azure for this account: `window`, reaching back to its
    /// `backfill_start` while a listed deployment has not been fetched from there yet.
    fetch: Window,
    deployments: HashMap<String, Deployment>,
    /// How the account is asked this poll.
    plan: Plan,
}

impl AzureSource {
    pub fn new(subscription: String, arm: Arc<Arm>, monitor: Arc<Monitor>) -> Self {
        AzureSource {
            subscription,
            arm,
            monitor,
            listed: Mutex::new(Vec::new()),
            seen: Mutex::new(None),
            subscription_failed: Mutex::new(false),
            repeat_warned: Mutex::new(None),
            ancient_warned: Mutex::new(None),
            backfilled: Mutex::new(HashMap::new()),
            idle: Idle::off(),
        }
    }

    /// The scope of an account (see [`account_scope`]).
    pub fn scope_of(&self, account_id: &str) -> String {
        account_scope(&self.subscription, account_id)
    }

    /// The deployments of `account`, by lower-case name.
    async fn deployments(
        &self,
        account: &Account,
    ) -> Result<HashMap<String, Deployment>, SourceError> {
        let list = self
            .arm
            .deployments(&account.id)
            .await
            .map_err(|e| SourceError::from(&*e))?;
        Ok(by_name(&list))
    }

    /// Lists the deployments of `t`'s account again when `metrics` name a deployment the
    /// cached listing does not know (created or renamed since), so labels and price are right
    /// from its first minute. At most once a minute per account ([`crate::discovery::MIN_REFRESH`]).
    async fn learn_new_deployments(&self, t: &mut Target<'_>, metrics: &[Metric]) {
        let unknown = metrics.iter().flat_map(|m| &m.timeseries).any(|ts| {
            let name = ts.dimension("ModelDeploymentName").to_ascii_lowercase();
            !name.is_empty() && !t.deployments.contains_key(&name)
        });
        if !unknown {
            return;
        }
        match self.arm.refresh_deployments(&t.account.id).await {
            Some(Ok(list)) => {
                tracing::info!(scope = %t.scope, "a deployment unknown to the cached listing reports metrics: deployments listed again");
                t.deployments = by_name(&list);
            }
            Some(Err(e)) => {
                tracing::warn!(scope = %t.scope, error = %e, "listing deployments again failed; labelled by deployment name until the next listing")
            }
            None => {}
        }
    }

    /// Every account's fetch: its own result, over its own window.
    async fn fetch_accounts(&self, windows: &(dyn Windows + '_)) -> Vec<ScopeFetch> {
        let accounts = match self.arm.accounts(&self.subscription).await {
            Ok(a) => a,
            Err(e) => {
                // Without the listing no account can be fetched: every account known from the
                // last listing fails, and so does the subscription's own target (the listing),
                // reported up again after the next successful listing.
                let mut scopes = lock(&self.listed).clone();
                scopes.push(self.subscription.clone());
                *lock(&self.subscription_failed) = true;
                let error = SourceError::from(&*e).context("listing the subscription's accounts");
                return scopes
                    .into_iter()
                    .map(|scope| ScopeFetch {
                        window: windows.window(&scope),
                        scope,
                        result: Err(error.clone()),
                    })
                    .collect();
            }
        };
        let mut out = Vec::new();
        if std::mem::take(&mut *lock(&self.subscription_failed)) {
            let scope = self.subscription.clone();
            out.push(ScopeFetch {
                window: windows.window(&scope),
                scope,
                result: Ok(Vec::new()),
            });
        }
        let started = Instant::now();
        let mut targets: Vec<Target<'_>> = Vec::new();
        let scopes: Vec<String> = accounts.iter().map(|a| self.scope_of(&a.id)).collect();
        *lock(&self.listed) = scopes.clone();
        let late = self.late_accounts(&scopes);
        for (account, scope) in accounts.iter().zip(scopes) {
            let window = windows.window(&scope);
            if late.contains(&scope) {
                // An account created after start-up: an empty first poll starts its counting
                // at this window, so everything it reports from here on is counted (a first
                // poll with data would be a baseline, recorded but not counted).
                tracing::info!(scope = %scope, "new account: counted from now");
                out.push(ScopeFetch {
                    scope,
                    window,
                    result: Ok(Vec::new()),
                });
                continue;
            }
            match self.deployments(account).await {
                Ok(deployments) => targets.push(Target {
                    fetch: self.fetch_window(&scope, window, &deployments),
                    plan: self.idle.plan(&scope, started),
                    account,
                    scope,
                    window,
                    deployments,
                }),
                Err(e) => out.push(ScopeFetch {
                    scope,
                    window,
                    result: Err(e.context("listing deployments")),
                }),
            }
        }

        let mut by_region: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, t) in targets.iter().enumerate() {
            by_region
                .entry(t.account.location.to_ascii_lowercase())
                .or_default()
                .push(i);
        }
        let mut results: Vec<Result<Vec<Metric>, SourceError>> =
            targets.iter().map(|_| Ok(Vec::new())).collect();
        for (region, members) in &by_region {
            ride_along(&mut targets, members);
            // The oldest window of the region's asked accounts serves them all; periods an
            // account has made final are dropped by the accumulator.
            let asked_now = members.iter().filter(|&&i| targets[i].plan != Plan::Skip);
            let Some(window) = oldest(asked_now.map(|&i| targets[i].fetch)) else {
                continue;
            };
            // The counters first: an idle account they show traffic for is asked its
            // latencies in this same poll, over the same window.
            for q in QUERY_ORDER {
                let query = &QUERIES[q];
                // An account that failed one query has failed this poll: not asked again.
                let asked: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&i| {
                        let t = &targets[i];
                        results[i].is_ok() && asks(t.plan, &t.deployments, q, &results[i])
                    })
                    .collect();
                if asked.is_empty() {
                    continue;
                }
                let ids: Vec<String> = asked
                    .iter()
                    .map(|&i| targets[i].account.id.clone())
                    .collect();
                let answers = self
                    .monitor
                    .fetch(&self.subscription, region, &ids, query, window)
                    .await;
                let mut answers: HashMap<String, Result<Vec<Metric>, SourceError>> =
                    answers.into_iter().collect();
                for &i in &asked {
                    let answer = answers.remove(&targets[i].account.id).unwrap_or_else(|| {
                        Err(SourceError::new(
                            FailureKind::InvalidAnswer,
                            "no answer for this account",
                        ))
                    });
                    match (&mut results[i], answer) {
                        (Ok(all), Ok(metrics)) => all.extend(metrics),
                        (slot, Err(e)) => *slot = Err(e),
                        (Err(_), Ok(_)) => {}
                    }
                }
                if q != LATENCIES {
                    for &i in &asked {
                        let t = &mut targets[i];
                        if t.plan == Plan::Watch && results[i].as_ref().is_ok_and(|m| traffic(m)) {
                            tracing::info!(scope = %t.scope, "traffic on an idle account: polled in full from this poll");
                            t.plan = Plan::Full;
                        }
                    }
                }
            }
        }

        for (mut t, result) in targets.into_iter().zip(results) {
            if t.plan == Plan::Skip {
                // Not asked: its minutes stay open for the next watch.
                continue;
            }
            if let Ok(metrics) = &result {
                self.idle
                    .polled(&t.scope, t.plan, traffic(metrics), started);
            }
            let result = match result {
                Ok(mut metrics) => {
                    let ancient = crate::points::drop_before_epoch(&mut metrics);
                    if ancient > 0 {
                        self.monitor
                            .guards
                            .metrics()
                            .reject_at_source(REJECT_BEFORE_WINDOW, ancient as u64);
                        self.warn_ancient(&t.scope, ancient);
                    }
                    let repeated = crate::points::drop_repeated(&mut metrics, t.window.period);
                    if repeated > 0 {
                        self.monitor
                            .guards
                            .metrics()
                            .reject_at_source(REJECT_DUPLICATE, repeated as u64);
                        self.warn_repeated(&t.scope, repeated);
                    }
                    self.learn_new_deployments(&mut t, &metrics).await;
                    let mut sums = PeriodSums::default();
                    let mut samples = Vec::new();
                    let listed = Listed {
                        account: t.account,
                        window: t.window,
                        deployments: &t.deployments,
                    };
                    samples::samples(
                        &self.subscription,
                        &listed,
                        &metrics,
                        &mut sums,
                        &mut samples,
                    );
                    lock(&self.backfilled)
                        .entry(t.scope.clone())
                        .or_default()
                        .extend(t.deployments.keys().cloned());
                    samples.extend(sums.into_samples());
                    Ok(samples)
                }
                Err(e) => Err(e),
            };
            out.push(ScopeFetch {
                scope: t.scope,
                window: t.window,
                result,
            });
        }
        out
    }

    /// Logs points dropped as repeats (see [`crate::points`]), at most once a minute.
    fn warn_repeated(&self, scope: &str, count: usize) {
        let mut last = lock(&self.repeat_warned);
        if last.is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(60)) {
            return;
        }
        *last = Some(std::time::Instant::now());
        tracing::warn!(scope, points = count, "Azure gave a minute twice for the same metric and dimension values: the repeats were dropped, not summed (logged at most once a minute; see llm_exporter_samples_rejected_total{{reason=\"duplicate\"}})");
    }

    /// What to ask of Azure for an account over `window`: from `window.backfill_start` while
    /// one of its listed `deployments` has not been fetched from there by this process, else
    /// from `window.start`. The accumulator counts the older minutes only for series it has
    /// never counted, so a deployment refused by `max_series` before a restart, or one
    /// listed late, counts in full (back to when counting started, at most `max_backfill`);
    /// minutes it already counted are not counted again.
    fn fetch_window(
        &self,
        scope: &str,
        window: Window,
        deployments: &HashMap<String, Deployment>,
    ) -> Window {
        let backfilled = lock(&self.backfilled);
        let done = backfilled.get(scope);
        let new = deployments
            .keys()
            .any(|d| done.is_none_or(|done| !done.contains(d)));
        if new && window.backfill_start < window.start {
            tracing::debug!(
                scope,
                from = window.backfill_start,
                "deployments not fetched before: fetched from when counting started"
            );
            Window {
                start: window.backfill_start,
                ..window
            }
        } else {
            window
        }
    }

    /// Logs points dated before 1970 (see [`crate::points::drop_before_epoch`]), at most once
    /// a minute.
    fn warn_ancient(&self, scope: &str, count: usize) {
        let mut last = lock(&self.ancient_warned);
        if last.is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(60)) {
            return;
        }
        *last = Some(std::time::Instant::now());
        tracing::warn!(scope, points = count, "Azure gave points dated before 1970 (such as 0001-01-01T00:00:00Z): not counted (logged at most once a minute; see llm_exporter_samples_rejected_total{{reason=\"before_window\"}})");
    }

    /// The accounts of this listing first listed after this source's first successful
    /// listing (each reported once).
    fn late_accounts(&self, scopes: &[String]) -> HashSet<String> {
        let mut seen = lock(&self.seen);
        let first = seen.is_none();
        let seen = seen.get_or_insert_with(HashSet::new);
        scopes
            .iter()
            .filter(|s| seen.insert(s.to_string()) && !first)
            .cloned()
            .collect()
    }
}

/// `list` by lower-case deployment name.
fn by_name(list: &[Deployment]) -> HashMap<String, Deployment> {
    list.iter()
        .map(|d| (d.name.to_ascii_lowercase(), d.clone()))
        .collect()
}

/// A window covering all of `windows`; None when there is none.
fn oldest(windows: impl Iterator<Item = Window>) -> Option<Window> {
    windows.reduce(|a, b| Window {
        start: a.start.min(b.start),
        end: a.end.max(b.end),
        period: a.period,
        backfill_start: a.backfill_start.min(b.backfill_start),
    })
}

/// Skipped accounts of a region ride along with the counter queries when they are asked
/// anyway and they fit in their calls without another one (50 accounts per call): watched
/// for free (but for the cache-token query, which a rider with deployments of another
/// format than OpenAI may need alone).
fn ride_along(targets: &mut [Target<'_>], members: &[usize]) {
    let asked = members
        .iter()
        .filter(|&&i| targets[i].plan != Plan::Skip)
        .count();
    if asked == 0 {
        return;
    }
    let calls = asked.div_ceil(MAX_RESOURCES_PER_BATCH);
    if members.len().div_ceil(MAX_RESOURCES_PER_BATCH) == calls {
        for &i in members {
            if targets[i].plan == Plan::Skip {
                targets[i].plan = Plan::Watch;
            }
        }
    }
}

impl Source for AzureSource {
    fn scope(&self) -> &str {
        &self.subscription
    }

    /// Every account over one window, all or nothing (the poller uses `fetch_scopes`).
    async fn fetch(&self, window: Window) -> Result<Vec<Sample>, SourceError> {
        struct Same(Window);
        impl Windows for Same {
            fn window(&self, _: &str) -> Window {
                self.0
            }
        }
        let mut samples = Vec::new();
        for f in self.fetch_accounts(&Same(window)).await {
            samples.extend(f.result?);
        }
        Ok(samples)
    }

    async fn fetch_scopes(&self, windows: &(dyn Windows + '_)) -> Vec<ScopeFetch> {
        self.fetch_accounts(windows).await
    }
}

#[cfg(test)]
mod layer_tests {
    /// The crate's layers, lowest first: a module uses only modules before it.
    const LAYERS: &[&str] = &[
        "error",
        "answer",
        "guards",
        "capped",
        "http",
        "discovery",
        "models",
        "billing",
        "points",
        "watch",
        "metrics_api",
        "samples",
        "demo",
        "source",
    ];

    #[test]
    fn modules_import_each_other_one_way() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        testkit::layers::assert_one_way(&src, LAYERS);
    }
}

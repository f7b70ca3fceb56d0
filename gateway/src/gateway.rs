//! The query router: for a request, which clouds to ask (allowed for the tenant, enabled, with
//! an upstream), the rate limit, the scoped queries through the cache and each upstream's
//! breaker, and which clouds failed. REST and MCP both call `answers/`, which calls this.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::auth::{AuthError, Keyring, Principal, Scope};
use crate::cache::{Key, QueryCache};
use crate::config::{Cloud, Config};
use crate::metrics::Metrics;
use crate::promql::{scope_query_with, ScopeError, TenantFilter};
use crate::ratelimit::Limits;
use crate::state::Store;
use crate::tenant_guard::TenantGuards;
use crate::upstream::{Upstream, UpstreamError};

/// Queries in flight per cloud for one request (a 93-day daily answer is 93 queries).
const PER_CLOUD_CONCURRENCY: usize = 8;

pub struct Gateway {
    pub keyring: Keyring,
    pub upstreams: Vec<Arc<Upstream>>,
    pub cache: QueryCache,
    pub limits: Limits,
    pub tenant_guards: TenantGuards,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// The billing exports (empty without a `billing:` list).
    pub billing: Arc<crate::billing::Billing>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("rate limit exceeded: retry after {} s", retry_after_seconds(*.0))]
    RateLimited(Duration),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

/// Whole seconds to wait, rounded up (at least 1): the same figure in `Retry-After`, the
/// error message and MCP's `retry_after_seconds`.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl From<crate::cost::CostError> for GatewayError {
    fn from(e: crate::cost::CostError) -> Self {
        GatewayError::BadRequest(e.to_string())
    }
}

impl From<ScopeError> for GatewayError {
    fn from(e: ScopeError) -> Self {
        GatewayError::BadRequest(e.to_string())
    }
}

/// Who asks, about whom, about which cloud, as of when.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub principal: Principal,
    pub scope: Scope,
    pub cloud: Option<Cloud>,
    /// Unix seconds; None = now.
    pub time: Option<f64>,
}

impl Ctx {
    pub fn tenant_filter(&self) -> TenantFilter {
        TenantFilter::from_scope(self.scope.tenant.as_deref())
    }

    /// The evaluation time as Unix seconds (now when none was given).
    pub fn eval_time(&self) -> f64 {
        self.time.unwrap_or_else(now)
    }
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CloudFailure {
    pub cloud: Cloud,
    pub upstream: String,
    /// The kind of failure (the same for every caller).
    pub error: String,
    /// The upstream's own error (addresses, messages): for the admin key only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Which clouds a request covered: present in every answer.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Coverage {
    /// The tenant whose series were read; null: every tenant (admin key).
    pub tenant: Option<String>,
    pub clouds_queried: Vec<Cloud>,
    /// Clouds whose Prometheus failed (or whose breaker is open): the answer lacks them.
    pub clouds_failed: Vec<CloudFailure>,
    /// Clouds this tenant has disabled: not queried.
    pub clouds_disabled: Vec<Cloud>,
    /// Evaluation time, Unix seconds.
    pub time: f64,
}

/// One PromQL query to run against a cloud, at `time` (None = now).
pub struct Query {
    pub promql: String,
    pub time: Option<f64>,
    /// How an upstream holding several clouds tells this query's cloud apart.
    pub by: CloudBy,
}

impl Query {
    /// A query over series that carry the `cloud` label (the exporters' usage series and
    /// the recording rules over them).
    pub fn new(promql: impl Into<String>, time: Option<f64>) -> Query {
        Query {
            promql: promql.into(),
            time,
            by: CloudBy::Label,
        }
    }
}

/// On an upstream holding several clouds: which matcher selects one cloud's series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudBy {
    /// `cloud="<cloud>"`.
    Label,
    /// `job=~"llm-exporter-<cloud>.*"`: series without a `cloud` label that Prometheus
    /// scraped from one cloud's exporter (`up`, `llm_exporter_*`), as named in
    /// `prometheus/single.yml`.
    Job,
    /// No matcher: series every cloud's exporter serves alike (budgets); the caller merges.
    Any,
}

pub struct FanOut {
    pub coverage: Coverage,
    /// Per cloud that answered: the `data` of each query, in order.
    pub answers: Vec<(Cloud, Vec<Arc<Value>>)>,
}

impl Gateway {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Result<Gateway, String> {
        let upstreams = config
            .upstreams()?
            .iter()
            .map(|u| Arc::new(Upstream::new(u, &config.breaker, metrics.clone())))
            .collect();
        let store = Store::open(&config.state_file).map_err(|e| e.to_string())?;
        Ok(Gateway {
            keyring: Keyring::new(config),
            upstreams,
            cache: QueryCache::new(&config.cache, metrics.clone()),
            limits: Limits::new(metrics.clone()),
            tenant_guards: TenantGuards::new(&config.breaker),
            store,
            billing: Arc::new(crate::billing::Billing::new(&config.billing, &metrics)?),
            metrics,
        })
    }

    pub fn upstream_for(&self, cloud: Cloud) -> Option<&Arc<Upstream>> {
        self.upstreams.iter().find(|u| u.clouds.contains(&cloud))
    }

    pub fn context(
        &self,
        key: Option<&str>,
        tenant_id: Option<&str>,
        cloud: Option<&str>,
        time: Option<&str>,
    ) -> Result<Ctx, GatewayError> {
        let principal = self.keyring.authenticate(key)?;
        self.context_for(principal, tenant_id, cloud, time)
    }

    pub fn context_for(
        &self,
        principal: Principal,
        tenant_id: Option<&str>,
        cloud: Option<&str>,
        time: Option<&str>,
    ) -> Result<Ctx, GatewayError> {
        let scope = self.keyring.scope(&principal, tenant_id)?;
        let cloud = match cloud.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(Cloud::parse(c).ok_or_else(|| {
                GatewayError::BadRequest(format!("unknown cloud {c:?}: aws, azure or gcp"))
            })?),
        };
        let time = time.filter(|t| !t.is_empty()).map(parse_time).transpose()?;
        Ok(Ctx {
            principal,
            scope,
            cloud,
            time,
        })
    }

    /// The clouds a request asks (allowed, selected, served, enabled) and those disabled.
    pub fn plan(&self, ctx: &Ctx) -> (Vec<Cloud>, Vec<Cloud>) {
        let disabled: BTreeSet<Cloud> = ctx
            .scope
            .tenant
            .as_deref()
            .map(|t| self.store.disabled(t))
            .unwrap_or_default();
        let mut ask = Vec::new();
        let mut off = Vec::new();
        for c in Cloud::ALL {
            if !ctx.scope.clouds.contains(&c)
                || ctx.cloud.is_some_and(|f| f != c)
                || self.upstream_for(c).is_none()
            {
                continue;
            }
            if disabled.contains(&c) {
                off.push(c);
            } else {
                ask.push(c);
            }
        }
        (ask, off)
    }

    /// Runs `build(cloud)`'s queries against every cloud of the plan, scoped to `filter`.
    pub async fn fan_out(
        &self,
        ctx: &Ctx,
        filter: &TenantFilter,
        build: impl Fn(Cloud) -> Vec<Query>,
    ) -> Result<FanOut, GatewayError> {
        let (ask, disabled) = self.plan(ctx);
        let who = ctx.principal.label();
        let limits = ctx.principal.limits;
        let mut built = Vec::new();
        for &cloud in &ask {
            if let Some(upstream) = self.upstream_for(cloud).cloned() {
                built.push((cloud, upstream, build(cloud)));
            }
        }
        // The rate limit counts the upstream queries a request would make, per cloud, first:
        // a request over it costs no parsing either (a 93-day answer is 279 queries).
        let work: Vec<(Cloud, usize)> = built.iter().map(|(c, _, q)| (*c, q.len())).collect();
        self.limits
            .check(who, &work, ctx.principal.requests_per_minute)
            .map_err(|e| match e {
                crate::ratelimit::Refused::Wait(w) => GatewayError::RateLimited(w),
                crate::ratelimit::Refused::TooMuch { queries, per_minute } => {
                    GatewayError::BadRequest(format!(
                        "this request makes {queries} queries per cloud, more than this key's limit of {per_minute} per minute: ask for less (fewer days)"
                    ))
                }
            })?;
        // Scope and bound every query before anything is sent: a query that cannot be
        // scoped, or costs more than the caller's limits, is refused.
        let mut jobs = Vec::new();
        for (cloud, upstream, queries) in built {
            let mut scoped = Vec::new();
            for q in queries {
                let extra = if upstream.shared {
                    cloud_matcher(q.by, cloud)
                } else {
                    None
                };
                let promql = scope_query_with(&q.promql, filter, extra)?;
                crate::cost::check(&promql, &limits)?;
                scoped.push((promql, q.time));
            }
            jobs.push((cloud, upstream, scoped));
        }
        let futures = jobs
            .into_iter()
            .map(|(cloud, upstream, queries)| async move {
                use futures::StreamExt;
                // A cloud's queries run a few at a time, in order; the first error fails it.
                let answers: Vec<Result<Arc<Value>, UpstreamError>> =
                    futures::stream::iter(queries.into_iter().map(|(promql, time)| {
                        let key = Key {
                            upstream: upstream.name.clone(),
                            query: promql.clone(),
                            time_ms: time.map(|t| (t * 1000.0).round() as i64),
                        };
                        let up = upstream.clone();
                        self.cache.get_or_fetch(key, async move {
                            let wait = up.wait_for(limits.timeout);
                            let query = up.query(&promql, time, limits.timeout);
                            self.tenant_guards
                                .run(who, &limits, &up.name, wait, query)
                                .await
                        })
                    }))
                    .buffered(PER_CLOUD_CONCURRENCY)
                    .collect()
                    .await;
                let out: Result<Vec<Arc<Value>>, UpstreamError> = answers.into_iter().collect();
                (cloud, upstream.name.clone(), out)
            });
        let results = futures::future::join_all(futures).await;
        let admin = ctx.principal.tenant.is_none();
        let mut answers = Vec::new();
        let mut failed = Vec::new();
        for (cloud, upstream, r) in results {
            match r {
                Ok(v) => answers.push((cloud, v)),
                Err(UpstreamError::BadQuery(m)) => return Err(GatewayError::BadRequest(m)),
                Err(e) => failed.push(CloudFailure {
                    cloud,
                    upstream,
                    error: e.public(),
                    detail: admin.then(|| e.to_string()),
                }),
            }
        }
        Ok(FanOut {
            coverage: Coverage {
                tenant: ctx.scope.tenant.clone(),
                clouds_queried: ask,
                clouds_failed: failed,
                clouds_disabled: disabled,
                time: ctx.eval_time(),
            },
            answers,
        })
    }
}

/// The matcher that selects `cloud`'s series on an upstream holding several clouds.
fn cloud_matcher(by: CloudBy, cloud: Cloud) -> Option<promql_parser::label::Matcher> {
    use promql_parser::label::{MatchOp, Matcher};
    match by {
        CloudBy::Label => Some(Matcher::new(MatchOp::Equal, "cloud", cloud.as_str())),
        CloudBy::Job => Matcher::new_matcher(
            promql_parser::parser::token::T_EQL_REGEX,
            "job".to_string(),
            format!("llm-exporter-{cloud}.*"),
        )
        .ok(),
        CloudBy::Any => None,
    }
}

/// `time=` as Unix seconds (`1732200000`, `1732200000.5`) or RFC 3339.
pub fn parse_time(s: &str) -> Result<f64, GatewayError> {
    if let Ok(t) = s.parse::<f64>() {
        if t.is_finite() && t >= 0.0 {
            return Ok(t);
        }
    }
    humantime::parse_rfc3339_weak(s)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .ok_or_else(|| {
            GatewayError::BadRequest(format!(
                "time {s:?}: expected Unix seconds or RFC 3339 (2026-11-22T10:00:00Z)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(dir: &std::path::Path) -> Gateway {
        let yaml = format!(
            "upstreams:\n  - {{cloud: aws, url: 'http://127.0.0.1:1'}}\n  - {{clouds: [gcp], url: 'http://127.0.0.1:2'}}\ntenants:\n  - {{name: a, api_key_sha256: {}, clouds: [aws, azure, gcp]}}\n  - {{name: b, api_key_sha256: {}, clouds: [gcp]}}\nadmin: {{api_key_sha256: {}}}\nstate_file: {}\n",
            crate::auth::hash_key("ka"),
            crate::auth::hash_key("kb"),
            crate::auth::hash_key("kadmin"),
            dir.join("s.json").display()
        );
        Gateway::new(&Config::parse(&yaml).unwrap(), Arc::new(Metrics::new())).unwrap()
    }

    #[test]
    fn the_plan_asks_allowed_served_enabled_clouds_only() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        let a = gw.context(Some("ka"), None, None, None).unwrap();
        // azure is allowed but has no upstream: not asked.
        assert_eq!(gw.plan(&a), (vec![Cloud::Aws, Cloud::Gcp], vec![]));
        let b = gw.context(Some("kb"), None, None, None).unwrap();
        assert_eq!(gw.plan(&b), (vec![Cloud::Gcp], vec![]));
        let only_aws = gw.context(Some("kb"), None, Some("aws"), None).unwrap();
        assert_eq!(gw.plan(&only_aws), (vec![], vec![]), "b may not see aws");
        gw.store.set("a", Cloud::Gcp, false, false).unwrap();
        assert_eq!(gw.plan(&a), (vec![Cloud::Aws], vec![Cloud::Gcp]));
        let admin_for_a = gw.context(Some("kadmin"), Some("a"), None, None).unwrap();
        assert_eq!(gw.plan(&admin_for_a), (vec![Cloud::Aws], vec![Cloud::Gcp]));
        let admin = gw.context(Some("kadmin"), None, None, None).unwrap();
        assert_eq!(gw.plan(&admin), (vec![Cloud::Aws, Cloud::Gcp], vec![]));
        assert!(matches!(
            gw.context(Some("ka"), None, Some("mars"), None),
            Err(GatewayError::BadRequest(_))
        ));
        assert!(matches!(
            gw.context(Some("nope"), None, None, None),
            Err(GatewayError::Auth(AuthError::Unknown))
        ));
    }

    #[tokio::test]
    async fn the_rate_limit_refuses_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let mut gw = gateway(dir.path());
        gw.limits = Limits::new(gw.metrics.clone());
        let mut ctx = gw.context(Some("kb"), None, None, None).unwrap();
        ctx.principal.requests_per_minute = 1;
        let filter = ctx.tenant_filter();
        let build = |_| vec![Query::new("up", None)];
        let first = gw.fan_out(&ctx, &filter, build).await.unwrap();
        assert_eq!(
            first.coverage.clouds_failed.len(),
            1,
            "nothing listens there"
        );
        assert!(matches!(
            gw.fan_out(&ctx, &filter, build).await,
            Err(GatewayError::RateLimited(_))
        ));
        // A query that cannot be scoped is refused, not sent.
        let bad = |_| vec![Query::new("info(up)", None)];
        let mut ctx = gw.context(Some("ka"), None, None, None).unwrap();
        ctx.principal.requests_per_minute = 100;
        assert!(matches!(
            gw.fan_out(&ctx, &filter, bad).await,
            Err(GatewayError::BadRequest(_))
        ));
    }

    #[tokio::test]
    async fn tenants_get_the_kind_of_failure_and_the_admin_the_detail() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        let build = |_| vec![Query::new("up", None)];
        let ctx = gw.context(Some("kb"), None, None, None).unwrap();
        let fan = gw.fan_out(&ctx, &ctx.tenant_filter(), build).await.unwrap();
        let f = &fan.coverage.clouds_failed[0];
        assert_eq!((f.error.as_str(), &f.detail), ("unreachable", &None));
        let json = serde_json::to_string(&fan.coverage).unwrap();
        assert!(!json.contains("127.0.0.1"), "{json}");
        let ctx = gw.context(Some("kadmin"), None, None, None).unwrap();
        let fan = gw.fan_out(&ctx, &ctx.tenant_filter(), build).await.unwrap();
        let f = &fan.coverage.clouds_failed[0];
        assert!(
            f.detail.as_deref().is_some_and(|d| d.contains("127.0.0.1")),
            "{f:?}"
        );
    }

    #[tokio::test]
    async fn queries_over_the_callers_limits_are_refused_before_sending() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        let ctx = gw.context(Some("ka"), None, None, None).unwrap();
        let costly = |_| vec![Query::new("sum_over_time(vector(1)[10y:1s])", None)];
        let e = gw.fan_out(&ctx, &ctx.tenant_filter(), costly).await.err();
        assert!(
            matches!(&e, Some(GatewayError::BadRequest(m)) if m.contains("limit")),
            "{e:?}"
        );
        let deep = format!("{}1{}", "(".repeat(3000), ")".repeat(3000));
        let e = gw
            .fan_out(&ctx, &ctx.tenant_filter(), |_| {
                vec![Query::new(deep.clone(), None)]
            })
            .await
            .err();
        assert!(matches!(e, Some(GatewayError::BadRequest(_))), "{e:?}");
    }

    #[test]
    fn times_parse_both_ways() {
        assert_eq!(parse_time("1732200000.5").unwrap(), 1732200000.5);
        assert_eq!(parse_time("2024-11-21T14:40:00Z").unwrap(), 1732200000.0);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("-5").is_err());
    }
}

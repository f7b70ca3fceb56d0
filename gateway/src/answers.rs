//! The answers (the response aggregator): each question as PromQL per cloud, merged across
//! clouds. REST handlers and MCP tools are thin wrappers around these functions.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::Value;

use crate::config::Cloud;
use crate::gateway::{Coverage, Ctx, FanOut, Gateway, GatewayError, Query};
use crate::promql::{selector_with_regex, TenantFilter, TENANT_LABEL};

pub const COST: &str = "llm_estimated_cost_usd_total";
pub const TOKENS: &str = "llm_tokens_total";

/// Labels a spend summary may be grouped by.
pub const GROUP_LABELS: &[&str] = &[
    "cloud",
    "account",
    "region",
    "model",
    "deployment",
    "tenant",
];

type Labels = BTreeMap<String, String>;

/// One series of an instant vector (or a scalar, with no labels).
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

pub fn samples(data: &Value) -> Vec<Sample> {
    let value = |v: &Value| {
        v.get(1)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<f64>().ok())
    };
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| {
                        let labels = s["metric"]
                            .as_object()
                            .map(|m| {
                                m.iter()
                                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                                    .collect()
                            })
                            .unwrap_or_default();
                        Some(Sample {
                            labels,
                            value: value(&s["value"])?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Some("scalar") => value(&data["result"])
            .map(|v| {
                vec![Sample {
                    labels: Labels::new(),
                    value: v,
                }]
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A Prometheus duration: `90s`, `1h`, `7d`, `1h30m`; at most 400 days.
pub fn window_seconds(w: &str) -> Result<u64, GatewayError> {
    let bad = || {
        GatewayError::BadRequest(format!(
            "window {w:?}: expected a Prometheus duration like 15m, 1h, 24h, 7d"
        ))
    };
    let mut total: u64 = 0;
    let mut rest = w;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 || digits > 9 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (0, 2)
        } else {
            let u = match rest.chars().next() {
                Some('s') => 1,
                Some('m') => 60,
                Some('h') => 3600,
                Some('d') => 86400,
                Some('w') => 7 * 86400,
                Some('y') => 365 * 86400,
                _ => return Err(bad()),
            };
            (u, 1)
        };
        total = total.saturating_add(n.saturating_mul(unit));
        rest = &rest[len..];
    }
    if total == 0 || total > 400 * 86400 {
        return Err(bad());
    }
    Ok(total)
}

fn model_selector(metric: &str, model: Option<&str>) -> Result<String, GatewayError> {
    match model.filter(|m| !m.is_empty()) {
        None => Ok(metric.to_string()),
        Some(m) => Ok(selector_with_regex(metric, "model", m)?),
    }
}

fn per_cloud_sum(answers: &[(Cloud, Vec<Sample>)]) -> BTreeMap<Cloud, f64> {
    answers
        .iter()
        .map(|(c, s)| (*c, s.iter().map(|x| x.value).fold(0.0, |a, b| a + b)))
        .collect()
}

fn first(fan: &FanOut) -> Vec<(Cloud, Vec<Sample>)> {
    fan.answers
        .iter()
        .map(|(c, v)| (*c, v.first().map(|d| samples(d)).unwrap_or_default()))
        .collect()
}

fn keep_tenant(filter: &TenantFilter, s: &Sample) -> bool {
    filter.allows(s.labels.get(TENANT_LABEL).map(String::as_str))
}

// ---------------------------------------------------------------------------------------
// Spend summary

#[derive(Debug, Serialize)]
pub struct SpendRow {
    pub labels: Labels,
    pub cost_usd: f64,
}

#[derive(Debug, Serialize)]
pub struct SpendSummary {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub window: String,
    pub group_by: Vec<String>,
    pub total_usd: f64,
    pub by_cloud: BTreeMap<Cloud, f64>,
    /// Largest first.
    pub rows: Vec<SpendRow>,
}

pub async fn spend_summary(
    gw: &Gateway,
    ctx: &Ctx,
    window: &str,
    group_by: &[String],
) -> Result<SpendSummary, GatewayError> {
    window_seconds(window)?;
    let mut labels: Vec<String> = Vec::new();
    for g in group_by {
        if !GROUP_LABELS.contains(&g.as_str()) {
            return Err(GatewayError::BadRequest(format!(
                "group_by {g:?}: one of {}",
                GROUP_LABELS.join(", ")
            )));
        }
        if !labels.contains(g) {
            labels.push(g.clone());
        }
    }
    let promql = format!(
        "sum by ({}) (increase({COST}[{window}]))",
        labels.join(", ")
    );
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| {
            vec![Query {
                promql: promql.clone(),
                time: ctx.time,
            }]
        })
        .await?;
    let answers = first(&fan);
    let mut merged: BTreeMap<Labels, f64> = BTreeMap::new();
    for (_, ss) in &answers {
        for s in ss.iter().filter(|s| keep_tenant(&filter, s)) {
            *merged.entry(s.labels.clone()).or_default() += s.value;
        }
    }
    let mut rows: Vec<SpendRow> = merged
        .into_iter()
        .map(|(labels, cost_usd)| SpendRow { labels, cost_usd })
        .collect();
    rows.sort_by(|a, b| b.cost_usd.total_cmp(&a.cost_usd));
    let by_cloud = per_cloud_sum(&answers);
    Ok(SpendSummary {
        coverage: fan.coverage,
        window: window.to_string(),
        group_by: labels,
        total_usd: by_cloud.values().fold(0.0, |a, b| a + b),
        by_cloud,
        rows,
    })
}

// ---------------------------------------------------------------------------------------
// Costs by model, top models

#[derive(Debug, Serialize)]
pub struct ModelCost {
    pub cloud: Cloud,
    pub model: String,
    pub cost_usd: f64,
}

#[derive(Debug, Serialize)]
pub struct ModelCosts {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub window: String,
    pub model: Option<String>,
    pub total_usd: f64,
    pub by_cloud: BTreeMap<Cloud, f64>,
    /// Per cloud and model, largest first.
    pub models: Vec<ModelCost>,
}

pub async fn costs_by_model(
    gw: &Gateway,
    ctx: &Ctx,
    window: &str,
    model: Option<&str>,
    limit: Option<usize>,
) -> Result<ModelCosts, GatewayError> {
    window_seconds(window)?;
    let selector = model_selector(COST, model)?;
    let promql = format!("sum by (model) (increase({selector}[{window}]))");
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| {
            vec![Query {
                promql: promql.clone(),
                time: ctx.time,
            }]
        })
        .await?;
    let answers = first(&fan);
    let mut models: Vec<ModelCost> = answers
        .iter()
        .flat_map(|(cloud, ss)| {
            ss.iter().map(move |s| ModelCost {
                cloud: *cloud,
                model: s.labels.get("model").cloned().unwrap_or_default(),
                cost_usd: s.value,
            })
        })
        .collect();
    models.sort_by(|a, b| {
        b.cost_usd
            .total_cmp(&a.cost_usd)
            .then_with(|| (a.cloud, &a.model).cmp(&(b.cloud, &b.model)))
    });
    if let Some(n) = limit {
        models.truncate(n);
    }
    let by_cloud = per_cloud_sum(&answers);
    Ok(ModelCosts {
        coverage: fan.coverage,
        window: window.to_string(),
        model: model.map(String::from),
        total_usd: by_cloud.values().fold(0.0, |a, b| a + b),
        by_cloud,
        models,
    })
}

// ---------------------------------------------------------------------------------------
// Token usage

#[derive(Debug, Serialize)]
pub struct TokenRow {
    pub cloud: Cloud,
    pub model: String,
    pub token_type: String,
    /// Tokens in the window.
    pub tokens: f64,
    /// Over the last 5 minutes (before `time`).
    pub tokens_per_second: f64,
}

#[derive(Debug, Serialize)]
pub struct TokenUsage {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub window: String,
    pub model: Option<String>,
    /// Per token type, all clouds and models.
    pub totals: BTreeMap<String, f64>,
    pub rows: Vec<TokenRow>,
}

pub async fn token_usage(
    gw: &Gateway,
    ctx: &Ctx,
    window: &str,
    model: Option<&str>,
) -> Result<TokenUsage, GatewayError> {
    window_seconds(window)?;
    let selector = model_selector(TOKENS, model)?;
    let total = format!("sum by (model, token_type) (increase({selector}[{window}]))");
    let rate = format!("sum by (model, token_type) (rate({selector}[5m]))");
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| {
            vec![
                Query {
                    promql: total.clone(),
                    time: ctx.time,
                },
                Query {
                    promql: rate.clone(),
                    time: ctx.time,
                },
            ]
        })
        .await?;
    let mut rows: BTreeMap<(Cloud, String, String), (f64, f64)> = BTreeMap::new();
    for (cloud, data) in &fan.answers {
        for (i, d) in data.iter().enumerate() {
            for s in samples(d) {
                let key = (
                    *cloud,
                    s.labels.get("model").cloned().unwrap_or_default(),
                    s.labels.get("token_type").cloned().unwrap_or_default(),
                );
                let e = rows.entry(key).or_default();
                if i == 0 {
                    e.0 = s.value;
                } else {
                    e.1 = s.value;
                }
            }
        }
    }
    let mut totals = BTreeMap::new();
    let rows: Vec<TokenRow> = rows
        .into_iter()
        .map(|((cloud, model, token_type), (tokens, tps))| {
            *totals.entry(token_type.clone()).or_insert(0.0) += tokens;
            TokenRow {
                cloud,
                model,
                token_type,
                tokens,
                tokens_per_second: tps,
            }
        })
        .collect();
    Ok(TokenUsage {
        coverage: fan.coverage,
        window: window.to_string(),
        model: model.map(String::from),
        totals,
        rows,
    })
}

// ---------------------------------------------------------------------------------------
// Daily costs

#[derive(Debug, Serialize)]
pub struct Day {
    pub date: String,
    pub total_usd: f64,
    pub by_cloud: BTreeMap<Cloud, f64>,
    /// False for the day that is still running (up to `time`).
    pub complete: bool,
}

#[derive(Debug, Serialize)]
pub struct DailyCosts {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub start_date: String,
    pub end_date: String,
    pub total_usd: f64,
    pub by_cloud: BTreeMap<Cloud, f64>,
    pub days: Vec<Day>,
}

pub const MAX_DAYS: i64 = 93;

pub fn parse_date(field: &str, s: &str) -> Result<NaiveDate, GatewayError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| GatewayError::BadRequest(format!("{field} {s:?}: expected YYYY-MM-DD")))
}

/// Each day (UTC) of the range up to `time`: `increase()` over the day, evaluated at its end
/// (at `time` for the running day).
pub async fn daily_costs(
    gw: &Gateway,
    ctx: &Ctx,
    start: &str,
    end: &str,
) -> Result<DailyCosts, GatewayError> {
    let start_d = parse_date("start_date", start)?;
    let end_d = parse_date("end_date", end)?;
    let n = (end_d - start_d).num_days() + 1;
    if n < 1 {
        return Err(GatewayError::BadRequest(
            "end_date is before start_date".into(),
        ));
    }
    if n > MAX_DAYS {
        return Err(GatewayError::BadRequest(format!(
            "at most {MAX_DAYS} days per request"
        )));
    }
    let t = ctx.eval_time();
    // (date, window seconds, evaluation time (None = now), complete)
    let mut plan: Vec<(String, i64, Option<f64>, bool)> = Vec::new();
    for i in 0..n {
        let Some(day) = start_d.checked_add_signed(chrono::Duration::days(i)) else {
            break;
        };
        let day_start = day
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc().timestamp())
            .unwrap_or(0) as f64;
        let day_end = day_start + 86400.0;
        if day_start >= t {
            break;
        }
        if day_end <= t {
            plan.push((day.to_string(), 86400, Some(day_end), true));
        } else {
            let secs = (t - day_start).floor() as i64;
            if secs > 0 {
                plan.push((day.to_string(), secs, ctx.time, false));
            }
        }
    }
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| {
            plan.iter()
                .map(|(_, secs, time, _)| Query {
                    promql: format!("sum(increase({COST}[{secs}s]))"),
                    time: *time,
                })
                .collect()
        })
        .await?;
    let mut days: Vec<Day> = plan
        .iter()
        .map(|(date, _, _, complete)| Day {
            date: date.clone(),
            total_usd: 0.0,
            by_cloud: BTreeMap::new(),
            complete: *complete,
        })
        .collect();
    let mut by_cloud: BTreeMap<Cloud, f64> = BTreeMap::new();
    for (cloud, data) in &fan.answers {
        for (day, d) in days.iter_mut().zip(data) {
            let v: f64 = samples(d).iter().map(|s| s.value).fold(0.0, |a, b| a + b);
            day.by_cloud.insert(*cloud, v);
            day.total_usd += v;
            *by_cloud.entry(*cloud).or_default() += v;
        }
    }
    Ok(DailyCosts {
        coverage: fan.coverage,
        start_date: start_d.to_string(),
        end_date: end_d.to_string(),
        total_usd: by_cloud.values().fold(0.0, |a, b| a + b),
        by_cloud,
        days,
    })
}

// ---------------------------------------------------------------------------------------
// Budget status

pub const MONTH_TO_DATE: &str = "llm:tenant_cost_usd:month_to_date";
pub const PROJECTED: &str = "llm:tenant_cost_usd:projected_month_end";
pub const BUDGET: &str = "llm_budget_usd";
pub const ALERT_RATIO: &str = "llm_budget_alert_ratio";

#[derive(Debug, Default, Serialize)]
pub struct CloudSpend {
    pub month_to_date_usd: f64,
    pub projected_month_end_usd: f64,
}

#[derive(Debug, Serialize)]
pub struct TenantBudget {
    pub tenant: String,
    pub month_to_date_usd: f64,
    pub projected_month_end_usd: f64,
    pub budget_usd: Option<f64>,
    pub alert_ratio: Option<f64>,
    /// month to date / budget
    pub used_ratio: Option<f64>,
    /// `ok`, `alert` (past the alert ratio), `over_budget`, or `no_budget`.
    pub status: String,
    pub projected_over_budget: bool,
    pub by_cloud: BTreeMap<Cloud, CloudSpend>,
}

#[derive(Debug, Serialize)]
pub struct BudgetStatus {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub month: String,
    pub tenants: Vec<TenantBudget>,
}

/// Month to date and projected month end from the recording rules (`llm:tenant_cost_usd:*`,
/// the same series the budget alerts read), summed over clouds; budget and alert ratio from
/// the exporters' `llm_budget_usd` / `llm_budget_alert_ratio` gauges.
pub async fn budget_status(gw: &Gateway, ctx: &Ctx) -> Result<BudgetStatus, GatewayError> {
    let promql = format!(
        "{{__name__=~\"{}|{}|{}|{}\"}}",
        MONTH_TO_DATE, PROJECTED, BUDGET, ALERT_RATIO
    );
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| {
            vec![Query {
                promql: promql.clone(),
                time: ctx.time,
            }]
        })
        .await?;
    let mut tenants: BTreeMap<String, TenantBudget> = BTreeMap::new();
    for (cloud, ss) in first(&fan) {
        for s in ss.iter().filter(|s| keep_tenant(&filter, s)) {
            let Some(tenant) = s.labels.get(TENANT_LABEL).filter(|t| !t.is_empty()) else {
                continue;
            };
            let t = tenants
                .entry(tenant.clone())
                .or_insert_with(|| TenantBudget {
                    tenant: tenant.clone(),
                    month_to_date_usd: 0.0,
                    projected_month_end_usd: 0.0,
                    budget_usd: None,
                    alert_ratio: None,
                    used_ratio: None,
                    status: String::new(),
                    projected_over_budget: false,
                    by_cloud: BTreeMap::new(),
                });
            let name = s.labels.get("__name__").map(String::as_str).unwrap_or("");
            match name {
                MONTH_TO_DATE => {
                    t.month_to_date_usd += s.value;
                    t.by_cloud.entry(cloud).or_default().month_to_date_usd += s.value;
                }
                PROJECTED => {
                    t.projected_month_end_usd += s.value;
                    t.by_cloud.entry(cloud).or_default().projected_month_end_usd += s.value;
                }
                BUDGET if s.labels.get("period").is_none_or(|p| p == "monthly") => {
                    t.budget_usd = Some(t.budget_usd.map_or(s.value, |b| b.max(s.value)));
                }
                ALERT_RATIO => {
                    t.alert_ratio = Some(t.alert_ratio.map_or(s.value, |r| r.max(s.value)));
                }
                _ => {}
            }
        }
    }
    let mut out: Vec<TenantBudget> = tenants.into_values().collect();
    for t in &mut out {
        match t.budget_usd.filter(|b| *b > 0.0) {
            None => t.status = "no_budget".into(),
            Some(b) => {
                let used = t.month_to_date_usd / b;
                t.used_ratio = Some(used);
                t.status = if used >= 1.0 {
                    "over_budget"
                } else if used >= t.alert_ratio.unwrap_or(0.8) {
                    "alert"
                } else {
                    "ok"
                }
                .into();
                t.projected_over_budget = t.projected_month_end_usd > b;
            }
        }
    }
    let month = chrono::DateTime::from_timestamp(ctx.eval_time() as i64, 0)
        .map(|d| format!("{:04}-{:02}", d.year(), d.month()))
        .unwrap_or_default();
    Ok(BudgetStatus {
        coverage: fan.coverage,
        month,
        tenants: out,
    })
}

// ---------------------------------------------------------------------------------------
// Exporter health

#[derive(Debug, Serialize)]
pub struct ExporterHealth {
    pub cloud: Cloud,
    pub job: String,
    pub instance: String,
    /// Prometheus reached the exporter (`up`).
    pub scraped: bool,
    /// The exporter's last poll of its cloud succeeded (`llm_exporter_up`).
    pub polling: Option<bool>,
    pub last_success_timestamp: Option<f64>,
    pub data_age_seconds: Option<f64>,
    pub healthy: bool,
}

#[derive(Debug, Serialize)]
pub struct ExportersHealth {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub healthy: bool,
    pub exporters: Vec<ExporterHealth>,
}

pub const HEALTH_QUERY: &str = "{__name__=~\"up|llm_exporter_up|llm_exporter_last_success_timestamp_seconds\", job=~\"llm-exporter-.*\"}";

/// The exporters' own health series (no tenant label): a fixed query, scoped to series
/// without a tenant, so it can show no tenant's usage.
pub async fn exporter_health(gw: &Gateway, ctx: &Ctx) -> Result<ExportersHealth, GatewayError> {
    let fan = gw
        .fan_out(ctx, &TenantFilter::Untenanted, |_| {
            vec![Query {
                promql: HEALTH_QUERY.into(),
                time: ctx.time,
            }]
        })
        .await?;
    let t = ctx.eval_time();
    let mut by: BTreeMap<(Cloud, String, String), ExporterHealth> = BTreeMap::new();
    for (cloud, ss) in first(&fan) {
        for s in ss {
            let job = s.labels.get("job").cloned().unwrap_or_default();
            let instance = s.labels.get("instance").cloned().unwrap_or_default();
            let e = by
                .entry((cloud, job.clone(), instance.clone()))
                .or_insert_with(|| ExporterHealth {
                    cloud,
                    job,
                    instance,
                    scraped: false,
                    polling: None,
                    last_success_timestamp: None,
                    data_age_seconds: None,
                    healthy: false,
                });
            match s.labels.get("__name__").map(String::as_str) {
                Some("up") => e.scraped = s.value == 1.0,
                Some("llm_exporter_up") => e.polling = Some(s.value == 1.0),
                Some("llm_exporter_last_success_timestamp_seconds") => {
                    e.last_success_timestamp = Some(s.value);
                    e.data_age_seconds = Some((t - s.value).max(0.0));
                }
                _ => {}
            }
        }
    }
    let exporters: Vec<ExporterHealth> = by
        .into_values()
        .map(|mut e| {
            e.healthy = e.scraped && e.polling.unwrap_or(false);
            e
        })
        .collect();
    Ok(ExportersHealth {
        healthy: !exporters.is_empty()
            && exporters.iter().all(|e| e.healthy)
            && fan.coverage.clouds_failed.is_empty(),
        coverage: fan.coverage,
        exporters,
    })
}

// ---------------------------------------------------------------------------------------
// Read-only PromQL

#[derive(Debug, Serialize)]
pub struct CloudResult {
    pub cloud: Cloud,
    pub result_type: String,
    pub result: Value,
}

#[derive(Debug, Serialize)]
pub struct QueryAnswer {
    #[serde(flatten)]
    pub coverage: Coverage,
    pub query: String,
    pub results: Vec<CloudResult>,
}

/// An instant query, scoped to the caller's tenant, run against every cloud of the plan.
/// Result series labelled with another tenant (a `label_replace` of the caller's own data)
/// are dropped as well.
pub async fn promql(gw: &Gateway, ctx: &Ctx, query: &str) -> Result<QueryAnswer, GatewayError> {
    if query.len() > 10_000 {
        return Err(GatewayError::BadRequest(
            "query longer than 10000 bytes".into(),
        ));
    }
    let filter = ctx.tenant_filter();
    let fan = gw
        .fan_out(ctx, &filter, |_| {
            vec![Query {
                promql: query.to_string(),
                time: ctx.time,
            }]
        })
        .await?;
    let results = fan
        .answers
        .iter()
        .filter_map(|(cloud, data)| {
            let d = data.first()?;
            let result_type = d["resultType"].as_str().unwrap_or("").to_string();
            let mut result = d["result"].clone();
            if let Some(series) = result.as_array_mut() {
                if matches!(result_type.as_str(), "vector" | "matrix") {
                    series.retain(|s| filter.allows(s["metric"][TENANT_LABEL].as_str()));
                }
            }
            Some(CloudResult {
                cloud: *cloud,
                result_type,
                result,
            })
        })
        .collect();
    Ok(QueryAnswer {
        coverage: fan.coverage,
        query: query.to_string(),
        results,
    })
}

// ---------------------------------------------------------------------------------------
// Upstream health and enable/disable

#[derive(Debug, Serialize)]
pub struct UpstreamHealth {
    pub name: String,
    pub clouds: Vec<Cloud>,
    pub healthy: bool,
    /// `closed`, `half_open` or `open`.
    pub breaker: String,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Health {
    pub status: String,
    pub upstreams: Vec<UpstreamHealth>,
}

/// Probes each upstream (`/-/ready`, through its breaker) and reports the breaker state.
pub async fn health(gw: &Gateway, ctx: &Ctx) -> Result<Health, GatewayError> {
    let clouds: Vec<Cloud> = gw.upstreams.iter().flat_map(|u| u.clouds.clone()).collect();
    gw.limits
        .check(
            ctx.principal.label(),
            &clouds,
            ctx.principal.requests_per_minute,
        )
        .map_err(GatewayError::RateLimited)?;
    let probes = gw.upstreams.iter().map(|u| async move {
        let r = u.probe().await;
        UpstreamHealth {
            name: u.name.clone(),
            clouds: u.clouds.clone(),
            healthy: r.is_ok(),
            breaker: u.breaker_state().as_str().to_string(),
            error: r.err().map(|e| e.to_string()),
        }
    });
    let upstreams: Vec<UpstreamHealth> = futures::future::join_all(probes).await;
    let up = upstreams.iter().filter(|u| u.healthy).count();
    Ok(Health {
        status: if up == upstreams.len() {
            "ok"
        } else if up == 0 {
            "down"
        } else {
            "degraded"
        }
        .into(),
        upstreams,
    })
}

#[derive(Debug, Serialize)]
pub struct CloudSwitch {
    pub tenant: String,
    pub cloud: Cloud,
    pub enabled: bool,
    pub disabled_clouds: Vec<Cloud>,
}

pub fn set_cloud(
    gw: &Gateway,
    ctx: &Ctx,
    cloud: &str,
    enabled: bool,
) -> Result<CloudSwitch, GatewayError> {
    let cloud = Cloud::parse(cloud).ok_or_else(|| {
        GatewayError::BadRequest(format!("unknown cloud {cloud:?}: aws, azure or gcp"))
    })?;
    let tenant = ctx.scope.tenant.clone().ok_or_else(|| {
        GatewayError::BadRequest("tenant_id is required with the admin key".into())
    })?;
    if !ctx.scope.clouds.contains(&cloud) {
        return Err(GatewayError::BadRequest(format!(
            "tenant {tenant:?} may not see {cloud} at all"
        )));
    }
    gw.store
        .set(&tenant, cloud, enabled)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    Ok(CloudSwitch {
        disabled_clouds: gw.store.disabled(&tenant).into_iter().collect(),
        tenant,
        cloud,
        enabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn extreme_dates_and_times_are_answers_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "upstreams: [{{cloud: aws, url: 'http://127.0.0.1:1', timeout: 1s}}]\ntenants: [{{name: a, api_key_sha256: {}}}]\nstate_file: {}\n",
            crate::auth::hash_key("ka"),
            dir.path().join("s.json").display()
        );
        let config = crate::config::Config::parse(&yaml).unwrap();
        let gw =
            Gateway::new(&config, std::sync::Arc::new(crate::metrics::Metrics::new())).unwrap();
        for (start, end, time) in [
            ("262143-12-01", "262143-12-31", None),
            ("2026-01-01", "2026-01-31", Some("1e300")),
            ("2026-01-01", "2026-01-02", Some("0")),
            ("1970-01-01", "1970-01-01", Some("86400.5")),
        ] {
            let ctx = gw.context(Some("ka"), None, None, time);
            if let Ok(ctx) = ctx {
                let _ = daily_costs(&gw, &ctx, start, end).await;
            }
        }
        let ctx = gw.context(Some("ka"), None, None, None).unwrap();
        for w in ["999999999y", "1ms", "5m5m5m5m"] {
            let _ = spend_summary(&gw, &ctx, w, &[]).await;
            let _ = token_usage(&gw, &ctx, w, Some("(")).await;
        }
        assert!(daily_costs(&gw, &ctx, "2026-02-30", "2026-03-01")
            .await
            .is_err());
        assert!(daily_costs(&gw, &ctx, "2026-03-02", "2026-03-01")
            .await
            .is_err());
        assert!(daily_costs(&gw, &ctx, "2026-01-01", "2026-12-31")
            .await
            .is_err());
    }

    #[test]
    fn windows_are_prometheus_durations() {
        assert_eq!(window_seconds("1h30m").unwrap(), 5400);
        assert_eq!(window_seconds("7d").unwrap(), 604800);
        for bad in ["", "h", "1x", "0s", "401d", "1h]", "1 h", "5m) or x"] {
            assert!(window_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn samples_of_vectors_and_scalars() {
        let v: Value = serde_json::from_str(r#"{"resultType":"vector","result":[{"metric":{"cloud":"aws"},"value":[1,"2.5"]},{"metric":{},"value":[1,"NaN"]}]}"#).unwrap();
        let s = samples(&v);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].value, 2.5);
        assert!(s[1].value.is_nan());
        let v: Value = serde_json::from_str(r#"{"resultType":"scalar","result":[1,"3"]}"#).unwrap();
        assert_eq!(samples(&v)[0].value, 3.0);
    }
}

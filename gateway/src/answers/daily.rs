//! Spend per day (UTC) for a date range, per cloud and in total.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::*;
use crate::config::Cloud;
use crate::gateway::{Coverage, Ctx, Gateway, GatewayError, Query};

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Day {
    pub date: String,
    pub total_usd: f64,
    pub by_cloud: BTreeMap<Cloud, f64>,
    /// False for the day that is still running (up to `time`).
    pub complete: bool,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
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
                .map(|(_, secs, time, _)| {
                    Query::new(format!("sum(increase({COST}[{secs}s]))"), *time)
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

//! The one-line human-readable text of each MCP tool's answer (its `structuredContent`
//! carries the full answer).

use crate::answers;
use crate::gateway::Coverage;

/// What a projection rests on, for the one-line answer.
fn basis_text(seconds: Option<f64>) -> String {
    match seconds {
        Some(s) if s >= 86400.0 => " at the last day's pace".into(),
        Some(s) if s >= 3600.0 => " at the last hour's pace (less than a day of data)".into(),
        Some(s) => format!(
            " at the last {:.0} minutes' pace (less than an hour of data)",
            s / 60.0
        ),
        None => String::new(),
    }
}

fn usd(v: f64) -> String {
    format!("${v:.2}")
}

fn coverage_text(c: &Coverage) -> String {
    let mut s = match &c.tenant {
        Some(t) => format!("tenant {t}"),
        None => "all tenants".to_string(),
    };
    if !c.clouds_failed.is_empty() {
        let f: Vec<String> = c
            .clouds_failed
            .iter()
            .map(|f| format!("{} ({})", f.cloud, f.error))
            .collect();
        s.push_str(&format!("; PARTIAL, failed: {}", f.join(", ")));
    }
    if !c.clouds_disabled.is_empty() {
        let d: Vec<&str> = c.clouds_disabled.iter().map(|c| c.as_str()).collect();
        s.push_str(&format!("; disabled: {}", d.join(", ")));
    }
    s
}

/// The one-line answer of `spend_summary`.
pub fn spend_summary(s: &answers::SpendSummary) -> String {
    let top: Vec<String> = s
        .rows
        .iter()
        .take(5)
        .map(|r| {
            let l: Vec<&str> = r.labels.values().map(String::as_str).collect();
            format!("{} {}", l.join("/"), usd(r.cost_usd))
        })
        .collect();
    format!(
        "Spend over {} ({}): {} in total. Largest: {}.",
        s.window,
        coverage_text(&s.coverage),
        usd(s.total_usd),
        if top.is_empty() {
            "none".into()
        } else {
            top.join(", ")
        }
    )
}

/// The one-line answer of `top_models`.
pub fn model_costs(m: &answers::ModelCosts) -> String {
    let list: Vec<String> = m
        .models
        .iter()
        .enumerate()
        .map(|(i, x)| format!("{}. {} ({}) {}", i + 1, x.model, x.cloud, usd(x.cost_usd)))
        .collect();
    format!(
        "Top models by spend over {} ({}): {}.",
        m.window,
        coverage_text(&m.coverage),
        if list.is_empty() {
            "none".into()
        } else {
            list.join("; ")
        }
    )
}

/// The one-line answer of `token_usage`.
pub fn token_usage(t: &answers::TokenUsage) -> String {
    let totals: Vec<String> = t
        .totals
        .iter()
        .map(|(k, v)| format!("{k} {v:.0}"))
        .collect();
    let rate: f64 = t.rows.iter().map(|r| r.tokens_per_second).sum();
    // Never "-0.0 tokens/s": a sum of rates is not negative.
    let rate = if rate > 0.0 { rate } else { 0.0 };
    format!(
        "Tokens over {} ({}): {}; now {:.1} tokens/s across {} series.",
        t.window,
        coverage_text(&t.coverage),
        if totals.is_empty() {
            "none".into()
        } else {
            totals.join(", ")
        },
        rate,
        t.rows.len()
    )
}

/// The one-line answer of `daily_costs`.
pub fn daily_costs(d: &answers::DailyCosts) -> String {
    let days: Vec<String> = d
        .days
        .iter()
        .map(|x| {
            format!(
                "{} {}{}",
                x.date,
                usd(x.total_usd),
                if x.complete { "" } else { " (so far)" }
            )
        })
        .collect();
    format!(
        "Daily spend {}..{} ({}): {} in total. {}.",
        d.start_date,
        d.end_date,
        coverage_text(&d.coverage),
        usd(d.total_usd),
        days.join(", ")
    )
}

/// The one-line answer of `reconcile_costs`.
pub fn reconciliation(r: &answers::Reconciliation) -> String {
    let sum =
        |f: fn(&answers::ReconRow) -> Option<f64>| -> f64 { r.days.iter().filter_map(f).sum() };
    let reach: Vec<String> = r
        .billed_through
        .iter()
        .map(|(c, d)| format!("{c} {}", d.as_deref().unwrap_or("no data")))
        .collect();
    format!(
        "Estimate vs bill {}..{} ({}): estimated {}, billed {} over {} rows; bill complete through: {}.{}",
        r.from,
        r.to,
        coverage_text(&r.coverage),
        usd(sum(|x| x.estimated_usd)),
        usd(sum(|x| x.billed_usd)),
        r.days.len(),
        if reach.is_empty() { "no billing export".into() } else { reach.join(", ") },
        if r.notes.is_empty() { String::new() } else { format!(" Notes: {}", r.notes.join("; ")) }
    )
}

/// The one-line answer of `budget_status`.
pub fn budget_status(b: &answers::BudgetStatus) -> String {
    let t: Vec<String> = b
        .tenants
        .iter()
        .map(|t| {
            format!(
                "{}: {} so far, projected {}{}, budget {} -> {}{}",
                t.tenant,
                usd(t.month_to_date_usd),
                usd(t.projected_month_end_usd),
                basis_text(t.projection_basis_seconds),
                t.budget_usd.map(usd).unwrap_or_else(|| "none".into()),
                t.status,
                if t.projected_over_budget {
                    " (projected over budget)"
                } else {
                    ""
                }
            )
        })
        .collect();
    format!(
        "Budgets {} ({}): {}.",
        b.month,
        coverage_text(&b.coverage),
        if t.is_empty() {
            "no tenant data".into()
        } else {
            t.join("; ")
        }
    )
}

/// The one-line answer of `exporter_health`.
pub fn exporters_health(h: &answers::ExportersHealth) -> String {
    let e: Vec<String> = h
        .exporters
        .iter()
        .map(|e| {
            format!(
                "{} {}: {}{}",
                e.cloud,
                e.instance,
                if e.healthy { "healthy" } else { "UNHEALTHY" },
                e.data_age_seconds
                    .map(|a| format!(", data {a:.0}s old"))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!(
        "Exporters {}: {}.",
        if h.healthy {
            "healthy"
        } else {
            "NOT all healthy"
        },
        if e.is_empty() {
            "none found".into()
        } else {
            e.join("; ")
        }
    )
}

/// The one-line answer of `promql_query`.
pub fn query_answer(q: &answers::QueryAnswer) -> String {
    let n: usize = q
        .results
        .iter()
        .map(|r| r.result.as_array().map_or(1, |a| a.len()))
        .sum();
    format!(
        "{n} series from {} cloud(s) ({}).",
        q.results.len(),
        coverage_text(&q.coverage)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cloud;
    use crate::gateway::CloudFailure;

    fn coverage(tenant: Option<&str>) -> Coverage {
        Coverage {
            tenant: tenant.map(str::to_string),
            clouds_queried: vec![Cloud::Aws],
            clouds_failed: Vec::new(),
            clouds_disabled: Vec::new(),
            time: 0.0,
        }
    }

    #[test]
    fn coverage_names_the_tenant_and_what_the_answer_lacks() {
        assert_eq!(coverage_text(&coverage(None)), "all tenants");
        let mut c = coverage(Some("alpha"));
        c.clouds_failed.push(CloudFailure {
            cloud: Cloud::Azure,
            upstream: "azure".into(),
            error: "upstream unreachable".into(),
            detail: Some("connection refused".into()),
        });
        c.clouds_disabled.push(Cloud::Gcp);
        assert_eq!(
            coverage_text(&c),
            "tenant alpha; PARTIAL, failed: azure (upstream unreachable); disabled: gcp"
        );
    }

    #[test]
    fn a_projection_says_how_much_data_it_rests_on() {
        assert_eq!(basis_text(None), "");
        assert_eq!(basis_text(Some(86400.0)), " at the last day's pace");
        assert_eq!(
            basis_text(Some(7200.0)),
            " at the last hour's pace (less than a day of data)"
        );
        assert_eq!(
            basis_text(Some(600.0)),
            " at the last 10 minutes' pace (less than an hour of data)"
        );
    }

    #[test]
    fn token_rate_is_never_shown_negative() {
        let row = |rate: f64| answers::TokenRow {
            cloud: Cloud::Aws,
            model: "m".into(),
            token_type: "input".into(),
            tokens: 0.0,
            tokens_per_second: rate,
        };
        let t = answers::TokenUsage {
            coverage: coverage(Some("alpha")),
            window: "1h".into(),
            model: None,
            totals: Default::default(),
            rows: vec![row(-0.0), row(-0.0)],
        };
        assert_eq!(
            token_usage(&t),
            "Tokens over 1h (tenant alpha): none; now 0.0 tokens/s across 2 series."
        );
    }
}

//! The landing page at `/`: what an operator wants to see first. Each target's last poll,
//! why it failed (the kind of failure, and the cloud's message), the breakers, the series held, the price catalogs and a summary of the config (no
//! secrets: the config holds none; credentials come from the clouds' own chains).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use prometheus::proto::MetricFamily;

use crate::accumulator::Accumulator;
use crate::base::{lock, unix_now};
use crate::config::Config;
use crate::metrics::{names, SelfMetrics};
use crate::poller::TargetErrors;

/// One line per config key worth showing, made at start-up.
pub fn config_summary(config: &Config) -> Vec<(String, String)> {
    let d = |d: std::time::Duration| humantime::format_duration(d).to_string();
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map(|p| crate::config::shown(p))
            .unwrap_or_else(|| "none".into())
    };
    vec![
        ("config".into(), config.origin.clone()),
        ("poll_interval".into(), d(config.poll_interval)),
        ("lookback".into(), d(config.lookback)),
        ("max_backfill".into(), d(config.max_backfill)),
        ("state_file".into(), path(&config.state_file)),
        ("pricing_file".into(), path(&config.pricing_file)),
        ("max_series".into(), config.max_series.to_string()),
        (
            "tenants".into(),
            config
                .tenants
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Gauge values of a family by one label's value.
fn by_label(families: &[MetricFamily], name: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for f in families.iter().filter(|f| f.name() == name) {
        for m in f.get_metric() {
            let key = m
                .get_label()
                .iter()
                .filter(|l| l.name() == label || label.is_empty())
                .map(|l| l.value().to_string())
                .collect::<Vec<_>>()
                .join(" ");
            out.insert(key, m.get_gauge().get_value());
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub fn render(
    exporter: &str,
    version: &str,
    telemetry_path: &str,
    metrics: &SelfMetrics,
    errors: &TargetErrors,
    accumulator: &Mutex<Accumulator>,
    summary: &[(String, String)],
) -> String {
    let families = metrics.registry.gather();
    let up = by_label(&families, names::TARGET_UP, "target");
    let last = by_label(&families, names::TARGET_LAST_SUCCESS, "target");
    let breakers = by_label(&families, names::CIRCUIT_STATE, "");
    let (series, catalogs) = {
        let acc = lock(accumulator);
        let catalogs: Vec<String> = acc
            .pricing()
            .sources()
            .iter()
            .map(|s| format!("{} {}", s.source, s.version))
            .collect();
        (acc.series(), catalogs)
    };
    let now = unix_now() as f64;
    let mut h = String::with_capacity(4096);
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>LLM usage exporter ({e})</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}.bad{{color:#b00}}</style>\
         </head><body><h1>LLM usage exporter: {e}</h1><p>Version {v} · \
         <a href=\"{t}\">Metrics</a> · <a href=\"/-/healthy\">Health</a> · \
         <a href=\"/-/ready\">Readiness</a></p>",
        e = esc(exporter),
        v = esc(version),
        t = esc(telemetry_path)
    );
    h.push_str("<h2>Targets</h2><table><tr><th>target</th><th>last poll</th><th>last success</th><th>reason</th><th>error</th></tr>");
    for (target, ok) in &up {
        let age = last
            .get(target)
            .map(|t| format!("{:.0} s ago", (now - t).max(0.0)))
            .unwrap_or_else(|| "never".into());
        let (reason, error) = errors
            .get(target)
            .map(|(kind, message)| (kind.as_str(), message))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(target),
            if *ok == 1.0 { "" } else { "bad" },
            if *ok == 1.0 { "ok" } else { "failed" },
            age,
            reason,
            esc(&error)
        );
    }
    h.push_str(
        "</table><h2>Circuit breakers</h2><table><tr><th>api target</th><th>state</th></tr>",
    );
    for (api, state) in &breakers {
        let s = match *state as i64 {
            0 => "closed",
            1 => "half-open",
            _ => "open",
        };
        let _ = write!(h, "<tr><td>{}</td><td>{s}</td></tr>", esc(api));
    }
    let _ = write!(
        h,
        "</table><h2>Series and prices</h2><p>{series} usage series held; price catalogs: {}</p>\
         <h2>Config</h2><table>",
        esc(&catalogs.join(", "))
    );
    for (k, v) in summary {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    h.push_str("</table></body></html>\n");
    h
}

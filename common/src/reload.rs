//! Reloading the config without a restart, on SIGHUP and on `POST /-/reload` (behind
//! `--web.enable-lifecycle`, Prometheus' convention). What can change safely is applied:
//! tenants, budgets and alert ratios, and prices (the pricing file). Everything else (poll
//! interval, lookback, state file, the exporters' sections...) needs a restart: a change there
//! is logged and not applied. An invalid file keeps the running config, logs why and sets
//! `llm_exporter_config_last_reload_successful` to 0.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::accumulator::Accumulator;
use crate::base::{lock, unix_now};
use crate::config::Config;
use crate::exposition::UsageRenderer;
use crate::metrics::SelfMetrics;
use crate::pricing::Pricing;
use crate::publish::Publisher;

pub struct Reloader {
    pub cloud: &'static str,
    /// The exporter's bundled capacity rates ([`Pricing::load_with_capacity`]).
    pub capacity_rates: &'static str,
    pub config_file: Option<PathBuf>,
    /// The config running now (what a restart-only change is compared with).
    pub running: Mutex<Config>,
    pub accumulator: Arc<Mutex<Accumulator>>,
    pub publisher: Arc<Publisher>,
    pub metrics: Arc<SelfMetrics>,
}

impl Reloader {
    /// Reads the config (and its pricing file) again and applies what can change safely.
    /// Returns what was wrong when nothing was applied.
    pub fn reload(&self) -> Result<(), String> {
        let result = self.try_reload();
        match &result {
            Ok(()) => {
                self.metrics.config_reload_successful.set(1);
                self.metrics.config_reload_timestamp.set(unix_now() as f64);
            }
            Err(e) => {
                self.metrics.config_reload_successful.set(0);
                tracing::error!(error = %e, "config reload failed: the running config is kept");
            }
        }
        result
    }

    fn try_reload(&self) -> Result<(), String> {
        let Some(path) = &self.config_file else {
            // Nothing to read again: the defaults stay the defaults.
            return Ok(());
        };
        let mut new = Config::load(path).map_err(|e| e.to_string())?;
        new.state_file = new.state_file_for(self.cloud);
        let pricing = Pricing::load_with_capacity(
            self.cloud,
            self.capacity_rates,
            new.pricing_file.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        let mut running = lock(&self.running);
        let needs_restart = restart_only_changes(&running, &new);
        if !needs_restart.is_empty() {
            tracing::warn!(keys = ?needs_restart, "config reload: these keys changed but take effect only after a restart");
        }
        lock(&self.accumulator).reconfigure(new.tenant_matchers(), pricing);
        self.publisher.set_renderer(UsageRenderer::new(&new));
        self.publisher.request();
        tracing::info!(tenants = new.tenants.len(), pricing_file = ?new.pricing_file, "config reloaded");
        // Restart-only keys keep their running values, so a later reload compares with them.
        running.tenants = new.tenants;
        running.pricing_file = new.pricing_file;
        Ok(())
    }
}

/// The keys that differ between `running` and `new` and need a restart: common keys, then
/// sections by name.
pub fn restart_only_changes<'a>(running: &'a Config, new: &'a Config) -> Vec<&'a str> {
    let mut keys = Vec::new();
    let mut check = |key: &'a str, changed: bool| {
        if changed {
            keys.push(key);
        }
    };
    check("poll_interval", running.poll_interval != new.poll_interval);
    check("lookback", running.lookback != new.lookback);
    check("max_backfill", running.max_backfill != new.max_backfill);
    check("state_file", running.state_file != new.state_file);
    check("extra_ca_file", running.extra_ca_file != new.extra_ca_file);
    check("max_series", running.max_series != new.max_series);
    check("series_ttl", running.series_ttl != new.series_ttl);
    check(
        "max_value_per_minute",
        running.max_value_per_minute != new.max_value_per_minute,
    );
    check(
        "api_budget_usd_per_month",
        running.api_budget_usd_per_month != new.api_budget_usd_per_month,
    );
    check(
        "max_concurrent_polls",
        running.max_concurrent_polls != new.max_concurrent_polls,
    );
    let mut sections: Vec<&str> = running
        .sections
        .keys()
        .chain(new.sections.keys())
        .filter_map(|k| k.as_str())
        .collect();
    sections.sort_unstable();
    sections.dedup();
    for name in sections {
        check(name, running.sections.get(name) != new.sections.get(name));
    }
    keys
}

/// Reloads on every SIGHUP until the process ends.
pub async fn on_sighup(reloader: Arc<Reloader>) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config");
            let r = reloader.clone();
            let _ = tokio::task::spawn_blocking(move || r.reload()).await;
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_restart_keys_are_reported() {
        let a = Config::parse("tenants: [{name: a}]\naws: {regions: [us-east-1]}\n", "t").unwrap();
        let b = Config::parse(
            "tenants: [{name: b}]\npoll_interval: 30s\naws: {regions: [eu-west-1]}\n",
            "t",
        )
        .unwrap();
        assert_eq!(restart_only_changes(&a, &b), vec!["poll_interval", "aws"]);
        assert!(restart_only_changes(&a, &a).is_empty());
    }
}

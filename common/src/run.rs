//! Runs an exporter's sources: restores state, starts the poller, serves HTTP until SIGINT or
//! SIGTERM, and stops in order.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use anyhow::Context;

use crate::accumulator::{Accumulator, AccumulatorSettings, Now, StateLock};
use crate::config::Config;
use crate::exposition::UsageRenderer;
use crate::metrics::SelfMetrics;
use crate::pricing::Pricing;
use crate::publish::Publisher;
use crate::source::Source;

/// Everything [`run`] needs besides the sources.
pub struct RunSettings {
    /// The exporter's cloud id: the `cloud` label ([`crate::exporter::Exporter::CLOUD`]).
    pub cloud: &'static str,
    pub version: &'static str,
    pub flags: crate::cli::Flags,
    pub default_listen_address: &'static str,
    pub config: Config,
    pub metrics: Arc<SelfMetrics>,
    /// The loaded catalog ([`Pricing::load_with_capacity`] with the config's `pricing_file`).
    pub pricing: Pricing,
    /// The exporter's bundled capacity rates, loaded again with the pricing file on reload.
    pub capacity_rates: &'static str,
}

/// Loads the config named by the flags, or the defaults without one.
pub fn load_config(flags: &crate::cli::Flags) -> Result<Config, crate::config::ConfigError> {
    match &flags.config_file {
        Some(path) => Config::load(path),
        None => Ok(Config::default()),
    }
}

/// Restores state, starts the poller and serves HTTP until SIGINT or SIGTERM.
pub async fn run<S: Source>(settings: RunSettings, sources: Vec<S>) -> anyhow::Result<()> {
    let RunSettings {
        cloud,
        version,
        flags,
        default_listen_address,
        mut config,
        metrics,
        pricing,
        capacity_rates,
    } = settings;
    config.state_file = config.state_file_for(cloud);
    let shard = flags.shard().map_err(anyhow::Error::msg)?;
    // `{shard}` in the path gives each replica its own file from one shared config.
    config.state_file = config.state_file.map(|p| {
        p.to_string_lossy()
            .replace("{shard}", &shard.index.to_string())
            .into()
    });
    let (sources, others) = shard.split(sources, |s| s.scope());
    if shard.total > 1 {
        tracing::info!(
            shard = shard.index,
            total_shards = shard.total,
            polled = sources.len(),
            left_to_other_shards = others.len(),
            "sharded: polling only this shard's scopes"
        );
    }
    metrics
        .shard
        .with_label_values(&[&shard.index.to_string(), &shard.total.to_string()])
        .set(sources.len() as i64);
    let new_accumulator = |pricing| {
        let mut a = Accumulator::new(AccumulatorSettings::from_config(cloud, &config), pricing);
        a.set_demo(flags.demo);
        a
    };
    if flags.config_check {
        return check(&config, &flags, new_accumulator(pricing), metrics);
    }
    // Taken before anything else touches the state file, and held until exit: a second
    // exporter pointed at the same file refuses to start.
    let _state_lock = match &config.state_file {
        Some(path) => Some(StateLock::acquire(path)?),
        None => None,
    };
    let mut accumulator = new_accumulator(pricing);
    if let Some(path) = &config.state_file {
        if accumulator.restore(path, Now::system())? {
            tracing::info!(path = %crate::config::shown(path), series = accumulator.series(), "state restored");
            warn_foreign_scopes(&accumulator, &others, path);
        }
    }
    let accumulator = Arc::new(Mutex::new(accumulator));
    let publisher = Arc::new(Publisher::new(
        accumulator.clone(),
        metrics.clone(),
        UsageRenderer::new(&config),
        config.state_file.clone(),
    ));
    // Restored counters are served from the first scrape; the first write also proves the
    // state file's directory is writable before the exporter reports ready.
    if !publisher.publish().await {
        anyhow::bail!(
            "state_file {}: cannot be written (see the error above)",
            crate::config::shown(
                config
                    .state_file
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
            )
        );
    }

    // Read before binding: a bad web config must stop the exporter before it serves anything.
    let web = match &flags.web_config_file {
        Some(path) => Some(crate::web_config::WebConfig::load(path, metrics.clone())?),
        None => None,
    };
    let addr_text = flags
        .listen_address
        .clone()
        .unwrap_or_else(|| default_listen_address.to_string());
    let addr = crate::server::parse_listen_address(&addr_text).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let polled = Arc::new(AtomicBool::new(false));
    let target_errors = Arc::new(crate::poller::TargetErrors::default());

    configure_budget(&config, &metrics, sources.first());
    let poller = crate::poller::Poller {
        sources: sources.into_iter().map(Arc::new).collect(),
        accumulator: accumulator.clone(),
        metrics: metrics.clone(),
        interval: config.poll_interval,
        publisher: publisher.clone(),
        polled: polled.clone(),
        errors: target_errors.clone(),
        concurrency: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_polls)),
    };
    let publish_task = tokio::spawn(publisher.clone().run());
    let poll_task = tokio::spawn(poller.run());
    let reloader = Arc::new(crate::reload::Reloader {
        cloud,
        capacity_rates,
        config_file: flags.config_file.clone(),
        running: Mutex::new(config.clone()),
        accumulator: accumulator.clone(),
        publisher: publisher.clone(),
        metrics: metrics.clone(),
    });
    let sighup_task = tokio::spawn(crate::reload::on_sighup(reloader.clone()));

    let mut app = crate::server::router(crate::server::AppState {
        metrics,
        publisher: publisher.clone(),
        polled,
        exporter: cloud.to_string(),
        version: version.to_string(),
        telemetry_path: flags.telemetry_path.clone(),
        reloader: flags.enable_lifecycle.then_some(reloader),
        errors: target_errors,
        accumulator: accumulator.clone(),
        summary: Arc::new({
            let mut summary = crate::landing::config_summary(&config);
            summary.push((
                "shard".into(),
                format!(
                    "{} of {} (--shard, --total-shards)",
                    shard.index, shard.total
                ),
            ));
            summary
        }),
    });
    if let Some(users) = web
        .as_ref()
        .map(|w| w.users.clone())
        .filter(|u| u.enabled())
    {
        app = app.layer(axum::middleware::from_fn_with_state(
            users,
            crate::web_config::require_basic_auth,
        ));
    }
    let tls = web.and_then(|w| w.tls);
    let edge = crate::edge::EdgeSettings::new(flags.header_timeout, flags.max_connections);
    tracing::info!(address = %listener.local_addr()?, telemetry_path = %flags.telemetry_path, tls = tls.is_some(), poll_interval = ?config.poll_interval, max_connections = edge.max_connections, header_timeout = ?edge.header_timeout, "listening");
    crate::edge::serve(listener, app, tls, edge, shutdown_signal()).await;

    // No poll applies after this; the last write waits for one in flight (the publisher
    // writes one at a time).
    poll_task.abort();
    publish_task.abort();
    sighup_task.abort();
    if let Some(path) = &config.state_file {
        if !publisher.publish().await {
            anyhow::bail!(
                "state_file {}: the last write failed",
                crate::config::shown(path)
            );
        }
        tracing::info!(path = %crate::config::shown(path), "state saved");
    }
    Ok(())
}

/// The API budget: the sources' own slowdown where they pace themselves, else whole polls
/// skipped; no interval past half the lookback.
fn configure_budget<S: Source>(config: &Config, metrics: &SelfMetrics, source: Option<&S>) {
    let poll = config.poll_interval.as_secs().max(1) as i64;
    let cap = (config.lookback.as_secs() as i64 / 2).max(poll);
    let own = source.and_then(|s| s.budget_max_factor(poll, cap));
    let max = own.unwrap_or(cap as f64 / poll as f64);
    metrics
        .budget
        .configure(config.api_budget_usd_per_month, max, cap, own.is_none());
    if let Some(b) = config.api_budget_usd_per_month {
        tracing::info!(
            budget_usd_per_month = b,
            max_slowdown = max,
            "API budget set"
        );
    }
}

/// A restored state that holds scopes another shard polls was written under a different
/// `--shard`/`--total-shards` (or is another replica's file): those scopes are no longer
/// polled here, and their counters stay frozen until `series_ttl` drops them.
fn warn_foreign_scopes(accumulator: &Accumulator, others: &[String], path: &std::path::Path) {
    let foreign: Vec<&str> = accumulator
        .scope_names()
        .filter(|held| others.iter().any(|o| crate::shard::held_by(held, o)))
        .collect();
    if let Some(first) = foreign.first() {
        tracing::warn!(path = %crate::config::shown(path), scopes = foreign.len(), example = %first, "the state file holds scopes another shard polls: it was written with a different --shard/--total-shards or by another replica; give each replica its own state file");
    }
}

/// `--config.check`: everything the exporter would refuse at start-up, without starting.
fn check(
    config: &Config,
    flags: &crate::cli::Flags,
    mut accumulator: Accumulator,
    metrics: Arc<SelfMetrics>,
) -> anyhow::Result<()> {
    let mut checked = vec![format!("{}: ok", config.origin)];
    if let Some(p) = &config.pricing_file {
        checked.push(format!("pricing_file {}: ok", crate::config::shown(p)));
    }
    // Read as start-up reads it: a missing or unusable CA file fails the check too.
    if let Some(p) = &config.extra_ca_file {
        crate::tls::read_ca_file(p).map_err(anyhow::Error::msg)?;
        checked.push(format!("extra_ca_file {}: ok", crate::config::shown(p)));
    }
    if let Some(p) = &flags.web_config_file {
        crate::web_config::WebConfig::load(p, metrics)?;
        checked.push(format!("--web.config.file {}: ok", crate::config::shown(p)));
    }
    if let Some(p) = &config.state_file {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
        if dir.is_some_and(|d| !d.is_dir()) {
            anyhow::bail!(
                "state_file {}: its directory does not exist",
                crate::config::shown(p)
            );
        }
        let found = accumulator.restore(p, Now::system())?;
        checked.push(format!(
            "state_file {}: {}",
            crate::config::shown(p),
            if found {
                "ok"
            } else {
                "not written yet (first start)"
            }
        ));
    }
    for line in checked {
        println!("{line}");
    }
    Ok(())
}

async fn shutdown_signal() {
    crate::shutdown::signal().await;
    tracing::info!("shutting down");
}

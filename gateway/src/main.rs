//! `llm-gateway`: tenant-scoped LLM spend and usage answers over Prometheus, as a REST API
//! and MCP tools (Streamable HTTP at /mcp, or stdio for desktop assistants).

mod answers;
mod auth;
mod billing;
mod cache;
mod config;
mod cost;
mod gateway;
mod guard;
mod mcp;
mod mcp_args;
mod mcp_sessions;
mod mcp_text;
mod metrics;
mod promql;
mod query_limits;
mod ratelimit;
mod rest;
mod state;
mod tenant_guard;
mod upstream;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::logging::{init_logging, LogFormat, LogLevel};
use rmcp::ServiceExt;

use crate::gateway::Gateway;

#[derive(Parser)]
#[command(
    name = "llm-gateway",
    version = concat!(env!("CARGO_PKG_VERSION"), " (revision ", env!("GIT_REVISION"), ")"),
    about
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeFlags,
    /// Check the config file, print what was checked and exit (0 when valid), as the
    /// exporters' flag of the same name does; the same as the `check-config` subcommand.
    #[arg(long = "config.check")]
    config_check: bool,
    /// Only log messages with the given severity or above (logs go to stderr).
    #[arg(long = "log.level", global = true, value_enum, default_value_t = LogLevel::Info)]
    log_level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", global = true, value_enum, default_value_t = LogFormat::Logfmt)]
    log_format: LogFormat,
}

#[derive(clap::Args)]
struct ServeFlags {
    /// The gateway's YAML config.
    #[arg(long = "config.file", value_name = "PATH", global = true)]
    config_file: Option<PathBuf>,
    /// Where to serve REST, /mcp and /metrics (":PORT" for every interface).
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = ":9748",
        global = true
    )]
    listen_address: String,
}

#[derive(Subcommand)]
enum Command {
    /// Serve REST, MCP over Streamable HTTP and /metrics (the default).
    Serve,
    /// Print the SHA-256 of an API key (read from stdin when not given), for the config.
    HashKey {
        key: Option<String>,
        /// Make a new random key and print it with its hash.
        #[arg(long)]
        generate: bool,
    },
    /// Check the config file and exit (0 when valid).
    CheckConfig,
    /// Speak MCP over stdio (for desktop assistants).
    Mcp {
        /// Required: stdio is the only MCP transport of this subcommand.
        #[arg(long)]
        stdio: bool,
        /// The caller's API key (or the LLM_GATEWAY_API_KEY environment variable).
        #[arg(long = "api-key", env = "LLM_GATEWAY_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_level, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("llm-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llm-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(flags: &ServeFlags) -> anyhow::Result<(config::Config, Arc<Gateway>)> {
    let path = flags
        .config_file
        .as_ref()
        .context("--config.file is required")?;
    let config = config::Config::load(path)?;
    let gw = Gateway::new(&config, Arc::new(metrics::Metrics::new()))
        .map_err(|m| anyhow::anyhow!("config file {}: {m}", path.display()))?;
    Ok((config, Arc::new(gw)))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // HTTPS upstreams: one TLS provider for reqwest's rustls.
    common::tls::install_crypto_provider();
    let command = match cli.command {
        Some(c) => c,
        None if cli.config_check => Command::CheckConfig,
        None => Command::Serve,
    };
    match command {
        Command::HashKey { key, generate } => {
            if generate {
                let key = auth::generate_key();
                println!("key: {key}\napi_key_sha256: {}", auth::hash_key(&key));
                return Ok(());
            }
            let key = match key {
                Some(k) => k,
                None => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s
                }
            };
            anyhow::ensure!(!key.trim().is_empty(), "the key is empty");
            println!("{}", auth::hash_key(&key));
            Ok(())
        }
        Command::Mcp { stdio, api_key } => {
            anyhow::ensure!(stdio, "only `llm-gateway mcp --stdio` is supported; Streamable HTTP is served at /mcp by `llm-gateway serve`");
            let (_, gw) = load(&cli.serve)?;
            let principal = gw
                .keyring
                .authenticate(api_key.as_deref())
                .context("--api-key / LLM_GATEWAY_API_KEY")?;
            tracing::info!(tenant = principal.label(), "serving MCP on stdio");
            gw.billing.spawn();
            let server = mcp::GatewayMcp::new(gw, Some(principal))
                .serve(rmcp::transport::stdio())
                .await
                .context("MCP stdio handshake")?;
            server.waiting().await?;
            Ok(())
        }
        Command::CheckConfig => {
            let path = cli
                .serve
                .config_file
                .as_ref()
                .context("--config.file is required")?;
            let config = config::Config::load(path)?;
            println!(
                "config file {}: ok ({} upstreams, {} tenants{})",
                path.display(),
                config.upstreams.len(),
                config.tenants.len(),
                if config.admin.is_some() {
                    ", admin key"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Command::Serve => serve(&cli.serve).await,
    }
}

async fn serve(flags: &ServeFlags) -> anyhow::Result<()> {
    let (config, gw) = load(flags)?;
    let addr = if flags.listen_address.starts_with(':') {
        format!("0.0.0.0{}", flags.listen_address)
    } else {
        flags.listen_address.clone()
    };
    let (mcp_service, end_sessions) =
        mcp::http_service(gw.clone(), config.mcp.allowed_hosts.clone());
    let mcp_routes = axum::Router::new()
        .route_service("/mcp", mcp_service)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(mcp_sessions::Sessions::new()),
            mcp_sessions::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            mcp::authenticate,
        ));
    let app = rest::router(gw.clone()).merge(mcp_routes);
    gw.billing.spawn();
    billing::ratio::spawn(gw.clone());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("--web.listen-address {addr}"))?;
    let local = listener.local_addr()?;
    let names: Vec<&str> = gw.upstreams.iter().map(|u| u.name.as_str()).collect();
    tracing::info!(address = %local, upstreams = ?names, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            common::shutdown::signal().await;
            tracing::info!("shutting down");
            end_sessions();
            // Requests in flight get a few seconds; then the process ends regardless.
            tokio::spawn(async {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                std::process::exit(0);
            });
        })
        .await?;
    Ok(())
}

//! The `tenantgate` binary: `serve`, `check-config` and `token`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use tenantgate::config::{self, Config, LoadOptions, ProviderKind};
use tenantgate::server::{self, App};

#[derive(Parser)]
#[command(name = "tenantgate", version, about = "Multitenant auth layer and Cube.js-compatible API server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ConfigArgs {
    /// Environment: selects <config-dir>/<env>.toml.
    #[arg(long, env = "TENANTGATE_ENV", default_value = "development", global = true)]
    env: String,
    /// Folder holding default.toml and <env>.toml.
    #[arg(long, env = "TENANTGATE_CONFIG_DIR", default_value = "config", global = true)]
    config_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Serve(#[command(flatten)] ConfigArgs),
    /// Validate the configuration and print every error.
    CheckConfig(#[command(flatten)] ConfigArgs),
    /// Mint an HS256 token, like `cubejs token`.
    Token(TokenArgs),
}

#[derive(Args)]
struct TokenArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Expiry: 30d, 12h, 15m, 3600s, "30 days"; 0 means no exp.
    #[arg(short = 'e', long, default_value = "30 days")]
    expiry: String,
    /// Secret to sign with (default: the configured one).
    #[arg(short = 's', long)]
    secret: Option<String>,
    /// A payload claim; VALUE is JSON when it parses as JSON, else a string.
    #[arg(short = 'p', long = "payload", value_name = "KEY=VALUE")]
    payload: Vec<String>,
    /// A user-context claim, placed under `u`.
    #[arg(short = 'u', long = "user-context", value_name = "KEY=VALUE")]
    user_context: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tenantgate::install_crypto_provider();
    match cli.command {
        Command::Serve(args) => serve(&args),
        Command::CheckConfig(args) => check_config(&args),
        Command::Token(args) => token(&args),
    }
}

fn load_options(args: &ConfigArgs) -> LoadOptions {
    LoadOptions {
        config_dir: args.config_dir.clone(),
        env: args.env.clone(),
        dotenv: Some(PathBuf::from(".env")),
        vars: std::env::vars().collect::<BTreeMap<_, _>>(),
    }
}

/// The same load and build as `serve` ([`tenantgate::build::build`] in
/// check mode: nothing is created and nothing is reached over the network).
fn check_config(args: &ConfigArgs) -> ExitCode {
    let cfg = match config::load(&load_options(args)) {
        Ok(cfg) => cfg,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{} configuration error(s)", errors.0.len());
            return ExitCode::FAILURE;
        }
    };
    // JWKS providers own a refresh task, so the build needs a runtime; it is
    // never driven, so nothing is fetched.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let built =
        runtime.block_on(async { tenantgate::build::build(cfg, Default::default(), tenantgate::build::Mode::Check) });
    match built {
        Ok(built) => {
            let cfg = &built.config;
            println!(
                "configuration for environment \"{}\" is valid: {} provider(s), listening on {}:{}",
                cfg.environment,
                cfg.auth.providers.len(),
                cfg.server.host,
                cfg.server.port
            );
            // Loaded but not served: queries naming these get 400
            // member_not_supported.
            for member in built.model.unsupported() {
                println!("not supported yet (queries naming it get 400 member_not_supported): {member}");
            }
            for warning in tenantgate::query::join::ambiguous(&built.model) {
                println!("warning: {warning}");
            }
            // Cube.js's default: a cube or view without access_policy is
            // open to every caller, once any has policies.
            for open in built.model.access.open(&built.model) {
                println!("open (no access_policy; every caller reads it): {open}");
            }
            let tests = &cfg.access.tests;
            let failures = tenantgate::query::access::check::run(&built.model, &built.policy, tests);
            for f in &failures {
                eprintln!("access test {:?} ({}) failed:", f.test, f.source);
                for p in &f.problems {
                    eprintln!("  {p}");
                }
            }
            if !tests.is_empty() {
                println!("access tests: {} passed, {} failed", tests.len() - failures.len(), failures.len());
            }
            if !failures.is_empty() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{} configuration error(s)", errors.0.len());
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &ConfigArgs) -> ExitCode {
    if let Some(warning) = tenantgate::telemetry::init(std::env::var("RUST_LOG").ok().as_deref()) {
        eprintln!("{warning}");
    }
    let cfg = match config::load(&load_options(args)) {
        Ok(cfg) => cfg,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("refusing to start: {} configuration error(s)", errors.0.len());
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let addr = (cfg.server.host, cfg.server.port);
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {}:{}: {e}", addr.0, addr.1);
                return ExitCode::FAILURE;
            }
        };
        let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let scheme = if cfg.server.tls.is_some() { "https" } else { "http" };
        let app = match App::new(cfg, Default::default()) {
            Ok(app) => Arc::new(app),
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!("refusing to start: {} configuration error(s)", errors.0.len());
                return ExitCode::FAILURE;
            }
        };
        let hint = development_curl(app.config(), app.model(), scheme, &local);
        let shutdown = shutdown_signal();
        tracing::info!(
            environment = %app.config().environment,
            address = %local,
            tls = app.config().server.tls.is_some(),
            dev_mode = app.config().auth.dev_mode,
            providers = app.config().auth.providers.len(),
            "tenantgate listening"
        );
        for (key, why) in app.config().dangerous_settings() {
            tracing::warn!(setting = %key, "dangerous setting enabled: {why}");
        }
        if let Some(hint) = hint {
            println!("{hint}");
        }
        match server::run(listener, app, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("server error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// In the development environment only, a ready-to-paste curl with a freshly
/// minted one-hour token, so the README's first command shows a working
/// request. Never printed in any other environment (a token is a secret).
fn development_curl(cfg: &Config, model: &tenantgate::query::Model, scheme: &str, addr: &str) -> Option<String> {
    if cfg.environment != "development" {
        return None;
    }
    let secret = first_secret(cfg)?;
    let claims = tenantgate::mint::claims(
        now_secs(),
        std::time::Duration::from_secs(3600),
        [("tenant_id".to_string(), serde_json::json!("acme")), ("id".to_string(), serde_json::json!(42))],
        [],
    );
    let token = tenantgate::mint::sign_hs256(&secret, &claims).ok()?;
    let insecure = if scheme == "https" { " -k" } else { "" };
    let mut hint = format!(
        "development token (1 hour, tenant_id=acme, id=42); try:\n  curl{insecure} -H \"Authorization: Bearer {token}\" {scheme}://{addr}/tenantgate/v1/whoami"
    );
    // With a model and a database, a query that returns the demo rows.
    let cubes = &model.cubes;
    let has_count = |c: &&tenantgate::query::model::Cube| {
        c.public && c.unsupported.is_none() && c.measures.iter().any(|m| m.name == "count" && m.public)
    };
    let cube = cubes.iter().filter(has_count).find(|c| c.name == "Orders").or_else(|| cubes.iter().find(has_count));
    if let (Some(cube), Some(_)) = (cube, &cfg.database) {
        let mut query = serde_json::json!({"measures": [format!("{}.count", cube.name)]});
        if let Some(d) = cube
            .dimensions
            .iter()
            .find(|d| d.kind == tenantgate::query::model::DimensionType::String && d.public && d.unsupported.is_none())
        {
            query["dimensions"] = serde_json::json!([format!("{}.{}", cube.name, d.name)]);
        }
        hint.push_str(&format!(
            "\n  curl{insecure} -H \"Authorization: Bearer {token}\" '{scheme}://{addr}/cubejs-api/v1/load?query={}'",
            tenantgate::server::url::encode(&query.to_string())
        ));
    }
    Some(hint)
}

/// The secret `token` signs with by default: the `cubejs` provider's first
/// secret if there is one, else the first secret provider's.
fn first_secret(cfg: &Config) -> Option<Vec<u8>> {
    let secret_of = |p: &config::ProviderConfig| match &p.kind {
        ProviderKind::Secret(s) => s.secrets.first().map(|s| s.expose().to_vec()),
        _ => None,
    };
    let providers = &cfg.auth.providers;
    providers.iter().filter(|p| p.name == "cubejs").find_map(secret_of).or_else(|| providers.iter().find_map(secret_of))
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn token(args: &TokenArgs) -> ExitCode {
    let expiry = match config::duration::parse(&args.expiry) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("--expiry: {e}");
            return ExitCode::FAILURE;
        }
    };
    let parse_all =
        |pairs: &[String]| pairs.iter().map(|p| tenantgate::mint::parse_pair(p)).collect::<Result<Vec<_>, _>>();
    let (payload, user) = match (parse_all(&args.payload), parse_all(&args.user_context)) {
        (Ok(p), Ok(u)) => (p, u),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let secret = match &args.secret {
        Some(s) => Some(s.as_bytes().to_vec()),
        // A configuration error elsewhere must not hide a usable secret, but
        // an invalid configuration gives none: say why on stderr.
        None => match config::load(&load_options(&args.config)) {
            Ok(cfg) => first_secret(&cfg),
            Err(errors) => {
                eprintln!("{errors}");
                None
            }
        },
    };
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        eprintln!("No app secret found");
        return ExitCode::FAILURE;
    };
    let claims = tenantgate::mint::claims(now_secs(), expiry, payload, user);
    match tenantgate::mint::sign_hs256(&secret, &claims) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot sign the token: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed by this call,
/// not when the future is first polled: `serve` calls it before it says it is
/// listening, so a SIGTERM sent the moment the server is ready (an
/// orchestrator's rollout) is a clean shutdown, never the default action's
/// immediate exit.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        [signal(SignalKind::terminate()), signal(SignalKind::interrupt())]
            .map(|s| s.map_err(|e| tracing::warn!("cannot install a signal handler: {e}")).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let [term, int] = signals;
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {}
                () = wait(int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown signal received");
    }
}

//! The command line (docs/rules.md, "Storage and running"). Scripts depend on these names and flags.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::api::server::Application;
use crate::auth::{Scope, TokenMinter};
use crate::config::{Overrides, Settings};
use crate::crypto::KeyRing;
use crate::db::{self, PoolOptions};

#[derive(Debug, Parser)]
#[command(
    name = "tokenwarden",
    version,
    about = "Keeps social media profiles' access tokens alive."
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "TOKENWARDEN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder of tokenwarden.db and, with --dev, the generated secrets.
    #[arg(long, global = true, env = "TOKENWARDEN_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://… or sqlite://PATH (default sqlite://DATA_DIR/tokenwarden.db).
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Development mode: generate a missing encryption key and JWT secret into the data dir.
    #[arg(long, global = true, env = "TOKENWARDEN_DEV")]
    pub dev: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (and, unless --no-worker, run the lifecycle worker).
    Serve(ServeArgs),
    /// Run the lifecycle worker alone (until SIGINT/SIGTERM).
    Worker(WorkerArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Start a seeded demo on SQLite in a temporary folder and print JWTs and curl lines.
    Demo(DemoArgs),
    /// Operator tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Encryption keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TOKENWARDEN_BIND", value_name = "ADDR")]
    pub bind: Option<String>,
    /// Do not run the lifecycle worker in this process.
    #[arg(long, env = "TOKENWARDEN_NO_WORKER")]
    pub no_worker: bool,
    /// Mount the sandbox OAuth network under /sandbox.
    #[arg(long, env = "TOKENWARDEN_SANDBOX")]
    pub sandbox: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Run one tick and exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "TOKENWARDEN_BIND",
        value_name = "ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub bind: String,
    /// Address of the reference front end (default: the API's host, its port + 1). Port 0
    /// picks a free port; the printed address says which.
    #[arg(long, value_name = "ADDR")]
    pub frontend_bind: Option<String>,
}

impl DemoArgs {
    /// The front end's address: its own port, so the page is another origin
    /// than the API and the browser has to ask the API's CORS permission.
    fn frontend_bind(&self) -> anyhow::Result<String> {
        if let Some(bind) = &self.frontend_bind {
            return Ok(bind.clone());
        }
        let (host, port) = self
            .bind
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?.checked_add(1)?)))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "cannot derive the front end's port from --bind {}; give --frontend-bind",
                    self.bind
                )
            })?;
        Ok(format!("{host}:{port}"))
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Sign a JWT with the server's configuration (HS256 secret).
    Mint {
        /// Organization id (the `org` claim).
        #[arg(long)]
        org: String,
        /// Subject (the `sub` claim).
        #[arg(long)]
        sub: String,
        /// Space-separated scopes.
        #[arg(long)]
        scope: String,
        /// Lifetime, e.g. 15m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Restrict the token to these brands (comma-separated brand ids, the
        /// `brands` claim); without it the token reaches every brand.
        #[arg(long, value_delimiter = ',', num_args = 1..)]
        brands: Option<Vec<uuid::Uuid>>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new key ring entry (`id:base64key`) to put first in TOKENWARDEN_ENCRYPTION_KEYS.
    Generate,
    /// Re-encrypt every stored secret under the active (first) key. A secret that does not
    /// open is left as it is and named; the command then exits with an error.
    Rotate,
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            dev: self.dev,
            bind: match &self.command {
                Command::Serve(a) => a.bind.clone(),
                Command::Demo(a) => Some(a.bind.clone()),
                _ => None,
            },
            sandbox: matches!(&self.command, Command::Serve(a) if a.sandbox),
        }
    }
}

/// The configuration of a command that needs one, with logging set up.
fn configured(cli: &Cli) -> anyhow::Result<Settings> {
    let settings = Settings::load(cli.config.as_deref(), &cli.overrides())?;
    crate::telemetry::init(&settings.log);
    Ok(settings)
}

/// Runs a command; the process exit code is 0 on `Ok`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Openapi => {
            print!("{}", crate::api::openapi_json());
            Ok(())
        }
        Command::Keys(KeysCommand::Generate) => {
            println!("{}", KeyRing::generate_entry().expose_secret());
            Ok(())
        }
        Command::Demo(args) => crate::cli::demo(&cli, args).await,
        Command::Serve(args) => serve(configured(&cli)?, args).await,
        Command::Worker(args) => worker(configured(&cli)?, args).await,
        Command::Migrate => {
            let settings = configured(&cli)?;
            let url = settings.database_url();
            tokio::task::spawn_blocking(move || {
                db::connect(&url, &PoolOptions::default()).map(|_| ())
            })
            .await??;
            eprintln!("migrations are up to date");
            Ok(())
        }
        Command::Token(TokenCommand::Mint {
            org,
            sub,
            scope,
            ttl,
            brands,
        }) => {
            let settings = configured(&cli)?;
            for s in scope.split_whitespace() {
                if Scope::parse(s).is_none() {
                    anyhow::bail!("unknown scope {s:?}");
                }
            }
            let brands: Option<Vec<String>> = brands
                .as_ref()
                .map(|ids| ids.iter().map(uuid::Uuid::to_string).collect());
            if brands
                .as_ref()
                .is_some_and(|b| b.len() > crate::auth::MAX_CLAIMED_BRANDS)
            {
                anyhow::bail!(
                    "--brands takes at most {} brand ids",
                    crate::auth::MAX_CLAIMED_BRANDS
                );
            }
            let minter = TokenMinter::from_settings(&settings)?;
            println!(
                "{}",
                minter.mint_for_brands(org, sub, scope, brands.as_deref(), *ttl)
            );
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate) => {
            let settings = configured(&cli)?;
            let ring = settings.key_ring()?;
            let url = settings.database_url();
            let report = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let pool = db::connect(&url, &PoolOptions::default())?;
                let (report, left) = db::run_blocking(&pool, |conn| {
                    let report = db::rotation::rotate_all(conn, &ring)?;
                    let left = db::rotation::count_not_under(conn, ring.active_key_id())?;
                    Ok((report, left))
                })
                .map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok((report, left, ring.active_key_id().to_string()))
            })
            .await??;
            let (report, left, active) = report;
            println!(
                "re-encrypted {} secret(s) under key {active}; {} were already under it; {left} remain under other keys",
                report.resealed, report.already_current
            );
            if !report.skipped.is_empty() {
                // Everything else is under the new key; these stay as they
                // were, and the old key must stay in the ring until they go.
                for secret in &report.skipped {
                    println!("not re-encrypted: {secret}");
                }
                anyhow::bail!(
                    "{} secret(s) could not be opened and stay under their old key (listed above): a \
                     credential whose token is not its row's is reauth_required (undecryptable) and \
                     goes when its owner re-authorizes or it is disconnected; restore a missing key to \
                     the ring. Keep the old key until rotate succeeds",
                    report.skipped.len()
                );
            }
            if left > 0 {
                anyhow::bail!(
                    "{left} secret(s) are still under an old key (written concurrently?); run rotate again"
                );
            }
            Ok(())
        }
    }
}

async fn serve(settings: Settings, args: &ServeArgs) -> anyhow::Result<()> {
    let stop = ShutdownSignal::listen();
    let with_worker = !args.no_worker && settings.worker.enabled;
    let grace = std::time::Duration::from_secs(settings.http.shutdown_timeout_secs);
    let app = Application::build(settings).await?;
    let revocations = app.parts().state.revocations.clone();
    revocations.run_on(tokio::runtime::Handle::current());
    let (stop_worker, stopped) = tokio::sync::watch::channel(false);
    let worker = if with_worker {
        let state = app.parts().state.get_ref().clone();
        Some(tokio::spawn(crate::worker::run(state, stopped)))
    } else {
        tracing::info!("lifecycle worker disabled in this process");
        None
    };
    // The server stops on SIGINT/SIGTERM; the worker then finishes its tick.
    let served = app.run_until(stop.received()).await;
    let _ = stop_worker.send(true);
    if let Some(worker) = worker {
        worker.await?;
    }
    // What answered requests left under way: revocations of unused grants.
    revocations.settled_within(grace).await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// `tokenwarden worker`: the lifecycle worker alone, until SIGINT/SIGTERM
/// (the tick in progress finishes first), or one tick with `--once`.
async fn worker(settings: Settings, args: &WorkerArgs) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let state =
        tokio::task::spawn_blocking(move || crate::worker::state_from_settings(settings)).await??;
    if args.once {
        return match crate::worker::tick_and_log(&state).await {
            Some(_) => Ok(()),
            None => anyhow::bail!("the worker tick failed"),
        };
    }
    let signal = ShutdownSignal::listen();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let revocations = state.revocations.clone();
    let grace = std::time::Duration::from_secs(state.settings.http.shutdown_timeout_secs);
    let running = tokio::spawn(crate::worker::run(state, stopped));
    signal.received().await;
    tracing::info!("shutting down the lifecycle worker");
    let _ = stop.send(true);
    running.await?;
    revocations.settled_within(grace).await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT or (on Unix) SIGTERM, listened for from the moment it is made:
/// made first thing, a signal that arrives while the process is still
/// starting stops it cleanly instead of killing it by the signal's default
/// action (tokio keeps a signal that arrives before anyone awaits it).
struct ShutdownSignal {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| {
                signal(kind)
                    .map_err(|error| tracing::warn!(%error, "cannot listen for {name}"))
                    .ok()
            };
            Self {
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
                interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn received(self) {
        #[cfg(unix)]
        {
            async fn on(signal: Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = on(self.terminate) => {}
                () = on(self.interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `tokenwarden demo`: a seeded instance on SQLite in a temporary folder.
async fn demo(cli: &Cli, args: &DemoArgs) -> anyhow::Result<()> {
    let stop = ShutdownSignal::listen();
    let dir = tempfile::Builder::new()
        .prefix("tokenwarden-demo-")
        .tempdir()?;
    let overrides = Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        database_url: None,
        dev: true,
        bind: Some(args.bind.clone()),
        sandbox: true,
    };
    let mut settings = Settings::load(cli.config.as_deref(), &overrides)?;
    // A database URL from the environment must not redirect the demo.
    settings.database_url = None;
    // Bound before the settings are final: with port 0 only the listener
    // knows the port, and the API must allow exactly this origin.
    let frontend_bind = args.frontend_bind()?;
    let frontend_listener = std::net::TcpListener::bind(&frontend_bind).map_err(|e| {
        anyhow::anyhow!("cannot bind the front end to {frontend_bind}: {e} (see --frontend-bind)")
    })?;
    let api_url = settings.public_url();
    let frontend_origin = crate::demo::frontend::origin(
        frontend_listener.local_addr()?,
        api_url.host_str().unwrap_or("127.0.0.1"),
    );
    // The page calls the API from its own origin, and the network's
    // redirect after a re-authorization returns to its callback page.
    settings.cors.allowed_origins.push(frontend_origin.clone());
    settings.return_urls.push(format!("{frontend_origin}/"));
    settings.log.format = "text".into();
    if std::env::var_os("RUST_LOG").is_none() {
        settings.log.level = "warn".into();
    }
    crate::telemetry::init(&settings.log);
    let settings = Arc::new(settings);
    let for_prepare = settings.clone();
    let parts =
        tokio::task::spawn_blocking(move || crate::api::server::prepare(for_prepare)).await??;
    let minter = TokenMinter::from_settings(&settings)?;
    let app = Application::with_parts(settings.clone(), parts.clone())?;
    let base = settings
        .public_url()
        .as_str()
        .trim_end_matches('/')
        .to_string();
    let server = tokio::spawn(app.run_until(stop.received()));
    let frontend =
        crate::demo::frontend::serve(frontend_listener, &api_url.origin().ascii_serialization())?;
    let stop_frontend = frontend.handle();
    let frontend = tokio::spawn(frontend);
    let sandbox = parts
        .sandbox
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the demo needs the sandbox network"))?;
    let seeded = crate::demo::seed(&base, &parts.state.pool, &sandbox, &minter).await?;
    let networks: Vec<String> = parts.state.providers.names().map(str::to_string).collect();
    println!(
        "{}",
        crate::demo::guide(
            &base,
            &frontend_origin,
            &networks,
            &seeded,
            &minter,
            dir.path()
        )
    );
    let result = server.await?;
    // Both servers stop on Ctrl-C; this covers the API stopping on its own.
    stop_frontend.stop(true).await;
    frontend.await??;
    drop(dir);
    result.map_err(Into::into)
}

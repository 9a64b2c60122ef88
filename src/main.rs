//! The `njia` binary: parses the command line and configuration, then calls the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use njia::config::{Config, LogFormat};
use njia::diag::Problem;
use njia::types::{Locale, Msisdn};

#[derive(Parser)]
#[command(name = "njia", version, about = "USSD and SMS channel server for government services")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (embedded defaults: loopback address, SQLite in ./data, no config file needed).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Check menus and locales; print every problem as file:line:column; exit 1 on any error.
    Check {
        #[arg(long, default_value = "menus")]
        menus: PathBuf,
        #[arg(long, default_value = "locales")]
        locales: PathBuf,
        /// Screen limit in GSM-7 characters to check against.
        #[arg(long, default_value_t = 160)]
        limit: usize,
    },
    /// A terminal phone: dial a code and walk the menu, one input per line (interactive or from stdin).
    Dial {
        /// The code as dialled, e.g. '*384#' or '*384*1#'.
        code: String,
        #[arg(long, default_value = "+254700000001")]
        phone: String,
        /// Remember this language for the phone before dialling (skips the first-use question).
        #[arg(long)]
        lang: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { menus, locales, limit } => {
            let config = Config::default();
            let problems = njia::check::check(&njia::check::Options {
                menus_dir: &menus,
                locales_dir: &locales,
                limit,
                fallback: &config.fallback_locales,
            });
            Ok(report(&problems, "ok: menus and locales pass every check"))
        }
        Command::Serve { config, listen, data_dir } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(l) = listen {
                config.listen = l;
            }
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            init_logging(config.log_format, "info");
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            rt.block_on(serve(config))
        }
        Command::Dial { code, phone, lang, config, data_dir } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            init_logging(config.log_format, "warn");
            let msisdn = Msisdn::parse(&phone).map_err(|e| anyhow::anyhow!("--phone {phone}: {e}"))?;
            let lang = lang.map(|l| Locale::parse(&l)).transpose()?;
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            rt.block_on(dial(config, code, msisdn, lang))
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let app = match njia::server::build(&config).await {
        Ok(app) => app,
        Err(njia::server::StartError::Check(problems)) => {
            eprintln!("njia: refusing to start: the menus or locales have problems");
            return Ok(report(&problems, ""));
        }
        Err(e) => return Err(e.into()),
    };
    for w in &app.warnings {
        tracing::warn!("{w}");
    }
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "njia listening; Africa's Talking USSD at POST /ussd/africastalking");
    njia::server::serve(listener, app, njia::server::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn dial(config: Config, code: String, msisdn: Msisdn, lang: Option<Locale>) -> anyhow::Result<ExitCode> {
    let app = match njia::server::build(&config).await {
        Ok(app) => app,
        Err(njia::server::StartError::Check(problems)) => return Ok(report(&problems, "")),
        Err(e) => return Err(e.into()),
    };
    let hub = &app.state.hub;
    if let Some(l) = lang {
        hub.store.set_language(msisdn, l).await?;
    }
    let stdin = std::io::stdin();
    let echo = !stdin.is_terminal();
    let d = njia::dial::Dial { code: &code, msisdn, limit: config.screen_limit, echo };
    njia::dial::run(hub, d, stdin.lock(), std::io::stdout().lock()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Prints problems (errors and warnings) and returns the exit code `njia check` promises.
fn report(problems: &[Problem], ok_line: &str) -> ExitCode {
    for p in problems {
        eprintln!("{p}");
    }
    let (errors, warnings) = njia::check::count_by_severity(problems);
    if errors > 0 {
        eprintln!("{errors} error(s), {warnings} warning(s)");
        ExitCode::FAILURE
    } else {
        if !ok_line.is_empty() {
            println!("{ok_line} ({warnings} warning(s))");
        }
        ExitCode::SUCCESS
    }
}

fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

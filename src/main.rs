//! The `njia` binary: parses the command line and configuration, then calls the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use njia::config::{Config, LogFormat};
use njia::diag::Problem;
use njia::lifecycle::{JobState, RequestStatus};
use njia::types::{Locale, Msisdn, Reference};

/// mimalloc instead of glibc's allocator: a hop makes a few dozen small allocations, and glibc
/// spent about 14 % of the server's instructions per hop on them (callgrind, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// Answer USSD and callbacks only; leave the hand-off's jobs to other instances.
        #[arg(long)]
        no_dispatcher: bool,
    },
    /// Check menus and locales; print every problem as file:line:column; exit 1 on any error.
    Check {
        /// Menus folder [default: the configuration's, `menus`].
        #[arg(long)]
        menus: Option<PathBuf>,
        /// Locales folder [default: the configuration's, `locales`].
        #[arg(long)]
        locales: Option<PathBuf>,
        /// Check every menu against this screen limit instead of its channels' limits.
        #[arg(long)]
        limit: Option<usize>,
        /// Configuration file whose channels (limits and menus) to check against; without one,
        /// the embedded default: every dialect, Nalo at 120 characters, the others at 160.
        #[arg(long)]
        config: Option<PathBuf>,
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
        /// Seconds to wait after the session for the request's SMS (payment, delivery).
        #[arg(long, default_value_t = 30)]
        wait: u64,
        /// Walk over HTTP in this channel's wire format (a dialect or channel name such as
        /// hubtel or nalo), printing every request and reply as the telco sends and reads them.
        #[arg(long)]
        dialect: Option<String>,
    },
    /// Submitted requests: list them, or show one with its whole history.
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The hand-off's jobs: list them (dead letters with --state dead), replay a dead one.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// SMS sent to citizens (in sandbox mode: recorded, not sent), and those that failed for good.
    Sms {
        #[command(subcommand)]
        command: SmsCommand,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Which store the administration commands read (the server's, from the same config).
#[derive(clap::Args)]
struct StoreArgs {
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum RequestsCommand {
    /// The newest requests.
    List {
        /// Only requests in this status (received, payment_pending, paid, payment_failed,
        /// payment_unknown, fulfilling, fulfilled, rejected, notified).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One request: fields, every transition with its time, payment attempts, jobs, SMS.
    Show {
        reference: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    List {
        /// ready, running, done or dead.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Put a dead job back in the queue (its failure count starts again).
    Retry { id: i64 },
}

#[derive(Subcommand)]
enum SmsCommand {
    /// The newest SMS, with their delivery status.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only SMS whose delivery failed for good, with the reason.
        #[arg(long)]
        failed: bool,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Once logging is set up, the last word is a log line too (JSON under
            // log_format = "json"), so a log collector sees why the process stopped.
            if tracing::dispatcher::has_been_set() {
                tracing::error!(error = %format!("{e:#}"), "njia stopped");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { menus, locales, limit, config } => {
            let config = Config::load(config.as_deref())?;
            // An explicit --limit checks every menu against it; otherwise each menu is checked
            // at the smallest limit of the channels that may reach it.
            let channels = match limit {
                Some(_) => Vec::new(),
                None => njia::channel::layout(&config).map_err(anyhow::Error::msg)?,
            };
            let problems = njia::check::check(&njia::check::Options {
                menus_dir: menus.as_deref().unwrap_or(&config.menus_dir),
                locales_dir: locales.as_deref().unwrap_or(&config.locales_dir),
                limit: limit.unwrap_or(config.screen_limit),
                channels: &njia::channel::screen_limits(&channels),
                fallback: &config.fallback_locales,
                lookups_dir: config.lookups_dir.as_deref(),
                http_backends: &config.http_backends(),
            });
            Ok(report(&problems, "ok: menus and locales pass every check"))
        }
        Command::Serve { config, listen, data_dir, no_dispatcher } => {
            let mut config = Config::load(config.as_deref())?;
            if no_dispatcher {
                config.dispatcher.enabled = false;
            }
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
        Command::Requests { command, store } => admin(store, |s| async move {
            match command {
                RequestsCommand::List { status, limit, json } => {
                    let status = status
                        .map(|st| {
                            RequestStatus::parse(&st).ok_or_else(|| anyhow::anyhow!("--status {st}: no such status"))
                        })
                        .transpose()?;
                    print!("{}", njia::admin::requests_list(s.as_ref(), status, limit, json).await?);
                    Ok(ExitCode::SUCCESS)
                }
                RequestsCommand::Show { reference, json } => {
                    let r = Reference::parse(&reference)
                        .ok_or_else(|| anyhow::anyhow!("{reference:?} is not a reference like NJ-7K2QX"))?;
                    match njia::admin::request_show(s.as_ref(), &r, json).await? {
                        Some(text) => {
                            print!("{text}");
                            Ok(ExitCode::SUCCESS)
                        }
                        None => {
                            eprintln!("no request {}", r.as_str());
                            Ok(ExitCode::FAILURE)
                        }
                    }
                }
            }
        }),
        Command::Jobs { command, store } => admin(store, |s| async move {
            match command {
                JobsCommand::List { state, limit, json } => {
                    let state = state
                        .map(|st| JobState::parse(&st).ok_or_else(|| anyhow::anyhow!("--state {st}: no such state")))
                        .transpose()?;
                    print!("{}", njia::admin::jobs_list(s.as_ref(), state, limit, json).await?);
                    Ok(ExitCode::SUCCESS)
                }
                JobsCommand::Retry { id } => {
                    if s.retry_job(id).await? {
                        println!("job {id} is queued again");
                        Ok(ExitCode::SUCCESS)
                    } else {
                        eprintln!("job {id} is not a dead job (see `njia jobs list --state dead`)");
                        Ok(ExitCode::FAILURE)
                    }
                }
            }
        }),
        Command::Sms { command: SmsCommand::List { limit, failed, json }, store } => admin(store, |s| async move {
            let out = if failed {
                njia::admin::sms_failed(s.as_ref(), limit, json).await?
            } else {
                njia::admin::sms_list(s.as_ref(), limit, json).await?
            };
            print!("{out}");
            Ok(ExitCode::SUCCESS)
        }),
        Command::Dial { code, phone, lang, config, data_dir, wait, dialect } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            init_logging(config.log_format, "warn");
            let msisdn = Msisdn::parse(&phone).map_err(|e| anyhow::anyhow!("--phone {phone}: {e}"))?;
            let lang = lang.map(|l| Locale::parse(&l)).transpose()?;
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            rt.block_on(dial(config, code, msisdn, lang, std::time::Duration::from_secs(wait), dialect))
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
    let channels: Vec<String> =
        app.state.channels.iter().map(|c| format!("{} ({}) at {}", c.name, c.dialect.name, c.path)).collect();
    tracing::info!(addr = %listener.local_addr()?, channels = %channels.join(", "), "njia listening");
    njia::server::serve(listener, app, njia::server::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Opens the store the configuration names and runs one administration command on it.
fn admin<F, Fut>(args: StoreArgs, f: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(std::sync::Arc<dyn njia::store::Store>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    init_logging(config.log_format, "warn");
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    rt.block_on(async {
        let store = njia::server::open_store(&config).await?;
        f(store).await
    })
}

async fn dial(
    config: Config,
    code: String,
    msisdn: Msisdn,
    lang: Option<Locale>,
    wait: std::time::Duration,
    dialect: Option<String>,
) -> anyhow::Result<ExitCode> {
    let app = match njia::server::build(&config).await {
        Ok(app) => app,
        Err(njia::server::StartError::Check(problems)) => return Ok(report(&problems, "")),
        Err(e) => return Err(e.into()),
    };
    let state = std::sync::Arc::clone(&app.state);
    let hub = state.hub();
    if let Some(l) = lang {
        hub.store.set_language(msisdn, l).await?;
    }
    // The terminal phone carries its request through like the server would: the dispatcher
    // runs beside it (inside the loopback server when walking a wire format), and the
    // request's SMS is printed when it is sent.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut running: Option<tokio::task::JoinHandle<()>> = None;
    let wire = match &dialect {
        None => {
            if let Some(d) = app.dispatcher.clone() {
                let wake = std::sync::Arc::clone(&app.wake);
                running = Some(tokio::spawn(d.run(stop_rx, wake)));
            }
            None
        }
        Some(name) => {
            let channel = state
                .channels
                .by_name(name)
                .or_else(|| state.channels.iter().find(|c| c.dialect.name == name))
                .cloned()
                .ok_or_else(|| {
                    let known: Vec<&str> = state.channels.iter().map(|c| &*c.name).collect();
                    anyhow::anyhow!("--dialect {name}: no such channel (served: {})", known.join(", "))
                })?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let mut stop = stop_rx;
            let shutdown = async move {
                let _ = stop.changed().await;
            };
            running = Some(tokio::spawn(async move {
                if let Err(e) = njia::server::serve(listener, app, shutdown).await {
                    eprintln!("error: loopback server: {e}");
                }
            }));
            Some((addr, channel))
        }
    };
    let started = njia::store::now_ms();
    let stdin = std::io::stdin();
    let echo = !stdin.is_terminal();
    let limit = wire.as_ref().map_or(config.screen_limit, |(_, c)| c.limit);
    let d = njia::dial::Dial { code: &code, msisdn, limit, echo };
    let transport = match &wire {
        None => njia::dial::Transport::Direct,
        Some((addr, channel)) => njia::dial::Transport::Wire { addr: *addr, channel },
    };
    njia::dial::run(&hub, d, transport, stdin.lock(), std::io::stdout().lock()).await?;
    let mine = hub.store.recent_requests(Some(msisdn), 1).await?;
    if let Some(r) = mine.into_iter().find(|r| r.created_at_ms >= started)
        && config.dispatcher.enabled
        && !wait.is_zero()
    {
        println!(
            "-- request {} stored; waiting up to {}s for its SMS (Ctrl-C to stop) --",
            r.reference.as_str(),
            wait.as_secs()
        );
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            let sms = hub.store.sms(Some(r.id), 10).await?;
            if let Some(s) = sms.first() {
                println!("SMS to {}: {}", s.record.msisdn.masked(), s.record.text);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    let _ = stop_tx.send(true);
    if let Some(task) = running {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(20), task).await;
    }
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
    njia::logging::init(format, default);
}

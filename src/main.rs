//! The `njia` binary: parses the command line and configuration, then calls the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use njia::config::{Config, LogFormat};
use njia::diag::Problem;
use njia::lifecycle::{JobState, RequestStatus};
use njia::types::{Locale, Msisdn, Reference};

/// mimalloc instead of glibc's allocator: a hop makes a few dozen small allocations, and glibc
/// spent about 14 % of the server's instructions per hop on them (callgrind, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What `njia --help` lists after the commands: the environment the configuration reads.
const ENVIRONMENT: &str = "\
Environment:
  DATABASE_URL     PostgreSQL instead of SQLite, e.g. postgres://njia@db:5432/njia (overrides
                   database_url in the configuration file); every command then uses that database
  NJIA_LISTEN      the address serve listens on (overrides listen; --listen overrides it)
  NJIA_DATA_DIR    the directory of the SQLite store (overrides data_dir; --data-dir overrides it)
  NJIA_LOG_FORMAT  text or json log lines (overrides log_format)
  RUST_LOG         log levels, e.g. debug or njia=debug (default: info for serve, warn otherwise)

Each setting comes from the flag if given, else the environment, else the --config file, else the
built-in default. `njia COMMAND --help` describes a command's flags.";

#[derive(Parser)]
#[command(
    name = "njia",
    version,
    about = "USSD and SMS channel server for government services",
    after_help = ENVIRONMENT
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `njia schema KIND`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemaKind {
    Menu,
    Template,
    Agency,
}

/// `njia graph --format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum GraphFormat {
    Dot,
    Mermaid,
    Svg,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (embedded defaults: loopback address, SQLite in ./data, no config file needed).
    ///
    /// SIGTERM or Ctrl-C drains in-flight requests; SIGHUP reloads menus and locales. Creates
    /// the store (and the data directory) on its first start.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address to listen on [env: NJIA_LISTEN] [default: 127.0.0.1:8384, or listen in the
        /// configuration file]. Beyond loopback every channel needs authentication.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        #[command(flatten)]
        menus: MenuArgs,
        /// Answer USSD and callbacks only; leave the hand-off's jobs to other instances.
        #[arg(long)]
        no_dispatcher: bool,
    },
    /// Serve the administrators' console alone, on loopback, for editing menus on a laptop.
    ///
    /// Sandbox mode (simulated M-Pesa, agencies and SMS) on a scratch store deleted when it
    /// stops; the channels answer too, so the menus can be dialled. Open the printed address in
    /// a browser. `njia serve` serves the same console at /console beside the live channels.
    Console {
        /// Configuration file (TOML) for channels, limits and locales [default: none]. Its store,
        /// [admin], [daraja], [sms] and [backends.*] are not used.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Loopback address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8385")]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        menus: MenuArgs,
    },
    /// Check menus and locales; print every problem as file:line:column; exit 1 on any error.
    Check {
        #[command(flatten)]
        menus: MenuArgs,
        /// Check every menu against this screen limit (GSM-7 characters) instead of its
        /// channels' limits.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Configuration file whose channels (limits and menus) to check against; without one,
        /// the embedded default: every dialect, Nalo at 120 characters, the others at 160.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Draw a menu as a graph of its screens: Graphviz DOT, Mermaid or SVG, on stdout.
    ///
    /// Screens are drawn by kind, the start screen marked, and a screen the start cannot reach
    /// or with no way out highlighted (as check reports them). Draws what compiles, so a draft
    /// with an unreachable screen can be looked at.
    Graph {
        /// The menu to draw, by id [default: the only one, or the first by file name].
        #[arg(long, value_name = "ID")]
        menu: Option<String>,
        /// Only one catalogue service's flow, by its code.
        #[arg(long, value_name = "CODE")]
        service: Option<u32>,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        #[command(flatten)]
        menus: MenuArgs,
    },
    /// Print the JSON Schema of a kind of menu file, for editors (see README "Editing with a schema").
    ///
    /// Derived from the types the loader reads the files into, so an editor completes and flags
    /// what the loader accepts. --write DIR writes all three as DIR/<kind>.json.
    Schema {
        /// menu (menus/*.toml), template (menus/templates/*.toml) or agency (menus/catalogue/*.toml).
        #[arg(value_enum, default_value_t = SchemaKind::Menu)]
        kind: SchemaKind,
        /// Write menu.json, template.json and agency.json into this directory instead.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
    /// Run journey tests: walks written as data (tests/journeys/*.toml), each screen as expected.
    ///
    /// Serves the menus in sandbox mode on a scratch store (nothing reaches M-Pesa, an agency,
    /// an SMS or the live store), gives every journey its own phone number, and prints each
    /// journey's result, the first divergence with its file:line and a diff; exit 1 on any.
    Test {
        /// Journey files, or folders of them [default: tests/journeys].
        paths: Vec<PathBuf>,
        #[command(flatten)]
        menus: MenuArgs,
        /// Configuration file whose channels (dialects, limits) the journeys walk.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// A terminal phone: dial a code and walk the menu, one input per line (interactive or from stdin).
    ///
    /// Runs the server's hub (or, with --dialect, the server itself on a loopback port) on the
    /// store the configuration names, creating it if needed, then waits for the request's SMS.
    Dial {
        /// The code as dialled, e.g. '*384#' or '*384*1#'.
        code: String,
        /// The caller's phone number (Kenyan, e.g. 0711223344 or +254711223344).
        #[arg(long, value_name = "NUMBER", default_value = "+254700000001")]
        phone: String,
        /// Remember this language for the phone before dialling (skips the first-use question):
        /// one of the folders of the locales directory, e.g. sw or en.
        #[arg(long, value_name = "LOCALE")]
        lang: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        menus: MenuArgs,
        /// Seconds to wait after the session for the request's SMS (payment, delivery); 0 does
        /// not wait.
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        wait: u64,
        /// Walk over HTTP in this channel's wire format (a dialect or channel name such as
        /// hubtel or nalo), printing every request and reply as the telco sends and reads them.
        #[arg(long, value_name = "NAME")]
        dialect: Option<String>,
        /// Append the walk to this journey file, every screen expected as shown (`njia test`
        /// runs it).
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
    },
    /// Copy the embedded store (SQLite) into a new file, while the server runs.
    ///
    /// The copy is the database as of one commit, checked before it takes its name. With
    /// PostgreSQL, back up the database with pg_dump or continuous archiving instead (README).
    Backup {
        /// The backup file to write; it must not exist.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Put a backup in place as the store of the data directory. Stop the server first.
    ///
    /// Checks the backup, then copies it in. A data directory that already holds a database is
    /// refused unless --replace, which keeps that database beside it.
    Restore {
        /// The backup file, as `njia backup --to` wrote it.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Replace the database already in the data directory (moved aside, not deleted).
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove personal data past its retention (retention_days): numbers, fields and SMS texts
    /// of finished requests, languages and recent services of numbers not seen since.
    ///
    /// References, amounts, receipts, statuses and times stay. Unfinished requests, those held
    /// for review or with a refund to decide, and those with a job still to run are never
    /// touched. The server does the same daily; this runs it now, or shows what it would do.
    Purge {
        /// Show what would be removed, by kind, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Purge what is older than this many days [default: retention_days from the
        /// configuration, 365].
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
        older_than: Option<u32>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Submitted requests: list them, or show one with its whole history.
    ///
    /// Reads the store serve writes (the same --config, --data-dir and DATABASE_URL); refuses,
    /// and creates nothing, when there is none.
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// One Kenyan day's payment attempts for the accountant: state and M-Pesa receipt, totals by
    /// service and status, and the exceptions to look at.
    ///
    /// The day is midnight to midnight in Nairobi (EAT); an attempt belongs to the day it was
    /// created. Exceptions: paid but not fulfilled, fulfilled but not paid, held for review,
    /// unknown, refunds to review. Exit status 0 without exceptions, 3 with, 1 on an error: a
    /// cron job can alert on it. Reads the store serve writes, like `njia requests`.
    Reconcile {
        /// The day, YYYY-MM-DD (Kenyan time).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = kenyan_day)]
        date: i64,
        /// Print JSON instead of aligned text.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV (a header row, one row per attempt) instead of aligned text.
        #[arg(long)]
        csv: bool,
        /// Ask Daraja's STK Push Query about each exception's payment and show its answer beside
        /// the local state (changes nothing). Needs [daraja]; refused in sandbox mode.
        #[arg(long)]
        check_daraja: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Where citizens drop off: per screen shown, left, ended, abandoned and lookup failures;
    /// per service entered and completed; per day sessions started and completed.
    ///
    /// Reads the store serve writes (the same --config, --data-dir and DATABASE_URL) and the
    /// menus on disk (--menus). The server writes its figures every 10 seconds.
    Stats {
        /// The menu [default: the only one, or the first by file name].
        #[arg(long, value_name = "ID")]
        menu: Option<String>,
        /// Days back from today (Kenyan time), today included.
        #[arg(long, value_name = "N", default_value_t = 7)]
        days: i64,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        menus: MenuArgs,
    },
    /// The hand-off's jobs: list them (dead letters with --state dead), replay a dead one.
    ///
    /// Reads the store serve writes (the same --config, --data-dir and DATABASE_URL); refuses,
    /// and creates nothing, when there is none.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// SMS sent to citizens (in sandbox mode: recorded, not sent), and those that failed for good.
    ///
    /// Reads the store serve writes (the same --config, --data-dir and DATABASE_URL); refuses,
    /// and creates nothing, when there is none.
    Sms {
        #[command(subcommand)]
        command: SmsCommand,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The national catalogue of services: list, show, stats, and a spreadsheet round trip.
    ///
    /// Reads the menus and locales as `njia check` does (the same --menus, --locales and
    /// --config) and refuses, with check's problems, when they do not pass.
    Catalogue {
        #[command(subcommand)]
        command: CatalogueCommand,
        #[command(flatten)]
        menus: CatalogueArgs,
    },
}

/// Where the catalogue is read from, as `check` finds menus and locales.
#[derive(clap::Args)]
struct CatalogueArgs {
    /// Menus folder [default: ./menus, or menus_dir in the configuration file].
    #[arg(long, global = true, value_name = "DIR")]
    menus: Option<PathBuf>,
    /// Locales folder [default: ./locales, or locales_dir in the configuration file].
    #[arg(long, global = true, value_name = "DIR")]
    locales: Option<PathBuf>,
    /// Configuration file whose channels set the screen limits (as for `check`).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum CatalogueCommand {
    /// Every service: code, agency, id, flow, payment and name.
    List {
        /// Only this agency's services (its id, e.g. kra).
        #[arg(long, value_name = "AGENCY")]
        agency: Option<String>,
        /// Only services in this category (its id, e.g. land).
        #[arg(long, value_name = "CATEGORY")]
        category: Option<String>,
    },
    /// One service: its row, and its screens in every language at their worst case with their
    /// size against the screen limit.
    Show {
        /// The service's code, as dialled after the menu's code (e.g. 3011).
        code: u32,
    },
    /// Services per agency, category and template; paid and free; missing translations.
    Stats,
    /// Write the catalogue as a spreadsheet: one row per service.
    Export {
        /// CSV (the only format): to FILE, or to standard output without one.
        #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-", required = true)]
        csv: Option<PathBuf>,
    },
    /// Search words that found no service, per day and word (never with a phone number), most
    /// searched first: what citizens look for that the catalogue does not name.
    Misses {
        /// How many days back, today included.
        #[arg(long, default_value_t = 30, value_name = "N")]
        days: u32,
        /// Directory of the SQLite store, as for `requests` [env: NJIA_DATA_DIR] [default:
        /// ./data, or data_dir in the configuration file].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Replace the catalogue with a spreadsheet's rows: writes nothing unless every row is good
    /// and the whole catalogue then passes `njia check`; otherwise names every bad row.
    Import {
        /// The CSV file, as `export --csv` writes it (and a spreadsheet saves it).
        #[arg(long, value_name = "FILE", required = true)]
        csv: PathBuf,
    },
}

/// The configuration file and the store: the server's, for the commands that read it.
#[derive(clap::Args)]
struct StoreArgs {
    /// Configuration file (TOML) [default: none: the built-in defaults and the environment].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of the SQLite store, njia.sqlite3 [env: NJIA_DATA_DIR] [default: ./data, or
    /// data_dir in the configuration file]. Unused when DATABASE_URL names PostgreSQL.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// The configuration file, with these flags over it.
    fn load(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(d) = &self.data_dir {
            config.data_dir.clone_from(d);
        }
        Ok(config)
    }
}

/// Where menus and locales are read from, over the configuration's `menus_dir` and
/// `locales_dir`.
#[derive(clap::Args)]
struct MenuArgs {
    /// Menus folder, one TOML file per menu [default: ./menus, or menus_dir in the
    /// configuration file].
    #[arg(long, value_name = "DIR")]
    menus: Option<PathBuf>,
    /// Locales folder, one folder per language (sw, en), each holding njia.ftl and sms.ftl
    /// (system and SMS messages) besides the menus' own .ftl files [default: ./locales, or
    /// locales_dir in the configuration file].
    #[arg(long, value_name = "DIR")]
    locales: Option<PathBuf>,
}

impl MenuArgs {
    fn apply(self, config: &mut Config) {
        if let Some(m) = self.menus {
            config.menus_dir = m;
        }
        if let Some(l) = self.locales {
            config.locales_dir = l;
        }
    }
}

/// `--status`: one of [`RequestStatus::ALL`], which clap lists in the help and in its error.
fn request_status() -> impl TypedValueParser<Value = RequestStatus> {
    PossibleValuesParser::new(RequestStatus::ALL.map(RequestStatus::as_str))
        .try_map(|s: String| RequestStatus::parse(&s).ok_or("not a request status"))
}

/// `--date`: a real date, as the Kenyan day it names.
fn kenyan_day(s: &str) -> Result<i64, String> {
    njia::clock::parse_day(s).ok_or_else(|| format!("{s:?} is not a date: give the day as YYYY-MM-DD, e.g. 2026-12-05"))
}

/// `--state`: one of [`JobState::ALL`].
fn job_state() -> impl TypedValueParser<Value = JobState> {
    PossibleValuesParser::new(JobState::ALL.map(JobState::as_str))
        .try_map(|s: String| JobState::parse(&s).ok_or("not a job state"))
}

#[derive(Subcommand)]
enum RequestsCommand {
    /// The newest requests; REFUND REVIEW marks paid requests an agency rejected.
    List {
        /// Only requests in this status.
        #[arg(long, value_name = "STATUS", value_parser = request_status())]
        status: Option<RequestStatus>,
        /// How many to list, newest first.
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: u32,
        /// Print JSON instead of aligned text.
        #[arg(long)]
        json: bool,
    },
    /// One request: fields, every transition with its time, payment attempts, jobs, SMS.
    Show {
        /// The request's reference, e.g. NJ-7K2QX.
        #[arg(value_name = "REF")]
        reference: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// The newest jobs, with their state, tries and last error.
    List {
        /// Only jobs in this state (dead: the dead letters `njia jobs retry` replays).
        #[arg(long, value_name = "STATE", value_parser = job_state())]
        state: Option<JobState>,
        /// How many to list, newest first.
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: u32,
        /// Print JSON instead of aligned text.
        #[arg(long)]
        json: bool,
    },
    /// Put a dead job back in the queue (its failure count starts again).
    Retry {
        /// The job's id, as `njia jobs list --state dead` shows it.
        id: i64,
    },
}

#[derive(Subcommand)]
enum SmsCommand {
    /// The newest SMS, with their delivery status.
    List {
        /// How many to list, newest first.
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: u32,
        /// Only SMS whose delivery failed for good, with the reason.
        #[arg(long)]
        failed: bool,
        /// Print JSON instead of aligned text.
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
        Command::Check { menus, limit, config } => {
            let mut config = Config::load(config.as_deref())?;
            menus.apply(&mut config);
            // An explicit --limit checks every menu against it; otherwise each menu is checked
            // at the smallest limit of the channels that may reach it.
            let channels = match limit {
                Some(_) => Vec::new(),
                None => njia::channel::layout(&config).map_err(anyhow::Error::msg)?,
            };
            let problems = njia::check::check(&njia::check::Options {
                menus_dir: &config.menus_dir,
                locales_dir: &config.locales_dir,
                limit: limit.unwrap_or(config.screen_limit),
                channels: &njia::channel::screen_limits(&channels),
                fallback: &config.fallback_locales,
                lookups_dir: config.lookups_dir.as_deref(),
                http_backends: &config.http_backends(),
            });
            Ok(report(&problems, "ok: menus and locales pass every check"))
        }
        Command::Serve { store, listen, menus, no_dispatcher } => {
            let mut config = store.load()?;
            menus.apply(&mut config);
            if no_dispatcher {
                config.dispatcher.enabled = false;
            }
            if let Some(l) = listen {
                config.listen = l;
            }
            init_logging(config.log_format, "info");
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            rt.block_on(serve(config))
        }
        Command::Console { config, listen, menus } => {
            let mut config = Config::load(config.as_deref())?;
            menus.apply(&mut config);
            let (config, _scratch) = njia::console::local(&config, listen)?;
            init_logging(config.log_format, "info");
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            rt.block_on(console(config))
        }
        Command::Stats { menu, days, json, store, menus } => {
            let mut dirs = store.load()?;
            menus.apply(&mut dirs);
            let (loaded, problems) = njia::menu::load_dir(&dirs.menus_dir);
            let chosen = match &menu {
                Some(id) => loaded.into_iter().find(|m| &m.id == id),
                None => loaded.into_iter().next(),
            };
            let Some(m) = chosen else {
                for p in &problems {
                    eprintln!("{p}");
                }
                anyhow::bail!("no menu {} in {}", menu.as_deref().unwrap_or("at all"), dirs.menus_dir.display());
            };
            admin(store, |s| async move {
                let today = njia::clock::eat_day(njia::store::now_ms());
                let f = njia::stats::figures(s.as_ref(), &m, today - days.max(1) + 1).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&f)?);
                } else {
                    print!("{}", njia::stats::text(&f));
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Backup { to, store } => {
            let config = sqlite_only(&store, "backup")?;
            let copied = njia::store::sqlite::backup::backup(&config.data_dir, &to)?;
            println!("backed up {copied}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { from, replace, store } => {
            let config = sqlite_only(&store, "restore")?;
            let now = njia::store::now_ms();
            let copied = njia::store::sqlite::backup::restore(&from, &config.data_dir, replace, now)?;
            println!("restored {copied}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge { dry_run, older_than, json, store } => {
            let days = match older_than {
                Some(d) => d,
                None => store.load()?.retention_days,
            };
            if days == 0 {
                anyhow::bail!(
                    "retention_days is 0 in the configuration (personal data is kept): give --older-than DAYS to purge \
                     anyway"
                );
            }
            admin(store, |s| async move {
                print!("{}", njia::admin::purge(s.as_ref(), days, njia::store::now_ms(), dry_run, json).await?);
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Requests { command, store } => admin(store, |s| async move {
            match command {
                RequestsCommand::List { status, limit, json } => {
                    print!("{}", njia::admin::requests_list(s.as_ref(), status, limit, json).await?);
                    Ok(ExitCode::SUCCESS)
                }
                RequestsCommand::Show { reference, json } => {
                    let r = Reference::parse(&reference).ok_or_else(|| {
                        anyhow::anyhow!(
                            "{reference:?} is not a reference: give one like NJ-7K2QX, as `njia requests list` \
                             shows them"
                        )
                    })?;
                    match njia::admin::request_show(s.as_ref(), &r, json).await? {
                        Some(text) => {
                            print!("{text}");
                            Ok(ExitCode::SUCCESS)
                        }
                        None => {
                            eprintln!(
                                "error: there is no request {}; `njia requests list` shows the newest",
                                r.as_str()
                            );
                            Ok(ExitCode::FAILURE)
                        }
                    }
                }
            }
        }),
        Command::Reconcile { date, json, csv, check_daraja, store } => {
            let config = store.load()?;
            if check_daraja && config.is_sandbox() {
                anyhow::bail!(
                    "--check-daraja asks Daraja, and this configuration is in sandbox mode (no [daraja], or sandbox = \
                     true): give the production configuration with --config"
                );
            }
            admin(store, |s| async move {
                let mut report = njia::reconcile::day(s.as_ref(), date, njia::store::now_ms()).await?;
                if check_daraja && let Some(daraja) = njia::server::daraja_client(&config, &s)? {
                    njia::reconcile::check_daraja(&mut report, &daraja).await;
                }
                let out = if json {
                    njia::reconcile::json(&report)
                } else if csv {
                    njia::reconcile::csv(&report)?
                } else {
                    njia::reconcile::text(&report)
                };
                print!("{out}");
                Ok(if report.has_exceptions() {
                    ExitCode::from(njia::reconcile::EXIT_EXCEPTIONS)
                } else {
                    ExitCode::SUCCESS
                })
            })
        }
        Command::Jobs { command, store } => admin(store, |s| async move {
            match command {
                JobsCommand::List { state, limit, json } => {
                    print!("{}", njia::admin::jobs_list(s.as_ref(), state, limit, json).await?);
                    Ok(ExitCode::SUCCESS)
                }
                JobsCommand::Retry { id } => {
                    if s.retry_job(id).await? {
                        println!("job {id} is queued again");
                        return Ok(ExitCode::SUCCESS);
                    }
                    match s.job(id).await? {
                        None => eprintln!("error: job {id} does not exist; `njia jobs list` shows the jobs there are"),
                        Some(job) => eprintln!(
                            "error: job {id} is not a dead job (it is {}): only a dead job can be retried; \
                             `njia jobs list --state dead` shows them",
                            job.state.as_str()
                        ),
                    }
                    Ok(ExitCode::FAILURE)
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
        Command::Catalogue { command: CatalogueCommand::Misses { days, data_dir }, menus } => {
            admin(StoreArgs { config: menus.config, data_dir }, move |store| async move {
                let today = njia::clock::eat_day(njia::store::now_ms());
                let misses = store.misses(today - i64::from(days.max(1)) + 1).await?;
                print!("{}", njia::catalogue_admin::misses_table(&misses));
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Catalogue { command, menus } => catalogue(command, menus),
        Command::Graph { menu, service, format, menus } => {
            let mut config = Config::load(None)?;
            menus.apply(&mut config);
            let (loaded, problems) = njia::menu::load_dir(&config.menus_dir);
            let chosen = match &menu {
                Some(id) => loaded.iter().find(|m| &m.id == id),
                None => loaded.first(),
            };
            let Some(m) = chosen else {
                for p in &problems {
                    eprintln!("{p}");
                }
                let known: Vec<&str> = loaded.iter().map(|m| m.id.as_str()).collect();
                anyhow::bail!(
                    "no menu {} in {} (menus that load: {})",
                    menu.as_deref().unwrap_or("at all"),
                    config.menus_dir.display(),
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                );
            };
            let format = match format {
                GraphFormat::Dot => njia::graph::Format::Dot,
                GraphFormat::Mermaid => njia::graph::Format::Mermaid,
                GraphFormat::Svg => njia::graph::Format::Svg,
            };
            print!("{}", njia::graph::draw(m, service, format)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { kind, write } => {
            use njia::menu::model::FileKind;
            match write {
                Some(dir) => {
                    std::fs::create_dir_all(&dir).with_context(|| format!("--write {}", dir.display()))?;
                    for k in FileKind::ALL {
                        let file = dir.join(format!("{}.json", k.name()));
                        std::fs::write(&file, k.schema()).with_context(|| format!("writing {}", file.display()))?;
                        println!("{}", file.display());
                    }
                }
                None => {
                    let k = match kind {
                        SchemaKind::Menu => FileKind::Menu,
                        SchemaKind::Template => FileKind::Template,
                        SchemaKind::Agency => FileKind::Agency,
                    };
                    print!("{}", k.schema());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Test { paths, menus, config } => {
            let mut config = Config::load(config.as_deref())?;
            menus.apply(&mut config);
            let paths = if paths.is_empty() { vec![PathBuf::from("tests/journeys")] } else { paths };
            let (journeys, problems) = njia::journey::load(&paths);
            if !problems.is_empty() {
                return Ok(report(&problems, ""));
            }
            init_logging(config.log_format, "error");
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            let outcomes = match rt.block_on(njia::journey::run(&config, &journeys)) {
                Ok(o) => o,
                Err(njia::journey::RunError::Check(problems)) => return Ok(report(&problems, "")),
                Err(e) => return Err(e.into()),
            };
            let all = njia::journey::report(&journeys, &outcomes, &mut std::io::stdout().lock())?;
            Ok(if all { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Dial { code, phone, lang, store, menus, wait, dialect, record } => {
            let mut config = store.load()?;
            menus.apply(&mut config);
            let msisdn = Msisdn::parse(&phone).map_err(|e| anyhow::anyhow!("--phone {phone}: {e}"))?;
            let lang = lang.map(|l| dial_language(&l, &config.locales_dir)).transpose()?;
            init_logging(config.log_format, "warn");
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            let wait = std::time::Duration::from_secs(wait);
            // A recording is walked as `njia test` will replay it: in sandbox mode on a scratch
            // store, so no live data (this number's language, recent services, a dropped
            // session, a real payment) ends up in a file meant to be committed.
            let (config, _scratch) = match &record {
                Some(_) => {
                    let (c, s) = njia::journey::sandboxed(&config)?;
                    (c, Some(s))
                }
                None => (config, None),
            };
            rt.block_on(dial(config, code, msisdn, lang, wait, dialect, record))
        }
    }
}

/// `njia catalogue …`: loads the menus as `check` does, then runs one catalogue command.
fn catalogue(command: CatalogueCommand, args: CatalogueArgs) -> anyhow::Result<ExitCode> {
    use njia::catalogue_admin::{self as cat, CatalogueError};
    let mut config = Config::load(args.config.as_deref())?;
    MenuArgs { menus: args.menus, locales: args.locales }.apply(&mut config);
    let channels = njia::channel::layout(&config).map_err(anyhow::Error::msg)?;
    let limits = njia::channel::screen_limits(&channels);
    let backends = config.http_backends();
    let opts = njia::check::Options {
        menus_dir: &config.menus_dir,
        locales_dir: &config.locales_dir,
        limit: config.screen_limit,
        channels: &limits,
        fallback: &config.fallback_locales,
        lookups_dir: config.lookups_dir.as_deref(),
        http_backends: &backends,
    };
    let result = match command {
        CatalogueCommand::Import { csv } => {
            let text = std::fs::read_to_string(&csv).with_context(|| format!("reading {}", csv.display()))?;
            cat::import_csv(&opts, &text).map(|done| {
                let mut out = format!("imported {} service(s) from {}\n", done.services, csv.display());
                if done.written.is_empty() {
                    out.push_str("nothing changed: no file written\n");
                }
                for f in &done.written {
                    out.push_str(&format!("wrote {}\n", f.display()));
                }
                out
            })
        }
        command => cat::Admin::open(&opts).and_then(|admin| match command {
            CatalogueCommand::List { agency, category } => cat::list(&admin, agency.as_deref(), category.as_deref()),
            CatalogueCommand::Show { code } => cat::show(&admin, code),
            CatalogueCommand::Stats => cat::stats(&admin),
            CatalogueCommand::Export { csv } => cat::export_csv(&admin).and_then(|text| match csv {
                Some(path) if path.as_os_str() != "-" => std::fs::write(&path, text)
                    .map(|()| format!("wrote {} service(s) to {}\n", admin.catalogue().services.len(), path.display()))
                    .map_err(|source| CatalogueError::Io { what: format!("writing {}", path.display()), source }),
                _ => Ok(text),
            }),
            // Import opens the catalogue itself, in its own arm above; misses read the store.
            CatalogueCommand::Import { .. } | CatalogueCommand::Misses { .. } => Ok(String::new()),
        }),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(CatalogueError::Check(problems)) => {
            eprintln!("error: the menus or locales do not pass `njia check`:");
            Ok(report(&problems, ""))
        }
        Err(CatalogueError::Rows(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("error: nothing was written: {} problem(s); fix the rows named and import again", problems.len());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

/// `dial --lang`: a language that has a folder in the locales directory, refused otherwise
/// with the ones there are (before anything is opened or created).
fn dial_language(lang: &str, locales_dir: &std::path::Path) -> anyhow::Result<Locale> {
    let mut known: Vec<String> = std::fs::read_dir(locales_dir)
        .with_context(|| format!("--lang {lang}: cannot read the locales directory {}", locales_dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().and_then(|n| Locale::parse(n).ok()))
        .map(|l| l.as_str().to_owned())
        .collect();
    known.sort();
    match Locale::parse(lang) {
        Ok(l) if known.iter().any(|k| k == l.as_str()) => Ok(l),
        _ => Err(anyhow::anyhow!(
            "--lang {lang}: there is no such locale in {} (available: {}); give one of those, or add a folder {} \
             with njia.ftl, sms.ftl and the menus' messages",
            locales_dir.display(),
            if known.is_empty() { "none".to_owned() } else { known.join(", ") },
            locales_dir.join(lang).display()
        )),
    }
}

/// `njia console`: the server on a sandboxed configuration, on loopback, with the console.
async fn console(config: Config) -> anyhow::Result<ExitCode> {
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    println!(
        "njia console: open http://{addr}/console (sandbox: nothing reaches M-Pesa, an agency or SMS; Ctrl-C stops)"
    );
    match njia::console::run(listener, &config, njia::server::shutdown_signal()).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(njia::server::RunError::Start(njia::server::StartError::Check(problems))) => {
            eprintln!("njia console: the menus or locales have problems");
            Ok(report(&problems, ""))
        }
        Err(e) => Err(e.into()),
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
    let mut app = app;
    njia::console::mount(&mut app, &config);
    njia::server::serve(listener, app, njia::server::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Opens the store the configuration names, only if it exists (no administration command
/// creates one), and runs one administration command on it.
/// The configuration of a command that works on the embedded store's file only.
fn sqlite_only(args: &StoreArgs, what: &str) -> anyhow::Result<Config> {
    let config = args.load()?;
    init_logging(config.log_format, "warn");
    if config.database_url.is_some() {
        anyhow::bail!(
            "njia {what} copies the embedded SQLite store, and DATABASE_URL names PostgreSQL: use pg_dump / pg_restore \
             or continuous archiving (see the README's \"Backup and restore\")"
        );
    }
    Ok(config)
}

fn admin<F, Fut>(args: StoreArgs, f: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(std::sync::Arc<dyn njia::store::Store>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let config = args.load()?;
    init_logging(config.log_format, "warn");
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    rt.block_on(async {
        let store = match njia::server::open_existing_store(&config).await {
            Ok(store) => store,
            Err(e @ njia::store::StoreError::Missing(_)) => {
                let what = if config.database_url.is_some() {
                    "Check DATABASE_URL (or database_url in the configuration file): it must name the database \
                     the server uses"
                } else {
                    "Check --data-dir (or NJIA_DATA_DIR, or data_dir in the configuration file): it must name the \
                     directory the server keeps its data in; if the server uses PostgreSQL, set DATABASE_URL as it \
                     does"
                };
                anyhow::bail!("{e}. {what}. Only `njia serve` (or `njia dial`) creates a database.");
            }
            Err(e) => return Err(e.into()),
        };
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
    record: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let app = match njia::server::build(&config).await {
        Ok(app) => app,
        Err(njia::server::StartError::Check(problems)) => return Ok(report(&problems, "")),
        Err(e) => return Err(e.into()),
    };
    let state = std::sync::Arc::clone(&app.state);
    let hub = state.hub();
    if let Some(l) = lang.clone() {
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
    let walked = njia::dial::run(&hub, d, transport, stdin.lock(), std::io::stdout().lock()).await?;
    if let Some(file) = &record {
        let name = format!("{code} {}", lang.as_ref().map_or("", |l| l.as_str()));
        let text = njia::journey::record(name.trim(), &code, lang.as_ref(), dialect.as_deref(), &walked);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .with_context(|| format!("--record {}", file.display()))?;
        std::io::Write::write_all(&mut f, text.as_bytes()).with_context(|| format!("--record {}", file.display()))?;
        println!("-- recorded as a journey in {} (njia test {} runs it) --", file.display(), file.display());
    }
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
                println!("SMS to {}: {}", njia::types::masked_or_purged(s.record.msisdn), s.record.text);
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

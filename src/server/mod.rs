//! The server, the top of the library's layers: it builds the application from a [`Config`]
//! (this file: the wiring of store, sessions, hub, hand-off, payments and channels, and the
//! state every request shares), serves it on a listener it is given and drains connections
//! gracefully on shutdown (`http`), and routes what is neither a channel nor an operations
//! endpoint (`routes`: health, payment callbacks). It imports the modules below it; none
//! of them imports it: each gets what it needs as a narrow value the server builds
//! ([`crate::channel::HopSink`], [`crate::ops::Ops`], [`crate::reload::Live`],
//! [`crate::payment::sandbox::CallbackSink`]).
//!
//! `run` takes the listener and the shutdown signal from its caller (the mini-redis pattern),
//! so tests start the real server on `127.0.0.1:0` and stop it when they are done.

mod http;
mod outbound;
mod routes;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::BoxFuture;
use crate::agency::{Agencies, HttpBackend};
use crate::channel::auth::{ChannelAuth, Cidr};
use crate::channel::{Channel, Channels};
use crate::check::Loaded;
use crate::clock::Clock;
use crate::config::Config;
use crate::config::SessionsBackend;
use crate::diag::Problem;
use crate::handoff::{Dispatcher, Policy, worker_name};
use crate::hub::{Hub, HubConfig};
use crate::lookup::{Lookup, Lookups};
use crate::menu::MenuSet;
use crate::payment::daraja::{Daraja, DarajaConfig};
use crate::payment::sandbox::{CallbackSink, SandboxPayments};
use crate::payment::{PaymentResult, Payments};
use crate::reload::{Live, Shared};
use crate::session::postgres::{PgSessions, shared_input_key};
use crate::session::{MemorySessions, SessionStore};
use crate::sms::{AfricasTalkingConfig, AfricasTalkingSms, LogSms, SmsSender};
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};

/// Where it was before the reload module took it; kept for the callers that know this path.
pub use crate::reload::menu_senders;
pub use http::{serve, shutdown_signal};
pub use routes::router;

/// The address the listener a request came in on is bound to, lent to what the router serves
/// (as a request extension) beside the peer's `ConnectInfo`.
#[derive(Clone, Copy, Debug)]
pub struct ListenAddr(pub std::net::SocketAddr);

/// What every handler shares.
pub struct AppState {
    /// The hub in service and what a reload replaces with it (see [`crate::reload`]).
    pub live: Live,
    /// The channels served, found by path, with their authentication.
    pub channels: Channels,
    /// Requests refused by channel authentication since start.
    pub denied: AtomicU64,
    /// Who may call `/admin/*` and scrape `/metrics`.
    pub admin: Option<ChannelAuth>,
    /// Set when shutdown begins: `/readyz` turns 503 so load balancers stop sending.
    pub draining: AtomicBool,
}

impl AppState {
    /// The hub in service. Handlers take it once per request, so a request runs entirely on
    /// one menu set even when a reload lands meanwhile.
    pub fn hub(&self) -> Arc<Hub> {
        self.live.hub()
    }

    /// What the operations endpoints read, lent for one request.
    fn ops(&self) -> crate::ops::Ops<'_> {
        crate::ops::Ops {
            live: &self.live,
            channels: &self.channels,
            admin: self.admin.as_ref(),
            draining: &self.draining,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The menus or locales are broken; the problems are what `njia check` prints.
    #[error("menus or locales have {} problem(s)", .0.len())]
    Check(Vec<Problem>),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The hand-off is misconfigured (a missing secret, a service with no backend).
    #[error("configuration: {0}")]
    Config(String),
}

/// A built application: state plus the settings the accept loop needs.
pub struct App {
    pub state: Arc<AppState>,
    pub max_body_bytes: usize,
    pub header_read_timeout: Duration,
    pub warnings: Vec<Problem>,
    /// The job dispatcher `serve` runs beside the HTTP server (unless disabled).
    pub dispatcher: Option<Arc<Dispatcher>>,
    pub wake: Arc<Notify>,
    pub sandbox: bool,
    /// Days personal data is kept (`retention_days`); `serve` purges what is older daily.
    pub retention_days: u32,
    /// Built beside a live server (`RunOptions::beside_live`): served without a SIGHUP
    /// reloader of its own and without ranking search by its store's uses.
    pub beside_live: bool,
    /// Routers served under a path prefix besides the server's own (the console), each at the
    /// prefix itself and below it. A module above the server mounts itself here, so the server
    /// never imports it.
    pub mounts: Vec<(String, axum::Router)>,
}

impl App {
    /// Serves `router` at `prefix` (`/console`) and every path below it.
    pub fn mount(&mut self, prefix: &str, router: axum::Router) {
        self.mounts.push((prefix.to_owned(), router));
    }
}

/// What the code that starts a server chooses beyond the configuration file: nothing an
/// operator writes, so kept out of [`Config`]. `main` always runs with the defaults.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Where live sessions read "now" (their idle TTL and the resume window): the system's
    /// clock unless a test moves a manual one past a window instead of sleeping through it.
    /// The durable store and the dispatcher keep the system's clock: jobs are due by the time
    /// the hub schedules them at, which a stopped clock would never reach.
    pub clock: Clock,
    /// A sandbox built beside a live server in the same process (the console's simulator):
    /// it registers no process-wide gauges, which stay the live server's, runs no SIGHUP
    /// reloader (the signal is the live server's) and never ranks search by its uses.
    pub beside_live: bool,
}

/// Loads menus and locales (refusing on any `njia check` error), opens the store (migrating
/// it) and wires the hub. Runs inside a tokio runtime (it starts the session sweeper).
pub async fn build(config: &Config) -> Result<App, StartError> {
    build_with(config, &RunOptions::default()).await
}

/// As [`build`], with the choices of `options`.
pub async fn build_with(config: &Config, options: &RunOptions) -> Result<App, StartError> {
    let channels = channels(config)?;
    let source = source(config, &channels);
    // Checking and preparing a large catalogue is CPU work: on the blocking pool, as a reload
    // does it, so a sandbox started beside a live server never stalls a runtime worker.
    let loading = source.clone();
    let (served, loaded) = tokio::task::spawn_blocking(move || loading.load().map(|l| (loading.serve(&l), l)))
        .await
        .map_err(|e| StartError::Config(format!("the loading task failed: {e}")))?
        .map_err(StartError::Check)?;
    assemble(config, options, channels, source, loaded, Arc::new(served)).await
}

/// A server on a set already checked and served by another one in this process, shared with
/// it as it is (nothing is read from disk, nothing prepared again): the console's sandbox of
/// the versions in service, which must dial them even while the files on disk are broken.
/// Only with `options.beside_live`: such a server must not rank the set it shares.
pub async fn build_on(
    config: &Config,
    options: &RunOptions,
    loaded: Loaded,
    served: Arc<MenuSet<crate::engine::Served>>,
) -> Result<App, StartError> {
    if !options.beside_live {
        return Err(StartError::Config("a server on a shared menu set runs beside the live one only".into()));
    }
    let channels = channels(config)?;
    let source = source(config, &channels);
    assemble(config, options, channels, source, loaded, served).await
}

/// Where a server loads its menus and locales from, and the rules they must pass.
fn source(config: &Config, channels: &[Channel]) -> crate::reload::Source {
    crate::reload::Source {
        menus_dir: config.menus_dir.clone(),
        locales_dir: config.locales_dir.clone(),
        limit: config.screen_limit,
        channels: crate::channel::screen_limits(channels),
        fallback: config.fallback_locales.clone(),
        lookups_dir: config.lookups_dir.clone(),
        http_backends: config.http_backends(),
    }
}

/// Wires a server around a checked, served set.
async fn assemble(
    config: &Config,
    options: &RunOptions,
    channels: Vec<Channel>,
    source: crate::reload::Source,
    loaded: Loaded,
    served: Arc<MenuSet<crate::engine::Served>>,
) -> Result<App, StartError> {
    let Loaded { catalog, menus, lookups: files, warnings } = loaded;
    for c in &channels {
        if let Some(unknown) = c.menus.iter().flat_map(|m| m.iter()).find(|id| menus.by_id(id).is_none()) {
            return Err(StartError::Config(format!("[channels.{}]: no menu with id {unknown:?}", c.name)));
        }
    }
    // Everything this server counts (its channels' requests, hops, jobs, payment results) goes
    // to one registry: the process's, or a sandbox's own.
    let metrics = crate::metrics::Registry::for_server(options.beside_live);
    let channels = Channels::new(
        channels
            .into_iter()
            .map(|mut ch| {
                ch.metrics = metrics.channel(&ch.name);
                Arc::new(ch)
            })
            .collect(),
    );
    // The whole configuration is validated, and every secret it names read, before anything
    // is created or migrated: a missing admin token or Daraja key is found before the data
    // directory exists or a database has a table.
    let sandbox = config.is_sandbox();
    let admin = admin(config)?;
    let agencies = agencies(config, &menus, sandbox)?;
    let sms = sms_sender(config, sandbox)?;
    let daraja = daraja_config(config, sandbox)?;
    // PostgreSQL sessions share the store's USSD pool.
    let (store, pool) = match &config.database_url {
        Some(url) => {
            let pg = PostgresStore::connect(url).await?;
            let pool = pg.ussd_pool();
            (Arc::new(pg) as Arc<dyn Store>, Some(pool))
        }
        None => (open_store(config).await?, None),
    };
    let lookup_files = Arc::new(Shared::new(files));
    let policy = config.dispatcher.clone();
    let payments = payments(config, daraja, &store, &policy, &metrics)?;
    if sandbox {
        tracing::warn!(
            "SANDBOX MODE: M-Pesa and agencies are SIMULATED (no money moves, nothing reaches an agency) and SMS go \
             to the log; set `sandbox = false` with [daraja], [sms] and [backends.*] for production"
        );
    }
    let sessions = sessions(config, &store, pool, options).await?;
    // Search ranks equal matches by how often citizens used each service. A sandbox beside
    // the live server never ranks: its scratch store has no uses worth ranking by, and the
    // set it serves may be the live one's (`build_on`), whose ranking is the live store's.
    if !options.beside_live {
        crate::hub::usage::rank(&*store, &served, options.clock.now_ms()).await;
    }
    let limits = Arc::new(crate::limit::RateLimits::new(&config.rate_limit));
    limits.spawn_pruner();
    if !options.beside_live {
        let tracked = Arc::downgrade(&limits);
        crate::metrics::gauge("njia_rate_limit_phones", "Phone numbers the rate limiter tracks.", move || {
            tracked.upgrade().map_or(0.0, |l| l.phones() as f64)
        });
    }
    let wake = Arc::new(Notify::new());
    let sms_catalog = Arc::new(Shared::new(Arc::clone(&catalog)));
    let senders = Arc::new(Shared::new(Arc::new(menu_senders(&menus))));
    let dispatcher = config.dispatcher.enabled.then(|| {
        Arc::new(Dispatcher {
            store: Arc::clone(&store),
            payments,
            agency: Arc::clone(&agencies) as Arc<dyn crate::agency::Agency>,
            sms,
            catalog: Arc::clone(&sms_catalog),
            default_locale: config.default_locale.clone(),
            senders: Arc::clone(&senders),
            policy: policy.clone(),
            worker: worker_name(),
            metrics: Arc::clone(&metrics),
        })
    });
    let hub = Hub {
        menus: served,
        catalog,
        sessions,
        store: Arc::clone(&store),
        lookups: Arc::new(Lookups {
            files: Arc::clone(&lookup_files),
            store,
            http: http_lookups(&agencies, &config.simulated_backends),
        }),
        config: HubConfig {
            lookup_timeout: config.lookup_timeout(),
            default_locale: config.default_locale.clone(),
            handoff: policy,
            wake: Arc::clone(&wake),
            resume_window: config.resume_window(),
            clock: options.clock.clone(),
            behind: Default::default(),
            funnel: Default::default(),
            uses: Default::default(),
            metrics,
        },
        limits,
        retired: Arc::from([]),
    };
    let state = Arc::new(AppState {
        live: Live::new(Arc::new(hub), source, sms_catalog, senders, lookup_files).with_agencies(agencies),
        channels,
        denied: AtomicU64::new(0),
        admin,
        draining: AtomicBool::new(false),
    });
    Ok(App {
        state,
        max_body_bytes: config.max_body_bytes,
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        warnings,
        dispatcher,
        wake,
        sandbox,
        retention_days: config.retention_days,
        beside_live: options.beside_live,
        mounts: Vec::new(),
    })
}

/// The channels to serve, with their authentication: every dialect at its default path,
/// unauthenticated, when none is configured; otherwise exactly the configured ones.
fn channels(config: &Config) -> Result<Vec<Channel>, StartError> {
    let mut channels = crate::channel::layout(config).map_err(StartError::Config)?;
    for ch in &mut channels {
        let Some(c) = config.channels.get(&*ch.name) else { continue };
        let rules = Rules { header: &c.header, basic: &c.basic, allow: &c.allow, trusted_proxies: &c.trusted_proxies };
        ch.auth = auth(config, &format!("[channels.{}]", ch.name), rules)?;
    }
    Ok(channels)
}

/// The authentication rules of a configuration section.
struct Rules<'a> {
    header: &'a Option<crate::config::HeaderAuthSection>,
    basic: &'a Option<crate::config::BasicAuthSection>,
    allow: &'a [String],
    trusted_proxies: &'a [String],
}

/// Builds a section's authentication, reading its secrets from the environment.
fn auth(config: &Config, section: &str, r: Rules<'_>) -> Result<ChannelAuth, StartError> {
    let bad = |e: String| StartError::Config(format!("{section}: {e}"));
    let cidrs = |list: &[String]| list.iter().map(|s| Cidr::parse(s)).collect::<Result<Vec<_>, _>>();
    let header = match r.header {
        Some(h) => Some((
            ::http::HeaderName::from_bytes(h.name.as_bytes()).map_err(|e| bad(format!("header name: {e}")))?,
            config.secret(&h.secret_env).map_err(|e| bad(e.to_string()))?,
        )),
        None => None,
    };
    let basic = match r.basic {
        Some(b) => Some((b.user.clone(), config.secret(&b.password_env).map_err(|e| bad(e.to_string()))?)),
        None => None,
    };
    Ok(ChannelAuth {
        header,
        basic,
        allow: cidrs(r.allow).map_err(bad)?,
        trusted_proxies: cidrs(r.trusted_proxies).map_err(bad)?,
    })
}

/// Who may call `/admin/*` and scrape `/metrics`: `None` when no `[admin]` section is given.
fn admin(config: &Config) -> Result<Option<ChannelAuth>, StartError> {
    let Some(a) = &config.admin else { return Ok(None) };
    let rules = Rules { header: &a.header, basic: &a.basic, allow: &a.allow, trusted_proxies: &a.trusted_proxies };
    let auth = auth(config, "[admin]", rules)?;
    if !auth.is_configured() {
        return Err(StartError::Config("[admin]: give header, basic or allow".into()));
    }
    Ok(Some(auth))
}

/// Live sessions where the configuration says (see [`Config::sessions_backend`]), with their
/// sweeper running. Shared sessions hash inputs with the key every instance shares.
async fn sessions(
    config: &Config,
    store: &Arc<dyn Store>,
    pool: Option<deadpool_postgres::Pool>,
    options: &RunOptions,
) -> Result<Arc<dyn SessionStore>, StartError> {
    let clock = &options.clock;
    let backend = config.sessions_backend().map_err(|e| StartError::Config(e.to_string()))?;
    match (backend, pool) {
        (SessionsBackend::Postgres, Some(pool)) => {
            let key = shared_input_key(store.as_ref()).await?;
            let (idle, window) = (config.session_idle(), config.resume_window());
            let sessions = PgSessions::with_pool(pool, key, idle, window, clock.clone()).await;
            sessions.spawn_sweeper();
            Ok(sessions)
        }
        (SessionsBackend::Postgres, None) => {
            Err(StartError::Config("sessions = \"postgres\" needs database_url".into()))
        }
        (SessionsBackend::Memory, _) => {
            let (idle, window) = (config.session_idle(), config.resume_window());
            let sessions = MemorySessions::with_clock(idle, window, config.max_sessions, clock.clone());
            sessions.spawn_sweeper();
            if !options.beside_live {
                let live = Arc::downgrade(&sessions);
                crate::metrics::gauge("njia_sessions_live", "Live USSD sessions held in memory.", move || {
                    live.upgrade().map_or(0.0, |s| s.len() as f64)
                });
            }
            Ok(sessions)
        }
    }
}

/// PostgreSQL when a database URL is configured (several instances share it); otherwise the
/// embedded SQLite file in the data directory. Migrates either.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, crate::store::StoreError> {
    Ok(match &config.database_url {
        Some(url) => Arc::new(PostgresStore::connect(url).await?),
        None => Arc::new(SqliteStore::open(&config.data_dir)?),
    })
}

/// The store the configuration names, only if it already exists ([`StoreError::Missing`]
/// otherwise): what the administration commands open. Only `serve` (and `dial`, which runs
/// one) creates a store.
///
/// [`StoreError::Missing`]: crate::store::StoreError::Missing
pub async fn open_existing_store(config: &Config) -> Result<Arc<dyn Store>, crate::store::StoreError> {
    Ok(match &config.database_url {
        Some(url) => Arc::new(PostgresStore::connect_existing(url).await?),
        None => Arc::new(SqliteStore::open_existing(&config.data_dir)?),
    })
}

/// Agency backends from `[backends.*]`; outside sandbox mode every service a menu submits
/// must have one, or the server refuses to start (a request nobody can deliver is a request
/// lost).
fn agencies(config: &Config, menus: &MenuSet, sandbox: bool) -> Result<Arc<Agencies>, StartError> {
    let mut agencies = Agencies { simulated: sandbox, ..Agencies::default() };
    for (name, b) in &config.backends {
        let secret = config.secret(&b.secret_env).map_err(|e| StartError::Config(format!("backends.{name}: {e}")))?;
        let backend = Arc::new(
            HttpBackend::new(name, &b.base_url, &secret, config.lookup_timeout())
                .map_err(|e| StartError::Config(e.to_string()))?,
        );
        for service in &b.services {
            agencies.by_service.insert(service.clone(), Arc::clone(&backend));
        }
        for agency in &b.agencies {
            let known = menus
                .menus
                .iter()
                .filter_map(|m| m.catalogue.as_deref())
                .any(|c| c.agencies.iter().any(|a| a.id == *agency));
            if !known {
                return Err(StartError::Config(format!(
                    "backends.{name}: no catalogue has an agency {agency:?}: use an agency id of menus/catalogue/*.toml"
                )));
            }
            agencies.by_agency.insert(agency.clone(), Arc::clone(&backend));
        }
        agencies.by_name.insert(name.clone(), backend);
    }
    agencies.service_agency.store(Arc::new(crate::reload::service_agencies(menus)));
    if !sandbox {
        let missing = crate::reload::undelivered(menus, &agencies);
        if !missing.is_empty() {
            return Err(StartError::Config(format!(
                "no backend delivers service(s) {}: list them under `services` (or their agencies under `agencies`) of a [backends.NAME] section",
                missing.join(", ")
            )));
        }
    }
    Ok(Arc::new(agencies))
}

/// The agency backends that answer lookups, by backend name, as the lookup trait, and the
/// ones a sandbox simulates (answered as unavailable, never reached).
fn http_lookups(agencies: &Agencies, simulated: &[String]) -> std::collections::HashMap<String, Arc<dyn Lookup>> {
    let mut lookups: std::collections::HashMap<String, Arc<dyn Lookup>> =
        agencies.by_name.iter().map(|(name, b)| (name.clone(), Arc::clone(b) as Arc<dyn Lookup>)).collect();
    for name in simulated {
        lookups.insert(name.clone(), Arc::new(crate::agency::SimulatedLookup { backend: name.clone() }));
    }
    lookups
}

/// The sandbox's simulated callbacks, led to the hand-off: the same `payment_callback` a
/// Daraja callback reaches through the route. (It does not wake the dispatcher; the route
/// does, and the simulation never did: its paid attempt waits for the next poll, as before.)
pub struct HandoffCallbacks {
    pub store: Arc<dyn Store>,
    pub policy: Policy,
    pub metrics: Arc<crate::metrics::Registry>,
}

impl CallbackSink for HandoffCallbacks {
    fn deliver<'a>(&'a self, token: &'a str, result: &'a PaymentResult) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            crate::handoff::payment_callback(self.store.as_ref(), &self.policy, &self.metrics, token, result)
                .await
                .map(|_| ())
        })
    }
}

/// The M-Pesa provider: the sandbox's simulation, or Daraja with the configuration
/// [`daraja_config`] validated.
fn payments(
    config: &Config,
    daraja: Option<DarajaConfig>,
    store: &Arc<dyn Store>,
    policy: &Policy,
    metrics: &Arc<crate::metrics::Registry>,
) -> Result<Arc<dyn Payments>, StartError> {
    let Some(daraja) = daraja else {
        return Ok(Arc::new(SandboxPayments {
            callbacks: Arc::new(HandoffCallbacks {
                store: Arc::clone(store),
                policy: policy.clone(),
                metrics: Arc::clone(metrics),
            }),
            pin_delay: Duration::from_millis(config.dispatcher.sandbox_pin_delay_ms),
        }));
    };
    Ok(Arc::new(outbound::MeasuredPayments::new("daraja", Arc::new(daraja_sharing(daraja, store)?))))
}

/// The Daraja client with its access token shared through `store`, as every instance shares it
/// (a new token invalidates the old one, so no process may fetch its own behind the others').
fn daraja_sharing(daraja: DarajaConfig, store: &Arc<dyn Store>) -> Result<Daraja, StartError> {
    Ok(Daraja::new(daraja)
        .map_err(|e| StartError::Config(format!("daraja: {e}")))?
        .with_shared_token(Arc::clone(store)))
}

/// The Daraja client a command beside the servers asks (`njia reconcile --check-daraja`), built
/// and checked as `serve` builds it, sharing the servers' token through their store; `None` in
/// sandbox mode, where there is no Daraja to ask.
pub fn daraja_client(config: &Config, store: &Arc<dyn Store>) -> Result<Option<Daraja>, StartError> {
    daraja_config(config, config.is_sandbox())?.map(|d| daraja_sharing(d, store)).transpose()
}

/// Daraja's configuration with its secrets read, outside sandbox mode; `None` in it.
fn daraja_config(config: &Config, sandbox: bool) -> Result<Option<DarajaConfig>, StartError> {
    if sandbox {
        return Ok(None);
    }
    let Some(d) = &config.daraja else {
        return Err(StartError::Config("`sandbox = false` needs a [daraja] section".into()));
    };
    let Some(public) = &config.public_url else {
        return Err(StartError::Config("[daraja] needs `public_url`, where Daraja sends payment callbacks".into()));
    };
    let env = |name: &str| config.secret(name).map_err(|e| StartError::Config(format!("daraja: {e}")));
    Ok(Some(DarajaConfig {
        base_url: d.base_url.clone(),
        consumer_key: env(&d.consumer_key_env)?,
        consumer_secret: env(&d.consumer_secret_env)?,
        shortcode: d.shortcode.clone(),
        passkey: env(&d.passkey_env)?,
        transaction_type: d.transaction_type,
        party_b: d.party_b.clone().unwrap_or_else(|| d.shortcode.clone()),
        callback_base_url: format!("{}{}", public.trim_end_matches('/'), crate::payment::CALLBACK_PATH),
        timeout: Duration::from_millis(d.timeout_ms),
    }))
}

fn sms_sender(config: &Config, sandbox: bool) -> Result<Arc<dyn SmsSender>, StartError> {
    let sender = config.sms.sender.clone().or_else(|| {
        if config.sms.africastalking.is_some() {
            Some("africastalking".into())
        } else if sandbox {
            Some("log".into())
        } else {
            None
        }
    });
    match sender.as_deref() {
        Some("log") => Ok(Arc::new(LogSms)),
        Some("africastalking") => {
            let Some(at) = &config.sms.africastalking else {
                return Err(StartError::Config("sms.sender = \"africastalking\" needs [sms.africastalking]".into()));
            };
            let api_key = config.secret(&at.api_key_env).map_err(|e| StartError::Config(format!("sms: {e}")))?;
            let sender = AfricasTalkingSms::new(AfricasTalkingConfig {
                base_url: at.base_url.clone(),
                username: at.username.clone(),
                api_key,
                from: at.from.clone(),
                timeout: Duration::from_millis(at.timeout_ms),
            })
            .map_err(|e| StartError::Config(format!("sms: {e}")))?;
            Ok(Arc::new(outbound::MeasuredSms::new(Arc::new(sender))))
        }
        Some(other) => Err(StartError::Config(format!("sms.sender {other:?} is not log or africastalking"))),
        None => Err(StartError::Config(
            "outside sandbox mode receipts need an SMS sender: add [sms.africastalking], or sms.sender = \"log\""
                .into(),
        )),
    }
}

/// Builds the application from `config` and serves it on `listener` until `shutdown`
/// resolves. The entry point for tests and embedders; `main` calls [`build`] and [`serve`]
/// itself so it can print the checker's problems.
pub async fn run(listener: TcpListener, config: &Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    run_with(listener, config, &RunOptions::default(), shutdown).await
}

/// As [`run`], with the choices of `options` (a test's manual clock).
pub async fn run_with(
    listener: TcpListener,
    config: &Config,
    options: &RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let app = build_with(config, options).await?;
    serve(listener, app, shutdown).await?;
    Ok(())
}

/// Why [`run`] stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

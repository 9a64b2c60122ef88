//! The HTTP edge: builds the application from a [`Config`], serves it on a listener it is
//! given, and drains connections gracefully on shutdown.
//!
//! `run` takes the listener and the shutdown signal from its caller (the mini-redis pattern),
//! so tests start the real server on `127.0.0.1:0` and stop it when they are done.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use tokio::sync::{Notify, watch};

use crate::agency::{Agencies, HttpBackend};
use crate::channel::auth::{ChannelAuth, Cidr, Denied};
use crate::channel::{Channel, ChannelRequest, Channels};
use crate::check::{self, Loaded};
use crate::config::Config;
use crate::config::SessionsBackend;
use crate::diag::Problem;
use crate::handoff::{Dispatcher, Policy, worker_name};
use crate::hub::{Hub, HubConfig};
use crate::lookup::{DataFiles, Lookups};
use crate::menu::{Kind, MenuSet};
use crate::payment::Payments;
use crate::payment::daraja::{Daraja, DarajaConfig};
use crate::payment::sandbox::SandboxPayments;
use crate::session::postgres::{PgSessions, shared_input_key};
use crate::session::{MemorySessions, SessionStore};
use crate::sms::{AfricasTalkingConfig, AfricasTalkingSms, LogSms, SmsSender};
use crate::store::Store;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;

/// What every handler shares.
pub struct AppState {
    /// The hub in service; a reload replaces it whole (see [`crate::reload`]).
    current: crate::reload::Shared<Hub>,
    /// Where menus and locales are reloaded from, and the rules they must pass.
    pub source: crate::reload::Source,
    /// The catalog the dispatcher writes receipts with, replaced by a reload.
    pub sms_catalog: crate::reload::SharedCatalog,
    /// The sender id of each menu with its own, for the dispatcher's receipts; replaced by a
    /// reload.
    pub senders: Arc<crate::reload::Shared<std::collections::HashMap<String, String>>>,
    /// The lookup data files answering lookups, checked with the menus and replaced with them.
    pub lookup_files: Arc<crate::reload::Shared<DataFiles>>,
    /// The channels served, found by path, with their authentication.
    pub channels: Channels,
    /// Requests refused by channel authentication since start.
    pub denied: std::sync::atomic::AtomicU64,
    /// Who may call `/admin/*` and scrape `/metrics`.
    pub admin: Option<ChannelAuth>,
    /// Set when shutdown begins: `/readyz` turns 503 so load balancers stop sending.
    pub draining: std::sync::atomic::AtomicBool,
}

impl AppState {
    /// The hub in service. Handlers take it once per request, so a request runs entirely on
    /// one menu set even when a reload lands meanwhile.
    pub fn hub(&self) -> Arc<Hub> {
        self.current.load()
    }

    pub(crate) fn set_hub(&self, hub: Arc<Hub>) {
        self.current.store(hub);
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
}

/// Loads menus and locales (refusing on any `njia check` error), opens the store (migrating
/// it) and wires the hub. Runs inside a tokio runtime (it starts the session sweeper).
pub async fn build(config: &Config) -> Result<App, StartError> {
    let channels = channels(config)?;
    let limits_checked = crate::channel::screen_limits(&channels);
    let checked = check::Options {
        menus_dir: &config.menus_dir,
        locales_dir: &config.locales_dir,
        limit: config.screen_limit,
        channels: &limits_checked,
        fallback: &config.fallback_locales,
        lookups_dir: config.lookups_dir.as_deref(),
        http_backends: &config.http_backends(),
    };
    let Loaded { catalog, menus, lookups: files, warnings } = check::load(&checked).map_err(StartError::Check)?;
    let served = Arc::new(crate::engine::serve(&menus, &catalog, |m| checked.limits_serving(&m.id)));
    for c in &channels {
        if let Some(unknown) = c.menus.iter().flat_map(|m| m.iter()).find(|id| menus.by_id(id).is_none()) {
            return Err(StartError::Config(format!("[channels.{}]: no menu with id {unknown:?}", c.name)));
        }
    }
    let channels = Channels::new(channels.into_iter().map(Arc::new).collect());
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
    let lookup_files = Arc::new(crate::reload::Shared::new(files));
    let policy = config.dispatcher.clone();
    let payments = payments(config, daraja, &store, &policy)?;
    if sandbox {
        tracing::warn!(
            "SANDBOX MODE: M-Pesa and agencies are SIMULATED (no money moves, nothing reaches an agency) and SMS go \
             to the log; set `sandbox = false` with [daraja], [sms] and [backends.*] for production"
        );
    }
    let sessions = sessions(config, &store, pool).await?;
    let limits = Arc::new(crate::limit::RateLimits::new(&config.rate_limit));
    limits.spawn_pruner();
    let tracked = Arc::downgrade(&limits);
    crate::metrics::gauge("njia_rate_limit_phones", "Phone numbers the rate limiter tracks.", move || {
        tracked.upgrade().map_or(0.0, |l| l.phones() as f64)
    });
    let wake = Arc::new(Notify::new());
    let sms_catalog = Arc::new(crate::reload::Shared::new(Arc::clone(&catalog)));
    let senders = Arc::new(crate::reload::Shared::new(Arc::new(menu_senders(&menus))));
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
        })
    });
    let hub = Hub {
        menus: served,
        catalog,
        sessions,
        store: Arc::clone(&store),
        lookups: Arc::new(Lookups { files: Arc::clone(&lookup_files), store, http: agencies.by_name.clone() }),
        config: HubConfig {
            lookup_timeout: config.lookup_timeout(),
            default_locale: config.default_locale.clone(),
            handoff: policy,
            wake: Arc::clone(&wake),
            resume_window: config.resume_window(),
        },
        limits,
        retired: Arc::from([]),
    };
    let source = crate::reload::Source {
        menus_dir: config.menus_dir.clone(),
        locales_dir: config.locales_dir.clone(),
        limit: config.screen_limit,
        channels: limits_checked,
        fallback: config.fallback_locales.clone(),
        lookups_dir: config.lookups_dir.clone(),
        http_backends: config.http_backends(),
    };
    Ok(App {
        state: Arc::new(AppState {
            current: crate::reload::Shared::new(Arc::new(hub)),
            source,
            sms_catalog,
            senders,
            lookup_files,
            channels,
            denied: std::sync::atomic::AtomicU64::new(0),
            admin,
            draining: std::sync::atomic::AtomicBool::new(false),
        }),
        max_body_bytes: config.max_body_bytes,
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        warnings,
        dispatcher,
        wake,
        sandbox,
    })
}

/// The sender id of each menu that names one.
pub fn menu_senders(menus: &MenuSet) -> std::collections::HashMap<String, String> {
    menus.menus.iter().filter_map(|m| Some((m.id.clone(), m.sms_sender.clone()?))).collect()
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
            http::HeaderName::from_bytes(h.name.as_bytes()).map_err(|e| bad(format!("header name: {e}")))?,
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
) -> Result<Arc<dyn SessionStore>, StartError> {
    let backend = config.sessions_backend().map_err(|e| StartError::Config(e.to_string()))?;
    match (backend, pool) {
        (SessionsBackend::Postgres, Some(pool)) => {
            let key = shared_input_key(store.as_ref()).await?;
            let sessions = PgSessions::with_pool(pool, key, config.session_idle(), config.resume_window()).await;
            sessions.spawn_sweeper();
            Ok(sessions)
        }
        (SessionsBackend::Postgres, None) => {
            Err(StartError::Config("sessions = \"postgres\" needs database_url".into()))
        }
        (SessionsBackend::Memory, _) => {
            let sessions = MemorySessions::new(config.session_idle(), config.resume_window(), config.max_sessions);
            sessions.spawn_sweeper();
            let live = Arc::downgrade(&sessions);
            crate::metrics::gauge("njia_sessions_live", "Live USSD sessions held in memory.", move || {
                live.upgrade().map_or(0.0, |s| s.len() as f64)
            });
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
        agencies.by_name.insert(name.clone(), backend);
    }
    if !sandbox {
        let mut missing: Vec<String> = menus
            .menus
            .iter()
            .flat_map(|m| m.screens.iter())
            .filter_map(|s| match &s.kind {
                Kind::Submit(sub) if !agencies.by_service.contains_key(&sub.service) => Some(sub.service.clone()),
                _ => None,
            })
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            return Err(StartError::Config(format!(
                "no backend delivers service(s) {}: list them under `services` of a [backends.NAME] section",
                missing.join(", ")
            )));
        }
    }
    Ok(Arc::new(agencies))
}

/// The M-Pesa provider: the sandbox's simulation, or Daraja with the configuration
/// [`daraja_config`] validated.
fn payments(
    config: &Config,
    daraja: Option<DarajaConfig>,
    store: &Arc<dyn Store>,
    policy: &Policy,
) -> Result<Arc<dyn Payments>, StartError> {
    let Some(daraja) = daraja else {
        return Ok(Arc::new(SandboxPayments {
            store: Arc::clone(store),
            policy: policy.clone(),
            pin_delay: Duration::from_millis(config.dispatcher.sandbox_pin_delay_ms),
        }));
    };
    let daraja = Daraja::new(daraja)
        .map_err(|e| StartError::Config(format!("daraja: {e}")))?
        .with_shared_token(Arc::clone(store));
    Ok(Arc::new(daraja))
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
            Ok(Arc::new(sender))
        }
        Some(other) => Err(StartError::Config(format!("sms.sender {other:?} is not log or africastalking"))),
        None => Err(StartError::Config(
            "outside sandbox mode receipts need an SMS sender: add [sms.africastalking], or sms.sender = \"log\""
                .into(),
        )),
    }
}

/// The router: every channel's routes plus health. What it does not serve is answered with a
/// reason in the body, like every 4xx.
pub fn router(app: &App) -> Router {
    crate::payment::routes()
        .route("/healthz", get(|| async { "ok" }))
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, "method not allowed: the Allow header lists the methods this path takes\n")
        })
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: nothing is served at this path\n") })
        .layer(DefaultBodyLimit::max(app.max_body_bytes))
        .with_state(Arc::clone(&app.state))
}

/// Builds the application from `config` and serves it on `listener` until `shutdown`
/// resolves. The entry point for tests and embedders; `main` calls [`build`] and [`serve`]
/// itself so it can print the checker's problems.
pub async fn run(listener: TcpListener, config: &Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let app = build(config).await?;
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

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(listener: TcpListener, app: App, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    // Beyond loopback every channel must say who may call it.
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        let mut open: Vec<&str> =
            app.state.channels.iter().filter(|c| !c.auth.is_configured()).map(|c| &*c.name).collect();
        open.sort_unstable();
        if !open.is_empty() {
            return Err(std::io::Error::other(format!(
                "refusing to listen on {local}: channel(s) {} have no authentication; add header, basic or allow to \
                 their [channels.NAME] sections, or listen on 127.0.0.1",
                open.join(", ")
            )));
        }
    }
    let router = router(&app);
    let (stop_tx, stop_rx) = watch::channel(false);
    let hangups = reload_on_hangup(Arc::clone(&app.state), stop_rx.clone());
    let dispatcher = app.dispatcher.clone().map(|d| tokio::spawn(d.run(stop_rx, Arc::clone(&app.wake))));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(app.header_read_timeout).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Usually EMFILE under overload: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = Dispatch {
            peer: peer.ip(),
            router: router.clone(),
            state: Arc::clone(&app.state),
            max_body: app.max_body_bytes,
            read_timeout: app.header_read_timeout,
        };
        // hyper's own replies to what it cannot parse get a reason (see `autoreply`).
        let io = crate::autoreply::Reasoned::new(TokioIo::new(stream));
        let conn = builder.serve_connection(io, service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    app.state.draining.store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("shutdown timed out; dropping connections"),
    }
    // Jobs in hand finish (or their leases expire and another dispatcher takes them over).
    let _ = stop_tx.send(true);
    hangups.abort();
    if let Some(d) = dispatcher
        && tokio::time::timeout(Duration::from_secs(20), d).await.is_err()
    {
        tracing::warn!("dispatcher did not stop in time; its leased jobs will be taken over after the lease");
    }
    Ok(())
}

/// The per-connection service: USSD hops straight to their dialect's handler, everything
/// else through the axum router.
#[derive(Clone)]
struct Dispatch {
    /// The connection's remote address, for channel allow-lists.
    peer: std::net::IpAddr,
    router: Router,
    state: Arc<AppState>,
    max_body: usize,
    read_timeout: Duration,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Dispatch {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = crate::BoxFuture<'static, Result<Response, Self::Error>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        if crate::ops::serves(req.uri().path()) {
            let state = Arc::clone(&self.state);
            let peer = self.peer;
            return Box::pin(async move {
                let path = req.uri().path().to_owned();
                Ok(crate::ops::handle(state, peer, req.method().clone(), &path, req.headers()).await)
            });
        }
        let Some((ch, rest)) = self.state.channels.find(req.uri().path()) else {
            let router = self.router.clone();
            return Box::pin(async move { router.oneshot(req.map(axum::body::Body::new)).await });
        };
        if let Err(why) = ch.auth.check(req.headers(), self.peer) {
            self.state.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            crate::metrics::METRICS.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let client = ch.auth.client_ip(req.headers(), self.peer);
            tracing::warn!(channel = %ch.name, client = %client, reason = ?why, "request refused by channel authentication");
            let refused = match why {
                Denied::Credentials => (StatusCode::UNAUTHORIZED, "unauthorized\n"),
                Denied::Address => (StatusCode::FORBIDDEN, "forbidden\n"),
            };
            return Box::pin(async move { Ok(refused.into_response()) });
        }
        let ch = Arc::clone(ch);
        let rest = rest.to_owned();
        let state = Arc::clone(&self.state);
        let max = self.max_body;
        let read_timeout = self.read_timeout;
        Box::pin(async move {
            let started = std::time::Instant::now();
            let metrics = Arc::clone(&ch.metrics);
            let response = Self::answer(state, ch, rest, req, max, read_timeout).await;
            metrics.answered(response.status().as_u16(), started.elapsed());
            Ok(response)
        })
    }
}

impl Dispatch {
    /// Reads a channel request's body (size- and time-limited) and hands it to the dialect.
    async fn answer(
        state: Arc<AppState>,
        ch: Arc<Channel>,
        rest: String,
        req: hyper::Request<Incoming>,
        max: usize,
        read_timeout: Duration,
    ) -> Response {
        let (parts, body) = req.into_parts();
        // A body that trickles in is cut off like slow headers are. A telco's small form has
        // almost always arrived with its headers: the first read takes it without arming a
        // timer, and only a body still on its way gets one.
        let mut collect = std::pin::pin!(Limited::new(body, max).collect());
        let read = match std::future::poll_fn(|cx| std::task::Poll::Ready(collect.as_mut().poll(cx))).await {
            std::task::Poll::Ready(read) => read,
            std::task::Poll::Pending => match tokio::time::timeout(read_timeout, collect).await {
                Ok(read) => read,
                Err(_) => return (StatusCode::REQUEST_TIMEOUT, "request body too slow\n").into_response(),
            },
        };
        let body = match read {
            Ok(body) => body.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
            }
            Err(e) => {
                tracing::debug!(error = %e, "request body could not be read");
                return (StatusCode::BAD_REQUEST, "request body could not be read\n").into_response();
            }
        };
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let request = ChannelRequest { method: parts.method, rest, query, body };
        (ch.dialect.handle)(state, ch, request).await
    }
}

/// Reloads menus and locales on every SIGHUP until `stop`.
fn reload_on_hangup(state: Arc<AppState>, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP; reload with POST /admin/reload");
                return;
            };
            loop {
                tokio::select! {
                    got = hup.recv() => {
                        if got.is_none() {
                            return;
                        }
                        tracing::info!("SIGHUP: reloading menus and locales");
                        crate::reload::reload(&state).await;
                    }
                    _ = stop.changed() => return,
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (state, stop.changed().await);
        }
    })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

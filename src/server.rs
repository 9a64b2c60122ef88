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
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::check::{self, Loaded};
use crate::config::Config;
use crate::diag::Problem;
use crate::hub::{Hub, HubConfig};
use crate::lookup::{DataFiles, Lookups};
use crate::session::MemorySessions;
use crate::store::Store;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;

/// What every handler shares.
pub struct AppState {
    pub hub: Hub,
    pub screen_limit: usize,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The menus or locales are broken; the problems are what `njia check` prints.
    #[error("menus or locales have {} problem(s)", .0.len())]
    Check(Vec<Problem>),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("lookup data: {0}")]
    Lookups(String),
}

/// A built application: state plus the settings the accept loop needs.
pub struct App {
    pub state: Arc<AppState>,
    pub max_body_bytes: usize,
    pub header_read_timeout: Duration,
    pub warnings: Vec<Problem>,
}

/// Loads menus and locales (refusing on any `njia check` error), opens the store (migrating
/// it) and wires the hub. Runs inside a tokio runtime (it starts the session sweeper).
pub async fn build(config: &Config) -> Result<App, StartError> {
    let Loaded { catalog, menus, warnings } = check::load(&check::Options {
        menus_dir: &config.menus_dir,
        locales_dir: &config.locales_dir,
        limit: config.screen_limit,
        fallback: &config.fallback_locales,
    })
    .map_err(StartError::Check)?;
    // PostgreSQL when a database URL is configured (several instances share it); otherwise
    // the embedded SQLite file in the data directory.
    let store: Arc<dyn Store> = match &config.database_url {
        Some(url) => Arc::new(PostgresStore::connect(url).await?),
        None => Arc::new(SqliteStore::open(&config.data_dir)?),
    };
    let files = DataFiles::load(&config.lookups_dir).map_err(StartError::Lookups)?;
    let sessions = MemorySessions::new(config.session_idle(), config.max_sessions);
    sessions.spawn_sweeper();
    let hub = Hub {
        menus,
        catalog,
        sessions,
        store: Arc::clone(&store),
        lookups: Arc::new(Lookups { files, store }),
        config: HubConfig { lookup_timeout: config.lookup_timeout(), default_locale: config.default_locale.clone() },
    };
    Ok(App {
        state: Arc::new(AppState { hub, screen_limit: config.screen_limit }),
        max_body_bytes: config.max_body_bytes,
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        warnings,
    })
}

/// The router: every channel's routes plus health.
pub fn router(app: &App) -> Router {
    crate::channel::routes()
        .route("/healthz", get(|| async { "ok" }))
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
    let router = router(&app);
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(app.header_read_timeout).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
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
            router: router.clone(),
            state: Arc::clone(&app.state),
            max_body: app.max_body_bytes,
            read_timeout: app.header_read_timeout,
        };
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("shutdown timed out; dropping connections"),
    }
    Ok(())
}

/// The per-connection service: USSD hops straight to their dialect's handler, everything
/// else through the axum router.
#[derive(Clone)]
struct Dispatch {
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
        let hop = (req.method() == Method::POST).then(|| crate::channel::hop_handler(req.uri().path())).flatten();
        match hop {
            Some(handler) => {
                let state = Arc::clone(&self.state);
                let max = self.max_body;
                let read_timeout = self.read_timeout;
                Box::pin(async move {
                    // A body that trickles in is cut off like slow headers are.
                    let Ok(read) =
                        tokio::time::timeout(read_timeout, Limited::new(req.into_body(), max).collect()).await
                    else {
                        return Ok((StatusCode::REQUEST_TIMEOUT, "request body too slow\n").into_response());
                    };
                    match read {
                        Ok(body) => Ok(handler(state, body.to_bytes()).await),
                        Err(e) if e.is::<LengthLimitError>() => {
                            Ok((StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response())
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "request body could not be read");
                            Ok((StatusCode::BAD_REQUEST, "request body could not be read\n").into_response())
                        }
                    }
                })
            }
            None => {
                let router = self.router.clone();
                Box::pin(async move { router.oneshot(req.map(axum::body::Body::new)).await })
            }
        }
    }
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

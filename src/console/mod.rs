//! The administrators' console at `/console`: a phone simulator on a sandbox, the check and
//! diff of the files on disk with a guarded reload, the menu map, the helpdesk and the
//! drop-off figures, as server-rendered HTML with one stylesheet and one small script, both
//! embedded in the binary.
//!
//! The console sits above the server and the journey runner: it builds its sandboxes with
//! them and mounts itself on a built [`App`] (`App::mount`), so the server never imports it.
//! `njia serve` mounts it; `njia console` serves it alone on loopback on a scratch store.
//!
//! Security (see `access`): every response carries a strict Content-Security-Policy and no
//! inline script or style; with `[admin]` credentials a login sets a server-side session
//! cookie, without them only a loopback listener answers, and only this machine's direct,
//! locally named requests; every POST carries the session's
//! CSRF token and a foreign `Origin` is refused. The simulator never touches the live store:
//! it dials a sandboxed server of its own (`phone`).

mod access;
mod dropoff;
mod helpdesk;
mod html;
mod map;
mod phone;
mod preview;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::config::Config;
use crate::server::{App, AppState, RunError};

/// Where the console is served.
pub const PREFIX: &str = "/console";

/// What every console handler shares: the server's state (the live set, the channels, the
/// `[admin]` rules), the configuration the sandboxes are built from, the console's sessions
/// and the simulator's sandboxes.
pub struct Console {
    state: Arc<AppState>,
    config: Config,
    access: access::Sessions,
    sandboxes: phone::Sandboxes,
}

/// The console's router, answering every path under [`PREFIX`].
pub fn router(state: Arc<AppState>, config: &Config) -> Router {
    let console = Arc::new(Console {
        state,
        config: config.clone(),
        access: access::Sessions::default(),
        sandboxes: phone::Sandboxes::default(),
    });
    Router::new()
        .route("/console", get(html::home))
        .route("/console/", get(html::home))
        .route("/console/assets/{name}", get(html::asset))
        .route("/console/login", get(access::login_page).post(access::login))
        .route("/console/logout", post(access::logout))
        .route("/console/phone", get(phone::page))
        .route("/console/phone/dial", post(phone::dial))
        .route("/console/phone/send", post(phone::send))
        .route("/console/phone/hangup", post(phone::hangup))
        .route("/console/phone/journey", get(phone::journey))
        .route("/console/preview", get(preview::page))
        .route("/console/reload", get(preview::confirm).post(preview::reload))
        .route("/console/map", get(map::page))
        .route("/console/requests", get(helpdesk::search).post(helpdesk::search_posted))
        .route("/console/requests.csv", post(helpdesk::csv))
        .route("/console/requests/{reference}", get(helpdesk::show))
        .route("/console/jobs", get(helpdesk::jobs))
        .route("/console/jobs/{id}/retry", post(helpdesk::retry))
        .route("/console/dropoff", get(dropoff::page))
        .fallback(html::not_found)
        // Every path is judged by address first (the assets and the 404 too), and every
        // answer, a refusal included, carries the console's headers.
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&console), access::gate))
        .layer(axum::middleware::map_response(access::headers))
        .with_state(console)
}

/// Mounts the console on a built server.
pub fn mount(app: &mut App, config: &Config) {
    let router = router(Arc::clone(&app.state), config);
    app.mount(PREFIX, router);
}

/// Builds the server from `config`, mounts the console and serves both on `listener` until
/// `shutdown` resolves: what `njia serve` runs, and the tests.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let mut app = crate::server::build(config).await?;
    mount(&mut app, config);
    crate::server::serve(listener, app, shutdown).await?;
    Ok(())
}

/// Why `njia console` cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "njia console listens on loopback only ({0} is not): use njia serve with [admin] credentials to open the \
         console beyond this machine"
    )]
    NotLoopback(std::net::SocketAddr),
    #[error("the scratch store: {0}")]
    Scratch(#[from] std::io::Error),
}

/// `njia console`: the configuration made safe for editing on a laptop (sandbox mode, a
/// scratch store deleted when the guard drops, no `[admin]`, so the console answers this
/// machine only) and refused on an address beyond loopback.
pub fn local(config: &Config, listen: std::net::SocketAddr) -> Result<(Config, crate::journey::Scratch), LocalError> {
    if !listen.ip().is_loopback() {
        return Err(LocalError::NotLoopback(listen));
    }
    let (mut config, scratch) = crate::journey::sandboxed(config)?;
    config.admin = None;
    config.listen = listen;
    Ok((config, scratch))
}

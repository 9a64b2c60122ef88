//! Operations endpoints: `/readyz` (the store answers, menus are loaded, not draining),
//! `/metrics` (Prometheus text: the process's figures and, read at each scrape, this server's
//! menu versions and store backlog) and `/admin/*` (menu reload, and its preview: the check of the
//! files on disk and what they would change). `/metrics` and `/admin/*` are
//! guarded by the `[admin]` rules; without rules `/admin/*` is refused and `/metrics` answers
//! loopback clients only.
//!
//! The server lends these endpoints what they read as an [`Ops`], so they need nothing of the
//! server itself.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::channel::Channels;
use crate::channel::auth::{ChannelAuth, Denied};
use crate::reload::Live;

/// What the operations endpoints read, lent by the server for one request.
#[derive(Clone, Copy)]
pub struct Ops<'a> {
    /// The hub in service (`/readyz` pings its store and lists its menus) and what a reload
    /// replaces.
    pub live: &'a Live,
    /// The channels served: a reload must keep every menu they name.
    pub channels: &'a Channels,
    /// Who may call `/admin/*` and scrape `/metrics`.
    pub admin: Option<&'a ChannelAuth>,
    /// Set when shutdown begins: `/readyz` turns 503 so load balancers stop sending.
    pub draining: &'a AtomicBool,
}

/// Whether `path` is an operations endpoint.
pub fn serves(path: &str) -> bool {
    matches!(path, "/readyz" | "/metrics") || path.starts_with("/admin/")
}

/// Answers an operations request.
pub async fn handle(ops: Ops<'_>, peer: IpAddr, method: Method, path: &str, headers: &http::HeaderMap) -> Response {
    match (method, path) {
        (Method::GET, "/readyz") => readyz(ops).await,
        (Method::GET, "/metrics") => match guard(ops, peer, headers, false) {
            Ok(()) => ([("content-type", "text/plain; version=0.0.4")], metrics(ops).await).into_response(),
            Err(r) => r.into_response(),
        },
        (_, "/readyz" | "/metrics") => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response(),
        (method, path) => match guard(ops, peer, headers, true) {
            Ok(()) if path == "/admin/reload" && method == Method::POST => reload(ops).await,
            Ok(()) if path == "/admin/reload" => (StatusCode::METHOD_NOT_ALLOWED, "POST to reload\n").into_response(),
            Ok(()) if path == "/admin/preview" && method == Method::GET => {
                let preview = crate::reload::preview(ops.live, ops.channels).await;
                let body = serde_json::to_string(&preview).unwrap_or_default();
                ([("content-type", "application/json")], body).into_response()
            }
            Ok(()) if path == "/admin/preview" => (StatusCode::METHOD_NOT_ALLOWED, "GET the preview\n").into_response(),
            Ok(()) => (StatusCode::NOT_FOUND, "no such admin endpoint\n").into_response(),
            Err(r) => r.into_response(),
        },
    }
}

/// Checks the `[admin]` rules; `required` refuses when there are none.
fn guard(ops: Ops<'_>, peer: IpAddr, headers: &http::HeaderMap, required: bool) -> Result<(), Refused> {
    let Some(auth) = ops.admin else {
        // Without rules, figures go only to this machine: a scraper elsewhere needs [admin].
        return if required {
            Err((StatusCode::FORBIDDEN, "administration is off: configure [admin] to use it\n"))
        } else if peer.is_loopback() {
            Ok(())
        } else {
            Err((StatusCode::FORBIDDEN, "metrics go to loopback only: configure [admin] to scrape from elsewhere\n"))
        };
    };
    auth.check(headers, peer).map_err(|why| {
        crate::metrics::METRICS.denied.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(client = %auth.client_ip(headers, peer), reason = ?why, "administration request refused");
        match why {
            Denied::Credentials => (StatusCode::UNAUTHORIZED, "unauthorized\n"),
            Denied::Address => (StatusCode::FORBIDDEN, "forbidden\n"),
        }
    })
}

/// A refusal: the status and its body.
type Refused = (StatusCode, &'static str);

/// The process's figures and this server's: the menus it serves and its store's backlog,
/// read now (one indexed query, on the scrape and never on a hop; a second at most).
async fn metrics(ops: Ops<'_>) -> String {
    let hub = ops.live.hub();
    let backlog = match tokio::time::timeout(std::time::Duration::from_secs(1), hub.store.backlog()).await {
        Ok(Ok(b)) => Some(b),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: the store did not answer the backlog query");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: the store did not answer the backlog query within 1 s");
            None
        }
    };
    let menus = &hub.menus.menus;
    hub.config.metrics.render_with(&crate::metrics::Scrape {
        menus: menus.iter().map(|m| (m.id.clone(), m.version)).collect(),
        catalogues: menus.iter().filter_map(|m| m.catalogue.as_ref().map(|c| (m.id.clone(), c.version))).collect(),
        backlog,
    })
}

/// Ready when the store answers within a second, menus are loaded and the server is not
/// draining; otherwise 503 with what is wrong, so a load balancer stops sending.
async fn readyz(ops: Ops<'_>) -> Response {
    let draining = ops.draining.load(Ordering::Relaxed);
    let store = match tokio::time::timeout(std::time::Duration::from_secs(1), ops.live.hub().store.ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: no answer within 1 s".to_owned(),
    };
    let menus: Vec<serde_json::Value> = ops
        .live
        .hub()
        .menus
        .menus
        .iter()
        .map(|m| serde_json::json!({"id": m.id, "version": format!("{:016x}", m.version)}))
        .collect();
    let ready = !draining && store == "ok" && !menus.is_empty();
    let body = serde_json::json!({"ready": ready, "store": store, "menus": menus, "draining": draining});
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

/// `POST /admin/reload`: 200 with the menus now served, or 422 with every problem (the old set
/// keeps serving).
async fn reload(ops: Ops<'_>) -> Response {
    let (status, body) = match crate::reload::reload(ops.live, ops.channels).await {
        crate::reload::Outcome::Reloaded { menus, warnings } => (
            StatusCode::OK,
            serde_json::json!({
                "reloaded": true,
                "menus": menus.iter().map(|(id, v)| serde_json::json!({"id": id, "version": format!("{v:016x}")})).collect::<Vec<_>>(),
                "warnings": warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        ),
        crate::reload::Outcome::Refused { problems } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            serde_json::json!({
                "reloaded": false,
                "problems": problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        ),
    };
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

//! What the server answers through the axum router: `/healthz`, the payment callbacks
//! (`/payments/stk/{token}`), and a reason for every path and method it does not serve. The
//! channels and the operations endpoints never get here: `Dispatch` answers them first.
//!
//! The payment callback route lives here, above the hand-off it feeds, so that the payment
//! module below the hand-off never imports it.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::handoff::{self, CallbackOutcome};
use crate::payment::{CALLBACK_PATH, daraja};

use super::{App, AppState};

/// The router: the payment callbacks plus health. What it does not serve is answered with a
/// reason in the body, like every 4xx.
pub fn router(app: &App) -> Router {
    let mut router = Router::new();
    // What a module above the server mounts (the console) answers its own paths whole: its
    // own 404s and 405s, its own headers.
    for (prefix, mounted) in &app.mounts {
        router = router
            .route_service(prefix, mounted.clone())
            .route_service(&format!("{prefix}/{{*rest}}"), mounted.clone());
    }
    router
        .route(&format!("{CALLBACK_PATH}/{{token}}"), post(stk_callback))
        .route("/healthz", get(|| async { "ok" }))
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, "method not allowed: the Allow header lists the methods this path takes\n")
        })
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: nothing is served at this path\n") })
        .layer(DefaultBodyLimit::max(app.max_body_bytes))
        .with_state(Arc::clone(&app.state))
}

/// Daraja's acknowledgement body.
fn ack(status: StatusCode, code: u8, desc: &str) -> Response {
    let body = serde_json::json!({ "ResultCode": code, "ResultDesc": desc }).to_string();
    (status, [("content-type", "application/json")], body).into_response()
}

/// An STK callback: authenticated by the unguessable token in its path (Daraja signs
/// nothing), recorded durably before the 200 goes back, idempotent.
async fn stk_callback(State(state): State<Arc<AppState>>, Path(token): Path<String>, body: Bytes) -> Response {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        tracing::warn!("payment callback with a malformed token refused");
        return ack(StatusCode::NOT_FOUND, 1, "Unknown callback");
    }
    let result = match daraja::parse_callback(&body) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "malformed payment callback refused");
            return ack(StatusCode::BAD_REQUEST, 1, &format!("Malformed callback: {e}"));
        }
    };
    let hub = state.hub();
    match handoff::payment_callback(hub.store.as_ref(), &hub.config.handoff, &hub.config.metrics, &token, &result).await
    {
        Ok(CallbackOutcome::Applied) => {
            hub.config.wake.notify_one();
            ack(StatusCode::OK, 0, "Accepted")
        }
        // Nothing for the dispatcher: a receipt alone queues no job, and a duplicate or a
        // conflicting callback changed nothing (the hand-off logged the conflict). Any answer
        // but 200 would only make Daraja send it again.
        Ok(CallbackOutcome::ReceiptRecorded | CallbackOutcome::Duplicate | CallbackOutcome::Conflict) => {
            ack(StatusCode::OK, 0, "Accepted")
        }
        Ok(CallbackOutcome::UnknownToken) => {
            tracing::warn!(checkout = %result.checkout_request_id, "payment callback for an unknown token refused");
            ack(StatusCode::NOT_FOUND, 1, "Unknown callback")
        }
        Ok(CallbackOutcome::Mismatch) => {
            tracing::warn!(checkout = %result.checkout_request_id, "payment callback names another push; refused");
            ack(StatusCode::BAD_REQUEST, 1, "CheckoutRequestID does not match")
        }
        Err(e) => {
            // Not recorded: a non-2xx lets Daraja try again, and the query job settles it
            // otherwise.
            tracing::error!(error = %e, "payment callback could not be recorded");
            ack(StatusCode::SERVICE_UNAVAILABLE, 1, "Try again")
        }
    }
}

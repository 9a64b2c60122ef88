//! Telco dialects: one module each, registered in [`routes`]. An adapter parses its wire
//! format into a [`crate::hub::Hop`], authenticates it, and formats the [`crate::hub::Reply`];
//! it holds no business logic and the engine knows no telco.

pub mod africastalking;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::server::AppState;

/// Every dialect's routes, in one explicit list.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().merge(africastalking::routes())
}

/// A request a dialect refused: 400 with a body saying what was wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, [("content-type", "text/plain; charset=utf-8")], format!("bad request: {}\n", self.0))
            .into_response()
    }
}

/// Parses an `application/x-www-form-urlencoded` body into its pairs.
pub fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, BadRequest> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map_err(|e| BadRequest(format!("body is not a form: {e}")))
}

/// The value of `name` in form pairs (the first, if repeated).
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

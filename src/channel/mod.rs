//! Telco dialects: one module each, registered in [`routes`]. An adapter parses its wire
//! format into a [`crate::hub::Hop`], authenticates it, and formats the [`crate::hub::Reply`];
//! it holds no business logic and the engine knows no telco.

pub mod africastalking;

use std::borrow::Cow;
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

/// Form pairs borrowing from the request body where no decoding was needed.
pub type FormPairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Parses an `application/x-www-form-urlencoded` body into its pairs. Never fails: bytes that
/// are not UTF-8 become U+FFFD and then fail the field's own validation with a clear reason.
pub fn form_pairs(body: &[u8]) -> FormPairs<'_> {
    // Telco callbacks carry five to twelve fields: size once instead of growing.
    let mut pairs = Vec::with_capacity(12);
    pairs.extend(form_urlencoded::parse(body));
    pairs
}

/// The value of `name` in form pairs (the first, if repeated).
pub fn field<'a>(pairs: &'a FormPairs<'_>, name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| &**v)
}

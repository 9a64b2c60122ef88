//! Real HTTP test doubles of the world outside Njia, one file each: M-Pesa Daraja
//! ([`DarajaDouble`], `daraja.rs`), an agency service backend ([`AgencyDouble`], per
//! `docs/agency-api.md`, `agency.rs`) and the Africa's Talking messaging API ([`AtSmsDouble`],
//! `at_sms.rs`), which also calls Njia back as Africa's Talking does, with inbound SMS and
//! delivery reports; `world.rs` starts all three and points a production configuration at them.
//! This file holds what they share.
//!
//! Each double binds `127.0.0.1:0`, serves on a spawned tokio task until it is dropped, records
//! everything it receives in shared state for assertions and exposes its knobs as methods. They
//! speak the documented wire formats including the awkward parts a client must tolerate: Daraja's
//! `expires_in` as a string, a numeric `ResultCode` in callbacks but a string one in query
//! answers, a `Balance` callback item without a value, duplicated, late and missing callbacks,
//! and answers that never come in time.
//!
//! The doubles hold their state behind a `std::sync::Mutex` that is never held across an
//! `.await`, so a knob set by a test takes effect on the next request the double receives.

mod agency;
mod at_sms;
mod daraja;
mod world;

pub use agency::*;
pub use at_sms::*;
pub use daraja::*;
// The test binaries outside tests/it use no double, and nothing else here names `world`.
#[allow(unused_imports)]
pub use world::*;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

// --- Shared plumbing ---------------------------------------------------------------------------

/// Binds `127.0.0.1:0`, serves `router` on a spawned task and returns the base URL and the task.
async fn serve(router: Router) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a test double on 127.0.0.1:0");
    let addr = listener.local_addr().expect("the test double's address");
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("the test double's server");
    });
    (format!("http://{addr}"), task)
}

/// Locks shared state, ignoring poisoning: a test that panicked while holding the lock must not
/// hide its own failure behind a second panic in the double.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).expect("a valid status code");
    (status, [(header::CONTENT_TYPE, "application/json")], serde_json::to_vec(body).expect("JSON body")).into_response()
}

fn text_response(status: u16, content_type: &'static str, body: String) -> Response {
    let status = StatusCode::from_u16(status).expect("a valid status code");
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the request's `Content-Type` is `application/json` (parameters such as a charset are
/// allowed).
fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, "content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| alphabet[rand::random_range(0..alphabet.len())] as char).collect()
}

const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs() as i64
}

/// Polls `f` every 20 ms until it holds; panics naming `what` if it does not within `timeout`.
/// Polls the async check `f` every 20 ms until it holds, failing with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after {timeout:?} waiting until {what}");
}

pub async fn wait_until<F: Fn() -> bool>(what: &str, timeout: Duration, f: F) {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
// --- Africa/Nairobi time ------------------------------------------------------------------------

// The calendar arithmetic is `njia::clock`'s, the one implementation: what the doubles add is
// only Daraja's 14-digit layout of it.

/// `YYYYMMDDHHmmss` in Africa/Nairobi time of a Unix time, as Daraja wants its `Timestamp`.
pub fn nairobi_timestamp(unix: i64) -> String {
    let c = njia::clock::eat(unix);
    format!("{:04}{:02}{:02}{:02}{:02}{:02}", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

/// The Daraja `Timestamp` for now.
pub fn nairobi_timestamp_now() -> String {
    nairobi_timestamp(unix_now())
}

/// The Unix time of a 14-digit `YYYYMMDDHHmmss` Nairobi timestamp, or `None` if it is not one.
pub fn parse_nairobi_timestamp(s: &str) -> Option<i64> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().ok();
    let (y, mo, d, h, mi, sec) = (n(0..4)?, n(4..6)?, n(6..8)?, n(8..10)?, n(10..12)?, n(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = njia::clock::days_from_civil(y, mo, d);
    // A day that does not exist in its month (31 April) does not survive the round trip.
    if njia::clock::civil_from_days(days) != (y, mo, d) {
        return None;
    }
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - njia::clock::EAT_OFFSET_SECS)
}

//! Standard Webhooks signatures (HMAC-SHA256): what Njia puts on every call to an agency, and
//! the verifier an agency (or a test double) runs on it.
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`; the header value is
//! `v1,` + base64 of the MAC. Secrets have the form `whsec_` + base64 of 24 to 64 bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a timestamp may be from the verifier's clock (replay protection).
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("a secret must look like whsec_ followed by base64 of 24 to 64 bytes")]
    BadSecret,
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than {TOLERANCE_SECS} s away from now")]
    Expired,
    #[error("no webhook-signature matches")]
    NoMatch,
}

/// The key bytes of a `whsec_…` secret.
pub fn parse_secret(secret: &str) -> Result<Vec<u8>, WebhookError> {
    let b64 = secret.trim().strip_prefix("whsec_").ok_or(WebhookError::BadSecret)?;
    let key = STANDARD.decode(b64).map_err(|_| WebhookError::BadSecret)?;
    if (24..=64).contains(&key.len()) { Ok(key) } else { Err(WebhookError::BadSecret) }
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // An HMAC takes a key of any length; the error case cannot happen for HMAC.
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

#[cold]
fn unreachable_hmac() -> Hmac<Sha256> {
    // HMAC accepts every key length (long keys are hashed), so new_from_slice never fails;
    // an all-zero key keeps this path total without a panic.
    <Hmac<Sha256> as KeyInit>::new(&Default::default())
}

/// The `webhook-signature` header value for one message.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac(key, id, timestamp, body).finalize().into_bytes()))
}

/// True when `ts` is at most [`TOLERANCE_SECS`] from `now_secs`, either way. The timestamp is
/// the sender's to choose, so the distance is taken without overflow (`abs_diff` is exact over
/// the whole `i64` range): `(now - ts).abs()` panicked on a timestamp near `i64::MIN` or
/// `i64::MAX` in a debug build, and in a release build wrapped to a negative distance that
/// passed the check.
fn within_tolerance(ts: i64, now_secs: i64) -> bool {
    now_secs.abs_diff(ts) <= TOLERANCE_SECS.unsigned_abs()
}

/// Verifies the headers of a received message over its raw body, in constant time. Several
/// space-separated signatures may be present (a secret being rotated); one match is enough.
pub fn verify(
    key: &[u8],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<(), WebhookError> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| WebhookError::BadTimestamp)?;
    if !within_tolerance(ts, now_secs) {
        return Err(WebhookError::Expired);
    }
    for sig in signatures.split(' ') {
        let Some(b64) = sig.strip_prefix("v1,") else { continue };
        let Ok(raw) = STANDARD.decode(b64) else { continue };
        if mac(key, id, ts, body).verify_slice(&raw).is_ok() {
            return Ok(());
        }
    }
    Err(WebhookError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification (spec/standard-webhooks.md).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn signs_the_specification_example() {
        let key = parse_secret(SECRET).unwrap();
        assert_eq!(sign(&key, ID, TS, BODY), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn verifies_and_refuses() {
        let key = parse_secret(SECRET).unwrap();
        let good = sign(&key, ID, TS, BODY);
        assert_eq!(verify(&key, ID, &TS.to_string(), &good, BODY, TS + 10), Ok(()));
        let rotated = format!("v1,AAAA {good}");
        assert_eq!(verify(&key, ID, &TS.to_string(), &rotated, BODY, TS), Ok(()));
        assert_eq!(verify(&key, ID, &TS.to_string(), &good, b"{}", TS), Err(WebhookError::NoMatch));
        assert_eq!(verify(&key, "msg_other", &TS.to_string(), &good, BODY, TS), Err(WebhookError::NoMatch));
        assert_eq!(verify(&key, ID, &TS.to_string(), &good, BODY, TS + 301), Err(WebhookError::Expired));
        assert_eq!(verify(&key, ID, "soon", &good, BODY, TS), Err(WebhookError::BadTimestamp));
    }

    #[test]
    fn tolerance_holds_over_the_whole_range() {
        // (timestamp, now, within): the edges of the window, and the far ends of `i64` where a
        // subtraction overflows.
        let cases = [
            (TS, TS, true),
            (TS, TS + 300, true),
            (TS, TS - 300, true),
            (TS, TS + 301, false),
            (TS, TS - 301, false),
            (i64::MIN, TS, false),
            (i64::MAX, TS, false),
            (TS, i64::MIN, false),
            (TS, i64::MAX, false),
            (i64::MIN, i64::MAX, false),
            (i64::MAX, i64::MIN, false),
            (i64::MAX, i64::MAX, true),
            (i64::MIN, i64::MIN + 300, true),
            (i64::MIN, i64::MIN + 301, false),
            (i64::MAX - 300, i64::MAX, true),
            // `now - ts` is exactly `i64::MIN` here: its `abs()` wrapped to a negative distance.
            (TS.wrapping_add(i64::MIN), TS, false),
            (0, i64::MIN, false),
        ];
        for (ts, now, within) in cases {
            assert_eq!(within_tolerance(ts, now), within, "timestamp {ts}, now {now}");
        }
    }

    #[test]
    fn hostile_timestamps_are_refused() {
        let key = parse_secret(SECRET).unwrap();
        // Correctly signed, so only the timestamp can refuse them.
        for ts in [i64::MIN, i64::MAX, TS.wrapping_add(i64::MIN), i64::MIN + 1, 0] {
            let signed = sign(&key, ID, ts, BODY);
            assert_eq!(verify(&key, ID, &ts.to_string(), &signed, BODY, TS), Err(WebhookError::Expired), "{ts}");
        }
        let good = sign(&key, ID, TS, BODY);
        for ts in ["9223372036854775808", "-9223372036854775809", &"9".repeat(10_000), "", "1e9", "0x10", "1.5"] {
            assert_eq!(verify(&key, ID, ts, &good, BODY, TS), Err(WebhookError::BadTimestamp), "{ts:.20}");
        }
        // Far-off clocks on the verifier's side are no less safe.
        for now in [i64::MIN, i64::MAX] {
            assert_eq!(verify(&key, ID, &TS.to_string(), &good, BODY, now), Err(WebhookError::Expired), "{now}");
        }
    }

    #[test]
    fn secrets_must_be_whsec_base64() {
        assert!(parse_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(parse_secret("whsec_!!!").is_err());
        assert!(parse_secret("whsec_AAAA").is_err(), "3 bytes is too short");
    }
}

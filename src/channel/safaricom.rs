//! Safaricom direct USSD: a GET per hop with `ORIG` (the phone), `DEST` (the code, `384`),
//! `SESSION_ID` and `USSD_PARAMS`, the whole session's input so far, digits dialled with the
//! code included; `CON `/`END ` plain-text replies. (Praekelt's Vumi transport is the best
//! public description; its test vectors are the table in `tests/it/dialects.rs`.)
//!
//! Safaricom has no new-session signal: a hop for an unknown `SESSION_ID` starts a session, and
//! its `USSD_PARAMS` holds the digits dialled after the code (`*384*4*1#` arrives as
//! `DEST=384&USSD_PARAMS=4*1`), which become the first inputs exactly like Africa's Talking's
//! first `text`. Some gateways send the whole dial string instead (`USSD_PARAMS=*384*4*1#`, then
//! `*384*4*1#*2`); that form is read as the first, so both start at the same screen.

use std::sync::Arc;

use axum::response::Response;

use crate::BoxFuture;
use crate::channel::telco::{self, Telco, Walk, WireRequest};
use crate::channel::{BadRequest, Channel, ChannelRequest, Dialect, HopSink, field, form_pairs, refuse};
use crate::hub::{Hop, HopInput};
use crate::menu::normalize_code;
use crate::types::{Msisdn, mask_raw_phone};

pub const CHANNEL: &str = "safaricom";

/// Longest `USSD_PARAMS` accepted.
const MAX_PARAMS: usize = 2048;

/// Hops are GETs of the channel path.
pub const DIALECT: Dialect = Dialect {
    name: CHANNEL,
    default_path: "/ussd/safaricom",
    max_screen: None,
    handle,
    telco: Some(&Telco { request: telco_request, read: telco::read_con_end }),
};

fn handle(sink: HopSink, ch: Arc<Channel>, req: ChannelRequest) -> BoxFuture<'static, Response> {
    crate::channel::get_hops(sink, ch, req, hop)
}

/// How Safaricom sends hop `k`: the code's digits in `DEST`, everything typed since the dial
/// (digits dialled with the code first) in `USSD_PARAMS`.
fn telco_request(w: &Walk<'_>, k: usize) -> WireRequest {
    let params = w.cumulative(k);
    telco::get(w, &[("ORIG", w.phone), ("DEST", w.split_code().0), ("SESSION_ID", w.session), ("USSD_PARAMS", &params)])
}

/// Parses a hop from the query string. Pure, for the table-driven tests.
pub fn parse_hop(query: &str, ch: &Channel) -> Result<Hop, BadRequest> {
    let pairs = form_pairs(query.as_bytes());
    let required =
        |name: &str| field(&pairs, name).ok_or_else(|| BadRequest(format!("parameter '{name}' is required")));
    let key = ch.key(required("SESSION_ID")?)?;
    let msisdn = Msisdn::parse(required("ORIG")?).map_err(|e| BadRequest(format!("ORIG: {e}")))?;
    let dest = required("DEST")?;
    if dest.is_empty() || dest.len() > 32 || !dest.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#') {
        return Err(BadRequest("DEST must be a code such as 384".into()));
    }
    let params = field(&pairs, "USSD_PARAMS").unwrap_or_default();
    if params.len() > MAX_PARAMS {
        return Err(BadRequest(format!("USSD_PARAMS is longer than {MAX_PARAMS} bytes")));
    }
    let code = normalize_code(dest);
    let params = without_dial_string(params, &code)?;
    Ok(ch.hop(key, msisdn, format!("*{code}#"), HopInput::Cumulative(params)))
}

/// The cumulative input of `USSD_PARAMS`, with a leading dial string (`*384*4*1#`, which some
/// gateways send instead of the digits dialled after the code) turned into those digits
/// (`4*1`), and what was typed after it kept behind a `*`: `*384*4*1#*2` is `4*1*2`, as every
/// later hop of the session reads, so the hub's prefix-diff sees one input model.
///
/// A value that starts with `*` and holds a `#` is a dial string: a session's input starts so
/// only when the gateway sends the dial (no screen asks for a dial string as an answer). One
/// that is not `DEST`'s code followed by keypad digits, or is followed by anything but `*`, is
/// refused with the reason, so a misconfigured gateway shows in its log and ours; read as
/// typed input instead, it would tell a citizen who has just dialled that the session expired.
fn without_dial_string(params: &str, code: &str) -> Result<String, BadRequest> {
    let Some((dial, after)) = params.strip_prefix('*').and_then(|p| p.split_once('#')) else {
        return Ok(params.to_owned());
    };
    let extras = if dial == code {
        Some("")
    } else {
        dial.strip_prefix(code)
            .and_then(|rest| rest.strip_prefix('*'))
            .filter(|extras| extras.bytes().all(|b| b.is_ascii_digit() || b == b'*'))
    };
    let Some(extras) = extras else {
        return Err(BadRequest(format!(
            "USSD_PARAMS starts with a dial string that is not *{code}# (DEST) or *{code}*digits#"
        )));
    };
    if after.is_empty() {
        return Ok(extras.to_owned());
    }
    let Some(typed) = after.strip_prefix('*') else {
        return Err(BadRequest("USSD_PARAMS: what follows the dial string must start with '*'".to_owned()));
    };
    Ok(if extras.is_empty() { typed.to_owned() } else { format!("{extras}*{typed}") })
}

async fn hop(sink: HopSink, ch: Arc<Channel>, query: String) -> Response {
    let hop = match parse_hop(&query, &ch) {
        Ok(h) => h,
        Err(e) => {
            return refuse(&ch.name, field(&form_pairs(query.as_bytes()), "ORIG").map(mask_raw_phone), e);
        }
    };
    let reply = sink.hop(hop).await;
    // The same `CON `/`END ` text as Africa's Talking.
    crate::channel::plain_text(crate::channel::africastalking::format_reply(&reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_dial_string_reads_as_the_digits_dialled_after_the_code() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            // Vumi's shape, and typed input, pass as they are (users type `*` as data).
            ("", Ok("")),
            ("4*1", Ok("4*1")),
            ("7*a*b*****", Ok("7*a*b*****")),
            ("1*#", Ok("1*#")),
            ("*", Ok("*")),
            // The whole dial string, alone and with what was typed after it.
            ("*384#", Ok("")),
            ("*384*4*1#", Ok("4*1")),
            ("*384*4*1#*NJ7K2QX", Ok("4*1*NJ7K2QX")),
            ("*384#*2", Ok("2")),
            ("*384#*2*#", Ok("2*#")),
            // Not this code's dial.
            ("*123#", Err("not *384#")),
            ("*3841#", Err("not *384#")),
            ("*384*a#", Err("not *384#")),
            ("*#", Err("not *384#")),
            ("*384#2", Err("must start with '*'")),
        ];
        for (params, want) in cases {
            match (without_dial_string(params, "384"), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{params}"),
                (Err(e), Err(fragment)) => assert!(e.0.contains(fragment), "{params}: {}", e.0),
                (got, want) => panic!("{params}: got {got:?}, wanted {want:?}"),
            }
        }
    }
}

//! `njia dial`: a terminal phone. It walks a menu through the same hub, engine and limits as
//! the server, speaking the Africa's Talking input model (cumulative `text`), so what an
//! administrator sees here is what a citizen sees on a handset.

use std::io::{BufRead, Write};

use crate::hub::{Hop, HopInput, Hub};
use crate::types::{Msisdn, SessionKey};

/// Settings of one dial.
pub struct Dial<'a> {
    pub code: &'a str,
    pub msisdn: Msisdn,
    pub limit: usize,
    /// Echo inputs after the prompt (for transcripts when stdin is not a terminal).
    pub echo: bool,
}

/// Dials and then reads one input per line until the session ends or input runs out.
/// Returns the number of screens shown.
pub async fn run(hub: &Hub, d: Dial<'_>, input: impl BufRead, mut out: impl Write) -> std::io::Result<usize> {
    // Unique per dial (a submit's idempotency key derives from it): the clock, not the pid,
    // which the system reuses.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_nanos());
    let session_id = format!("dial-{}-{nanos}", d.msisdn.as_u64());
    let key = SessionKey::new(std::sync::Arc::from("dial"), &session_id).map_err(std::io::Error::other)?;
    let mut text = String::new();
    let mut lines = input.lines();
    let mut screens = 0;
    loop {
        let hop = Hop {
            key: key.clone(),
            msisdn: d.msisdn,
            service_code: d.code.to_owned(),
            input: HopInput::Cumulative(text.clone()),
            limit: d.limit,
        };
        let reply = hub.hop(hop).await;
        screens += 1;
        let cost = crate::gsm7::cost(&reply.text);
        writeln!(out, "┌── {} · {}/{} ──", if reply.end { "END" } else { "CON" }, cost.units, d.limit)?;
        for l in reply.text.lines() {
            writeln!(out, "│ {l}")?;
        }
        writeln!(out, "└──")?;
        if reply.end {
            return Ok(screens);
        }
        write!(out, "> ")?;
        out.flush()?;
        let Some(line) = lines.next() else {
            writeln!(out)?;
            return Ok(screens);
        };
        let line = line?;
        let typed = line.trim_end_matches(['\r', '\n']);
        if d.echo {
            // A PIN typed into a transcript is shown masked, never in clear.
            if hub.expects_secret(&key).await {
                writeln!(out, "{}", "*".repeat(typed.chars().count()))?;
            } else {
                writeln!(out, "{typed}")?;
            }
        }
        // Cumulative, exactly as Africa's Talking builds it: the first input alone, then `*`.
        if screens == 1 {
            text.push_str(typed);
        } else {
            text.push('*');
            text.push_str(typed);
        }
    }
}

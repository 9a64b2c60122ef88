//! `njia dial`: a terminal phone. It walks a menu through the same hub, engine and limits as
//! the server. By default it speaks to the hub directly in the Africa's Talking input model
//! (cumulative `text`); with `--dialect` it sends each hop over HTTP to a server on loopback in
//! that channel's wire format and prints both sides, so administrators see what a telco sees.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::channel::Channel;
use crate::channel::telco::{Screen, Walk, WireReply, WireRequest};
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

/// How hops reach the hub.
pub enum Transport<'a> {
    /// Straight to the hub, as Africa's Talking would build them.
    Direct,
    /// Over HTTP to the server at `addr`, in `channel`'s wire format, printing the traffic.
    Wire { addr: SocketAddr, channel: &'a Channel },
}

/// Why a dial stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the gateway could not read the reply: {0}")]
    Gateway(String),
    #[error("channel {0} carries no USSD")]
    NotUssd(String),
}

/// Dials and then reads one input per line until the session ends or input runs out.
/// Returns the number of screens shown.
pub async fn run(
    hub: &Hub,
    d: Dial<'_>,
    transport: Transport<'_>,
    input: impl BufRead,
    mut out: impl Write,
) -> Result<usize, DialError> {
    // Unique per dial (a submit's idempotency key derives from it): the clock, not the pid,
    // which the system reuses.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_nanos());
    let session_id = format!("dial-{}-{nanos}", d.msisdn.as_u64());
    let channel_name: Arc<str> = match &transport {
        Transport::Direct => Arc::from("dial"),
        Transport::Wire { channel, .. } => Arc::clone(&channel.name),
    };
    let key = SessionKey::new(channel_name, &session_id).map_err(std::io::Error::other)?;
    let client = reqwest::Client::new();
    let phone = d.msisdn.as_u64().to_string();
    let mut inputs: Vec<String> = Vec::new();
    // Every secret typed in the walk: cumulative dialects send the whole history on every
    // hop, and the printed traffic must never show one.
    let mut secrets: Vec<String> = Vec::new();
    let mut lines = input.lines();
    let mut screens = 0;
    loop {
        let screen = match &transport {
            Transport::Direct => {
                let hop = Hop {
                    key: key.clone(),
                    msisdn: d.msisdn,
                    service_code: d.code.to_owned(),
                    input: HopInput::Cumulative(cumulative(&inputs)),
                    limit: d.limit,
                    menus: None,
                };
                let reply = hub.hop(hop).await;
                Screen { text: reply.text, end: reply.end }
            }
            Transport::Wire { addr, channel } => {
                let telco = channel.dialect.telco.ok_or_else(|| DialError::NotUssd(channel.name.to_string()))?;
                let walk =
                    Walk { path: &channel.path, session: &session_id, phone: &phone, code: d.code, inputs: &inputs };
                let request = (telco.request)(&walk, screens);
                writeln!(out, "→ {}", shown(&request.method_line(), &secrets))?;
                if !request.body.is_empty() {
                    writeln!(out, "  {}", shown(&request.body, &secrets))?;
                }
                let reply = send(&client, *addr, channel, &request).await.map_err(DialError::Gateway)?;
                let headers: Vec<String> = reply
                    .headers
                    .iter()
                    .filter(|(n, _)| n != "content-length" && n != "date")
                    .map(|(n, v)| format!("{n}: {v}"))
                    .collect();
                writeln!(out, "← {} {}", reply.status, headers.join("; "))?;
                writeln!(out, "  {}", reply.body)?;
                (telco.read)(&reply).map_err(DialError::Gateway)?
            }
        };
        screens += 1;
        let cost = crate::gsm7::cost(&screen.text);
        writeln!(out, "┌── {} · {}/{} ──", if screen.end { "END" } else { "CON" }, cost.units, d.limit)?;
        for l in screen.text.lines() {
            writeln!(out, "│ {l}")?;
        }
        writeln!(out, "└──")?;
        if screen.end {
            // The process ends with the dial: what the hub writes behind the END (the service
            // used, a search miss) must land first, so the next dial finds it.
            hub.config.behind.settled(std::time::Duration::from_secs(5)).await;
            return Ok(screens);
        }
        write!(out, "> ")?;
        out.flush()?;
        let Some(line) = lines.next() else {
            writeln!(out)?;
            return Ok(screens);
        };
        let line = line?;
        let typed = line.trim_end_matches(['\r', '\n']).to_owned();
        // A PIN typed into a transcript is shown masked, never in clear.
        let is_secret = hub.expects_secret(&key).await;
        if d.echo {
            if is_secret {
                writeln!(out, "{}", "*".repeat(typed.chars().count()))?;
            } else {
                writeln!(out, "{typed}")?;
            }
        }
        if is_secret && !typed.is_empty() {
            secrets.push(typed.clone());
        }
        inputs.push(typed);
    }
}

/// Cumulative, exactly as Africa's Talking builds it: the inputs joined with `*`.
fn cumulative(inputs: &[String]) -> String {
    inputs.join("*")
}

/// Traffic as printed: every secret typed in the walk is masked.
fn shown(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_owned(), |t, s| t.replace(s.as_str(), &"*".repeat(s.chars().count())))
}

/// Sends a request as the gateway would, with the channel's credentials when it has any.
async fn send(
    client: &reqwest::Client,
    addr: SocketAddr,
    channel: &Channel,
    r: &WireRequest,
) -> Result<WireReply, String> {
    let method = reqwest::Method::from_bytes(r.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client
        .request(method, format!("http://{addr}{}", r.target))
        .header("content-type", r.content_type)
        .body(r.body.clone());
    if let Some((name, secret)) = &channel.auth.header {
        req = req.header(name.clone(), secret.clone());
    }
    if let Some((user, password)) = &channel.auth.basic {
        req = req.basic_auth(user, Some(password));
    }
    let resp = req.send().await.map_err(|e| format!("sending: {e}"))?;
    let status = resp.status().as_u16();
    let headers =
        resp.headers().iter().map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned())).collect();
    let body = resp.text().await.map_err(|e| format!("reading: {e}"))?;
    Ok(WireReply { status, headers, body })
}

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

/// One screen of a walk and what was typed to reach it (nothing for the dial itself).
#[derive(Clone, Debug)]
pub struct Shown {
    pub sent: Option<String>,
    /// What was sent was typed on a screen asking for a secret (a PIN).
    pub secret: bool,
    pub screen: Screen,
}

/// Dials and then reads one input per line until the session ends or input runs out.
/// Returns every screen shown, with what was typed before it.
pub async fn run(
    hub: &Hub,
    d: Dial<'_>,
    transport: Transport<'_>,
    input: impl BufRead,
    mut out: impl Write,
) -> Result<Vec<Shown>, DialError> {
    let echo = d.echo;
    let limit = d.limit;
    let mut phone = Phone::new(d, transport)?;
    let mut lines = input.lines();
    let mut walked: Vec<Shown> = Vec::new();
    let mut sent: Option<(String, bool)> = None;
    loop {
        let screen = phone.hop(hub, &mut out).await?;
        let (typed, secret) = sent.take().map_or((None, false), |(t, s)| (Some(t), s));
        walked.push(Shown { sent: typed, secret, screen: screen.clone() });
        let cost = crate::gsm7::cost(&screen.text);
        writeln!(out, "┌── {} · {}/{} ──", if screen.end { "END" } else { "CON" }, cost.units, limit)?;
        for l in screen.text.lines() {
            writeln!(out, "│ {l}")?;
        }
        writeln!(out, "└──")?;
        if screen.end {
            // The process ends with the dial: what the hub writes behind the END (the service
            // used, a search miss) must land first, so the next dial finds it.
            crate::hub::usage::flush(hub).await;
            hub.config.behind.settled(std::time::Duration::from_secs(5)).await;
            return Ok(walked);
        }
        write!(out, "> ")?;
        out.flush()?;
        let Some(line) = lines.next() else {
            writeln!(out)?;
            return Ok(walked);
        };
        let line = line?;
        let typed = line.trim_end_matches(['\r', '\n']).to_owned();
        // A PIN typed into a transcript is shown masked, never in clear.
        let is_secret = hub.expects_secret(&phone.key).await;
        if echo {
            if is_secret {
                writeln!(out, "{}", "*".repeat(typed.chars().count()))?;
            } else {
                writeln!(out, "{typed}")?;
            }
        }
        sent = Some((typed.clone(), is_secret));
        phone.typed(typed, is_secret);
    }
}

/// A phone in one USSD session: what was typed so far, and how its hops reach the hub. The
/// terminal phone (`njia dial`) and the journey runner (`njia test`) both walk with it.
pub struct Phone<'a> {
    d: Dial<'a>,
    transport: Transport<'a>,
    session_id: String,
    /// The session's key on the hub (the channel's name and the session id).
    pub key: SessionKey,
    client: reqwest::Client,
    phone: String,
    inputs: Vec<String>,
    /// Every secret typed in the walk: cumulative dialects send the whole history on every
    /// hop, and the printed traffic must never show one.
    secrets: Vec<String>,
    /// Screens shown so far.
    pub screens: usize,
}

/// Where a phone's session stands between hops, kept by a caller that walks one hop per
/// request (the console's simulator) and given back to [`Phone::resume`].
#[derive(Clone, Debug, Default)]
pub struct PhoneState {
    session_id: String,
    inputs: Vec<String>,
    secrets: Vec<String>,
    screens: usize,
}

impl<'a> Phone<'a> {
    /// This phone's session as it stands, to walk on later with [`Phone::resume`].
    pub fn state(&self) -> PhoneState {
        PhoneState {
            session_id: self.session_id.clone(),
            inputs: self.inputs.clone(),
            secrets: self.secrets.clone(),
            screens: self.screens,
        }
    }

    /// The phone of a session saved with [`Phone::state`]: the same session id, what was
    /// typed and how many screens were shown, so the next hop goes on where it stood.
    pub fn resume(d: Dial<'a>, transport: Transport<'a>, state: PhoneState) -> Result<Phone<'a>, DialError> {
        let mut phone = Phone::new(d, transport)?;
        phone.key =
            SessionKey::new(Arc::clone(&phone.key.channel), &state.session_id).map_err(std::io::Error::other)?;
        phone.session_id = state.session_id;
        phone.inputs = state.inputs;
        phone.secrets = state.secrets;
        phone.screens = state.screens;
        Ok(phone)
    }

    /// A new session: nothing typed yet.
    pub fn new(d: Dial<'a>, transport: Transport<'a>) -> Result<Phone<'a>, DialError> {
        // Unique per dial (a submit's idempotency key derives from it): the clock and a
        // counter, not the pid, which the system reuses.
        static DIALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_nanos());
        let n = DIALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session_id = format!("dial-{}-{}", d.msisdn.as_u64(), nanos + u128::from(n));
        let channel_name: Arc<str> = match &transport {
            Transport::Direct => Arc::from("dial"),
            Transport::Wire { channel, .. } => Arc::clone(&channel.name),
        };
        let key = SessionKey::new(channel_name, &session_id).map_err(std::io::Error::other)?;
        let phone = d.msisdn.as_u64().to_string();
        // Straight to the server on loopback: never through an HTTP(S)_PROXY of the
        // environment, which would see every hop and the channel's secret header.
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| DialError::Gateway(format!("the HTTP client: {e}")))?;
        Ok(Phone { d, transport, session_id, key, client, phone, inputs: Vec::new(), secrets: Vec::new(), screens: 0 })
    }

    /// Adds what the citizen typed; a secret is masked in any traffic printed after.
    pub fn typed(&mut self, input: String, secret: bool) {
        if secret && !input.is_empty() {
            self.secrets.push(input.clone());
        }
        self.inputs.push(input);
    }

    /// Sends the hop for what was typed so far and returns the screen it answers. Walking a
    /// wire format, the request and the reply are printed to `out`, secrets masked.
    pub async fn hop(&mut self, hub: &Hub, out: &mut impl Write) -> Result<Screen, DialError> {
        let screen = match &self.transport {
            Transport::Direct => {
                let hop = Hop {
                    key: self.key.clone(),
                    msisdn: self.d.msisdn,
                    service_code: self.d.code.to_owned(),
                    input: HopInput::Cumulative(cumulative(&self.inputs)),
                    limit: self.d.limit,
                    menus: None,
                };
                let reply = hub.hop(hop).await;
                Screen { text: reply.text, end: reply.end }
            }
            Transport::Wire { addr, channel } => {
                let telco = channel.dialect.telco.ok_or_else(|| DialError::NotUssd(channel.name.to_string()))?;
                let walk = Walk {
                    path: &channel.path,
                    session: &self.session_id,
                    phone: &self.phone,
                    code: self.d.code,
                    inputs: &self.inputs,
                };
                let request = (telco.request)(&walk, self.screens);
                writeln!(out, "→ {}", shown(&request.method_line(), &self.secrets))?;
                if !request.body.is_empty() {
                    writeln!(out, "  {}", shown(&request.body, &self.secrets))?;
                }
                let reply = send(&self.client, *addr, channel, &request).await.map_err(DialError::Gateway)?;
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
        self.screens += 1;
        Ok(screen)
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

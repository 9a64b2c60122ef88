//! The phone simulator (`/console/phone`): a feature phone in the browser on the real engine.
//!
//! It never touches the live store or the outside world: every dial goes, over HTTP in the
//! chosen channel's wire format, to a sandboxed server of its own (sandbox mode, a scratch
//! store deleted with it, `journey::sandboxed`), started on loopback the first time it is
//! needed, inside a `console_sandbox` tracing span so its log lines say whose they are. There
//! are two: one serving the menus in service (started on the live set itself,
//! `server::build_on`, so it dials even while the files on disk are broken, and kept to the
//! live versions with `reload::mirror`), one serving the draft on disk (taken up with
//! `reload::swap_in` on each dial, refused with its problems while it does not pass the
//! check). Neither ranks search nor reloads on SIGHUP (`RunOptions::beside_live`). Each hop is
//! walked with `dial::Phone`, the terminal phone of `njia dial --dialect`, whose printed
//! traffic is shown beside the screen; a walk is saved as a journey with the `--record`
//! writer. One phone sends one hop at a time: a second send while one is on its way is
//! refused, never forked into two walks.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tracing::Instrument;

use super::Console;
use super::access::{Entry, Posted, Viewer};
use super::html::{self, esc};
use crate::diag::Problem;
use crate::dial::{Dial, DialError, Phone, PhoneState, Shown, Transport};
use crate::journey::Scratch;
use crate::reload::Outcome;
use crate::server::{AppState, StartError};
use crate::types::{Locale, Msisdn};

/// Hops one walk keeps at most: far past any real USSD walk (a session lives minutes), so a
/// transcript, copied with the session on every page, stays small.
const MAX_HOPS: usize = 60;

/// Why the simulator could not dial or send.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The draft on disk does not pass the check: its problems.
    #[error("the draft on disk does not pass the check ({} problem(s))", .0.len())]
    Draft(Vec<Problem>),
    #[error("the sandbox's scratch store: {0}")]
    Scratch(std::io::Error),
    #[error("starting the sandbox: {0}")]
    Start(StartError),
    #[error("the sandbox's listener: {0}")]
    Listener(std::io::Error),
    #[error("the sandbox has no channel {0}")]
    NoChannel(String),
    #[error(transparent)]
    Dial(#[from] DialError),
}

/// A sandboxed server on loopback: its own store (scratch), sessions, simulated M-Pesa,
/// agencies and SMS, and its dispatcher, so a payment goes all the way to its receipt.
pub struct Sandbox {
    state: Arc<AppState>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    _scratch: Scratch,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// One of the simulator's sandboxes.
#[derive(Default)]
struct Slot {
    /// The sandbox, once started: every page reads it without waiting on a start.
    current: std::sync::Mutex<Option<Arc<Sandbox>>>,
    /// Held while the sandbox starts or takes up a new set, so two dials never start two.
    starting: tokio::sync::Mutex<()>,
}

impl Slot {
    fn get(&self) -> Option<Arc<Sandbox>> {
        self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn set(&self, sandbox: Arc<Sandbox>) {
        *self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sandbox);
    }
}

/// The simulator's two sandboxes, each started when first dialled.
#[derive(Default)]
pub struct Sandboxes {
    served: Slot,
    draft: Slot,
}

/// Starts a sandbox: on the live set (`draft` false) or on the files on disk.
async fn start(c: &Console, draft: bool) -> Result<Sandbox, SimError> {
    let (mut config, scratch) = crate::journey::sandboxed(&c.config).map_err(SimError::Scratch)?;
    // The sandbox's own operations endpoints are never called; it needs no admin secret.
    config.admin = None;
    let options = crate::server::RunOptions { beside_live: true, ..Default::default() };
    let span = tracing::info_span!("console_sandbox", menus = if draft { "draft" } else { "served" });
    let building = async {
        if draft {
            crate::server::build_with(&config, &options).await
        } else {
            // The versions in service as they are, not the files on disk: the live hub's
            // menus, catalog and lookup data, shared (a sandbox never ranks them).
            let hub = c.state.hub();
            let menus = hub.menus.menus.iter().map(|s| Arc::clone(&s.menu)).collect();
            let loaded = crate::check::Loaded {
                catalog: Arc::clone(&hub.catalog),
                menus: Arc::new(crate::menu::MenuSet::new(menus)),
                lookups: c.state.live.lookup_files.load(),
                warnings: Vec::new(),
            };
            crate::server::build_on(&config, &options, loaded, Arc::clone(&hub.menus)).await
        }
    };
    let app = building.instrument(span.clone()).await.map_err(|e| match e {
        StartError::Check(problems) => SimError::Draft(problems.into_iter().filter(Problem::is_error).collect()),
        e => SimError::Start(e),
    })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(SimError::Listener)?;
    let addr = listener.local_addr().map_err(SimError::Listener)?;
    let state = Arc::clone(&app.state);
    let (stop, mut stopped) = watch::channel(false);
    let serving = async move {
        let shutdown = async move {
            let _ = stopped.changed().await;
        };
        if let Err(e) = crate::server::serve(listener, app, shutdown).await {
            tracing::error!(error = %e, "the console's sandbox server failed");
        }
    };
    tokio::spawn(serving.instrument(span));
    Ok(Sandbox { state, addr, stop, _scratch: scratch })
}

impl Sandboxes {
    fn slot(&self, draft: bool) -> &Slot {
        if draft { &self.draft } else { &self.served }
    }

    /// The sandbox to dial, brought up to date: the draft on disk (its problems when it does
    /// not pass), or the versions in service.
    async fn fresh(&self, c: &Console, draft: bool) -> Result<Arc<Sandbox>, SimError> {
        let slot = self.slot(draft);
        let _one = slot.starting.lock().await;
        let Some(sandbox) = slot.get() else {
            let sandbox = Arc::new(start(c, draft).await?);
            slot.set(Arc::clone(&sandbox));
            return Ok(sandbox);
        };
        if draft {
            if let Outcome::Refused { problems } =
                crate::reload::swap_in(&sandbox.state.live, &sandbox.state.channels).await
            {
                return Err(SimError::Draft(problems));
            }
        } else {
            crate::reload::mirror(&sandbox.state.live, &c.state.live);
        }
        Ok(sandbox)
    }

    /// The sandbox a dialled phone goes on walking (its menu version stays reachable there).
    async fn current(&self, draft: bool) -> Option<Arc<Sandbox>> {
        self.slot(draft).get()
    }

    /// The scratch stores of the sandboxes started so far (the menus in service first, then
    /// the draft's), for the helpdesk: an administrator looks for a request made in the
    /// simulator where they look for a citizen's. Read only; a sandbox not dialled yet has
    /// no store to read.
    pub async fn stores(&self) -> Vec<Arc<dyn crate::store::Store>> {
        let mut stores = Vec::new();
        for draft in [false, true] {
            if let Some(s) = self.current(draft).await {
                stores.push(Arc::clone(&s.state.hub().store));
            }
        }
        stores
    }
}

/// A dialled phone, kept in the console session between hops.
#[derive(Clone)]
pub struct Sim {
    /// This walk's own number: a hop that finishes after a new dial or a hang-up is not
    /// written over the walk that replaced it.
    walk: u64,
    /// A hop is on its way: another send meanwhile is refused.
    busy: bool,
    draft: bool,
    channel: String,
    code: String,
    msisdn: Msisdn,
    /// The number as the administrator typed it.
    typed_phone: String,
    language: Option<Locale>,
    limit: usize,
    state: PhoneState,
    hops: Vec<SimHop>,
    started_ms: i64,
    last_ms: i64,
}

#[derive(Clone)]
struct SimHop {
    shown: Shown,
    /// The wire request and reply as `njia dial --dialect` prints them.
    request: String,
    reply: String,
}

impl Sim {
    fn ended(&self) -> bool {
        self.hops.last().is_some_and(|h| h.shown.screen.end)
    }
}

/// Sends one hop and keeps its screen and traffic.
async fn hop(sandbox: &Sandbox, sim: &mut Sim, typed: Option<String>) -> Result<(), SimError> {
    let channel = sandbox
        .state
        .channels
        .by_name(&sim.channel)
        .cloned()
        .ok_or_else(|| SimError::NoChannel(sim.channel.clone()))?;
    let hub = sandbox.state.hub();
    let d = Dial { code: &sim.code, msisdn: sim.msisdn, limit: sim.limit, echo: false };
    let transport = Transport::Wire { addr: sandbox.addr, channel: &channel };
    let mut phone =
        if sim.hops.is_empty() { Phone::new(d, transport) } else { Phone::resume(d, transport, sim.state.clone()) }?;
    let mut secret = false;
    if let Some(t) = &typed {
        secret = hub.expects_secret(&phone.key).await;
        phone.typed(t.clone(), secret);
    }
    let mut traffic = Vec::new();
    let screen = phone.hop(&hub, &mut traffic).await?;
    let traffic = String::from_utf8_lossy(&traffic).into_owned();
    let (request, reply) = match traffic.find("\n← ") {
        Some(at) => (traffic[..at].to_owned(), traffic[at + 1..].trim_end().to_owned()),
        None => (traffic.trim_end().to_owned(), String::new()),
    };
    sim.state = phone.state();
    sim.last_ms = crate::store::now_ms();
    sim.hops.push(SimHop { shown: Shown { sent: typed, secret, screen }, request, reply });
    Ok(())
}

/// `GET /console/phone`: the dial form, the phone's screen and keypad, the wire traffic of
/// the last hop, the sandbox's request for a finished walk, and the transcript.
pub async fn page(
    State(c): State<Arc<Console>>,
    Viewer(entry): Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let sim = c.access.sim(&entry.sid, |s| s.as_deref().cloned()).flatten();
    let body = render(&c, &entry, sim.as_ref(), &q).await;
    html::respond(StatusCode::OK, Some(&entry), html::page("Phone simulator", "/console/phone", Some(&entry), &body))
}

/// Screen size against the limit, and the encoding.
fn size(text: &str, limit: usize) -> (usize, usize, &'static str) {
    let (cost, room) = crate::gsm7::measure(text, limit);
    (cost.units, room, cost.encoding.name())
}

async fn render(c: &Console, entry: &Entry, sim: Option<&Sim>, q: &HashMap<String, String>) -> String {
    let mut b = String::new();
    let draft = sim.map_or(q.get("source").is_some_and(|s| s == "draft"), |s| s.draft);
    let channel = sim.map_or("africastalking", |s| s.channel.as_str());
    let code = sim.map_or("*384#", |s| s.code.as_str());
    let phone = sim.map_or("0712345678", |s| s.typed_phone.as_str());
    let language = sim.and_then(|s| s.language.as_ref()).map_or("", Locale::as_str);
    // The dial form.
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/console/phone/dial\" id=\"dial-form\" class=\"dial\">{}\
         <div class=\"field\"><label for=\"source\">Menus</label><select id=\"source\" name=\"source\">\
         <option value=\"served\"{}>in service</option><option value=\"draft\"{}>draft on disk</option></select></div>\
         <div class=\"field\"><label for=\"channel\">Channel (screen limit)</label><select id=\"channel\" name=\"channel\">",
        html::csrf_field(entry),
        if draft { "" } else { " selected" },
        if draft { " selected" } else { "" },
    );
    for ch in c.state.channels.iter().filter(|ch| ch.dialect.telco.is_some()) {
        let _ = write!(
            b,
            "<option value=\"{}\"{}>{} ({}, {} characters)</option>",
            esc(&ch.name),
            if &*ch.name == channel { " selected" } else { "" },
            esc(&ch.name),
            esc(ch.dialect.name),
            ch.limit
        );
    }
    let _ = write!(
        b,
        "</select></div>\
         <div class=\"field\"><label for=\"code\">Code dialled</label>\
         <input id=\"code\" name=\"code\" value=\"{}\" required inputmode=\"tel\" autocomplete=\"off\"></div>\
         <div class=\"field\"><label for=\"msisdn\">Phone number</label>\
         <input id=\"msisdn\" name=\"phone\" value=\"{}\" required inputmode=\"tel\" autocomplete=\"off\"></div>\
         <div class=\"field\"><label for=\"language\">Language</label><select id=\"language\" name=\"language\">\
         <option value=\"\">as remembered (a new number is asked)</option>",
        esc(code),
        esc(phone)
    );
    let hub = c.state.hub();
    for l in hub.catalog.locales() {
        let _ = write!(
            b,
            "<option value=\"{}\"{}>{}</option>",
            esc(l.as_str()),
            if l.as_str() == language { " selected" } else { "" },
            esc(l.as_str())
        );
    }
    b.push_str("</select></div><button type=\"submit\" id=\"dial\">Dial</button></form>");
    let Some(sim) = sim else {
        b.push_str(
            "<p class=\"hint\">The simulator runs on a sandbox: simulated M-Pesa, agencies and SMS, a scratch store. \
             Nothing it does reaches the live store or the outside world.</p>",
        );
        return b;
    };
    let Some(last) = sim.hops.last() else { return b };
    let screen = &last.shown.screen;
    let (units, room, enc) = size(&screen.text, sim.limit);
    let over = if units > room { " over" } else { "" };
    let _ = write!(
        b,
        "<div class=\"simulator\"><section class=\"phone\" id=\"phone\" aria-label=\"Phone\">\
         <p class=\"meta\" id=\"screen-meta\"><span id=\"screen-kind\">{}</span> · \
         <span id=\"screen-size\" class=\"size{over}\">{units}/{room}</span> · <span id=\"screen-encoding\">{enc}</span>{}</p>\
         <pre class=\"screen\" id=\"screen\" aria-live=\"polite\">{}</pre>",
        if screen.end { "END" } else { "CON" },
        if enc == "UCS-2" { " (a non-GSM character halves the room)" } else { "" },
        esc(&screen.text)
    );
    if sim.ended() {
        b.push_str("<p id=\"session-expiry\">The session has ended.</p>");
    } else {
        let idle_ms = i64::try_from(c.config.session_idle_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let _ = write!(
            b,
            "<form method=\"post\" action=\"/console/phone/send\" id=\"send-form\" data-enhance>{}\
             <label for=\"phone-input\">Reply</label>\
             <input id=\"phone-input\" name=\"input\" autocomplete=\"off\" autofocus>\
             <div class=\"keypad\" id=\"keypad\" aria-hidden=\"true\">",
            html::csrf_field(entry)
        );
        for k in ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"] {
            let _ = write!(b, "<button type=\"button\" tabindex=\"-1\" data-key=\"{k}\">{k}</button>");
        }
        let _ = write!(
            b,
            "<button type=\"button\" tabindex=\"-1\" data-key=\"back\">⌫</button></div>\
             <button type=\"submit\" id=\"send\">Send</button></form>\
             <p id=\"session-expiry\">The session expires after {} s idle: at {}.</p>",
            c.config.session_idle_secs,
            esc(&crate::clock::format_eat_ms(sim.last_ms.saturating_add(idle_ms)))
        );
    }
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/console/phone/hangup\" class=\"inline\">{}\
         <button type=\"submit\" id=\"hangup\">Hang up</button></form>\
         <a id=\"save-journey\" href=\"/console/phone/journey\" download>Save as journey</a></section>",
        html::csrf_field(entry)
    );
    let _ = write!(
        b,
        "<section class=\"wire\" id=\"wire\" aria-label=\"Wire traffic\"><h2>Wire traffic ({})</h2>\
         <h3>Request</h3><pre id=\"wire-request\">{}</pre><h3>Reply</h3><pre id=\"wire-response\">{}</pre></section></div>",
        esc(&sim.channel),
        esc(&last.request),
        esc(&last.reply)
    );
    if let Some(sandbox) = c.sandboxes.current(sim.draft).await {
        sandbox_request(&mut b, &sandbox, sim).await;
    }
    b.push_str("<section id=\"transcript\"><h2>Transcript</h2><ol class=\"transcript\">");
    for h in &sim.hops {
        let (units, room, enc) = size(&h.shown.screen.text, sim.limit);
        let sent = match (&h.shown.sent, h.shown.secret) {
            (None, _) => format!("dial {}", sim.code),
            (Some(s), true) => format!("> {}", "*".repeat(s.chars().count())),
            (Some(s), false) => format!("> {s}"),
        };
        let _ = write!(
            b,
            "<li><p class=\"sent\">{}</p><p class=\"meta\">{} · {units}/{room} · {enc}</p><pre class=\"screen\">{}</pre>\
             <details><summary>wire</summary><pre>{}</pre><pre>{}</pre></details></li>",
            esc(&sent),
            if h.shown.screen.end { "END" } else { "CON" },
            esc(&h.shown.screen.text),
            esc(&h.request),
            esc(&h.reply)
        );
    }
    b.push_str("</ol></section>");
    b
}

/// The request a finished walk made in the sandbox, with its status and SMS, so the hand-off
/// can be followed to the receipt.
async fn sandbox_request(b: &mut String, sandbox: &Sandbox, sim: &Sim) {
    let hub = sandbox.state.hub();
    let Ok(rows) = hub.store.recent_requests(Some(sim.msisdn), 5).await else { return };
    let Some(r) = rows.into_iter().find(|r| r.created_at_ms >= sim.started_ms) else { return };
    let _ = write!(
        b,
        "<section id=\"sandbox-request\" data-status=\"{}\"><h2>In the sandbox</h2>\
         <p>Request <code id=\"sandbox-reference\">{}</code> ({}): status <strong id=\"sandbox-status\">{}</strong>.</p>",
        esc(&r.status),
        esc(r.reference.as_str()),
        esc(&r.service),
        esc(&r.status)
    );
    if let Ok(sms) = hub.store.sms(Some(r.id), 10).await {
        b.push_str("<ul id=\"sandbox-sms\">");
        for s in sms.iter().rev() {
            let _ = write!(
                b,
                "<li>SMS to {}: {}</li>",
                esc(&crate::types::masked_or_purged(s.record.msisdn)),
                esc(&s.record.text)
            );
        }
        b.push_str("</ul>");
    }
    b.push_str("</section>");
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map_or("", |s| s.trim())
}

/// `POST /console/phone/dial`: a new walk on the chosen sandbox.
pub async fn dial(State(c): State<Arc<Console>>, Posted { entry, form }: Posted) -> Response {
    let bad = |why: String| html::problem(StatusCode::BAD_REQUEST, Some(&entry), "Phone simulator", &why);
    let typed_phone = field(&form, "phone");
    let Ok(msisdn) = Msisdn::parse(typed_phone) else {
        return bad(format!("{typed_phone:?} is not a phone number: give one like 0712345678 or +254712345678"));
    };
    let code = field(&form, "code");
    if !crate::channel::is_dialled_code(code) {
        return bad(format!("{code:?} is not a code as dialled: give one like *384# or *384*4021#"));
    }
    let draft = field(&form, "source") == "draft";
    let sandbox = match c.sandboxes.fresh(&c, draft).await {
        Ok(s) => s,
        Err(SimError::Draft(problems)) => {
            let mut body = String::from(
                "<p class=\"error\" id=\"error\" role=\"alert\">The draft on disk does not pass the check, so it cannot be \
                 dialled:</p><ul id=\"problems\">",
            );
            for p in &problems {
                let _ = write!(body, "<li class=\"problem\">{}</li>", esc(&p.to_string()));
            }
            body.push_str("</ul><p><a href=\"/console/preview\">See the preview</a></p>");
            let page = html::page("Phone simulator", "/console/phone", Some(&entry), &body);
            return html::respond(StatusCode::UNPROCESSABLE_ENTITY, Some(&entry), page);
        }
        Err(e) => {
            tracing::error!(error = %e, "the console's sandbox did not start");
            return html::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(&entry),
                "Phone simulator",
                &format!("The sandbox did not start: {e}"),
            );
        }
    };
    let Some(channel) = sandbox.state.channels.by_name(field(&form, "channel")).filter(|ch| ch.dialect.telco.is_some())
    else {
        return bad(format!("no USSD channel {:?}", field(&form, "channel")));
    };
    let language = match field(&form, "language") {
        "" => None,
        l => match Locale::parse(l) {
            Ok(l) if sandbox.state.hub().catalog.has_locale(&l) => Some(l),
            _ => return bad(format!("no locale {l:?}")),
        },
    };
    if let Some(l) = &language
        && let Err(e) = sandbox.state.hub().store.set_language(msisdn, l.clone()).await
    {
        return bad(format!("the sandbox could not remember the language: {e}"));
    }
    let now = crate::store::now_ms();
    static WALKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut sim = Sim {
        walk: WALKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        busy: false,
        draft,
        channel: channel.name.to_string(),
        code: code.to_owned(),
        msisdn,
        typed_phone: typed_phone.to_owned(),
        language,
        limit: channel.limit,
        state: PhoneState::default(),
        hops: Vec::new(),
        started_ms: now,
        last_ms: now,
    };
    if let Err(e) = hop(&sandbox, &mut sim, None).await {
        return bad(format!("the dial failed: {e}"));
    }
    c.access.sim(&entry.sid, |s| *s = Some(Box::new(sim)));
    html::redirect("/console/phone", None)
}

/// What a send finds on the session's phone.
enum Claim {
    Nothing,
    Ended,
    Busy,
    Full,
    /// The phone, marked busy, copied out for the hop.
    Phone(Box<Sim>),
}

/// Clears the phone's busy mark when a send ends, however it ends: a browser that goes away
/// drops the handler in the middle of its hop.
struct InFlight<'a> {
    c: &'a Console,
    sid: &'a str,
    walk: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.c.access.sim(self.sid, |s| {
            if let Some(sim) = s.as_deref_mut().filter(|sim| sim.walk == self.walk) {
                sim.busy = false;
            }
        });
    }
}

/// `POST /console/phone/send`: what the citizen types on the current screen.
pub async fn send(State(c): State<Arc<Console>>, Posted { entry, form }: Posted) -> Response {
    let busy = |why: &str| html::problem(StatusCode::CONFLICT, Some(&entry), "Phone simulator", why);
    let draft = c.access.sim(&entry.sid, |s| s.as_deref().map(|sim| sim.draft)).flatten();
    let Some(draft) = draft else { return html::redirect("/console/phone", None) };
    let Some(sandbox) = c.sandboxes.current(draft).await else {
        return busy("The sandbox is gone: dial again.");
    };
    let claim = c.access.sim(&entry.sid, |s| match s.as_deref_mut() {
        None => Claim::Nothing,
        Some(sim) if sim.ended() => Claim::Ended,
        Some(sim) if sim.busy => Claim::Busy,
        Some(sim) if sim.hops.len() >= MAX_HOPS => Claim::Full,
        Some(sim) => {
            sim.busy = true;
            Claim::Phone(Box::new(sim.clone()))
        }
    });
    let mut sim = match claim.unwrap_or(Claim::Nothing) {
        Claim::Nothing | Claim::Ended => return html::redirect("/console/phone", None),
        Claim::Busy => return busy("The last reply is still on its way: wait for its screen, then send."),
        Claim::Full => {
            return busy(&format!("This walk has {MAX_HOPS} hops, the most one keeps: hang up and dial again."));
        }
        Claim::Phone(sim) => sim,
    };
    let _in_flight = InFlight { c: &c, sid: &entry.sid, walk: sim.walk };
    let input = form.get("input").map_or("", |s| s.trim_end_matches(['\r', '\n'])).to_owned();
    if let Err(e) = hop(&sandbox, &mut sim, Some(input)).await {
        return html::problem(
            StatusCode::BAD_GATEWAY,
            Some(&entry),
            "Phone simulator",
            &format!("The hop failed: {e}"),
        );
    }
    // Written back only over the walk it came from: a dial or hang-up meanwhile wins.
    sim.busy = false;
    c.access.sim(&entry.sid, |s| {
        if s.as_deref().is_some_and(|cur| cur.walk == sim.walk) {
            *s = Some(sim);
        }
    });
    html::redirect("/console/phone", None)
}

/// `POST /console/phone/hangup`: puts the phone down (the sandbox's session expires idle).
pub async fn hangup(State(c): State<Arc<Console>>, Posted { entry, .. }: Posted) -> Response {
    c.access.sim(&entry.sid, |s| *s = None);
    html::redirect("/console/phone", None)
}

/// `GET /console/phone/journey`: the walk as a journey file, as `njia dial --record` writes
/// it, for `tests/journeys/`.
pub async fn journey(State(c): State<Arc<Console>>, Viewer(entry): Viewer) -> Response {
    let Some(sim) = c.access.sim(&entry.sid, |s| s.as_deref().cloned()).flatten() else {
        return html::problem(
            StatusCode::NOT_FOUND,
            Some(&entry),
            "Phone simulator",
            "Dial first: there is no walk to save.",
        );
    };
    let walked: Vec<Shown> = sim.hops.iter().map(|h| h.shown.clone()).collect();
    let name = format!("{} {}", sim.code, sim.language.as_ref().map_or("", Locale::as_str));
    let text = crate::journey::record(name.trim(), &sim.code, sim.language.as_ref(), Some(&sim.channel), &walked);
    (
        [
            (header::CONTENT_TYPE, "application/toml; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"journey.toml\""),
        ],
        text,
    )
        .into_response()
}

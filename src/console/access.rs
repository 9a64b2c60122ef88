//! Who may use the console, and the headers every console response carries.
//!
//! Every console request (pages, forms, the assets and the 404 alike) passes [`gate`] first.
//! With `[admin]` header or basic credentials, a login form takes them (compared in constant
//! time by the same rules `/admin/*` uses) and sets a random session cookie (`HttpOnly`,
//! `SameSite=Strict`, `Path=/console`, `Secure` behind a trusted proxy that says the request
//! came over HTTPS); sessions live in memory and expire when idle. Without credentials the
//! console answers only on a loopback listener, only to a loopback peer that came through no
//! proxy (no `Forwarded`, `X-Forwarded-For` or `X-Real-IP`), and only under a local name
//! (`Host`, and `Origin` when sent: `localhost`, a loopback address or the listen address), so
//! neither a reverse proxy on this machine nor a page that rebinds its DNS name to 127.0.0.1
//! reaches it. `[admin]` `allow` blocks apply in both cases. Every POST must carry the
//! session's CSRF token (the `csrf` field or an `X-CSRF-Token` header) and, when it has an
//! `Origin`, come from this host.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use governor::{Quota, RateLimiter};
use subtle::ConstantTimeEq;

use super::Console;
use super::html::{self, esc};
use super::phone::Sim;
use crate::channel::auth::ChannelAuth;

/// The session cookie's name.
const COOKIE: &str = "njia_console";
/// A session unused this long is forgotten: the next request logs in again.
const IDLE: Duration = Duration::from_secs(30 * 60);
/// Sessions kept at most; the least recently used goes first, so a flood of first visits
/// cannot grow memory without bound.
const MAX_SESSIONS: usize = 10_000;
/// Pre-login sessions (a login page's CSRF token) kept at most, in a pool of their own: a
/// flood of login pages pushes out only other login pages, never a signed-in session.
const MAX_PENDING: usize = 1_000;
/// Expired sessions are swept at most this often, not on every new session.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Login attempts one client address may make at once, then one per [`LOGIN_CLIENT_EVERY`].
const LOGIN_CLIENT_BURST: NonZeroU32 = nonzero(5);
const LOGIN_CLIENT_EVERY: Duration = Duration::from_secs(12);
/// Login attempts from all addresses together at once, then one per [`LOGIN_ALL_EVERY`]: an
/// attacker spread over many addresses still guesses slowly.
const LOGIN_ALL_BURST: NonZeroU32 = nonzero(30);
const LOGIN_ALL_EVERY: Duration = Duration::from_secs(1);

const fn nonzero(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

/// The Content-Security-Policy of every console response: scripts and styles only from the
/// console's own files, no inline script or style, no framing, forms post only here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The caller of a console request: the connection's address and the listener's (which the
/// server's dispatch lends as `ConnectInfo` and `ListenAddr`) and the request's headers.
pub struct Caller {
    /// The peer, IPv4-mapped IPv6 addresses as IPv4 (`::ffff:127.0.0.1` is loopback).
    pub peer: IpAddr,
    /// The address the listener is bound to; `None` when served by something other than the
    /// server's dispatch.
    pub listener: Option<SocketAddr>,
    pub headers: HeaderMap,
}

impl Caller {
    fn of(extensions: &axum::http::Extensions, headers: &HeaderMap) -> Caller {
        // Without the address (a router served by something other than the server's
        // dispatch) the caller counts as remote: refused unless credentials are configured.
        let peer = extensions
            .get::<ConnectInfo<IpAddr>>()
            .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| c.0.to_canonical());
        let listener = extensions.get::<crate::server::ListenAddr>().map(|l| l.0);
        Caller { peer, listener, headers: headers.clone() }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, Self::Rejection> {
        Ok(Caller::of(&parts.extensions, &parts.headers))
    }
}

/// Lets a console request through, or refuses it by address (see [`address`]): the first
/// thing every console path does, the assets and the 404 included.
pub async fn gate(State(c): State<Arc<Console>>, req: Request, next: Next) -> Response {
    let caller = Caller::of(req.extensions(), req.headers());
    match address(&c, &caller) {
        Ok(()) => next.run(req).await,
        Err(r) => *r,
    }
}

/// A page request let in ([`Sessions::enter_get`]); refused or sent to the login page
/// otherwise.
pub struct Viewer(pub Entry);

impl FromRequestParts<Arc<Console>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Arc<Console>) -> Result<Viewer, Response> {
        let Ok(caller) = Caller::from_request_parts(parts, c).await;
        c.access.enter_get(c, &caller).map(Viewer).map_err(|r| *r)
    }
}

/// A form POST let in ([`Sessions::enter_post`]: its `Origin` and CSRF token checked), with
/// its fields.
pub struct Posted {
    pub entry: Entry,
    pub form: HashMap<String, String>,
}

impl FromRequest<Arc<Console>> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, c: &Arc<Console>) -> Result<Posted, Response> {
        let (mut parts, body) = req.into_parts();
        let Ok(caller) = Caller::from_request_parts(&mut parts, c).await;
        let req = Request::from_parts(parts, body);
        let axum::Form(form) =
            axum::Form::<HashMap<String, String>>::from_request(req, c).await.map_err(IntoResponse::into_response)?;
        let entry = c.access.enter_post(c, &caller, form.get("csrf").map(String::as_str)).map_err(|r| *r)?;
        Ok(Posted { entry, form })
    }
}

/// One console session.
struct Session {
    /// Logged in (always, when no credentials are configured).
    signed_in: bool,
    csrf: String,
    seen: Instant,
    /// The simulator's phone, if one is dialled.
    sim: Option<Box<Sim>>,
}

/// The console's sessions, in memory, and the login rate limits.
pub struct Sessions {
    pools: Mutex<Pools>,
    logins: LoginLimits,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions {
            pools: Mutex::new(Pools { signed: HashMap::new(), pending: HashMap::new(), swept: Instant::now() }),
            logins: LoginLimits::default(),
        }
    }
}

/// Signed-in sessions (every session without credentials) and pre-login ones, apart.
struct Pools {
    signed: HashMap<String, Session>,
    pending: HashMap<String, Session>,
    swept: Instant,
}

impl Pools {
    /// Forgets expired sessions, at most once per [`SWEEP_EVERY`]: a new session does not
    /// scan every session under the lock.
    fn sweep(&mut self) {
        if self.swept.elapsed() < SWEEP_EVERY {
            return;
        }
        self.swept = Instant::now();
        self.signed.retain(|_, s| s.seen.elapsed() <= IDLE);
        self.pending.retain(|_, s| s.seen.elapsed() <= IDLE);
    }
}

/// Makes room in a full pool: its least recently used session goes (a scan, only when full).
fn make_room(pool: &mut HashMap<String, Session>, max: usize) {
    if pool.len() >= max
        && let Some(oldest) = pool.iter().min_by_key(|(_, s)| s.seen).map(|(k, _)| k.clone())
    {
        pool.remove(&oldest);
    }
}

/// Login attempts, limited per client address and overall (governor's GCRA). Every attempt
/// counts, a success too: the limiter must answer before the credentials are compared, and
/// an administrator types them a few times at most.
struct LoginLimits {
    per_client:
        RateLimiter<IpAddr, governor::state::keyed::DefaultKeyedStateStore<IpAddr>, governor::clock::DefaultClock>,
    overall: governor::DefaultDirectRateLimiter,
}

impl Default for LoginLimits {
    fn default() -> LoginLimits {
        let quota = |every: Duration, burst: NonZeroU32| {
            Quota::with_period(every).map_or_else(|| Quota::per_second(NonZeroU32::MIN), |q| q.allow_burst(burst))
        };
        LoginLimits {
            per_client: RateLimiter::keyed(quota(LOGIN_CLIENT_EVERY, LOGIN_CLIENT_BURST)),
            overall: RateLimiter::direct(quota(LOGIN_ALL_EVERY, LOGIN_ALL_BURST)),
        }
    }
}

impl LoginLimits {
    /// Takes one attempt for `client`, or says why none is left.
    fn attempt(&self, client: IpAddr) -> Result<(), &'static str> {
        self.per_client.retain_recent();
        if self.per_client.check_key(&client).is_err() {
            return Err("Too many login attempts from this address: wait a minute, then try again.");
        }
        if self.overall.check().is_err() {
            return Err("Too many login attempts to this console just now: wait a minute, then try again.");
        }
        Ok(())
    }
}

/// A request let in: its session, its CSRF token, and the cookie to set when it opened one.
pub struct Entry {
    pub sid: String,
    pub csrf: String,
    /// Signed in with credentials (the page offers to log out).
    pub signed_in: bool,
    pub set_cookie: Option<HeaderValue>,
}

/// A random token: 256 bits, hex.
fn token() -> String {
    let (a, b): (u128, u128) = (rand::random(), rand::random());
    format!("{a:032x}{b:032x}")
}

fn ct_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether `[admin]` has credentials a login can take.
fn has_credentials(admin: Option<&ChannelAuth>) -> bool {
    admin.is_some_and(|a| a.header.is_some() || a.basic.is_some())
}

/// A request the console does not let in, answered: boxed, as it travels up as an error.
pub type Refused = Box<Response>;

fn refused(status: StatusCode, why: &str) -> Refused {
    Box::new((status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{why}\n")).into_response())
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pools> {
        self.pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session named by the request's cookie, if it is alive; touched.
    fn current(&self, caller: &Caller) -> Option<(String, String, bool)> {
        let sid = cookie(&caller.headers)?;
        let mut pools = self.lock();
        let pool = if pools.signed.contains_key(&sid) { &mut pools.signed } else { &mut pools.pending };
        let s = pool.get_mut(&sid)?;
        if s.seen.elapsed() > IDLE {
            pool.remove(&sid);
            return None;
        }
        s.seen = Instant::now();
        Some((sid, s.csrf.clone(), s.signed_in))
    }

    /// A new session, and the cookie that names it: signed in (or without credentials), or
    /// waiting for a login, each in its own pool.
    fn open(&self, signed_in: bool, secure: bool) -> Entry {
        let (sid, csrf) = (token(), token());
        let mut pools = self.lock();
        pools.sweep();
        let (pool, max) = if signed_in { (&mut pools.signed, MAX_SESSIONS) } else { (&mut pools.pending, MAX_PENDING) };
        make_room(pool, max);
        pool.insert(sid.clone(), Session { signed_in, csrf: csrf.clone(), seen: Instant::now(), sim: None });
        let flags = if secure { "; Secure" } else { "" };
        let cookie =
            HeaderValue::from_str(&format!("{COOKIE}={sid}; Path=/console; HttpOnly; SameSite=Strict{flags}")).ok();
        Entry { sid, csrf, signed_in, set_cookie: cookie }
    }

    fn close(&self, sid: &str) {
        let mut pools = self.lock();
        pools.signed.remove(sid);
        pools.pending.remove(sid);
    }

    /// Runs `f` on the session's simulator phone (None when the session is gone or not signed
    /// in).
    pub fn sim<R>(&self, sid: &str, f: impl FnOnce(&mut Option<Box<Sim>>) -> R) -> Option<R> {
        self.lock().signed.get_mut(sid).map(|s| f(&mut s.sim))
    }

    /// Lets a page request in (the [`gate`] has judged its address), or answers it: sent to the login page, or
    /// (without credentials, from loopback) given a session of its own.
    pub fn enter_get(&self, c: &Console, caller: &Caller) -> Result<Entry, Refused> {
        let credentials = has_credentials(c.state.admin.as_ref());
        match self.current(caller) {
            Some((sid, csrf, signed_in)) if signed_in || !credentials => {
                Ok(Entry { sid, csrf, signed_in: signed_in && credentials, set_cookie: None })
            }
            _ if credentials => Err(Box::new(html::redirect("/console/login", None))),
            _ => Ok(self.open(true, secure(c, caller)).without_logout()),
        }
    }

    /// Lets a state-changing request in: as a page, and only with this host's `Origin` (when
    /// one is sent) and the session's CSRF token (`form_csrf`, or the `X-CSRF-Token` header).
    pub fn enter_post(&self, c: &Console, caller: &Caller, form_csrf: Option<&str>) -> Result<Entry, Refused> {
        same_origin(c, caller)?;
        let credentials = has_credentials(c.state.admin.as_ref());
        let Some((sid, csrf, signed_in)) = self.current(caller) else {
            return Err(refused(StatusCode::FORBIDDEN, "forbidden: no console session; open the console page first"));
        };
        if credentials && !signed_in {
            return Err(refused(StatusCode::FORBIDDEN, "forbidden: log in first"));
        }
        check_csrf(caller, form_csrf, &csrf)?;
        Ok(Entry { sid, csrf, signed_in: signed_in && credentials, set_cookie: None })
    }
}

impl Entry {
    /// A loopback session has nobody to log out.
    fn without_logout(self) -> Entry {
        Entry { signed_in: false, ..self }
    }
}

/// The session id in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// `[admin]` `allow` blocks, and without credentials [`local_only`].
fn address(c: &Console, caller: &Caller) -> Result<(), Refused> {
    let admin = c.state.admin.as_ref();
    if let Some(a) = admin
        && !a.allow.is_empty()
    {
        let client = a.client_ip(&caller.headers, caller.peer).to_canonical();
        if !a.allow.iter().any(|block| block.contains(client)) {
            return Err(denied(&client, "forbidden: this address is not in [admin] allow"));
        }
    }
    if has_credentials(admin) { Ok(()) } else { local_only(caller) }
}

/// Counts and logs a refusal by address, and answers it with its reason.
fn denied(client: &dyn std::fmt::Display, why: &str) -> Refused {
    tracing::warn!(client = %client, reason = why, "console request refused");
    crate::metrics::METRICS.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    refused(StatusCode::FORBIDDEN, why)
}

/// The headers a proxy adds: without credentials a request carrying one is refused, since a
/// reverse proxy on this machine would make every internet caller look like loopback.
const PROXIED: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// Without credentials the console is this machine's only: a loopback listener, a loopback
/// peer, no proxy in between, and a local name in `Host` (and `Origin`, when sent), so a web
/// page whose DNS name was rebound to 127.0.0.1 cannot read a page or post a form.
fn local_only(caller: &Caller) -> Result<(), Refused> {
    let peer = caller.peer;
    let Some(listener) = caller.listener.filter(|l| l.ip().to_canonical().is_loopback()) else {
        let at = caller.listener.map_or_else(|| "an unknown address".to_owned(), |l| l.to_string());
        return Err(denied(
            &peer,
            &format!(
                "forbidden: without [admin] credentials the console is served only on a loopback listener, and this \
                 server listens on {at}; listen on 127.0.0.1, or configure [admin] header or basic credentials"
            ),
        ));
    };
    if !peer.is_loopback() {
        return Err(denied(
            &peer,
            "forbidden: without [admin] credentials the console answers this machine only (loopback); configure \
             [admin] header or basic credentials to open it from elsewhere",
        ));
    }
    if let Some(h) = PROXIED.iter().find(|h| caller.headers.contains_key(**h)) {
        return Err(denied(
            &peer,
            &format!(
                "forbidden: without [admin] credentials the console answers this machine only (loopback), never \
                 through a proxy, and this request carries {h}; configure [admin] header or basic credentials to \
                 serve it behind a proxy"
            ),
        ));
    }
    let host = caller.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if !local_name(host, listener) {
        return Err(denied(
            &peer,
            &format!(
                "forbidden: Host {host:?} is not this machine: without [admin] credentials the console answers only \
                 as localhost, a loopback address or {listener}"
            ),
        ));
    }
    if let Some(origin) = caller.headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
        if !authority.is_some_and(|a| local_name(a, listener)) {
            return Err(denied(
                &peer,
                &format!(
                    "forbidden: Origin {origin:?} is not this machine: without [admin] credentials the console \
                     answers only pages of localhost, a loopback address or {listener}"
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `authority` (`host[:port]`) names this machine: `localhost`, a loopback address,
/// or the address the listener is bound to. The port does not matter: what a rebound name
/// cannot fake is the name itself.
fn local_name(authority: &str, listener: SocketAddr) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(h, _)| h),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback() || ip == listener.ip())
}

/// Whether the request came over TLS: a trusted proxy of `[admin]` says so.
fn secure(c: &Console, caller: &Caller) -> bool {
    let from_proxy = c.state.admin.as_ref().is_some_and(|a| a.trusted_proxies.iter().any(|p| p.contains(caller.peer)));
    from_proxy
        && caller
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A POST whose `Origin` names another site is refused (a browser always sends it on a
/// cross-site POST). The host it must match is the request's `Host`, or the
/// `X-Forwarded-Host` a trusted proxy of `[admin]` sets when it rewrites `Host`.
fn same_origin(c: &Console, caller: &Caller) -> Result<(), Refused> {
    let Some(origin) = caller.headers.get(header::ORIGIN) else { return Ok(()) };
    let header_value = |name: &str| caller.headers.get(name).and_then(|h| h.to_str().ok());
    let from_proxy = c.state.admin.as_ref().is_some_and(|a| a.trusted_proxies.iter().any(|p| p.contains(caller.peer)));
    let host = from_proxy
        .then(|| header_value("x-forwarded-host"))
        .flatten()
        .or_else(|| header_value(header::HOST.as_str()))
        .unwrap_or_default();
    let ok = origin
        .to_str()
        .ok()
        .and_then(|o| o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")))
        .is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host.trim()));
    if ok {
        Ok(())
    } else {
        tracing::warn!("console POST from another origin refused");
        Err(refused(StatusCode::FORBIDDEN, "forbidden: this request came from another site (Origin)"))
    }
}

fn check_csrf(caller: &Caller, form: Option<&str>, want: &str) -> Result<(), Refused> {
    let given = form.or_else(|| caller.headers.get("x-csrf-token").and_then(|v| v.to_str().ok())).unwrap_or_default();
    if !given.is_empty() && ct_eq(given, want) {
        Ok(())
    } else {
        tracing::warn!("console POST without a valid CSRF token refused");
        Err(refused(StatusCode::FORBIDDEN, "forbidden: missing or wrong CSRF token; reload the page and try again"))
    }
}

/// The headers of every console response: CSP, no sniffing, no referrer beyond this site, no
/// framing, and no caching unless the response chose otherwise (the assets do).
///
/// The referrer policy is `same-origin`, not `no-referrer`: under `no-referrer` a browser
/// sends `Origin: null` on its own same-site form POSTs and `fetch`es (the Fetch standard's
/// origin serialization), so the Origin check refused every form a real browser posted (the
/// browser tests found it). `same-origin` still sends nothing to another site, and a
/// cross-site POST still says `null` or its own origin, which the check refuses.
pub async fn headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// `GET /console/login`: the form for the `[admin]` credentials. It opens a session that is
/// not signed in yet, so the form carries a CSRF token too.
pub async fn login_page(State(c): State<Arc<Console>>, caller: Caller) -> Response {
    let admin = c.state.admin.as_ref();
    if !has_credentials(admin) {
        return html::redirect("/console", None);
    }
    let entry = match c.access.current(&caller) {
        Some((_, _, true)) => return html::redirect("/console", None),
        Some((sid, csrf, false)) => Entry { sid, csrf, signed_in: false, set_cookie: None },
        None => c.access.open(false, secure(&c, &caller)),
    };
    html::respond(StatusCode::OK, Some(&entry), html::page("Log in", "", None, &login_form(admin, &entry, None)))
}

fn login_form(admin: Option<&ChannelAuth>, entry: &Entry, error: Option<&str>) -> String {
    let mut body = String::new();
    if let Some(e) = error {
        body.push_str(&format!("<p class=\"error\" id=\"login-error\" role=\"alert\">{}</p>", esc(e)));
    }
    body.push_str("<form method=\"post\" action=\"/console/login\" class=\"stack\" id=\"login-form\">");
    body.push_str(&html::csrf_field(entry));
    if let Some((name, _)) = admin.and_then(|a| a.header.as_ref()) {
        body.push_str(&format!(
            "<label for=\"token\">Admin token (the <code>{}</code> secret)</label>\
             <input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"current-password\" required autofocus>",
            esc(name.as_str())
        ));
    }
    if admin.is_some_and(|a| a.basic.is_some()) {
        body.push_str(
            "<label for=\"user\">User</label><input type=\"text\" id=\"user\" name=\"user\" autocomplete=\"username\" required>\
             <label for=\"password\">Password</label>\
             <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>",
        );
    }
    body.push_str("<button type=\"submit\" id=\"login-submit\">Log in</button></form>");
    body
}

/// `POST /console/login`: checks the credentials with `[admin]`'s own rules (constant time)
/// and, when they pass, replaces the pre-login session with a signed-in one (a new id, so a
/// session fixed before the login is worth nothing after it).
pub async fn login(
    State(c): State<Arc<Console>>,
    caller: Caller,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = same_origin(&c, &caller) {
        return *r;
    }
    let Some(admin) = c.state.admin.as_ref().filter(|a| has_credentials(Some(a))) else {
        return html::redirect("/console", None);
    };
    let Some((sid, csrf, _)) = c.access.current(&caller) else {
        return *refused(StatusCode::FORBIDDEN, "forbidden: open the login page first (the console needs cookies)");
    };
    if let Err(r) = check_csrf(&caller, form.get("csrf").map(String::as_str), &csrf) {
        return *r;
    }
    let client = admin.client_ip(&caller.headers, caller.peer).to_canonical();
    if let Err(why) = c.access.logins.attempt(client) {
        crate::metrics::METRICS.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(client = %client, "console login refused: too many attempts");
        let entry = Entry { sid, csrf, signed_in: false, set_cookie: None };
        let body = login_form(Some(admin), &entry, Some(why));
        let mut r = html::respond(StatusCode::TOO_MANY_REQUESTS, Some(&entry), html::page("Log in", "", None, &body));
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return r;
    }
    // The form's fields as the headers `[admin]` checks, so the console and `/admin/*` accept
    // exactly the same credentials, compared the same constant-time way.
    let mut given = HeaderMap::new();
    if let Some((name, _)) = &admin.header
        && let Ok(v) = HeaderValue::from_str(form.get("token").map_or("", String::as_str))
    {
        given.insert(name.clone(), v);
    }
    if admin.basic.is_some() {
        let pair = format!(
            "{}:{}",
            form.get("user").map_or("", String::as_str),
            form.get("password").map_or("", String::as_str)
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        if let Ok(v) = HeaderValue::from_str(&format!("Basic {encoded}")) {
            given.insert(header::AUTHORIZATION, v);
        }
    }
    let credentials_only = ChannelAuth { allow: Vec::new(), trusted_proxies: Vec::new(), ..admin.clone() };
    if credentials_only.check(&given, caller.peer).is_err() {
        crate::metrics::METRICS.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(client = %admin.client_ip(&caller.headers, caller.peer), "console login refused");
        let entry = Entry { sid, csrf, signed_in: false, set_cookie: None };
        let body = login_form(Some(admin), &entry, Some("Those credentials are not the [admin] ones."));
        return html::respond(StatusCode::UNAUTHORIZED, Some(&entry), html::page("Log in", "", None, &body));
    }
    c.access.close(&sid);
    let entry = c.access.open(true, secure(&c, &caller));
    tracing::info!(client = %admin.client_ip(&caller.headers, caller.peer), "console login");
    html::redirect("/console", Some(&entry))
}

/// `POST /console/logout`: forgets the session and its cookie.
pub async fn logout(State(c): State<Arc<Console>>, Posted { entry, .. }: Posted) -> Response {
    c.access.close(&entry.sid);
    let mut r =
        html::redirect(if has_credentials(c.state.admin.as_ref()) { "/console/login" } else { "/console" }, None);
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("njia_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

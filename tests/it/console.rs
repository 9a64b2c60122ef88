//! The administrators' console (#14), against the real server over HTTP: access (login with
//! `[admin]` credentials, loopback only without), the session cookie's flags, CSRF and
//! Origin, the headers and the absence of inline script on every page, masking, the phone
//! simulator on its sandbox, preview and reload, the helpdesk, a dead letter's retry, the
//! drop-off figures and `njia console`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::editable::{config_on_copies, copy_dir, edit};
use crate::common::{TestServer, at_hop, at_walk, config, exchange_with, form, lands_down, njia, paid_walk, repo};
use njia::config::{AdminSection, BackendSection, ChannelSection, Config, HeaderAuthSection};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const TOKEN: &str = "c0ns0le-t0ken";

/// A browser: keeps the console's session cookie and reads pages.
struct Browser {
    addr: std::net::SocketAddr,
    cookie: Option<String>,
    /// Extra headers sent with every request.
    headers: Vec<(String, String)>,
}

struct Page {
    status: u16,
    head: String,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The value of the hidden CSRF field of the page's forms.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        self.body[at..].split('"').next().unwrap().to_owned()
    }

    /// The text of the element with `id`, markup and entities as written.
    fn by_id(&self, id: &str) -> Option<String> {
        let at = self.body.find(&format!("id=\"{id}\""))?;
        let open = self.body[at..].find('>')? + at + 1;
        let close = self.body[open..].find("</")? + open;
        Some(self.body[open..close].to_owned())
    }
}

impl Browser {
    fn new(server: &TestServer) -> Browser {
        Browser { addr: server.addr, cookie: None, headers: Vec::new() }
    }

    async fn send(&mut self, method: &str, path: &str, body: &str, extra: &[(&str, &str)]) -> Page {
        let mut headers: Vec<(&str, &str)> = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let cookie = self.cookie.as_ref().map(|c| format!("njia_console={c}"));
        if let Some(c) = &cookie {
            headers.push(("Cookie", c));
        }
        headers.extend_from_slice(extra);
        let (status, head, body) =
            exchange_with(self.addr, method, path, "application/x-www-form-urlencoded", &headers, body).await.unwrap();
        let page = Page { status, head, body };
        for l in page.head.lines() {
            if let Some(v) = l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")) {
                let value = v.split(';').next().unwrap().trim_start_matches("njia_console=");
                self.cookie = (!value.is_empty()).then(|| value.to_owned());
            }
        }
        page
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send("GET", path, "", &[]).await
    }

    async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Page {
        self.send("POST", path, &form(pairs), &[]).await
    }

    /// Dials the simulator: `source` (served or draft), over `channel`, `code` from `phone` in
    /// `language` (empty: as remembered).
    async fn dial(&mut self, source: &str, channel: &str, code: &str, phone: &str, language: &str) -> Page {
        let fields =
            [("source", source), ("channel", channel), ("code", code), ("phone", phone), ("language", language)];
        self.submit("/console/phone", "/console/phone/dial", &fields).await
    }

    /// Posts a form with the CSRF token of `from`.
    async fn submit(&mut self, from: &str, path: &str, pairs: &[(&str, &str)]) -> Page {
        let csrf = self.get(from).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(pairs);
        self.post(path, &all).await
    }
}

fn admin_config(data: &Path) -> Config {
    let mut c = config(data);
    c.admin = Some(AdminSection {
        header: Some(HeaderAuthSection { name: "X-Njia-Admin".into(), secret_env: "T_CONSOLE_ADMIN".into() }),
        trusted_proxies: vec!["127.0.0.1/32".into()],
        ..AdminSection::default()
    });
    c.secrets.insert("T_CONSOLE_ADMIN".into(), TOKEN.into());
    c
}

/// Fast hand-off, so a sandbox payment reaches its receipt within a test.
fn quick(mut c: Config) -> Config {
    c.dispatcher.push_delay_ms = 0;
    c.dispatcher.sandbox_pin_delay_ms = 0;
    c
}

/// Gets `path` until `done` holds for the page (at most 60 s); the last page.
async fn until(b: &mut Browser, what: &str, path: &str, done: impl Fn(&Page) -> bool) -> Page {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = b.get(path).await;
        if done(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "{what}: not within 60 s; last page: {}", p.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn without_credentials_the_console_answers_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(config(dir.path())).await;
    let mut b = Browser::new(&server);
    let page = b.get("/console").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let cookie = page.header("set-cookie").expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP from loopback: {cookie}");
    assert!(!page.body.contains("id=\"logout\""), "nobody to log out without credentials");
    server.stop().await;

    // [admin] with only an address rule and a trusted proxy: a client the proxy forwards from
    // beyond this machine is refused with a reason, this machine is let in.
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.admin = Some(AdminSection {
        allow: vec!["10.0.0.0/8".into(), "127.0.0.0/8".into()],
        trusted_proxies: vec!["127.0.0.1/32".into()],
        ..AdminSection::default()
    });
    let server = TestServer::start_console(c).await;
    let mut b = Browser::new(&server);
    b.headers.push(("X-Forwarded-For".into(), "10.1.2.3".into()));
    let refused = b.get("/console/phone").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("loopback"), "{}", refused.body);
    assert_eq!(refused.header("content-security-policy"), Some(CSP), "refusals carry the headers too");
    let mut b = Browser::new(&server);
    b.headers.push(("X-Forwarded-For".into(), "192.168.7.7".into()));
    let page = b.get("/console").await;
    assert_eq!(page.status, 403, "not in [admin] allow");
    assert!(page.body.contains("allow"), "{}", page.body);
    assert_eq!(Browser::new(&server).get("/console").await.status, 200);
    server.stop().await;
}

/// Without credentials the console is this machine's alone: a reverse proxy on this machine
/// (its requests come from 127.0.0.1 but carry a forwarding header) and a web page whose DNS
/// name was rebound to 127.0.0.1 (its requests carry its own name in Host and Origin) are
/// refused, the assets and the 404 included; local names are let in.
#[tokio::test]
async fn without_credentials_a_proxy_or_a_rebound_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(config(dir.path())).await;
    let port = server.addr.port();
    let evil = format!("evil.example:{port}");
    let mut b = Browser::new(&server);
    let page = b.get("/console/phone").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    let asset = regex::Regex::new(r"/console/assets/console\.[0-9a-f]{16}\.css").unwrap();
    let asset = asset.find(&page.body).unwrap().as_str().to_owned();
    for path in ["/console", "/console/phone", asset.as_str(), "/console/nowhere"] {
        let p = b.send("GET", path, "", &[("Host", &evil)]).await;
        assert_eq!(p.status, 403, "{path}: {}", p.body);
        assert!(p.body.contains("Host \"evil.example"), "{path}: {}", p.body);
        assert_eq!(p.header("content-security-policy"), Some(CSP), "{path}");
    }
    // The rebound page's POST, with the session and token it got under its own name.
    let origin = format!("http://{evil}");
    let rebound = b
        .send("POST", "/console/phone/hangup", &form(&[("csrf", &csrf)]), &[("Host", &evil), ("Origin", &origin)])
        .await;
    assert_eq!(rebound.status, 403, "{}", rebound.body);
    // A local name's Origin on a local Host is still checked against the other.
    let foreign = b.send("GET", "/console", "", &[("Origin", &origin)]).await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    assert!(foreign.body.contains("Origin"), "{}", foreign.body);
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("[::1]:{port}"), "localhost".into()]
    {
        assert_eq!(b.send("GET", "/console", "", &[("Host", &host)]).await.status, 200, "Host {host}");
    }
    let ours = format!("http://localhost:{port}");
    let posted = b
        .send(
            "POST",
            "/console/phone/hangup",
            &form(&[("csrf", &csrf)]),
            &[("Host", &format!("localhost:{port}")), ("Origin", &ours)],
        )
        .await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    // Through a proxy on this machine: every forwarding header is refused, with the reason.
    for (name, value) in
        [("X-Forwarded-For", "203.0.113.9"), ("X-Real-IP", "127.0.0.1"), ("Forwarded", "for=127.0.0.1")]
    {
        let p = b.send("GET", "/console", "", &[(name, value)]).await;
        assert_eq!(p.status, 403, "{name}: {}", p.body);
        assert!(p.body.contains("never through a proxy") && p.body.contains(&name.to_ascii_lowercase()), "{}", p.body);
    }
    server.stop().await;

    // A listener beyond loopback (its channels authenticated, so the server starts): the
    // console refuses even a loopback caller, and says why.
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    let key = HeaderAuthSection { name: "X-Njia-Key".into(), secret_env: "T_CONSOLE_AT_KEY".into() };
    c.channels.insert("africastalking".into(), ChannelSection { header: Some(key), ..ChannelSection::default() });
    c.secrets.insert("T_CONSOLE_AT_KEY".into(), "at-secret".into());
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let server = TestServer::start_console_on(listener, c).await;
    let p = Browser::new(&server).get("/console").await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(p.body.contains("only on a loopback listener"), "{}", p.body);
    server.stop().await;
}

#[tokio::test]
async fn with_credentials_a_login_sets_a_strict_session_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(admin_config(dir.path())).await;
    let mut b = Browser::new(&server);
    let page = b.get("/console/requests").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/console/login"));
    let login = b.get("/console/login").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("id=\"token\""), "{}", login.body);
    let before = b.cookie.clone().expect("a pre-login session");
    let wrong = b.post("/console/login", &[("csrf", &login.csrf()), ("token", "guess")]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("not the [admin] ones"), "{}", wrong.body);
    assert_eq!(b.get("/console").await.status, 303, "still not signed in");
    let login = b.get("/console/login").await;
    let ok = b.post("/console/login", &[("csrf", &login.csrf()), ("token", TOKEN)]).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = ok.header("set-cookie").expect("the signed-in session").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/console"));
    assert_ne!(b.cookie.as_deref(), Some(before.as_str()), "a new session id after the login");
    let home = b.get("/console").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("id=\"logout\""));
    // The session is the console's: the admin API still wants its header.
    assert_eq!(b.get("/admin/preview").await.status, 401);
    let out = b.submit("/console", "/console/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(b.get("/console").await.status, 303, "logged out");

    // Behind a trusted proxy that terminated TLS, the cookie is Secure.
    let mut b = Browser::new(&server);
    b.headers.push(("X-Forwarded-Proto".into(), "https".into()));
    let login = b.get("/console/login").await;
    assert!(login.header("set-cookie").unwrap().contains("; Secure"));
    let ok = b.post("/console/login", &[("csrf", &login.csrf()), ("token", TOKEN)]).await;
    assert!(ok.header("set-cookie").unwrap().contains("; Secure"));
    server.stop().await;
}

#[tokio::test]
async fn a_post_without_the_csrf_token_or_from_another_origin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(config(dir.path())).await;
    let mut b = Browser::new(&server);
    let csrf = b.get("/console/phone").await.csrf();
    let none = b.post("/console/phone/hangup", &[]).await;
    assert_eq!(none.status, 403);
    assert!(none.body.contains("CSRF"), "{}", none.body);
    assert_eq!(b.post("/console/phone/hangup", &[("csrf", "0123")]).await.status, 403);
    let foreign =
        b.send("POST", "/console/phone/hangup", &form(&[("csrf", &csrf)]), &[("Origin", "http://evil.example")]).await;
    assert_eq!(foreign.status, 403);
    assert!(foreign.body.contains("Origin"), "{}", foreign.body);
    let here = format!("http://{}", server.addr);
    let ours = b.send("POST", "/console/phone/hangup", &form(&[("csrf", &csrf)]), &[("Origin", &here)]).await;
    assert_eq!(ours.status, 303, "{}", ours.body);
    // The header carries it as well as the field (the script sends both).
    let header = b.send("POST", "/console/phone/hangup", "", &[("X-CSRF-Token", &csrf)]).await;
    assert_eq!(header.status, 303);
    // Another session's token is no good.
    let mut other = Browser::new(&server);
    let theirs = other.get("/console/phone").await.csrf();
    assert_eq!(b.post("/console/phone/hangup", &[("csrf", &theirs)]).await.status, 403);
    // A reload needs the token too.
    assert_eq!(b.post("/console/reload", &[("confirm", "yes")]).await.status, 403);
    server.stop().await;
}

/// Markup the CSP would refuse, or that would run script: none in any page.
fn assert_no_inline_script(path: &str, body: &str) {
    let lower = body.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = lower[at..].find("<script") {
        let tag_end = lower[at + i..].find('>').unwrap() + at + i;
        assert!(lower[at + i..tag_end].contains(" src="), "{path}: an inline <script>");
        assert!(lower[tag_end..].starts_with("></script>"), "{path}: a script element with a body");
        at = tag_end;
    }
    assert!(!lower.contains(" style="), "{path}: an inline style attribute");
    assert!(!lower.contains("<style"), "{path}: an inline stylesheet");
    assert!(!lower.contains("javascript:"), "{path}: a javascript: URL");
    let handler = regex::Regex::new(r#"\son[a-z]+\s*="#).unwrap();
    assert!(!handler.is_match(&lower), "{path}: an inline event handler");
}

#[tokio::test]
async fn every_page_carries_the_headers_and_no_inline_script() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(config(dir.path())).await;
    let mut b = Browser::new(&server);
    let pages = [
        "/console",
        "/console/phone",
        "/console/preview",
        "/console/reload",
        "/console/map",
        "/console/map?menu=ecitizen&screen=home",
        "/console/map?source=draft&menu=ecitizen&service=4021",
        "/console/requests",
        "/console/requests?status=paid",
        "/console/requests?q=nonsense",
        "/console/jobs?state=dead",
        "/console/dropoff",
        "/console/nowhere",
    ];
    let mut assets = Vec::new();
    for path in pages {
        let p = b.get(path).await;
        assert_eq!(p.status, if path == "/console/nowhere" { 404 } else { 200 }, "{path}: {}", p.body);
        assert_eq!(p.header("content-security-policy"), Some(CSP), "{path}");
        assert_eq!(p.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(p.header("referrer-policy"), Some("same-origin"), "{path}");
        assert_eq!(p.header("cache-control"), Some("no-store"), "{path}");
        assert_no_inline_script(path, &p.body);
        for prefix in ["href=\"/console/assets/", "src=\"/console/assets/"] {
            if let Some(at) = p.body.find(prefix) {
                let rest = &p.body[at + prefix.len() - "/console/assets/".len()..];
                assets.push(rest.split('"').next().unwrap().to_owned());
            }
        }
    }
    assets.sort();
    assets.dedup();
    assert_eq!(assets.len(), 2, "one stylesheet and one script: {assets:?}");
    let hashed = regex::Regex::new(r"^/console/assets/console\.[0-9a-f]{16}\.(css|js)$").unwrap();
    for a in &assets {
        assert!(hashed.is_match(a), "{a}");
        let p = b.get(a).await;
        assert_eq!(p.status, 200);
        assert_eq!(p.header("cache-control"), Some("public, max-age=31536000, immutable"));
        assert_eq!(p.header("content-security-policy"), Some(CSP));
    }
    assert_eq!(b.get("/console/assets/console.0000000000000000.css").await.status, 404);
    server.stop().await;
}

fn screen(p: &Page) -> String {
    p.by_id("screen").expect("a screen").replace("&#39;", "'").replace("&amp;", "&")
}

#[tokio::test]
async fn the_simulator_pays_land_rates_in_swahili_on_its_sandbox_and_the_live_store_sees_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(quick(config(dir.path()))).await;
    let mut b = Browser::new(&server);
    let dialled = b.dial("served", "africastalking", "*384*4021#", "0711223344", "sw").await;
    assert_eq!(dialled.status, 303, "{}", dialled.body);
    let p = b.get("/console/phone").await;
    assert!(screen(&p).starts_with("Weka nambari ya kipande"), "{}", screen(&p));
    assert_eq!(p.by_id("screen-kind").as_deref(), Some("CON"));
    assert_eq!(p.by_id("screen-encoding").as_deref(), Some("GSM-7"));
    let size = p.by_id("screen-size").unwrap();
    assert_eq!(size, format!("{}/160", screen(&p).chars().count()), "septets of a plain GSM-7 screen");
    let request = p.by_id("wire-request").unwrap();
    assert!(request.contains("POST /ussd/africastalking"), "{request}");
    assert!(request.contains("serviceCode=*384%23") && request.contains("text=4021"), "the extras as text: {request}");
    assert!(p.by_id("wire-response").unwrap().contains("CON Weka nambari"), "the raw reply");
    assert!(p.by_id("session-expiry").unwrap().contains("180 s"));
    let p = b.submit("/console/phone", "/console/phone/send", &[("input", "KAJIADO/1234")]).await;
    assert_eq!(p.status, 303);
    let p = b.get("/console/phone").await;
    assert!(screen(&p).contains("Ushuru: KES 4,500"), "{}", screen(&p));
    b.submit("/console/phone", "/console/phone/send", &[("input", "1")]).await;
    let p = b.get("/console/phone").await;
    assert_eq!(p.by_id("screen-kind").as_deref(), Some("END"));
    assert!(screen(&p).contains("limepokelewa"), "{}", screen(&p));
    assert!(p.by_id("wire-request").unwrap().contains("text=4021*KAJIADO%2F1234*1"), "cumulative text on the wire");
    // The sandbox carries it through: simulated M-Pesa, agency and the receipt SMS.
    let p = until(&mut b, "the sandbox's receipt", "/console/phone", |p| {
        p.by_id("sandbox-status").as_deref() == Some("notified")
    })
    .await;
    let sms = p.by_id("sandbox-sms").unwrap();
    assert!(sms.contains("Tumepokea KES 4,500"), "{sms}");
    assert!(sms.contains("+2547****344"), "masked: {sms}");
    // Saved as a journey, in the --record format.
    let j = b.get("/console/phone/journey").await;
    assert_eq!(j.status, 200);
    assert!(j.header("content-disposition").unwrap().contains("attachment"));
    assert!(j.body.contains("dial = \"*384*4021#\"") && j.body.contains("language = \"sw\""), "{}", j.body);
    assert!(j.body.contains("dialect = \"africastalking\"") && j.body.contains("send = \"KAJIADO/1234\""));
    // Nothing of it in the live store (the helpdesk lists the simulator's apart: see
    // the_helpdesk_finds_the_simulators_requests_labelled_apart_from_the_live_ones).
    let live = b.submit("/console/requests", "/console/requests", &[("q", "0711223344")]).await;
    assert!(live.body.contains("id=\"no-requests\""), "{}", live.body);
    assert!(b.get("/console/requests").await.body.contains("id=\"no-requests\""));

    // Nalo's own limit, from the channel registry.
    b.dial("served", "nalo", "*384#", "0711223355", "en").await;
    let p = b.get("/console/phone").await;
    assert!(p.by_id("screen-size").unwrap().ends_with("/120"), "{:?}", p.by_id("screen-size"));
    assert!(p.by_id("wire-request").unwrap().contains("&quot;MSGTYPE&quot;:true"), "Nalo's JSON on the wire");
    server.stop().await;
}

/// A server with the console on copies of the shipped menus and locales, which the test edits.
async fn editable(dir: &Path) -> TestServer {
    TestServer::start_console(config_on_copies(dir)).await
}

#[tokio::test]
async fn preview_shows_changes_and_errors_and_reload_waits_for_a_clean_check() {
    let dir = tempfile::tempdir().unwrap();
    let server = editable(dir.path()).await;
    let mut b = Browser::new(&server);
    let p = b.get("/console/preview").await;
    assert!(p.body.contains("data-clean=\"true\""), "{}", p.body);
    assert!(p.body.contains("id=\"no-changes\""));
    edit(
        &dir.path().join("locales/en/ecitizen.ftl"),
        "home-title = Welcome to e-Citizen",
        "home-title = e-Citizen services",
    );
    edit(
        &dir.path().join("menus/ecitizen.toml"),
        "label = \"home-land\", goto = \"land-rates\"",
        "label = \"home-land\", goto = \"land-ratez\"",
    );
    let p = b.get("/console/preview").await;
    assert!(p.body.contains("data-clean=\"false\""), "{}", p.body);
    let problems = p.by_id("problems").unwrap();
    let at = regex::Regex::new(r"ecitizen\.toml:\d+:\d+: error: [^<]*land-ratez").unwrap();
    assert!(at.is_match(&problems), "file:line of the error: {problems}");
    let changes = p.by_id("changes").map(|_| p.body.clone()).unwrap();
    assert!(changes.contains("data-what=\"text changed\""));
    assert!(changes.contains("Welcome to e-Citizen") && changes.contains("e-Citizen services"));
    assert!(p.body.contains("id=\"reload\" disabled"), "no reload while the check fails");
    // The server refuses too, whatever the page offered.
    let refused = b.submit("/console/phone", "/console/reload", &[("confirm", "yes")]).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("Reload refused"));
    // The draft cannot be dialled either; the version in service still can.
    let draft = b.dial("draft", "africastalking", "*384#", "0711000001", "en").await;
    assert_eq!(draft.status, 422);
    assert!(draft.body.contains("land-ratez"));
    let (_, body) = server.post_form("/ussd/africastalking", &at_hop("pv1", "+254711000001", "*384#", "")).await;
    assert!(!body.contains("e-Citizen services"), "{body}");

    edit(&dir.path().join("menus/ecitizen.toml"), "goto = \"land-ratez\"", "goto = \"land-rates\"");
    let p = b.get("/console/preview").await;
    assert!(p.body.contains("data-clean=\"true\""), "{}", p.body);
    // The draft dials before it is in service.
    let draft = b.dial("draft", "africastalking", "*384#", "0711000002", "en").await;
    assert_eq!(draft.status, 303, "{}", draft.body);
    assert!(screen(&b.get("/console/phone").await).starts_with("e-Citizen services"));
    let confirm = b.get("/console/reload").await;
    assert!(confirm.body.contains("id=\"confirm-reload\""));
    let unconfirmed = b.submit("/console/reload", "/console/reload", &[]).await;
    assert_eq!(unconfirmed.status, 303, "no reload without the confirmation");
    let done = b.submit("/console/reload", "/console/reload", &[("confirm", "yes")]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("id=\"reloaded\""));
    server.post_form("/ussd/africastalking", &at_hop("pv2", "+254711000002", "*384#", "")).await;
    let (_, body) = server.post_form("/ussd/africastalking", &at_hop("pv2", "+254711000002", "*384#", "2")).await;
    assert!(body.contains("e-Citizen services"), "{body}");
    server.stop().await;
}

/// Walks land rates to the payment over Africa's Talking on the live server; the reference.
async fn pay(server: &TestServer, session: &str, phone: &str) -> String {
    let mut last = String::new();
    for text in paid_walk("1") {
        let (status, body) = server.post_form("/ussd/africastalking", &at_hop(session, phone, "*384#", &text)).await;
        assert_eq!(status, 200, "{body}");
        last = body;
    }
    let re = regex::Regex::new(r"NJ-[0-9A-Z]{5}").unwrap();
    re.find(&last).unwrap_or_else(|| panic!("a reference in {last}")).as_str().to_owned()
}

#[tokio::test]
async fn the_helpdesk_finds_a_request_by_reference_and_by_phone_and_masks_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(quick(config(dir.path()))).await;
    let reference = pay(&server, "hd1", "+254711000999").await;
    let mut b = Browser::new(&server);
    // A number is searched by POST only: never in a URL (proxy logs, history).
    let in_url = b.get("/console/requests?q=0711000999").await;
    assert_eq!(in_url.status, 400, "{}", in_url.body);
    assert!(in_url.body.contains("never appears in a URL"), "{}", in_url.body);
    let p = b.submit("/console/requests", "/console/requests", &[("q", "0711000999")]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("<form method=\"post\" action=\"/console/requests\""), "the search form posts");
    assert!(!p.body.contains("?q="), "no link carries the search: {}", p.body);
    assert_eq!(b.post("/console/requests", &[("q", "0711000999")]).await.status, 403, "the CSRF token is checked");
    assert_eq!(p.by_id("results-heading").as_deref(), Some("Requests from 0711000999"), "the search as typed");
    assert!(p.body.contains(&format!("data-reference=\"{reference}\"")), "{}", p.body);
    assert!(p.body.contains("+2547****999"), "masked in the list");
    assert!(!p.body.contains("254711000999"), "never the whole number");
    let found = b.submit("/console/requests", "/console/requests", &[("q", &reference.to_lowercase())]).await;
    assert_eq!(found.status, 303);
    let show = b.get(found.header("location").unwrap()).await;
    let history = show.by_id("request-history").unwrap();
    assert!(history.starts_with(&format!("Request {reference}  land-rates  (ecitizen)")), "{history}");
    assert!(history.contains("phone +2547****999") && history.contains("received"), "{history}");
    assert!(!show.body.contains("254711000999"));
    until(&mut b, "the receipt", &format!("/console/requests/{reference}"), |p| {
        p.by_id("request-sms").is_some_and(|s| s.contains("Tumepokea"))
    })
    .await;
    assert_eq!(b.get("/console/requests.csv?q=%2B254711000999").await.status, 405, "the export is POSTed");
    let csv = b.submit("/console/requests", "/console/requests.csv", &[("q", "+254711000999")]).await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.body.starts_with("reference,created,service,menu,status,phone,amount,account,refund_review"));
    assert!(csv.body.contains(&reference) && !csv.body.contains("254711000999"));
    // A cell a spreadsheet would read as a formula (the masked number starts with +) is quoted.
    assert!(csv.body.contains(",'+2547****999,"), "{}", csv.body);
    let none = b.submit("/console/requests", "/console/requests.csv", &[("q", "0711000998")]).await;
    assert_eq!(none.body.lines().count(), 1, "only the header: {}", none.body);
    server.stop().await;
}

#[tokio::test]
async fn the_helpdesk_finds_the_simulators_requests_labelled_apart_from_the_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(quick(config(dir.path()))).await;
    // One live request of the number, over the channel.
    let live_ref = pay(&server, "sb1", "+254711000555").await;
    // And one of the same number in the simulator, on its sandbox.
    let mut b = Browser::new(&server);
    let dial = [
        ("source", "served"),
        ("channel", "africastalking"),
        ("code", "*384*4021#"),
        ("phone", "0711000555"),
        ("language", "sw"),
    ];
    assert_eq!(b.submit("/console/phone", "/console/phone/dial", &dial).await.status, 303);
    for input in ["KAJIADO/1234", "1"] {
        assert_eq!(b.submit("/console/phone", "/console/phone/send", &[("input", input)]).await.status, 303);
    }
    let p = until(&mut b, "the sandbox's request", "/console/phone", |p| p.by_id("sandbox-reference").is_some()).await;
    let sim_ref = p.by_id("sandbox-reference").unwrap();
    assert_ne!(sim_ref, live_ref);

    // By phone number: the live request in the live list, the simulator's apart and labelled.
    let p = b.submit("/console/requests", "/console/requests", &[("q", "0711000555")]).await;
    assert_eq!(p.status, 200);
    let at = p.body.find("id=\"sandbox-results\"").expect("a sandbox section");
    let (live_part, sandbox_part) = p.body.split_at(at);
    assert!(live_part.contains(&format!("data-reference=\"{live_ref}\"")), "{live_part}");
    assert!(!live_part.contains(&sim_ref), "the simulator's request is not listed as live: {live_part}");
    assert!(sandbox_part.contains(&format!("data-reference=\"{sim_ref}\"")), "{sandbox_part}");
    assert!(!sandbox_part.contains(&live_ref));
    assert_eq!(p.by_id("sandbox-heading").as_deref(), Some("Simulator (sandbox)"));
    assert!(sandbox_part.contains("+2547****555") && !p.body.contains("254711000555"), "masked");
    // A number with nothing in either store: no sandbox section at all.
    let none = b.submit("/console/requests", "/console/requests", &[("q", "0711000556")]).await;
    assert!(none.body.contains("id=\"no-requests\"") && !none.body.contains("id=\"sandbox-results\""));

    // By reference: the simulator's request page says where it lives, and offers no retry.
    let found = b.get(&format!("/console/requests?q={}", sim_ref.to_lowercase())).await;
    assert_eq!(found.status, 303);
    let show = b.get(found.header("location").unwrap()).await;
    assert_eq!(show.status, 200, "{}", show.body);
    assert!(show.body.contains(&format!("<h1>Request {sim_ref} (simulator, sandbox)</h1>")), "{}", show.body);
    assert!(show.by_id("request-source").unwrap().starts_with("Simulator (sandbox)"));
    let history = show.by_id("request-history").unwrap();
    assert!(history.starts_with(&format!("Request {sim_ref}  land-rates  (ecitizen)")), "{history}");
    assert!(!show.body.contains("/retry\""), "no retry of a sandbox's job");
    // The live one is the live one.
    let show = b.get(&format!("/console/requests/{live_ref}")).await;
    assert!(show.body.contains(&format!("<h1>Request {live_ref}</h1>")) && show.by_id("request-source").is_none());
    // The export holds live requests only.
    let csv = b.submit("/console/requests", "/console/requests.csv", &[("q", "0711000555")]).await;
    assert!(csv.body.contains(&live_ref) && !csv.body.contains(&sim_ref), "{}", csv.body);
    server.stop().await;
}

#[tokio::test]
async fn a_dead_letter_is_retried_from_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = quick(config(dir.path()));
    lands_down(&mut c);
    let server = TestServer::start_console(c).await;
    let reference = pay(&server, "dl1", "+254711000777").await;
    let mut b = Browser::new(&server);
    let re = regex::Regex::new(r#"id="retry-(\d+)""#).unwrap();
    let p = until(&mut b, "a dead letter", "/console/jobs?state=dead", |p| re.is_match(&p.body)).await;
    let dead = re.captures(&p.body).unwrap()[1].to_owned();
    let p = b.get(&format!("/console/requests/{reference}")).await;
    assert!(p.body.contains(&format!("id=\"job-{dead}\" data-state=\"dead\"")), "{}", p.body);
    let back = format!("/console/requests/{reference}");
    let retried = b.submit(&back, &format!("/console/jobs/{dead}/retry"), &[("back", &back)]).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert!(retried.by_id("retried").unwrap().contains(&format!("Job {dead} is back in the queue")));
    // Without the token, no retry.
    assert_eq!(b.post(&format!("/console/jobs/{dead}/retry"), &[]).await.status, 403);
    server.stop().await;
}

#[tokio::test]
async fn the_drop_off_figures_count_the_sessions_just_made() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(config(dir.path())).await;
    for (sid, phone) in [("do1", "+254711000401"), ("do2", "+254711000402"), ("do3", "+254711000403")] {
        server.post_form("/ussd/africastalking", &at_hop(sid, phone, "*384#", "")).await;
    }
    let mut b = Browser::new(&server);
    let p = b.get("/console/dropoff?days=1").await;
    assert_eq!(p.status, 200);
    assert_eq!(p.by_id("started-ecitizen").as_deref(), Some("3"), "{}", p.body);
    assert!(p.body.contains("data-screen=\"language\""), "the screen they were shown");
    assert!(p.body.contains("<svg class=\"bar\""), "drawn as SVG bars");
    server.stop().await;
}

#[tokio::test]
async fn the_map_draws_each_menu_with_links_to_every_screens_worst_case_texts() {
    let dir = tempfile::tempdir().unwrap();
    let server = editable(dir.path()).await;
    let mut b = Browser::new(&server);
    let p = b.get("/console/map").await;
    assert!(p.body.contains("<svg") && p.body.contains("data-screen=\"home\""), "{}", p.body);
    assert!(p.body.contains("href=\"/console/map?source=served&amp;menu=ecitizen&amp;screen=home#screen-detail\""));
    let p = b.get("/console/map?menu=ecitizen&service=4021&screen=land-rates.confirm").await;
    let detail = &p.body[p.body.find("id=\"screen-detail\"").unwrap()..];
    assert!(detail.contains("data-locale=\"sw\"") && detail.contains("data-locale=\"en\""), "{detail}");
    assert!(detail.contains("/120</span>"), "against Nalo's 120, the smallest limit reaching it: {detail}");
    // A screen nothing leads to, in the draft: drawn and flagged.
    let menu = dir.path().join("menus/ecitizen.toml");
    let mut text = std::fs::read_to_string(&menu).unwrap();
    text.push_str("\n[screens.orphan]\nkind = \"end\"\ntext = \"home-title\"\n");
    std::fs::write(&menu, text).unwrap();
    let p = b.get("/console/map?source=draft&menu=ecitizen&screen=orphan").await;
    assert!(p.body.contains("class=\"screen end\" data-screen=\"orphan\""), "drawn");
    assert!(p.body.contains("end · UNREACHABLE"), "highlighted");
    assert!(p.body.contains("<strong class=\"error\">unreachable</strong>"), "{}", p.body);
    server.stop().await;
}

#[test]
fn njia_console_starts_on_loopback_and_serves_the_console() {
    let refused = njia().current_dir(repo()).args(["console", "--listen", "0.0.0.0:0"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("loopback"));
    let mut child = njia()
        .current_dir(repo())
        .args(["console", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let url = regex::Regex::new(r"http://(127\.0\.0\.1:\d+)/console").unwrap();
    let addr: std::net::SocketAddr = url.captures(&line).unwrap_or_else(|| panic!("{line}"))[1].parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let page = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match exchange_with(addr, "GET", "/console/phone", "text/plain", &[], "").await {
                Ok(r) => break r,
                Err(e) => {
                    assert!(Instant::now() < deadline, "njia console never answered: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    // SIGTERM, so it stops cleanly and deletes its scratch store.
    let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    assert_eq!(page.0, 200, "{}", page.2);
    assert!(page.2.contains("id=\"dial-form\""));
}

/// The lines of a results screen that list services: their number and name (not the
/// navigation: 0, 00, 98).
fn listed(screen: &str) -> Vec<(String, String)> {
    let line = regex::Regex::new(r"(?m)^(\d+)\. (.+)$").unwrap();
    line.captures_iter(screen)
        .map(|c| (c[1].to_owned(), c[2].to_owned()))
        .filter(|(n, _)| !["0", "00", "98"].contains(&n.as_str()))
        .collect()
}

/// Searches "cheti" on the live server as a new number (in Swahili); the results screen.
async fn live_search(server: &TestServer, sid: &str, phone: &str) -> String {
    at_walk(server, sid, phone, "*384#", &["", "1", "1*6", "1*6*cheti"]).await.pop().unwrap()
}

/// The simulator's sandbox of the versions in service shares the live menus, never their
/// search ranking: the live store's uses rank live search, before and after a dial.
#[tokio::test]
async fn the_simulator_leaves_the_live_search_ranking_alone() {
    let dir = tempfile::tempdir().unwrap();
    // A citizen finds a service by search and opens it; a clean stop writes the use.
    let server = TestServer::start(config(dir.path())).await;
    let results = live_search(&server, "rk1", "+254711000501").await;
    let services = listed(&results);
    assert!(services.len() >= 2, "{results}");
    let (number, name) = services.last().unwrap().clone();
    at_walk(&server, "rk1", "+254711000501", "*384#", &[&format!("1*6*cheti*{number}")]).await;
    server.stop().await;
    let server = TestServer::start_console(config(dir.path())).await;
    let first = |screen: &str| listed(screen).first().map(|(_, n)| n.clone());
    let ranked = live_search(&server, "rk2", "+254711000502").await;
    assert_eq!(first(&ranked).as_deref(), Some(name.as_str()), "ranked by the live uses:\n{ranked}");
    let mut b = Browser::new(&server);
    let dialled = b.dial("served", "africastalking", "*384#", "0711000503", "").await;
    assert_eq!(dialled.status, 303, "{}", dialled.body);
    let after = live_search(&server, "rk3", "+254711000504").await;
    assert_eq!(after, ranked, "the sandbox's empty store ranked nothing of the live set");
    server.stop().await;
}

/// "In service" is the set the live server serves, not the files on disk: it dials while the
/// draft is broken (the draft itself does not).
#[tokio::test]
async fn the_version_in_service_dials_while_the_draft_on_disk_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let server = editable(dir.path()).await;
    edit(
        &dir.path().join("menus/ecitizen.toml"),
        "label = \"home-land\", goto = \"land-rates\"",
        "label = \"home-land\", goto = \"land-ratez\"",
    );
    let mut b = Browser::new(&server);
    let served = b.dial("served", "africastalking", "*384*4021#", "0711000601", "en").await;
    assert_eq!(served.status, 303, "{}", served.body);
    let p = b.get("/console/phone").await;
    assert!(screen(&p).contains("land parcel"), "{}", screen(&p));
    let p = b.submit("/console/phone", "/console/phone/send", &[("input", "KAJIADO/1234")]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(screen(&b.get("/console/phone").await).contains("KES 4,500"));
    let draft = b.dial("draft", "africastalking", "*384*4021#", "0711000601", "en").await;
    assert_eq!(draft.status, 422, "{}", draft.body);
    assert!(draft.body.contains("land-ratez"), "{}", draft.body);
    server.stop().await;
}

/// Production settings the sandbox must not trip on: a channel's telco address list (the
/// simulator and `njia test` call from this machine) and a lookup answered by an agency over
/// HTTP (kept by name, simulated as unavailable: the agency is never reached).
#[tokio::test]
async fn allow_lists_and_http_lookups_work_in_the_simulator_and_njia_test_without_reaching_the_agency() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("menus"), &dir.path().join("menus"));
    copy_dir(&repo().join("locales"), &dir.path().join("locales"));
    // Land rates' lookup is the agency's own, over HTTP: no data file answers it.
    std::fs::remove_file(dir.path().join("menus/lookups/lands.toml")).unwrap();
    let agency = crate::common::doubles::AgencyDouble::start(&crate::common::doubles::AgencyDouble::new_secret()).await;
    let mut c = quick(config(&dir.path().join("data")));
    c.menus_dir = dir.path().join("menus");
    c.locales_dir = dir.path().join("locales");
    c.lookups_dir = None;
    c.backends.insert(
        "lands".into(),
        BackendSection {
            base_url: agency.url.clone(),
            secret_env: "T_CONSOLE_LANDS_LOOKUP".into(),
            services: Vec::new(),
            agencies: Vec::new(),
        },
    );
    c.secrets.insert("T_CONSOLE_LANDS_LOOKUP".into(), agency.secret.clone());
    c.channels.insert(
        "africastalking".into(),
        ChannelSection { allow: vec!["196.201.214.0/24".into()], ..ChannelSection::default() },
    );

    // `njia test`'s runner, over the channel's wire format.
    let (_keep, file) = {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("lands.toml");
        std::fs::write(
            &f,
            "[[journey]]\nname = \"land rates, the agency simulated\"\ndial = \"*384*4021#\"\nlanguage = \"en\"\n\
             dialect = \"africastalking\"\n\n[[journey.hop]]\ncontains = \"land parcel\"\n\n[[journey.hop]]\n\
             send = \"KAJIADO/1234\"\ncontains = \"unavailable\"\n",
        )
        .unwrap();
        (d, f)
    };
    let (journeys, problems) = njia::journey::load(&[file]);
    assert!(problems.is_empty(), "{problems:#?}");
    let outcomes = njia::journey::run(&c, &journeys).await.expect("the runner starts");
    let mut printed = Vec::new();
    assert!(
        njia::journey::report(&journeys, &outcomes, &mut printed).unwrap(),
        "{}",
        String::from_utf8_lossy(&printed)
    );

    // The simulator, on the versions in service and on the draft alike.
    let server = TestServer::start_console(c).await;
    let mut b = Browser::new(&server);
    for (source, phone) in [("served", "0711000701"), ("draft", "0711000702")] {
        let dialled = b.dial(source, "africastalking", "*384*4021#", phone, "en").await;
        assert_eq!(dialled.status, 303, "{source}: {}", dialled.body);
        assert!(screen(&b.get("/console/phone").await).contains("land parcel"), "{source}");
        let sent = b.submit("/console/phone", "/console/phone/send", &[("input", "KAJIADO/1234")]).await;
        assert_eq!(sent.status, 303, "{source}: {}", sent.body);
        let shown = screen(&b.get("/console/phone").await);
        assert!(shown.contains("unavailable"), "{source}: the lookup's apology: {shown}");
    }
    assert!(agency.lookups().is_empty(), "a sandbox reached the agency's lookups");
    assert!(agency.tries().is_empty(), "a sandbox reached the agency's deliveries");
    server.stop().await;
}

/// One phone sends one hop at a time: concurrent sends never fork the walk (every send
/// answered as sent is one hop of the transcript; the others are refused as busy), and a
/// walk keeps at most its cap of hops.
#[tokio::test]
async fn concurrent_sends_on_one_phone_are_refused_not_forked_and_a_walk_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    // Many hops of one number in a minute: no rate limit in the way.
    c.rate_limit.phone_per_minute = 0;
    c.rate_limit.phone_burst = 0;
    let server = TestServer::start_console(c).await;
    let mut b = Browser::new(&server);
    let dialled = b.dial("served", "africastalking", "*384#", "0711000801", "en").await;
    assert_eq!(dialled.status, 303, "{}", dialled.body);
    let csrf = b.get("/console/phone").await.csrf();
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let mut b = Browser { addr: b.addr, cookie: b.cookie.clone(), headers: Vec::new() };
        let body = form(&[("csrf", &csrf), ("input", "9")]);
        sends.spawn(async move { b.send("POST", "/console/phone/send", &body, &[]).await.status });
    }
    let statuses: Vec<u16> = sends.join_all().await;
    assert!(statuses.iter().all(|s| *s == 303 || *s == 409), "{statuses:?}");
    let answered = statuses.iter().filter(|s| **s == 303).count();
    let transcript = |p: &Page| p.body.matches("<li><p class=\"sent\">").count();
    assert_eq!(transcript(&b.get("/console/phone").await), 1 + answered, "{statuses:?}");
    // Up to the cap, then refused with the reason.
    let mut refused = None;
    for _ in 0..70 {
        let p = b.submit("/console/phone", "/console/phone/send", &[("input", "9")]).await;
        if p.status != 303 {
            refused = Some(p);
            break;
        }
    }
    let refused = refused.expect("a cap");
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("60 hops"), "{}", refused.body);
    assert_eq!(transcript(&b.get("/console/phone").await), 60);
    server.stop().await;
}

/// Logs in from `client` (as a trusted proxy forwards it) with `token`: the answer's status
/// and body.
async fn login_from(server: &TestServer, client: &str, token: &str) -> Page {
    let mut b = Browser::new(server);
    b.headers.push(("X-Forwarded-For".into(), client.into()));
    let page = b.get("/console/login").await;
    b.post("/console/login", &[("csrf", &page.csrf()), ("token", token)]).await
}

/// Login attempts are rate-limited per client address (a wrong guess or a right one: the
/// limit answers first) and overall, with a page that says so; other addresses still log in.
#[tokio::test]
async fn login_attempts_are_rate_limited_per_address_and_overall() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(admin_config(dir.path())).await;
    for i in 0..5 {
        assert_eq!(login_from(&server, "10.0.0.1", "guess").await.status, 401, "guess {i}");
    }
    let limited = login_from(&server, "10.0.0.1", "guess").await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.body.contains("Too many login attempts from this address"), "{}", limited.body);
    assert_eq!(limited.header("retry-after"), Some("60"));
    assert_eq!(limited.header("content-security-policy"), Some(CSP));
    assert_eq!(login_from(&server, "10.0.0.1", TOKEN).await.status, 429, "the right token waits too");
    assert_eq!(login_from(&server, "10.0.0.2", TOKEN).await.status, 303, "another address logs in");
    // Spread over many addresses, the attempts together are limited too.
    let mut overall = None;
    for i in 0..100 {
        let p = login_from(&server, &format!("10.1.0.{i}"), "guess").await;
        if p.status == 429 {
            overall = Some(p);
            break;
        }
        assert_eq!(p.status, 401, "{}", p.body);
    }
    let overall = overall.expect("an overall limit");
    assert!(overall.body.contains("Too many login attempts to this console"), "{}", overall.body);
    server.stop().await;
}

/// A flood of login pages (each a session waiting for a login) never logs an administrator
/// out: pre-login sessions are a pool of their own.
#[tokio::test]
async fn a_flood_of_login_pages_never_evicts_a_signed_in_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(admin_config(dir.path())).await;
    let mut admin = Browser::new(&server);
    let login = admin.get("/console/login").await;
    let ok = admin.post("/console/login", &[("csrf", &login.csrf()), ("token", TOKEN)]).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(admin.get("/console").await.status, 200);
    // More login pages than the console keeps sessions of any kind.
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let addr = server.addr;
        flood.spawn(async move {
            for _ in 0..1_260 {
                let (status, _, _) = exchange_with(addr, "GET", "/console/login", "text/plain", &[], "").await.unwrap();
                assert_eq!(status, 200);
            }
        });
    }
    flood.join_all().await;
    let still = admin.get("/console").await;
    assert_eq!(still.status, 200, "still signed in: {}", still.head);
    server.stop().await;
}

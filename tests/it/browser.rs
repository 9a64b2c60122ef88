//! The console in a real browser (#14): Debian's Chromium, driven through ChromeDriver over
//! WebDriver (fantoccini), against the real server on `127.0.0.1:0` with the console mounted,
//! on a temporary copy of the shipped menus and locales that the test edits on disk.
//!
//! One browser session walks every scenario in order (starting Chromium is the slow part):
//! the login page; the simulator paying land rates in Swahili with the mouse, then a walk by
//! keyboard only; the helpdesk finding the simulator's request by number and by reference; a
//! live dead letter retried; the drop-off figures counting the live sessions just made; the
//! map with a screen added on disk that nothing reaches; a text edited and a translation
//! removed on disk, seen in the preview, fixed, reloaded and dialled. Every check reads what a
//! person sees (an element's rendered text, a shape's fill), and the browser's own log must
//! hold no error: no Content-Security-Policy violation, no script error, no failed load.
//!
//! Chromium and ChromeDriver are required, never skipped: without them the test fails and
//! says how to install them (`.ci/run` does). Every run takes a picture of each page (a PNG
//! of the width asked, under 200 KB) into a scratch folder; `NJIA_SCREENSHOTS=DIR` keeps them
//! under `DIR` instead (the README's pictures, `docs/console/`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::common::editable::{config_on_copies, edit};
use crate::common::{TestServer, at_hop, lands_down, paid_walk, repo};
use njia::config::{AdminSection, Config, HeaderAuthSection};

const TOKEN: &str = "br0wser-t0ken";
/// The longest any wait here lasts: a page, a hop, the sandbox's hand-off, a dead letter.
const PATIENCE: Duration = Duration::from_secs(60);
/// The desktop and phone widths the pages are looked at (and pictured) in.
const DESKTOP: u32 = 1280;
const PHONE: u32 = 390;

/// Where a program is on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn required(name: &str) -> PathBuf {
    on_path(name).unwrap_or_else(|| {
        panic!(
            "the console's browser tests need Debian's Chromium and ChromeDriver, and `{name}` is not on PATH: \
             install them with `apt-get install chromium chromium-driver` (.ci/run does when they are missing)"
        )
    })
}

/// ChromeDriver on a port of its own choosing (`--port=0`; it prints the port it took).
async fn chromedriver() -> (tokio::process::Child, u16) {
    let mut child = tokio::process::Command::new(required("chromedriver"))
        .arg("--port=0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("its stdout")).lines();
    let port = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.expect("chromedriver's output") {
            if let Some(p) = line.split("started successfully on port ").nth(1) {
                return p.trim_end_matches('.').trim().parse::<u16>().expect("a port");
            }
        }
        panic!("chromedriver ended without saying its port");
    })
    .await
    .expect("chromedriver says its port within a minute");
    // Its later output is not read: let it go to nowhere rather than fill the pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

/// A headless Chromium session, with the browser's console log kept for reading.
async fn chromium(port: u16, profile: &Path) -> Client {
    let chromium = required("chromium");
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            // What this machine (and CI) needs: no sandbox as root, no GPU, and nothing that
            // reaches for the network on its own (the network is closed and Chromium stalls).
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                format!("--user-data-dir={}", profile.display()),
                format!("--window-size={DESKTOP},900"),
            ],
        },
        "goog:loggingPrefs": { "browser": "ALL" },
    });
    let Value::Object(caps) = caps else { unreachable!() };
    let caps: Capabilities = caps;
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver")
}

/// ChromeDriver's log endpoint: the browser console's messages since the last read.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// The browser, the server it looks at, and what it logged.
struct Tab {
    c: Client,
    base: String,
    /// Every browser log line of level WARNING or worse seen so far, with the page it came on.
    trouble: Vec<String>,
    /// Where the pictures go: `NJIA_SCREENSHOTS`, or a scratch folder (so every run takes and
    /// checks them, and only the variable writes over the committed ones).
    shots: PathBuf,
}

impl Tab {
    async fn goto(&mut self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.expect("the page loads");
        self.log().await;
    }

    /// Reads the browser's log; keeps what is not plain information.
    async fn log(&mut self) {
        let url = self.c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let got = self.c.issue_cmd(BrowserLog).await.expect("chromedriver's browser log");
        for e in got.as_array().into_iter().flatten() {
            let level = e["level"].as_str().unwrap_or("");
            if level == "SEVERE" || level == "WARNING" {
                self.trouble.push(format!("{url}: {level} {}", e["message"].as_str().unwrap_or("")));
            }
        }
    }

    /// Takes from the log the one line a step was meant to cause (and so proves the log is
    /// read: a check of an empty log that could never fill would prove nothing).
    async fn expect_logged(&mut self, part: &str) {
        self.log().await;
        let at = self.trouble.iter().position(|l| l.contains(part));
        let at = at.unwrap_or_else(|| panic!("the browser's log should hold {part:?}: {:?}", self.trouble));
        self.trouble.remove(at);
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.c.wait().at_most(PATIENCE).for_element(Locator::Css(css)).await {
            Ok(el) => el,
            Err(e) => {
                let url = self.c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                panic!("{css} on the page: {e}; at {url}: {}", self.source().await)
            }
        }
    }

    /// The text of `css`. The page's script replaces a region it re-renders (the phone's
    /// screen after each reply), so an element found a moment ago can be gone by the time its
    /// text is read: then it is found again, as a reader's eye would.
    async fn text(&self, css: &str) -> String {
        let mut tries = 0;
        loop {
            match self.find(css).await.text().await {
                Ok(text) => return text,
                Err(e) if e.is_stale_element_reference() && tries < 5 => tries += 1,
                Err(e) => panic!("the text of {css}: {e}"),
            }
        }
    }

    async fn click(&mut self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
        self.log().await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("cleared");
        el.send_keys(text).await.expect("typed");
    }

    /// Keys sent to whatever has the focus, as a person typing does.
    async fn keys(&mut self, keys: &str) {
        let el = self.c.active_element().await.expect("a focused element");
        el.send_keys(keys).await.expect("typed");
        self.log().await;
    }

    async fn focused_id(&self) -> String {
        let el = self.c.active_element().await.expect("a focused element");
        el.attr("id").await.expect("its id").unwrap_or_default()
    }

    /// How many elements match `css` now.
    async fn count(&self, css: &str) -> usize {
        self.c.find_all(Locator::Css(css)).await.map_or(0, |v| v.len())
    }

    /// Waits until `css` is on the page and its text satisfies `done`; the text.
    async fn until(&mut self, what: &str, css: &str, done: impl Fn(&str) -> bool) -> String {
        self.wait_for(what, css, done, false).await
    }

    /// Reloads the page until `css`'s text satisfies `done` (what the server does behind).
    async fn until_reloaded(&mut self, what: &str, css: &str, done: impl Fn(&str) -> bool) -> String {
        self.wait_for(what, css, done, true).await
    }

    async fn wait_for(&mut self, what: &str, css: &str, done: impl Fn(&str) -> bool, reload: bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(el) = self.c.find(Locator::Css(css)).await
                && let Ok(t) = el.text().await
                && done(&t)
            {
                return t;
            }
            assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}; the page: {}", self.source().await);
            tokio::time::sleep(Duration::from_millis(if reload { 200 } else { 50 })).await;
            if reload {
                self.c.refresh().await.expect("reloaded");
                self.log().await;
            }
        }
    }

    async fn source(&self) -> String {
        self.c.source().await.unwrap_or_default()
    }

    async fn script(&self, js: &str, args: Vec<Value>) -> Value {
        self.c.execute(js, args).await.unwrap_or_else(|e| panic!("{js}: {e}"))
    }

    /// The window at `width`, as tall as the page (at most `max_h`), so a picture holds the
    /// page and nothing below it.
    async fn fit(&self, width: u32, max_h: u32) {
        self.c.set_window_size(width, 900).await.expect("resized");
        // The body's own height: the document's is never less than the window.
        let h = self.script("return Math.ceil(document.body.getBoundingClientRect().height);", vec![]).await;
        let h = u32::try_from(h.as_u64().unwrap_or(900)).unwrap_or(900).clamp(300, max_h);
        self.c.set_window_size(width, h).await.expect("resized");
        // What the page gets of the window (new headless keeps them equal; a headful one
        // does not): ask again for what is missing.
        let inner = self.script("return window.innerHeight;", vec![]).await.as_u64().unwrap_or(u64::from(h));
        if inner < u64::from(h) {
            let more = h + u32::try_from(u64::from(h) - inner).unwrap_or(0);
            self.c.set_window_size(width, more).await.expect("resized");
        }
    }

    /// A PNG of the page at `width` (at most `max_h` tall), checked: a PNG of that width,
    /// small enough for the README (under 200 KB).
    async fn shot(&mut self, name: &str, width: u32, max_h: u32) {
        self.fit(width, max_h).await;
        // From the top of the page, whatever the focus scrolled to.
        self.script("window.scrollTo(0, 0);", vec![]).await;
        let png = self.c.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 24, "{name}: a PNG");
        let shown_w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        assert_eq!(shown_w, width, "{name}: the picture is as wide as the window");
        assert!(png.len() < 200 * 1024, "{name}: {} bytes, over 200 KB", png.len());
        std::fs::create_dir_all(&self.shots).expect("the screenshots folder");
        std::fs::write(self.shots.join(format!("{name}.png")), &png).expect("the screenshot is written");
        self.c.set_window_size(DESKTOP, 900).await.expect("resized back");
    }
}

/// The live server: the console with `[admin]` credentials (so there is a login page), on
/// copies of the shipped menus and locales, a fast hand-off, and an agency that is down for
/// land rates, so a live payment's delivery dies at its first failure.
fn live_config(dir: &Path) -> Config {
    let mut c = config_on_copies(dir);
    c.admin = Some(AdminSection {
        header: Some(HeaderAuthSection { name: "X-Njia-Admin".into(), secret_env: "T_BROWSER_ADMIN".into() }),
        ..AdminSection::default()
    });
    c.secrets.insert("T_BROWSER_ADMIN".into(), TOKEN.into());
    lands_down(&mut c);
    c.dispatcher.push_delay_ms = 0;
    c.dispatcher.sandbox_pin_delay_ms = 0;
    c
}

/// A screen's size as the page should show it: GSM-7 septets against the limit.
fn size_of(screen: &str, limit: usize) -> String {
    let cost = njia::gsm7::cost(screen);
    format!("{}/{}", cost.units, njia::gsm7::limit_for(cost.encoding, limit))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_chromium() {
    let started = Instant::now();
    let (mut driver, port) = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let client = chromium(port, profile.path()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(live_config(dir.path())).await;
    let scratch = tempfile::tempdir().unwrap();
    let shots = std::env::var_os("NJIA_SCREENSHOTS").map_or_else(
        || scratch.path().to_path_buf(),
        |d| {
            let d = PathBuf::from(d);
            if d.is_absolute() { d } else { repo().join(d) }
        },
    );
    let tab = Tab { c: client.clone(), base: format!("http://{}", server.addr), trouble: Vec::new(), shots };
    // The scenarios run in a task of their own so that, whatever happens in them, the
    // browser is closed (and Chromium with it) before the failure is passed on.
    let menus = dir.path().to_path_buf();
    let addr = server.addr;
    let walked = tokio::spawn(async move { scenarios(tab, &menus, addr).await }).await;
    let _ = client.close().await;
    let _ = driver.kill().await;
    server.stop().await;
    match walked {
        Ok(()) => eprintln!("browser: every scenario in {:.1} s", started.elapsed().as_secs_f64()),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

async fn scenarios(mut tab: Tab, dir: &Path, addr: std::net::SocketAddr) {
    let server = Live(addr);
    let t = Instant::now();
    let lap = |what: &str| eprintln!("browser: {what} at {:.1} s", t.elapsed().as_secs_f64());

    // Log in: the console sends a first visit to its login page.
    tab.goto("/console/phone").await;
    assert!(tab.c.current_url().await.unwrap().path().ends_with("/console/login"));
    assert_eq!(tab.focused_id().await, "token", "the token field has the focus");
    tab.shot("login", DESKTOP, 700).await;
    tab.keys("wrong").await;
    tab.keys("\u{E007}").await;
    let refused = tab.text("#login-error").await;
    assert!(refused.contains("not the [admin] ones"), "{refused}");
    tab.expect_logged("/console/login - Failed to load resource: the server responded with a status of 401").await;
    tab.type_into("#token", TOKEN).await;
    tab.click("#login-submit").await;
    tab.find("#logout").await;
    let js: bool = tab.script("return document.documentElement.classList.contains('js');", vec![]).await == json!(true);
    assert!(js, "the console's script ran under its CSP");
    lap("logged in");

    let reference = simulator_pays_land_rates(&mut tab).await;
    lap("a: the simulator paid land rates");
    keyboard_only_walk(&mut tab, &reference).await;
    lap("the keyboard-only walk");
    helpdesk_finds_the_simulators_request(&mut tab, &reference).await;
    lap("d: the helpdesk found the simulator's request");
    server.dial("do1", "+254711000401").await;
    server.dial("do2", "+254711000402").await;
    let dead = server.pay("dl1", "+254711000777").await;
    dead_letter_retried(&mut tab, &dead).await;
    lap("e: the dead letter was retried");
    drop_off_counts_the_live_sessions(&mut tab).await;
    lap("f: the drop-off figures");
    map_highlights_an_unreachable_screen(&mut tab, dir).await;
    lap("b: the map");
    preview_edit_fix_and_reload(&mut tab, dir).await;
    lap("c: preview, fix, reload");

    // The phone at a phone's width: the simulator is readable on a handset too.
    tab.goto("/console/phone").await;
    tab.c.set_window_size(PHONE, 900).await.unwrap();
    let width: u64 = tab.script("return document.documentElement.scrollWidth;", vec![]).await.as_u64().unwrap();
    let inner: u64 = tab.script("return window.innerWidth;", vec![]).await.as_u64().unwrap();
    let wide = tab
        .script(
            "return Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 10);",
            vec![],
        )
        .await;
    assert!(width <= inner, "nothing wider than a {PHONE} px screen: the page is {width} px wide in {inner}: {wide}");
    tab.shot("phone-390", PHONE, 1600).await;

    assert!(
        tab.trouble.is_empty(),
        "the browser logged trouble (a CSP violation, a script error, a failed load):\n{}",
        tab.trouble.join("\n")
    );
}

/// The live server's channel, as Africa's Talking calls it.
struct Live(std::net::SocketAddr);

impl Live {
    async fn post(&self, body: &str) -> String {
        let (status, body) = crate::common::try_request(
            self.0,
            "POST",
            "/ussd/africastalking",
            "application/x-www-form-urlencoded",
            body,
        )
        .await
        .expect("the live channel answers");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A first hop only: the citizen sees the language question and leaves.
    async fn dial(&self, session: &str, phone: &str) {
        let body = self.post(&at_hop(session, phone, "*384#", "")).await;
        assert!(body.starts_with("CON "), "{body}");
    }

    /// Land rates paid in Swahili; the reference.
    async fn pay(&self, session: &str, phone: &str) -> String {
        let mut last = String::new();
        for text in paid_walk("1") {
            last = self.post(&at_hop(session, phone, "*384#", &text)).await;
        }
        let re = regex::Regex::new(r"NJ-[0-9A-Z]{5}").unwrap();
        re.find(&last).unwrap_or_else(|| panic!("a reference in {last}")).as_str().to_owned()
    }
}

/// The phone's screen as shown, with its kind, size and encoding, and the wire panes.
struct Shown {
    screen: String,
    kind: String,
    size: String,
    encoding: String,
    request: String,
    reply: String,
}

async fn shown(tab: &Tab) -> Shown {
    Shown {
        screen: tab.text("#screen").await,
        kind: tab.text("#screen-kind").await,
        size: tab.text("#screen-size").await,
        encoding: tab.text("#screen-encoding").await,
        request: tab.text("#wire-request").await,
        reply: tab.text("#wire-response").await,
    }
}

/// Sends what is in the reply field by clicking Send, and waits for the next screen.
async fn send(tab: &mut Tab, hops: usize) -> Shown {
    tab.click("#send").await;
    tab.until("the next screen", "#transcript", |_| true).await;
    let deadline = Instant::now() + PATIENCE;
    while tab.count("#transcript > ol > li").await < hops {
        assert!(Instant::now() < deadline, "hop {hops} never came: {}", tab.source().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tab.log().await;
    shown(tab).await
}

/// (a) Dial the e-Citizen menu in Swahili and pay land rates, clicking the keypad and typing.
async fn simulator_pays_land_rates(tab: &mut Tab) -> String {
    tab.click("#nav-phone").await;
    tab.find("#source").await.select_by_value("served").await.expect("the menus in service");
    tab.find("#channel").await.select_by_value("africastalking").await.expect("the channel");
    tab.type_into("#code", "*384#").await;
    tab.type_into("#msisdn", "0711223344").await;
    tab.find("#language").await.select_by_value("sw").await.expect("Swahili");
    tab.click("#dial").await;

    let home = shown(tab).await;
    assert!(home.screen.starts_with("Karibu e-Citizen\n1. Lipa ushuru wa ardhi"), "{}", home.screen);
    assert_eq!(home.kind, "CON");
    assert_eq!(home.encoding, "GSM-7");
    assert_eq!(home.size, size_of(&home.screen, 160), "the size shown is the screen's septets");
    assert!(home.request.starts_with("→ POST /ussd/africastalking"), "{}", home.request);
    assert!(home.request.contains("serviceCode=*384%23") && home.request.contains("text="), "{}", home.request);
    assert!(home.reply.starts_with("← 200"), "{}", home.reply);
    assert!(home.reply.contains("CON Karibu e-Citizen"), "the raw reply: {}", home.reply);
    assert!(tab.text("#session-expiry").await.contains("expires after 180 s idle"));

    // The keypad types into the reply field.
    tab.click("#keypad [data-key='1']").await;
    let typed = tab.find("#phone-input").await.prop("value").await.unwrap();
    assert_eq!(typed.as_deref(), Some("1"));
    let parcel = send(tab, 2).await;
    assert!(parcel.screen.starts_with("Weka nambari ya kipande (mfano KAJIADO/1234):"), "{}", parcel.screen);
    assert_eq!(parcel.size, size_of(&parcel.screen, 160));
    assert!(parcel.request.contains("text=1") && !parcel.request.contains("text=1*"), "{}", parcel.request);

    tab.type_into("#phone-input", "KAJIADO/1234").await;
    let confirm = send(tab, 3).await;
    assert!(
        confirm.screen.starts_with("KAJIADO/1234, Wanjiku Kamau\nUshuru: KES 4,500\n1. Lipa kwa M-Pesa"),
        "{}",
        confirm.screen
    );
    assert_eq!(confirm.size, size_of(&confirm.screen, 160));
    assert!(confirm.request.contains("text=1*KAJIADO%2F1234"), "{}", confirm.request);
    assert!(confirm.reply.contains("CON KAJIADO/1234, Wanjiku Kamau"), "{}", confirm.reply);
    tab.shot("phone", DESKTOP, 1400).await;

    tab.click("#keypad [data-key='1']").await;
    let end = send(tab, 4).await;
    assert_eq!(end.kind, "END");
    assert!(end.screen.contains("limepokelewa") && end.screen.contains("KES 4,500"), "{}", end.screen);
    assert!(end.request.contains("text=1*KAJIADO%2F1234*1"), "{}", end.request);
    assert!(end.reply.contains("END Ombi NJ-"), "{}", end.reply);
    assert_eq!(tab.text("#session-expiry").await, "The session has ended.");
    assert_eq!(tab.count("#send-form").await, 0, "nothing more to type after END");
    let reference = regex::Regex::new(r"NJ-[0-9A-Z]{5}").unwrap().find(&end.screen).unwrap().as_str().to_owned();

    // The sandbox carries it through to the receipt: simulated M-Pesa, agency and SMS.
    tab.until_reloaded("the sandbox's receipt", "#sandbox-status", |s| s == "notified").await;
    assert_eq!(tab.text("#sandbox-reference").await, reference);
    let sms = tab.text("#sandbox-sms").await;
    assert!(sms.contains("Tumepokea KES 4,500") && sms.contains("+2547****344"), "{sms}");
    reference
}

/// The simulator by keyboard alone: fields filled and the dial sent with Enter, then digits
/// and Enter on the phone, "/" to get back to it and Escape to clear it.
async fn keyboard_only_walk(tab: &mut Tab, reference: &str) {
    tab.goto("/console/phone").await;
    tab.type_into("#code", "*384#").await;
    tab.type_into("#msisdn", "0711223344").await;
    tab.keys("\u{E007}").await;
    let home = tab.until("the home screen", "#screen", |s| s.starts_with("Karibu e-Citizen")).await;
    assert!(home.contains("4. Hali ya ombi"), "{home}");
    assert_eq!(tab.focused_id().await, "phone-input", "the phone has the focus after a dial");
    let before = tab.count("#transcript > ol > li").await;
    tab.keys("4\u{E007}").await;
    let pick = tab.until("my requests", "#screen", |s| s.starts_with("Chagua ombi:")).await;
    assert!(pick.contains(reference), "the request just paid is listed: {pick}");
    assert_eq!(tab.count("#transcript > ol > li").await, before + 1);
    assert_eq!(tab.focused_id().await, "phone-input", "the phone keeps the focus after a hop");
    // Away from the phone and back with "/", then Escape clears what was typed.
    tab.keys("\u{E004}").await;
    assert_ne!(tab.focused_id().await, "phone-input");
    tab.keys("/").await;
    assert_eq!(tab.focused_id().await, "phone-input", "\"/\" jumps to the phone");
    tab.keys("99").await;
    tab.keys("\u{E00C}").await;
    assert_eq!(tab.find("#phone-input").await.prop("value").await.unwrap().as_deref(), Some(""));
    tab.keys("1\u{E007}").await;
    let status = tab.until("the request's status", "#screen-kind", |k| k == "END").await;
    assert_eq!(status, "END");
    let screen = tab.text("#screen").await;
    assert!(screen.starts_with(&format!("Ombi {reference} (ushuru wa ardhi)")), "{screen}");
}

/// (d) The simulator's request in the helpdesk, by phone number and by reference.
async fn helpdesk_finds_the_simulators_request(tab: &mut Tab, reference: &str) {
    tab.click("#nav-requests").await;
    tab.type_into("#q", "0711223344").await;
    tab.keys("\u{E007}").await;
    assert_eq!(tab.text("#results-heading").await, "Requests from 0711223344", "the search as typed");
    assert_eq!(tab.text("#no-requests").await, "No requests.", "nothing in the live store");
    assert_eq!(tab.text("#sandbox-heading").await, "Simulator (sandbox)");
    let row = tab.text(&format!("#sandbox-requests tr[data-reference='{reference}']")).await;
    assert!(row.contains("land-rates") && row.contains("notified") && row.contains("+2547****344"), "{row}");
    assert!(!tab.source().await.contains("254711223344"), "the number is masked");

    tab.type_into("#q", &reference.to_lowercase()).await;
    tab.click("#search").await;
    let h1 = tab.text("h1").await;
    assert_eq!(h1, format!("Request {reference} (simulator, sandbox)"));
    assert!(tab.text("#request-source").await.starts_with("Simulator (sandbox)"));
    let history = tab.text("#request-history").await;
    assert!(history.starts_with(&format!("Request {reference}  land-rates  (ecitizen)")), "{history}");
    assert!(history.contains("phone +2547****344") && history.contains("notified"), "{history}");
    assert!(tab.text("#request-sms").await.contains("Tumepokea KES 4,500"));
    assert_eq!(tab.count("button[id^='retry-']").await, 0, "no retry on a sandbox's request");
}

/// (e) A live payment whose delivery died, retried from its page in the helpdesk.
async fn dead_letter_retried(tab: &mut Tab, reference: &str) {
    tab.click("#nav-requests").await;
    tab.type_into("#q", "+254711000777").await;
    tab.keys("\u{E007}").await;
    tab.click(&format!("#requests tr[data-reference='{reference}'] a")).await;
    assert_eq!(tab.text("h1").await, format!("Request {reference}"));
    tab.until_reloaded("the dead letter", "#jobs", |t| t.contains("Retry")).await;
    let history = tab.text("#request-history").await;
    assert!(history.contains("phone +2547****777") && history.contains("fulfilling"), "{history}");
    let retry = tab.find("button[id^='retry-']").await;
    let id = retry.attr("id").await.unwrap().unwrap().trim_start_matches("retry-").to_owned();
    let row = tab.text(&format!("#job-{id}")).await;
    assert!(row.contains("deliver") && row.contains("dead") && row.contains("1/1"), "{row}");
    tab.shot("helpdesk", DESKTOP, 1400).await;
    tab.click(&format!("#retry-{id}")).await;
    assert_eq!(tab.text("#retried").await, format!("Job {id} is back in the queue."));
    tab.click("main a").await;
    assert_eq!(tab.text("h1").await, format!("Request {reference}"));
    let state = tab.find(&format!("#job-{id}")).await.attr("data-state").await.unwrap().unwrap_or_default();
    assert!(["ready", "running", "dead"].contains(&state.as_str()), "{state}");
    // The agency is still down: the job is retried, fails and dies again, with a second failure counted.
    tab.until_reloaded("the retried job's run", &format!("#job-{id}"), |t| t.contains("dead") && t.contains("Retry"))
        .await;
}

/// (f) The drop-off page counts live sessions only (it reads the live store): the three
/// made over the channel above, not the simulator's three walks on its sandbox.
async fn drop_off_counts_the_live_sessions(tab: &mut Tab) {
    tab.click("#nav-dropoff").await;
    tab.type_into("#days", "1").await;
    tab.keys("\u{E007}").await;
    let started = tab.text("#started-ecitizen").await;
    assert_eq!(started, "3", "two dials and one payment over the live channel; the simulator's walks are not counted");
    let language = tab.text("#dropoff-ecitizen table.screens tr[data-screen='language']").await;
    let shown: Vec<&str> = language.split_whitespace().collect();
    assert_eq!(shown.get(1), Some(&"3"), "the language screen was shown to the three new numbers: {language}");
    let left = tab.text("#dropoff-ecitizen table.screens tr[data-screen='language']").await;
    assert!(left.split_whitespace().nth(2) == Some("1"), "one of them went on: {left}");
    let bar = tab.find("#dropoff-ecitizen table.days svg.bar rect.started").await;
    let w: u32 = bar.attr("width").await.unwrap().unwrap().parse().unwrap();
    assert!(w > 0, "today's bar is drawn");
    tab.shot("dropoff", DESKTOP, 1600).await;
}

/// (b) The map of the draft with a screen nothing leads to, highlighted; its texts in both
/// locales on a click.
async fn map_highlights_an_unreachable_screen(tab: &mut Tab, dir: &Path) {
    let menu = dir.join("menus/ecitizen.toml");
    let original = std::fs::read_to_string(&menu).unwrap();
    std::fs::write(&menu, format!("{original}\n[screens.orphan]\nkind = \"end\"\ntext = \"home-title\"\n")).unwrap();
    tab.click("#nav-map").await;
    tab.find("#map svg").await;
    assert_eq!(tab.count("#map g[data-screen='orphan']").await, 0, "not in the menus in service");
    tab.find("#map-source").await.select_by_value("draft").await.unwrap();
    tab.find("#map-menu").await.select_by_value("ecitizen").await.unwrap();
    tab.click("#draw").await;
    let orphan = tab.find("#map g[data-screen='orphan']").await;
    tab.script(
        "arguments[0].scrollIntoView({block: 'center', inline: 'center'});",
        vec![serde_json::to_value(&orphan).unwrap()],
    )
    .await;
    assert!(orphan.is_displayed().await.unwrap());
    let fill = tab.find("#map g[data-screen='orphan'] rect").await.attr("fill").await.unwrap();
    assert_eq!(fill.as_deref(), Some("#f8c4c4"), "drawn in red");
    assert!(tab.text("#map g[data-screen='orphan']").await.contains("UNREACHABLE"));
    let fits = tab
        .script(
            "const g = arguments[0]; const box = g.querySelector('rect').getBBox(); \
             return Array.from(g.querySelectorAll('text')).every(t => t.getBBox().width <= box.width);",
            vec![serde_json::to_value(&orphan).unwrap()],
        )
        .await;
    assert_eq!(fits, json!(true), "the box holds its words");
    let home_fill = tab.find("#map g[data-screen='home'] rect").await.attr("fill").await.unwrap();
    assert_eq!(home_fill.as_deref(), Some("#ffffff"), "a reachable menu screen is not");
    tab.shot("map", DESKTOP, 1000).await;
    tab.click("#map g[data-screen='orphan']").await;
    let detail = tab.text("#screen-detail").await;
    assert!(detail.starts_with("Screen orphan\nend ·") && detail.contains("unreachable"), "{detail}");
    assert_eq!(tab.text("#screen-detail [data-locale='sw'] pre").await, "Karibu e-Citizen");
    assert_eq!(tab.text("#screen-detail [data-locale='en'] pre").await, "Welcome to e-Citizen");
    // And a screen of the menu in service, in both locales.
    tab.goto("/console/map?menu=ecitizen").await;
    tab.click("#map g[data-screen='land-rates']").await;
    // Each locale's worst case: the prompt, under the widest error line it can carry.
    for (locale, prompt) in [("sw", "Weka nambari ya kipande"), ("en", "Enter the land parcel number")] {
        let mut texts = Vec::new();
        for pre in tab.c.find_all(Locator::Css(&format!("#screen-detail [data-locale='{locale}'] pre"))).await.unwrap()
        {
            texts.push(pre.text().await.unwrap());
        }
        assert!(texts.iter().any(|t| t.contains(prompt)), "{locale}: {texts:?}");
    }
    std::fs::write(&menu, original).unwrap();
}

/// (c) A text edited and a translation removed on disk: the preview shows the diff and the
/// error at its file:line; fixed; reloaded after the confirmation; the simulator dials it.
async fn preview_edit_fix_and_reload(tab: &mut Tab, dir: &Path) {
    let (en, sw) = (dir.join("locales/en/ecitizen.ftl"), dir.join("locales/sw/ecitizen.ftl"));
    edit(&en, "home-title = Welcome to e-Citizen", "home-title = e-Citizen services");
    edit(&sw, "home-title = Karibu e-Citizen\n", "");
    tab.click("#nav-preview").await;
    let status = tab.text("#check-status").await;
    assert!(status.starts_with("The files on disk do not pass the check"), "{status}");
    let problems = tab.text("#problems").await;
    let at = regex::Regex::new(r"ecitizen\.(ftl|toml):\d+:\d+: error: [^\n]*home-title").unwrap();
    assert!(at.is_match(&problems), "the missing translation at its file:line: {problems}");
    let change = tab.text("#changes tr[data-what='text changed']").await;
    assert!(change.contains("Welcome to e-Citizen") && change.contains("e-Citizen services"), "{change}");
    assert!(!tab.find("#reload").await.is_enabled().await.unwrap(), "no reload while the check fails");
    tab.shot("preview", DESKTOP, 1400).await;

    edit(&sw, "home-land = ", "home-title = Karibu e-Citizen\nhome-land = ");
    tab.click("#nav-preview").await;
    let status = tab.text("#check-status").await;
    assert!(status.starts_with("The files on disk pass every check"), "{status}");
    tab.click("#reload").await;
    let confirm = tab.text("#confirm-text").await;
    assert!(confirm.starts_with("Swap in the files on disk"), "{confirm}");
    tab.click("#confirm-reload").await;
    assert!(tab.text("#reloaded").await.starts_with("Reloaded"));

    // The simulator (on the menus in service) shows the new text.
    tab.click("#nav-phone").await;
    tab.find("#source").await.select_by_value("served").await.unwrap();
    tab.type_into("#code", "*384#").await;
    tab.type_into("#msisdn", "0711223366").await;
    tab.find("#language").await.select_by_value("en").await.unwrap();
    tab.click("#dial").await;
    let screen = tab.until("the reloaded text", "#screen", |s| s.starts_with("e-Citizen services")).await;
    assert!(screen.contains("1. Pay land rates"), "{screen}");
}

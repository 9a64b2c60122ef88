//! Journey tests: walks through a menu written as data (a dial, what is typed, the screens
//! expected), run by `njia test` against the menus on disk, the way a telco would walk them.
//!
//! A journey file (`tests/journeys/*.toml`) holds one or more `[[journey]]`s. Each names the
//! code dialled, optionally the number's language (remembered before the dial, as for a
//! returning citizen) and a dialect to walk over HTTP in its wire format; its `[[journey.hop]]`s
//! say what is typed (`send`, absent on the first hop, the dial itself) and what the screen must
//! be: exactly (`expect`), holding a text (`contains`), matching a regular expression
//! (`pattern`), and whether the session ends (`end`). Every problem in a file is reported with
//! its `file:line`, as `njia check` does; a walk that diverges is reported at its first
//! divergence, with the hop's line and a line diff.
//!
//! The runner never reaches the outside world: it serves the menus in sandbox mode (M-Pesa,
//! agencies and SMS simulated) on a scratch store that is deleted afterwards, and gives every
//! journey its own phone number, so no journey sees another's language, recent services or
//! dropped session.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::channel::telco::Screen;
use crate::config::Config;
use crate::diag::{LineIndex, Place, Problem};
use crate::dial::{Dial, Phone, Shown, Transport};
use crate::types::{Locale, Msisdn};

/// A journey file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    journey: Vec<Spanned<JourneyDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JourneyDef {
    name: String,
    dial: String,
    language: Option<Spanned<String>>,
    dialect: Option<Spanned<String>>,
    #[serde(default)]
    hop: Vec<Spanned<HopDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HopDef {
    send: Option<String>,
    expect: Option<String>,
    contains: Option<String>,
    pattern: Option<Spanned<String>>,
    end: Option<bool>,
}

/// One journey, checked: ready to run.
#[derive(Debug)]
pub struct Journey {
    pub name: String,
    pub place: Place,
    pub dial: String,
    pub language: Option<(Locale, Place)>,
    pub dialect: Option<(String, Place)>,
    pub hops: Vec<Hop>,
}

/// One hop of a journey: what is typed (nothing on the first) and what must be shown.
#[derive(Debug)]
pub struct Hop {
    pub place: Place,
    pub send: Option<String>,
    pub expect: Option<String>,
    pub contains: Option<String>,
    pub pattern: Option<regex::Regex>,
    pub end: Option<bool>,
}

/// Reads every journey in `paths` (files, or folders whose `*.toml` files are read in name
/// order). Returns the journeys that are well-formed and every problem with its place.
pub fn load(paths: &[PathBuf]) -> (Vec<Journey>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        if p.is_dir() {
            match std::fs::read_dir(p) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                        .collect();
                    found.sort();
                    files.extend(found);
                }
                Err(e) => problems.push(unreadable(p, &e)),
            }
        } else {
            files.push(p.clone());
        }
    }
    let mut journeys = Vec::new();
    for f in &files {
        match std::fs::read_to_string(f) {
            Ok(text) => parse(f, &text, &mut journeys, &mut problems),
            Err(e) => problems.push(unreadable(f, &e)),
        }
    }
    if files.is_empty() && problems.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        problems.push(Problem::error(
            Place::whole_file(paths.first().map_or(Path::new("."), PathBuf::as_path)),
            format!("no journey files in {}", shown.join(", ")),
            "write tests/journeys/<name>.toml, or record one with `njia dial --record FILE`",
        ));
    }
    (journeys, problems)
}

fn unreadable(path: &Path, e: &std::io::Error) -> Problem {
    Problem::error(Place::whole_file(path), format!("cannot read it: {e}"), "check the path")
}

/// Parses one file's journeys into `out`, every problem into `problems`.
fn parse(file: &Path, text: &str, out: &mut Vec<Journey>, problems: &mut Vec<Problem>) {
    let lines = LineIndex::new(text);
    let file: Arc<Path> = Arc::from(file);
    let place = |span: std::ops::Range<usize>| Place::at_indexed(&file, text, &lines, span.start);
    let def: File = match toml::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            let at = e.span().map_or_else(|| Place::whole_file(&file), &place);
            problems.push(Problem::error(
                at,
                format!("not a journey file: {}", e.message()),
                "see the journey format in README.md (\"Journey tests\")",
            ));
            return;
        }
    };
    if def.journey.is_empty() {
        problems.push(Problem::error(
            Place::whole_file(&file),
            "the file holds no [[journey]]",
            "add one: name, dial and its [[journey.hop]]s",
        ));
    }
    for j in def.journey {
        let jplace = place(j.span());
        let j = j.into_inner();
        let before = problems.len();
        let language = match j.language {
            None => None,
            Some(l) => match Locale::parse(l.get_ref()) {
                Ok(parsed) => Some((parsed, place(l.span()))),
                Err(_) => {
                    problems.push(Problem::error(
                        place(l.span()),
                        format!("language {:?} is not a locale", l.get_ref()),
                        "write a locale folder's name, such as sw or en",
                    ));
                    None
                }
            },
        };
        let dialect = j.dialect.map(|d| (d.get_ref().clone(), place(d.span())));
        if j.hop.is_empty() {
            problems.push(Problem::error(
                jplace.clone(),
                format!("journey {:?} has no [[journey.hop]]", j.name),
                "add the first screen the dial shows as its first hop",
            ));
        }
        let mut hops = Vec::new();
        for (i, h) in j.hop.into_iter().enumerate() {
            let hplace = place(h.span());
            let h = h.into_inner();
            match (i, &h.send) {
                (0, Some(_)) => problems.push(Problem::error(
                    hplace.clone(),
                    "the first hop is the dial itself: it sends nothing",
                    "remove its `send`, or put the digits in the journey's `dial` (*384*1#)",
                )),
                (1.., None) => problems.push(Problem::error(
                    hplace.clone(),
                    format!("hop {} sends nothing", i + 1),
                    "give it `send`: what the citizen types on the screen before",
                )),
                _ => {}
            }
            let checks = h.expect.is_some() || h.contains.is_some() || h.pattern.is_some() || h.end.is_some();
            let pattern = h.pattern.and_then(|p| match regex::Regex::new(p.get_ref()) {
                Ok(r) => Some(r),
                Err(e) => {
                    problems.push(Problem::error(
                        place(p.span()),
                        format!("pattern is not a regular expression: {e}"),
                        "fix the pattern (Rust regex syntax; \\\\. for a dot)",
                    ));
                    None
                }
            });
            if !checks {
                problems.push(Problem::error(
                    hplace.clone(),
                    format!("hop {} checks nothing", i + 1),
                    "say what the screen must be: expect, contains, pattern or end",
                ));
            }
            hops.push(Hop { place: hplace, send: h.send, expect: h.expect, contains: h.contains, pattern, end: h.end });
        }
        if problems.len() == before {
            out.push(Journey { name: j.name, place: jplace, dial: j.dial, language, dialect, hops });
        }
    }
}

/// How a journey went.
#[derive(Debug)]
pub enum Outcome {
    Passed {
        hops: usize,
    },
    /// The first hop whose screen was not as expected, what was expected and what came.
    Diverged {
        hop: usize,
        place: Place,
        sent: Option<String>,
        why: String,
        got: Screen,
    },
    /// The journey could not be walked (an unknown dialect, the server failed).
    Broken {
        place: Place,
        why: String,
    },
}

/// Why the runner could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the menus do not pass njia check")]
    Check(Vec<Problem>),
    #[error("starting the sandbox: {0}")]
    Start(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Runs `journeys` against the menus and locales `config` names, served in sandbox mode on a
/// scratch store, and returns each one's outcome in order.
pub async fn run(config: &Config, journeys: &[Journey]) -> Result<Vec<Outcome>, RunError> {
    let (config, _scratch) = sandboxed(config)?;
    let app = match crate::server::build(&config).await {
        Ok(app) => app,
        Err(crate::server::StartError::Check(problems)) => return Err(RunError::Check(problems)),
        Err(e) => return Err(RunError::Start(e.to_string())),
    };
    let state = Arc::clone(&app.state);
    // The wire formats need the server itself on loopback; the hub beside it serves the walks
    // that go straight to it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.changed().await;
        };
        if let Err(e) = crate::server::serve(listener, app, shutdown).await {
            tracing::error!(error = %e, "the journeys' loopback server failed");
        }
    });
    let mut outcomes = Vec::with_capacity(journeys.len());
    for (i, j) in journeys.iter().enumerate() {
        outcomes.push(walk(&state, addr, &config, j, i).await);
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), server).await;
    Ok(outcomes)
}

/// A number of its own per journey: +254 7 19 and the journey's index.
fn number(i: usize) -> Option<Msisdn> {
    Msisdn::from_u64(254_719_000_000 + (i as u64 % 1_000_000))
}

async fn walk(
    state: &crate::server::AppState,
    addr: std::net::SocketAddr,
    config: &Config,
    j: &Journey,
    i: usize,
) -> Outcome {
    let broken = |place: &Place, why: String| Outcome::Broken { place: place.clone(), why };
    let hub = state.hub();
    let Some(msisdn) = number(i) else { return broken(&j.place, "no phone number for it".into()) };
    if let Some((locale, at)) = &j.language {
        if !hub.catalog.has_locale(locale) {
            return broken(at, format!("the locales have no {locale}"));
        }
        if let Err(e) = hub.store.set_language(msisdn, locale.clone()).await {
            return broken(at, format!("cannot remember the language: {e}"));
        }
    }
    let (transport, limit) = match &j.dialect {
        None => (Transport::Direct, config.screen_limit),
        Some((name, at)) => {
            let Some(channel) = state
                .channels
                .by_name(name)
                .or_else(|| state.channels.iter().find(|c| c.dialect.name == name.as_str()))
            else {
                let known: Vec<&str> = state.channels.iter().map(|c| &*c.name).collect();
                return broken(at, format!("no channel or dialect {name:?} (served: {})", known.join(", ")));
            };
            (Transport::Wire { addr, channel }, channel.limit)
        }
    };
    let d = Dial { code: &j.dial, msisdn, limit, echo: false };
    let mut phone = match Phone::new(d, transport) {
        Ok(p) => p,
        Err(e) => return broken(&j.place, e.to_string()),
    };
    let mut sink = std::io::sink();
    for (n, h) in j.hops.iter().enumerate() {
        if let Some(typed) = &h.send {
            phone.typed(typed.clone(), false);
        }
        let got = match phone.hop(&hub, &mut sink).await {
            Ok(screen) => screen,
            Err(e) => return broken(&h.place, e.to_string()),
        };
        if let Some(why) = diverges(h, &got) {
            return Outcome::Diverged { hop: n + 1, place: h.place.clone(), sent: h.send.clone(), why, got };
        }
        if got.end && n + 1 < j.hops.len() {
            return Outcome::Diverged {
                hop: n + 1,
                place: h.place.clone(),
                sent: h.send.clone(),
                why: format!("the session ended here, and the journey has {} more hop(s)", j.hops.len() - n - 1),
                got,
            };
        }
    }
    Outcome::Passed { hops: j.hops.len() }
}

/// Why `got` is not what hop `h` expects, if it is not.
fn diverges(h: &Hop, got: &Screen) -> Option<String> {
    if let Some(want) = &h.expect {
        let want = want.trim_end_matches('\n');
        if want != got.text {
            return Some(format!("the screen differs (- expected, + shown):\n{}", diff(want, &got.text)));
        }
    }
    if let Some(part) = &h.contains
        && !got.text.contains(part.as_str())
    {
        return Some(format!("the screen does not contain {part:?}"));
    }
    if let Some(p) = &h.pattern
        && !p.is_match(&got.text)
    {
        return Some(format!("the screen does not match the pattern {:?}", p.as_str()));
    }
    match h.end {
        Some(true) if !got.end => Some("expected the session to end (END), and it goes on (CON)".into()),
        Some(false) if got.end => Some("expected the session to go on (CON), and it ended (END)".into()),
        _ => None,
    }
}

/// A line diff of two screens: the common prefix and suffix kept as context, what lies between
/// as removed (expected) and added (shown) lines. Screens are a few lines: this is exact enough
/// to see the change at once.
pub fn diff(want: &str, got: &str) -> String {
    let a: Vec<&str> = want.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let mut out = Vec::new();
    out.extend(a[..head].iter().map(|l| format!("  {l}")));
    out.extend(a[head..a.len() - tail].iter().map(|l| format!("- {l}")));
    out.extend(b[head..b.len() - tail].iter().map(|l| format!("+ {l}")));
    out.extend(a[a.len() - tail..].iter().map(|l| format!("  {l}")));
    out.join("\n")
}

/// A journey recorded from a walk (`njia dial --record`): every screen expected exactly as it
/// was shown, the END as an END. A reference the store made up is different on every run, so
/// a screen holding one is expected by a pattern instead.
pub fn record(name: &str, dial: &str, language: Option<&Locale>, dialect: Option<&str>, walked: &[Shown]) -> String {
    let mut out = String::new();
    out.push_str("\n[[journey]]\n");
    out.push_str(&format!("name = {}\n", toml_string(name)));
    out.push_str(&format!("dial = {}\n", toml_string(dial)));
    if let Some(l) = language {
        out.push_str(&format!("language = {}\n", toml_string(l.as_str())));
    }
    if let Some(d) = dialect {
        out.push_str(&format!("dialect = {}\n", toml_string(d)));
    }
    for s in walked {
        out.push_str("\n[[journey.hop]]\n");
        if let Some(sent) = &s.sent {
            if s.secret {
                out.push_str("# typed on a screen that asks for a secret: keep only test data here\n");
            }
            out.push_str(&format!("send = {}\n", toml_string(sent)));
        }
        match reference_pattern(&s.screen.text) {
            Some(p) => out.push_str(&format!("pattern = {}\n", toml_string(&p))),
            None => out.push_str(&format!("expect = {}\n", toml_multiline(&s.screen.text))),
        }
        if s.screen.end {
            out.push_str("end = true\n");
        }
    }
    out
}

/// The pattern of a screen that shows a request's reference (`NJ-` and five letters or
/// digits): the screen exactly, the reference as any.
fn reference_pattern(text: &str) -> Option<String> {
    let re = regex::Regex::new(r"NJ-[0-9A-Z]{5}").ok()?;
    if !re.is_match(text) {
        return None;
    }
    let mut p = String::from("^");
    let mut last = 0;
    for m in re.find_iter(text) {
        p.push_str(&regex::escape(&text[last..m.start()]));
        p.push_str("NJ-[0-9A-Z]{5}");
        last = m.end();
    }
    p.push_str(&regex::escape(&text[last..]));
    p.push('$');
    Some(p)
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A screen as a TOML multi-line literal when it can be one (no `'''` in it), which reads
/// as the screen does; a basic string otherwise.
fn toml_multiline(s: &str) -> String {
    if s.contains("'''") || s.contains('\r') || s.ends_with('\'') { toml_string(s) } else { format!("'''\n{s}'''") }
}

/// The result lines `njia test` prints, and whether every journey passed.
pub fn report(journeys: &[Journey], outcomes: &[Outcome], out: &mut impl std::io::Write) -> std::io::Result<bool> {
    let (mut passed, mut failed) = (0, 0);
    for (j, o) in journeys.iter().zip(outcomes) {
        match o {
            Outcome::Passed { hops } => {
                passed += 1;
                writeln!(out, "ok    {}  {} ({hops} hops)", at(&j.place), j.name)?;
            }
            Outcome::Diverged { hop, place, sent, why, got } => {
                failed += 1;
                writeln!(out, "FAIL  {}  {}", at(&j.place), j.name)?;
                let after = sent.as_ref().map_or_else(|| "the dial".to_owned(), |s| format!("sending {s:?}"));
                let mut why = why.lines();
                writeln!(out, "      {}: hop {hop}, after {after}: {}", at(place), why.next().unwrap_or(""))?;
                let mut diffed = false;
                for l in why {
                    diffed = true;
                    writeln!(out, "      {l}")?;
                }
                // A diff shows the screen already; any other reason shows it whole.
                if !diffed {
                    writeln!(out, "      shown ({}):", if got.end { "END" } else { "CON" })?;
                    for l in got.text.lines() {
                        writeln!(out, "      | {l}")?;
                    }
                }
            }
            Outcome::Broken { place, why } => {
                failed += 1;
                writeln!(out, "FAIL  {}  {}", at(&j.place), j.name)?;
                writeln!(out, "      {}: {why}", at(place))?;
            }
        }
    }
    writeln!(out, "journeys: {passed} passed, {failed} failed")?;
    Ok(failed == 0)
}

/// `file:line`, as problems are shown.
fn at(p: &Place) -> String {
    format!("{}:{}", p.file.display(), p.line)
}

/// `config` made safe to walk for a test or a recording: sandbox mode (M-Pesa, agencies and
/// SMS simulated) on a scratch store of its own, which is deleted when the returned guard is
/// dropped. Never the outside world, never the live store.
pub fn sandboxed(config: &Config) -> std::io::Result<(Config, Scratch)> {
    let scratch = Scratch::new()?;
    let mut config = config.clone();
    config.sandbox = Some(true);
    config.daraja = None;
    // The agencies' HTTP backends and the SMS API are the outside world too: in sandbox mode
    // deliveries go to the simulated agency and SMS to the log only when none is configured.
    // The backends' names stay, simulated: a menu whose lookup names one still passes the
    // check, and the lookup is answered as unavailable without reaching the agency.
    let backends = std::mem::take(&mut config.backends);
    config.simulated_backends.extend(backends.into_keys());
    config.sms = crate::config::SmsSection::default();
    // The walk comes from this machine (a journey's wire format, the console's simulator), not
    // from a telco's addresses: a channel's address rules would refuse it. Its credentials
    // stay, and are sent.
    for channel in config.channels.values_mut() {
        channel.allow.clear();
        channel.trusted_proxies.clear();
    }
    config.database_url = None;
    config.sessions = None;
    config.data_dir = scratch.0.clone();
    Ok((config, scratch))
}

/// A scratch data directory, deleted when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("njia-journeys-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

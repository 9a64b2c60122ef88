//! What a hop asks of the hub, decided without IO: [`classify`] takes the hop and the session
//! record already read, and returns the [`Action`] to carry out (start a session, continue
//! one, replay the last reply, refuse, …).
//!
//! Nothing here awaits, reads a clock or touches a store: the hub reads the session, calls
//! [`classify`], then does what the action says. So every way a hop can go has a row in the
//! table tests below, without a server or a session store.

use std::sync::Arc;

use super::{Hop, HopInput, Retired, allows};
use crate::engine::Served;
use crate::menu::MenuSet;
use crate::session::{InputKey, SessionRecord};
use crate::types::Msisdn;

/// Longest first-hop text taken as digits dialled with the code (`*384*1*2#` gives `1*2`).
const MAX_DIAL_STRING: usize = 24;

/// True when a first hop's text can be digits dialled with the code: short, only digits and
/// `*`. Anything else is the cumulative input of a session this server does not have.
fn is_dial_string(raw: &str) -> bool {
    raw.len() <= MAX_DIAL_STRING && raw.bytes().all(|b| b.is_ascii_digit() || b == b'*')
}

/// How the new input relates to what the session already saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Delta<'a> {
    /// Same cumulative input as last time: a telco retry. Answer with the last reply.
    Retry,
    /// One new input.
    Input(&'a str),
    /// The input does not extend the previous one (a telco quirk): show the current screen.
    Inconsistent,
}

/// Derives the new input of a cumulative dialect: the raw text minus the previous raw text and
/// one `*`. Never a split on `*`, because users type `*` as data. The previous text is known
/// only by its length and its hash under `key` (it may contain a PIN).
pub fn cumulative_delta<'a>(raw: &'a str, prev_len: usize, prev_hash: u64, key: &InputKey) -> Delta<'a> {
    if raw.len() == prev_len {
        return if key.hash(raw) == prev_hash { Delta::Retry } else { Delta::Inconsistent };
    }
    if prev_len == 0 {
        return Delta::Input(raw);
    }
    match (raw.get(..prev_len), raw.get(prev_len..)) {
        (Some(head), Some(tail)) if key.hash(head) == prev_hash => match tail.strip_prefix('*') {
            Some(input) => Delta::Input(input),
            None => Delta::Inconsistent,
        },
        _ => Delta::Inconsistent,
    }
}

/// What the hub does with a hop.
pub enum Action<'a> {
    /// The session id belongs to another number (`owner`): refused, and nothing of that
    /// session is shown or changed.
    OtherNumber { owner: Msisdn },
    /// The menu version the live session started on is neither current nor retired.
    MenuGone { menu: Arc<str> },
    /// A telco retry, or any hop after the session's END: the last reply again, changing
    /// nothing.
    Replay { text: Arc<str>, end: bool },
    /// The input does not extend the previous one (a late duplicate of an older hop, or a telco
    /// quirk): the current screen, remembering nothing, so a retry of the real last hop is
    /// still recognised as a retry and never steps twice.
    ShowCurrent { rec: SessionRecord, menu: &'a Arc<Served> },
    /// One new input for the live session.
    Continue { rec: SessionRecord, menu: &'a Arc<Served>, input: &'a str },
    /// The middle of a session this server does not have (it expired, or the server
    /// restarted): the END of a submit stored for it, or "dial again".
    Gone,
    /// No menu this channel may reach answers the code.
    UnknownService,
    /// A new session on `menu`, with the digits dialled with the code as its first inputs.
    Start { menu: &'a Arc<Served>, extras: Vec<String> },
}

impl std::fmt::Debug for Action<'_> {
    /// A menu shows as its id and version (its compiled pages are of no use in a log or an
    /// assertion message).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let menu = |m: &Served| format!("{}@{}", m.id, m.version);
        match self {
            Action::OtherNumber { owner } => write!(f, "OtherNumber({})", owner.masked()),
            Action::MenuGone { menu } => write!(f, "MenuGone({menu})"),
            Action::Replay { text, end } => write!(f, "Replay({text:?}, end: {end})"),
            Action::ShowCurrent { rec, menu: m } => write!(f, "ShowCurrent({}, {rec:?})", menu(m)),
            // The input's length only: it can be a PIN.
            Action::Continue { rec, menu: m, input } => {
                write!(f, "Continue({}, <{} bytes>, {rec:?})", menu(m), input.len())
            }
            Action::Gone => write!(f, "Gone"),
            Action::UnknownService => write!(f, "UnknownService"),
            Action::Start { menu: m, extras } => write!(f, "Start({}, {} extras)", menu(m), extras.len()),
        }
    }
}

/// Decides what a hop asks for, given the session record stored under its key (`existing`,
/// already read), the key the stored input is hashed with, and the menus: the current set
/// and the versions a reload retired.
pub fn classify<'a>(
    hop: &'a Hop,
    existing: Option<SessionRecord>,
    key: &InputKey,
    menus: &'a MenuSet<Served>,
    retired: &'a [Retired],
) -> Action<'a> {
    match (existing, &hop.input) {
        // A latest-input dialect's new-session signal starts afresh even if the telco reused
        // the session id.
        (Some(rec), HopInput::Cumulative(_) | HopInput::Latest { first: false, .. }) => {
            live(hop, rec, key, menus, retired)
        }
        _ => opening(hop, menus),
    }
}

/// A hop on a session the store has.
fn live<'a>(
    hop: &'a Hop,
    rec: SessionRecord,
    key: &InputKey,
    menus: &'a MenuSet<Served>,
    retired: &'a [Retired],
) -> Action<'a> {
    // A session id belongs to the number that opened it: a hop from another number never sees
    // or continues someone else's session.
    if rec.msisdn != hop.msisdn {
        return Action::OtherNumber { owner: rec.msisdn };
    }
    let Some(menu) = menu_version(menus, retired, &rec.menu_id, rec.menu_version) else {
        return Action::MenuGone { menu: rec.menu_id };
    };
    let delta = match &hop.input {
        // Latest-input dialects keep their hop counter in `raw_len` (there is no cumulative
        // input to measure): a repeated counter is a retry, and without a counter every hop
        // is a new input (the citizen may type the same thing again).
        HopInput::Latest { sequence: Some(n), .. } if *n == rec.raw_len => Delta::Retry,
        HopInput::Latest { text, .. } => Delta::Input(text),
        HopInput::Cumulative(raw) => cumulative_delta(raw, rec.raw_len as usize, rec.raw_hash, key),
    };
    match delta {
        Delta::Retry => Action::Replay { end: rec.ended, text: rec.last_reply },
        // After the END every hop is answered with it: an ended session never steps again.
        _ if rec.ended => Action::Replay { text: rec.last_reply, end: true },
        Delta::Input(input) => Action::Continue { rec, menu, input },
        Delta::Inconsistent => Action::ShowCurrent { rec, menu },
    }
}

/// A hop with no session: a dial that opens one, or the middle of one this server lost.
fn opening<'a>(hop: &'a Hop, menus: &'a MenuSet<Served>) -> Action<'a> {
    let allowed = hop.menus.as_deref();
    let dialled = match &hop.input {
        // Not digits dialled with the code but the middle of a session we no longer have:
        // replaying it from the start screen would apply the inputs to the wrong screens.
        HopInput::Cumulative(raw) if !is_dial_string(raw) => return Action::Gone,
        HopInput::Cumulative(raw) => raw.as_str(),
        // A latest-input hop with no new-session signal starts a session only if it names a
        // code this server serves (Airtel sends the code as the first input and has no other
        // signal); otherwise the session is gone.
        HopInput::Latest { first: false, .. } if menus.route_in(&hop.service_code, allowed).is_none() => {
            return Action::Gone;
        }
        // Latest-input dialects carry digits dialled with the code in the code alone.
        HopInput::Latest { .. } => "",
    };
    // An empty code is a channel with no code field (Arkesel, Nalo): its menu is the first one
    // it may reach.
    let routed = if hop.service_code.is_empty() {
        menus.menus.iter().find(|m| allows(allowed, &m.id)).map(|m| (m, Vec::new()))
    } else {
        menus.route_in(&hop.service_code, allowed)
    };
    let Some((menu, mut extras)) = routed else { return Action::UnknownService };
    // Digits dialled with the code arrive as a cumulative dialect's first text: `1*2`. They are
    // keypad digits (`is_dial_string` checked), never data, so splitting on `*` is right here
    // and only here.
    extras.extend(dialled.split('*').filter(|s| !s.is_empty()).map(str::to_owned));
    Action::Start { menu, extras }
}

/// The menu a live session runs on: the version it started with, current or retired.
pub fn menu_version<'a>(
    menus: &'a MenuSet<Served>,
    retired: &'a [Retired],
    id: &str,
    version: u64,
) -> Option<&'a Arc<Served>> {
    let current = menus.by_id(id).filter(|m| m.version == version);
    current.or_else(|| retired.iter().map(|r| &r.menu).find(|m| m.id == id && m.version == version))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::Session;
    use crate::i18n::Catalog;
    use crate::menu::ScreenId;
    use crate::types::{Locale, SessionKey};

    /// Menus compare by identity: the same loaded menu, not an equal one.
    impl PartialEq for Action<'_> {
        fn eq(&self, other: &Self) -> bool {
            use Action::*;
            match (self, other) {
                (OtherNumber { owner: a }, OtherNumber { owner: b }) => a == b,
                (MenuGone { menu: a }, MenuGone { menu: b }) => a == b,
                (Replay { text: a, end: x }, Replay { text: b, end: y }) => a == b && x == y,
                (ShowCurrent { rec: a, menu: m }, ShowCurrent { rec: b, menu: n }) => a == b && Arc::ptr_eq(m, n),
                (Continue { rec: a, menu: m, input: i }, Continue { rec: b, menu: n, input: j }) => {
                    a == b && Arc::ptr_eq(m, n) && i == j
                }
                (Gone, Gone) | (UnknownService, UnknownService) => true,
                (Start { menu: m, extras: a }, Start { menu: n, extras: b }) => Arc::ptr_eq(m, n) && a == b,
                _ => false,
            }
        }
    }

    fn delta<'a>(prev: &str, raw: &'a str) -> Delta<'a> {
        let key = InputKey::random();
        cumulative_delta(raw, prev.len(), key.hash(prev), &key)
    }

    #[test]
    fn cumulative_inputs_are_prefix_diffs() {
        assert_eq!(delta("", ""), Delta::Retry);
        assert_eq!(delta("", "1"), Delta::Input("1"));
        assert_eq!(delta("1", "1*2"), Delta::Input("2"));
        assert_eq!(delta("1*2", "1*2"), Delta::Retry);
        // Users type `*` as data (the Vumi vectors).
        assert_eq!(delta("7*a*b", "7*a*b*****"), Delta::Input("****"));
        assert_eq!(delta("7*a*b**", "7*a*b*****"), Delta::Input("**"));
        assert_eq!(delta("1", "1*"), Delta::Input(""));
        assert_eq!(delta("1*2", "1*3"), Delta::Inconsistent);
        assert_eq!(delta("1*2", "9*2*4"), Delta::Inconsistent);
        assert_eq!(delta("1*2", "1"), Delta::Inconsistent);
        assert_eq!(delta("12", "123"), Delta::Inconsistent);
    }

    #[test]
    fn dial_strings_are_short_keypad_digits() {
        for (raw, dial) in [
            ("", true),
            ("1", true),
            ("1*2", true),
            ("*", true),
            (&"1".repeat(MAX_DIAL_STRING), true),
            (&"1".repeat(MAX_DIAL_STRING + 1), false),
            ("1*KAJIADO", false),
            ("1 2", false),
            ("#", false),
        ] {
            assert_eq!(is_dial_string(raw), dial, "{raw:?}");
        }
    }

    /// A menu answering `code`; `body` varies the file, and so the version.
    fn menu(id: &str, code: &str, body: &str) -> Arc<Served> {
        let src = format!(
            "[menu]\nid = \"{id}\"\nservice_codes = [\"{code}\"]\nstart = \"home\"\n\n\
             [screens.home]\nkind = \"end\"\ntext = \"{body}\"\n"
        );
        let mut problems = Vec::new();
        let menu = crate::menu::load_str(Path::new("m.toml"), &src, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let menu = Arc::new(menu.expect("the test menu compiles"));
        Arc::new(Served { menu, prepared: Default::default() })
    }

    /// The menus of every row: `a` on `*384#` (and a retired older version of it), `b` on
    /// `*384*9#`, `c` on `*500#`.
    struct World {
        menus: MenuSet<Served>,
        retired: Vec<Retired>,
        key: InputKey,
    }

    impl World {
        fn new() -> World {
            let (catalog, _) = Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("locales"), &[]);
            let old = menu("a", "*384#", "old");
            World {
                menus: MenuSet::new(vec![
                    menu("a", "*384#", "new"),
                    menu("b", "*384*9#", "b"),
                    menu("c", "*500#", "c"),
                ]),
                retired: vec![Retired { menu: old, catalog: Arc::new(catalog), since: std::time::Instant::now() }],
                key: InputKey::random(),
            }
        }

        fn menu(&self, id: &str) -> &Arc<Served> {
            self.menus.by_id(id).expect("a test menu")
        }

        /// A live session on `menu` by `owner` that has seen `raw` (cumulative dialects) or
        /// hop counter `raw` (latest-input dialects, where `raw` is the counter's digits).
        fn rec(&self, menu: &Served, owner: Msisdn, raw: &str, latest: bool, ended: bool) -> SessionRecord {
            let (raw_len, raw_hash) =
                if latest { (raw.parse().expect("a counter"), 0) } else { (raw.len() as u32, self.key.hash(raw)) };
            SessionRecord {
                menu_id: Arc::from(menu.id.as_str()),
                menu_version: menu.version,
                msisdn: owner,
                state: Session {
                    locale: Locale::parse("sw").expect("a locale"),
                    screen: ScreenId(0),
                    page: 0,
                    stack: Vec::new(),
                    vars: Vec::new(),
                    secrets: Default::default(),
                    recent: Vec::new(),
                },
                raw_len,
                raw_hash,
                last_reply: Arc::from("last reply"),
                ended,
                hops: 3,
                resuming: false,
            }
        }
    }

    fn citizen() -> Msisdn {
        Msisdn::parse("+254711000111").expect("a number")
    }

    fn hop(code: &str, input: HopInput, menus: Option<&[&str]>) -> Hop {
        Hop {
            key: SessionKey::new(Arc::from("test"), "s-1").expect("a key"),
            msisdn: citizen(),
            service_code: code.into(),
            input,
            limit: 160,
            menus: menus.map(|m| m.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    fn cumulative(text: &str) -> HopInput {
        HopInput::Cumulative(text.into())
    }

    fn latest(text: &str, first: bool, sequence: Option<u32>) -> HopInput {
        HopInput::Latest { text: text.into(), first, sequence }
    }

    /// Every branch of `classify`: a hop and the stored session, and what the hub must do.
    #[test]
    fn every_hop_is_classified() {
        let w = World::new();
        let a = w.menu("a");
        let b = w.menu("b");
        let c = w.menu("c");
        let old = &w.retired[0].menu;
        let other = Msisdn::parse("+254722000222").expect("a number");
        let me = citizen();
        let live = |menu: &Served, raw: &str| Some(w.rec(menu, me, raw, false, false));
        let live_latest = |counter: &str| Some(w.rec(a, me, counter, true, false));
        let ended = |raw: &str| Some(w.rec(a, me, raw, false, true));
        let gone_menu = {
            let mut r = w.rec(a, me, "1", false, false);
            r.menu_version ^= 1;
            r
        };
        let replay = |end: bool| Action::Replay { text: Arc::from("last reply"), end };
        let extras = |e: &[&str]| e.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

        let rows: Vec<(&str, Hop, Option<SessionRecord>, Action<'_>)> = vec![
            // Live sessions, cumulative dialects.
            (
                "a new input continues the session",
                hop("*384#", cumulative("1*2"), None),
                live(a, "1"),
                Action::Continue { rec: w.rec(a, me, "1", false, false), menu: a, input: "2" },
            ),
            (
                "the first input after the opening screen",
                hop("*384#", cumulative("1"), None),
                live(a, ""),
                Action::Continue { rec: w.rec(a, me, "", false, false), menu: a, input: "1" },
            ),
            (
                "a session on a retired version continues on it",
                hop("*384#", cumulative("1*2"), None),
                live(old, "1"),
                Action::Continue { rec: w.rec(old, me, "1", false, false), menu: old, input: "2" },
            ),
            ("the same input again is a retry", hop("*384#", cumulative("1*2"), None), live(a, "1*2"), replay(false)),
            (
                "a hop after the END replays the END",
                hop("*384#", cumulative("1*2*3"), None),
                ended("1*2"),
                replay(true),
            ),
            (
                "a retry after the END replays the END",
                hop("*384#", cumulative("1*2"), None),
                ended("1*2"),
                replay(true),
            ),
            (
                "an input that does not extend the last shows the current screen",
                hop("*384#", cumulative("9*9"), None),
                live(a, "1"),
                Action::ShowCurrent { rec: w.rec(a, me, "1", false, false), menu: a },
            ),
            (
                "an inconsistent input after the END replays the END",
                hop("*384#", cumulative("9*9"), None),
                ended("1"),
                replay(true),
            ),
            (
                "another number's session is refused",
                Hop { msisdn: other, ..hop("*384#", cumulative("1*2"), None) },
                live(a, "1"),
                Action::OtherNumber { owner: me },
            ),
            (
                "another number's ended session is refused too",
                Hop { msisdn: other, ..hop("*384#", cumulative("1"), None) },
                ended("1"),
                Action::OtherNumber { owner: me },
            ),
            (
                "a session whose menu version is gone",
                hop("*384#", cumulative("1*2"), None),
                Some(gone_menu.clone()),
                Action::MenuGone { menu: Arc::from("a") },
            ),
            // Live sessions, latest-input dialects.
            (
                "a latest input continues the session",
                hop("*384#", latest("2", false, Some(4)), None),
                live_latest("3"),
                Action::Continue { rec: w.rec(a, me, "3", true, false), menu: a, input: "2" },
            ),
            (
                "a repeated counter is a retry",
                hop("*384#", latest("2", false, Some(3)), None),
                live_latest("3"),
                replay(false),
            ),
            (
                "without a counter the same input is a new input",
                hop("*384#", latest("2", false, None), None),
                live_latest("3"),
                Action::Continue { rec: w.rec(a, me, "3", true, false), menu: a, input: "2" },
            ),
            (
                "the new-session signal starts afresh over a reused session id",
                hop("*384#", latest("", true, Some(1)), None),
                live_latest("3"),
                Action::Start { menu: a, extras: Vec::new() },
            ),
            (
                "the new-session signal of another number starts its own session",
                Hop { msisdn: other, ..hop("*384#", latest("", true, None), None) },
                live_latest("3"),
                Action::Start { menu: a, extras: Vec::new() },
            ),
            // No session, cumulative dialects.
            (
                "a dial opens a session",
                hop("*384#", cumulative(""), None),
                None,
                Action::Start { menu: a, extras: Vec::new() },
            ),
            (
                "digits dialled with the code become the first inputs",
                hop("*384#", cumulative("1*2"), None),
                None,
                Action::Start { menu: a, extras: extras(&["1", "2"]) },
            ),
            (
                "the longest code wins and the rest of the code are inputs too",
                hop("*384*9*5#", cumulative("7"), None),
                None,
                Action::Start { menu: b, extras: extras(&["5", "7"]) },
            ),
            (
                "empty dialled digits are skipped",
                hop("*384#", cumulative("1**2*"), None),
                None,
                Action::Start { menu: a, extras: extras(&["1", "2"]) },
            ),
            (
                "text that is not dialled digits is a lost session",
                hop("*384#", cumulative("1*KAJIADO/1234"), None),
                None,
                Action::Gone,
            ),
            (
                "a long digit string is a lost session",
                hop("*384#", cumulative(&"1*".repeat(13)), None),
                None,
                Action::Gone,
            ),
            ("a code nobody serves", hop("*999#", cumulative(""), None), None, Action::UnknownService),
            (
                "a code of a menu the channel may not reach",
                hop("*500#", cumulative(""), Some(&["a"])),
                None,
                Action::UnknownService,
            ),
            (
                "a channel reaches the menus it may",
                hop("*500#", cumulative(""), Some(&["a", "c"])),
                None,
                Action::Start { menu: c, extras: Vec::new() },
            ),
            (
                "a channel without a code field opens its first menu",
                hop("", cumulative(""), Some(&["b", "c"])),
                None,
                Action::Start { menu: b, extras: Vec::new() },
            ),
            (
                "a channel without a code field reaching no menu",
                hop("", cumulative(""), Some(&["z"])),
                None,
                Action::UnknownService,
            ),
            // No session, latest-input dialects.
            (
                "the new-session signal opens a session, its text ignored",
                hop("*384*9*5#", latest("8*8", true, None), None),
                None,
                Action::Start { menu: b, extras: extras(&["5"]) },
            ),
            (
                "the new-session signal with an unknown code",
                hop("*999#", latest("", true, None), None),
                None,
                Action::UnknownService,
            ),
            (
                "the new-session signal on a channel without a code field",
                hop("", latest("", true, None), Some(&["c"])),
                None,
                Action::Start { menu: c, extras: Vec::new() },
            ),
            (
                "a first hop without the signal naming a served code opens a session (Airtel)",
                hop("*384#", latest("*384#", false, None), None),
                None,
                Action::Start { menu: a, extras: Vec::new() },
            ),
            (
                "a hop without the signal naming no served code is a lost session",
                hop("*999#", latest("1", false, Some(2)), None),
                None,
                Action::Gone,
            ),
            (
                "a hop without the signal and without a code is a lost session",
                hop("", latest("1", false, Some(2)), Some(&["c"])),
                None,
                Action::Gone,
            ),
            (
                "a hop without the signal naming a menu the channel may not reach is a lost session",
                hop("*500#", latest("1", false, None), Some(&["a"])),
                None,
                Action::Gone,
            ),
        ];
        for (why, hop, existing, expected) in rows {
            let got = classify(&hop, existing, &w.key, &w.menus, &w.retired);
            assert_eq!(got, expected, "{why}");
        }
    }

    #[test]
    fn a_session_finds_its_menu_version_current_or_retired() {
        let w = World::new();
        let a = w.menu("a");
        let old = &w.retired[0].menu;
        assert!(menu_version(&w.menus, &w.retired, "a", a.version).is_some_and(|m| Arc::ptr_eq(m, a)));
        assert!(menu_version(&w.menus, &w.retired, "a", old.version).is_some_and(|m| Arc::ptr_eq(m, old)));
        assert!(menu_version(&w.menus, &w.retired, "a", a.version ^ old.version ^ 1).is_none());
        assert!(menu_version(&w.menus, &w.retired, "b", a.version).is_none());
        assert!(menu_version(&w.menus, &w.retired, "z", a.version).is_none());
    }
}

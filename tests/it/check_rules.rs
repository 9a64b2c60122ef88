//! `njia check`: one broken case per rule proves each.
//!
//! [`BASE`] is a minimal valid menu set (a menu, an input, a lookup and two end screens, in sw
//! and en). Every case is that set with exactly one mistake, written as edits to the base files
//! (lines swapped or dropped, lines appended, a file added) in a temporary directory; the
//! table names the problem that mistake must produce: the file, the line, a fragment of what is
//! wrong, and the severity. Two cases are also kept as folders under `tests/fixtures/check`,
//! because other tests run the binary or the server on them; a test here holds those folders
//! to their case.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use njia::check::{Options, check};
use njia::diag::{Problem, Severity};
use njia::types::Locale;

use Edit::{Add, Append, Drop, Swap};

/// Screen limit of the smallest channel (GSM-7 characters).
const LIMIT: usize = 160;

/// A case should break one rule; a mistake may show in a second place (e.g. a message missing
/// in one locale is reported where the menu uses it and where the other locale has it), but not
/// more, so the cases stay minimal.
const MAX_ERRORS: usize = 2;

/// One change to the base set. Texts are whole lines, without the last line's newline.
enum Edit {
    /// In a base file, replaces the lines of the first text, found exactly once, by the second.
    Swap(&'static str, &'static str, &'static str),
    /// In a base file, removes the lines of the text, found exactly once.
    Drop(&'static str, &'static str),
    /// Adds lines at the end of a base file.
    Append(&'static str, &'static str),
    /// A file the base set does not have.
    Add(&'static str, &'static str),
}

/// One rule's broken menu set and the problem it must produce.
struct Case {
    name: &'static str,
    /// The mistake, as edits to [`BASE`].
    edits: &'static [Edit],
    /// File the problem is in (path suffix), line, fragment of `what`, severity.
    want: (&'static str, usize, &'static str, Severity),
}

const BASE: &[(&str, &str)] = &[
    (
        "menus/m.toml",
        r#"# Minimal valid menu for the checker tests: every rule fixture is a copy of this with one mistake.

[menu]
id = "m"
service_codes = ["*500#"]
start = "home"

[variables]
name = { max_width = 10 }

[screens.home]
kind = "menu"
text = "home-title"
options = [
  { label = "home-check", goto = "ask-id" },
  { label = "home-quit", goto = "bye" },
]

[screens.ask-id]
kind = "input"
text = "ask-id"
save_as = "id"
validate = { pattern = "[0-9]{4,8}", max_length = 8, error = "id-invalid" }
next = "find"

[screens.find]
kind = "lookup"
backend = "registry"
operation = "person"
args = ["id"]
provides = ["name"]
not_found = "id-unknown"
next = "result"

[screens.result]
kind = "end"
text = "result"

[screens.bye]
kind = "end"
text = "bye"
"#,
    ),
    (
        "menus/lookups/registry.toml",
        r#"# Data for the `registry` lookup backend: people by ID number.
[person."12345678"]
name = "Amina Ali"
"#,
    ),
    (
        "locales/sw/m.ftl",
        r#"# Menyu ndogo ya majaribio.
home-title = Karibu
home-check = Angalia kitambulisho
home-quit = Ondoka
ask-id = Weka nambari ya kitambulisho:
id-invalid = Nambari si sahihi.
id-unknown = Hatukupata nambari hiyo.
result = Jina lililosajiliwa: {$name}
bye = Kwaheri.
"#,
    ),
    (
        "locales/en/m.ftl",
        r#"# Small test menu.
home-title = Welcome
home-check = Check an ID
home-quit = Quit
ask-id = Enter the ID number:
id-invalid = That number is not valid.
id-unknown = We could not find that number.
result = Name: {$name}
bye = Goodbye.
"#,
    ),
    (
        "locales/sw/njia.ftl",
        r#"# Maneno ya mfumo: urambazaji na makosa. Kila lugha lazima iwe nayo yote.
njia-invalid-choice = Chaguo si sahihi.
njia-invalid-input = Jibu si sahihi. Jaribu tena.
njia-lookup-failed = Samahani, huduma haipatikani sasa. Jaribu tena.
njia-lookup-not-found = Hatukupata taarifa hiyo.
njia-nav-back = Rudi
njia-nav-home = Mwanzo
njia-nav-more = Zaidi
njia-unknown-service = Samahani, huduma hii haipo. Piga *384# kwa huduma za e-Citizen.
njia-technical-problem = Samahani, kuna tatizo la kiufundi. Jaribu tena baadaye.
njia-session-expired = Muda wa kikao umeisha. Piga *384# tena kuanza upya.
njia-rate-limited = Samahani, maombi ni mengi kwa sasa. Jaribu tena baada ya dakika moja.
njia-resume-offer = Kikao chako cha mwisho kilikatika. Endelea ulipofikia?
njia-resume-continue = Endelea
njia-resume-restart = Anza upya
"#,
    ),
    (
        "locales/en/njia.ftl",
        r#"# System words: navigation and errors. Every locale must define all of them.
njia-invalid-choice = Invalid choice.
njia-invalid-input = That is not valid. Try again.
njia-lookup-failed = Sorry, the service is unavailable now. Try again.
njia-lookup-not-found = We could not find that.
njia-nav-back = Back
njia-nav-home = Home
njia-nav-more = More
njia-unknown-service = Sorry, this service does not exist. Dial *384# for e-Citizen services.
njia-technical-problem = Sorry, there is a technical problem. Try again later.
njia-session-expired = Your session has expired. Dial *384# again to start over.
njia-rate-limited = Sorry, there are too many requests right now. Please try again in a minute.
njia-resume-offer = Your last session was cut off. Continue where you left off?
njia-resume-continue = Continue
njia-resume-restart = Start again
"#,
    ),
    (
        "locales/sw/sms.ftl",
        r#"# Ujumbe mfupi (SMS) anaotumiwa mwananchi baada ya ombi lake. Kila ujumbe una nambari ya
# kumbukumbu ({$reference}) ili mwananchi aweze kufuatilia ombi lake kwa *384#.

sms-service = { $service ->
        [land-rates] ushuru wa ardhi
        [licence-renewal] leseni ya udereva
       *[other] huduma
    }
sms-fulfilled-paid = e-Citizen: Tumepokea KES {$amount} za {$service}, risiti ya M-Pesa {$receipt}. Ombi {$reference} limekamilika. Asante.
sms-fulfilled = e-Citizen: Ombi {$reference} la {$service} limekamilika. Asante.
sms-rejected = e-Citizen: Ombi {$reference} la {$service} limekataliwa na idara husika. Piga *384# kwa maelezo zaidi.
sms-rejected-paid = e-Citizen: Ombi {$reference} la {$service} limekataliwa. Malipo yako ya KES {$amount} (M-Pesa {$receipt}) yatakaguliwa ili urejeshewe pesa.
sms-payment-insufficient = e-Citizen: Malipo ya ombi {$reference} hayakufanikiwa: salio la M-Pesa halitoshi. Ongeza salio kisha piga *384# tena.
sms-payment-cancelled = e-Citizen: Ulisitisha malipo ya ombi {$reference}. Piga *384# ukitaka kujaribu tena.
sms-payment-unreachable = e-Citizen: Hatukukupata kwa ombi la M-Pesa la ombi {$reference}. Hakikisha simu iko hewani kisha piga *384# tena.
sms-payment-wrong-pin = e-Citizen: PIN ya M-Pesa si sahihi; ombi {$reference} halijalipwa. Piga *384# ujaribu tena.
sms-payment-busy = e-Citizen: Simu yako ilikuwa na shughuli nyingine, hatukuweza kutuma ombi la M-Pesa la ombi {$reference}. Piga *384# ujaribu tena.
sms-payment-failed = e-Citizen: Malipo ya ombi {$reference} hayakufanikiwa na hujakatwa pesa. Piga *384# ujaribu tena.
sms-payment-unknown = e-Citizen: Bado tunathibitisha malipo ya ombi {$reference}. Usilipe tena; tutakutumia ujumbe.
sms-delayed = e-Citizen: Ombi {$reference} la {$service} limechelewa kwa sababu idara husika haipatikani. Tunalishughulikia; hutahitaji kulipa tena.
sms-push-unknown = e-Citizen: Bado hatujathibitisha ujumbe wa malipo wa ombi {$reference}. Usilipe tena hadi tukutumie SMS.
"#,
    ),
    (
        "locales/en/sms.ftl",
        r#"# SMS a citizen gets after a request. Every message carries the reference ({$reference}) so
# the citizen can follow the request up on *384#.

sms-service = { $service ->
        [land-rates] land rates
        [licence-renewal] driving licence
       *[other] service
    }
sms-fulfilled-paid = e-Citizen: KES {$amount} received for {$service}, M-Pesa receipt {$receipt}. Request {$reference} is complete. Thank you.
sms-fulfilled = e-Citizen: Request {$reference} for {$service} is complete. Thank you.
sms-rejected = e-Citizen: Request {$reference} for {$service} was turned down by the agency. Dial *384# for details.
sms-rejected-paid = e-Citizen: Request {$reference} for {$service} was turned down. Your payment of KES {$amount} (M-Pesa {$receipt}) will be reviewed for a refund.
sms-payment-insufficient = e-Citizen: Payment for request {$reference} failed: not enough M-Pesa balance. Top up and dial *384# again.
sms-payment-cancelled = e-Citizen: You cancelled the payment for request {$reference}. Dial *384# to try again.
sms-payment-unreachable = e-Citizen: We could not reach your phone with the M-Pesa prompt for request {$reference}. Make sure it is on and dial *384# again.
sms-payment-wrong-pin = e-Citizen: Wrong M-Pesa PIN; request {$reference} is not paid. Dial *384# to try again.
sms-payment-busy = e-Citizen: Your phone was busy, so the M-Pesa prompt for request {$reference} could not be sent. Dial *384# to try again.
sms-payment-failed = e-Citizen: Payment for request {$reference} failed and you were not charged. Dial *384# to try again.
sms-payment-unknown = e-Citizen: We are still confirming the payment for request {$reference}. Do not pay again; we will send you an SMS.
sms-delayed = e-Citizen: Request {$reference} for {$service} is delayed: the agency cannot be reached. We are on it; you will not need to pay again.
sms-push-unknown = e-Citizen: We cannot yet confirm the payment prompt for request {$reference}. Do not pay again until we send an SMS.
"#,
    ),
];

/// The `[sms]` section the SMS rule cases add to the base menu (each then breaks its words).
const SMS_SECTION: &str = r#"
[sms]
help = "sms-help"
status = { keyword = "kw-status", reply = "sms-status", not_found = "sms-status-unknown" }
language = { keyword = "kw-language", reply = "sms-language-set", unknown = "sms-language-unknown" }"#;

/// The base set with a catalogue: one agency with one service of one template, reachable from
/// home by search and browse, with every word in both locales.
const CATALOGUE: &[Edit] = &[
    Swap(
        "menus/m.toml",
        r#"  { label = "home-quit", goto = "bye" },"#,
        r#"  { label = "home-quit", goto = "bye" },
  { label = "home-find", goto = "catalogue.search" },
  { label = "home-browse", goto = "catalogue" },"#,
    ),
    Append(
        "menus/m.toml",
        r#"
[catalogue]
categories = ["tax"]"#,
    ),
    Add(
        "menus/templates/check.toml",
        r#"# A check template for the checker's catalogue cases.
[template]
start = "ask"

[params]
prompt = { about = "the question" }

[screens.ask]
kind = "input"
text = "{prompt}"
save_as = "pin"
validate = { pattern = "[A-Z][0-9]{3}", max_length = 4 }
next = "done"

[screens.done]
kind = "end"
text = "svc-{service}-done""#,
    ),
    Add(
        "menus/catalogue/kra.toml",
        r#"# One agency for the checker's catalogue cases.
[agency]
id = "kra"

[[service]]
code = 301
id = "pin"
categories = ["tax"]
flow = "check"
params = { prompt = "pin-ask" }"#,
    ),
    Add(
        "locales/sw/cat.ftl",
        r#"home-find = Tafuta huduma
home-browse = Huduma zote
catalogue-categories = Chagua aina:
catalogue-search = Andika jina la huduma:
catalogue-results = Huduma zilizopatikana:
catalogue-none = Hakuna huduma ya "{$query}".
catalogue-search-again = Tafuta tena
catalogue-browse = Huduma kwa aina
cat-tax = Kodi"#,
    ),
    Add(
        "locales/en/cat.ftl",
        r#"home-find = Search services
home-browse = All services
catalogue-categories = Choose a kind:
catalogue-search = Type a service name:
catalogue-results = Services found:
catalogue-none = No service matches "{$query}".
catalogue-search-again = Search again
catalogue-browse = Services by kind
cat-tax = Tax"#,
    ),
    Add(
        "locales/sw/catalogue/kra.ftl",
        r#"agency-kra = Mamlaka ya Mapato
svc-pin = Angalia PIN
    .keywords = pin kodi
svc-pin-done = PIN {$pin} imepokelewa.
pin-ask = Weka PIN:"#,
    ),
    Add(
        "locales/en/catalogue/kra.ftl",
        r#"agency-kra = Revenue Authority
svc-pin = Check a PIN
    .keywords = pin tax
svc-pin-done = PIN {$pin} received.
pin-ask = Enter the PIN:"#,
    ),
];

/// A second row, for the cases about rows that disagree or pay.
const SECOND_ROW: &str = r#"
[[service]]
code = 302
id = "pay"
categories = ["tax"]"#;

/// Each catalogue rule broken once (on [`CATALOGUE`]): reported at the row or the template line.
const CATALOGUE_CASES: &[Case] = &[
    Case {
        name: "catalogue-recent-at-most-three",
        edits: &[Swap("menus/m.toml", r#"categories = ["tax"]"#, "categories = [\"tax\"]\nrecent = 4")],
        want: ("menus/m.toml", 47, "recent = 4 is not a number of services from 0 to 3", Severity::Error),
    },
    Case {
        name: "catalogue-recent-days-within-a-year",
        edits: &[Swap("menus/m.toml", r#"categories = ["tax"]"#, "categories = [\"tax\"]\nrecent_days = 0")],
        want: ("menus/m.toml", 47, "recent_days = 0 is not a number of days from 1 to 366", Severity::Error),
    },
    Case {
        name: "catalogue-recent-off-the-first-page",
        edits: &[
            Swap("menus/m.toml", r#"categories = ["tax"]"#, "categories = [\"tax\"]\nrecent = 1"),
            Swap("locales/sw/catalogue/kra.ftl", "svc-pin = Angalia PIN", "svc-pin = Angalia PIN ya mlipakodi wa KRA"),
            Swap(
                "locales/sw/m.ftl",
                "home-title = Karibu",
                "home-title = Karibu kwenye huduma za serikali kwa simu yako. Chagua huduma unayotaka kwa kuandika nambari yake, kisha tuma.!!!!",
            ),
        ],
        want: ("menus/m.toml", 47, "holds 0 of the 1 recent services it offers", Severity::Error),
    },
    Case {
        name: "catalogue-category-takes-a-screen-name",
        edits: &[Swap("menus/m.toml", r#"categories = ["tax"]"#, r#"categories = ["tax", "search"]"#)],
        want: ("menus/m.toml", 46, "is the name of one of the catalogue's own screens", Severity::Error),
    },
    Case {
        name: "catalogue-own-screens-ignore-params",
        edits: &[Swap("menus/catalogue/kra.toml", r#"flow = "check""#, r#"screen = "ask-id""#)],
        want: ("menus/catalogue/kra.toml", 10, "has its own screens, which do not read params", Severity::Error),
    },
    Case {
        name: "catalogue-unknown-template",
        edits: &[Swap("menus/catalogue/kra.toml", r#"flow = "check""#, r#"flow = "chek""#)],
        want: ("menus/catalogue/kra.toml", 9, "unknown template \"chek\"", Severity::Error),
    },
    Case {
        name: "catalogue-unknown-parameter",
        edits: &[Swap(
            "menus/catalogue/kra.toml",
            r#"params = { prompt = "pin-ask" }"#,
            r#"params = { prompt = "pin-ask", promt = "x" }"#,
        )],
        want: ("menus/catalogue/kra.toml", 10, "has no parameter \"promt\"", Severity::Error),
    },
    Case {
        name: "catalogue-missing-parameter",
        edits: &[Swap("menus/catalogue/kra.toml", r#"params = { prompt = "pin-ask" }"#, r#"params = {}"#)],
        want: (
            "menus/catalogue/kra.toml",
            5,
            "does not give template \"check\" its parameter \"prompt\"",
            Severity::Error,
        ),
    },
    Case {
        name: "catalogue-duplicate-code",
        edits: &[Append(
            "menus/catalogue/kra.toml",
            r#"
[[service]]
code = 301
id = "pin2"
categories = ["tax"]
flow = "check"
params = { prompt = "pin-ask" }"#,
        )],
        want: ("menus/catalogue/kra.toml", 13, "code 301 is also used at", Severity::Error),
    },
    Case {
        name: "catalogue-unknown-category",
        edits: &[Swap("menus/catalogue/kra.toml", r#"categories = ["tax"]"#, r#"categories = ["taxes"]"#)],
        want: ("menus/catalogue/kra.toml", 8, "unknown category \"taxes\"", Severity::Error),
    },
    Case {
        name: "catalogue-missing-name",
        edits: &[Drop("locales/sw/catalogue/kra.ftl", "svc-pin = Angalia PIN\n    .keywords = pin kodi")],
        want: ("menus/catalogue/kra.toml", 5, "\"svc-pin\"", Severity::Error),
    },
    Case {
        name: "catalogue-missing-keywords",
        edits: &[Drop("locales/sw/catalogue/kra.ftl", "    .keywords = pin kodi")],
        want: ("menus/catalogue/kra.toml", 5, "has no search words in sw", Severity::Error),
    },
    Case {
        name: "catalogue-name-overflows-a-row",
        edits: &[Swap(
            "locales/sw/catalogue/kra.ftl",
            "svc-pin = Angalia PIN",
            "svc-pin = Angalia nambari ya utambulisho wa mlipakodi",
        )],
        want: ("menus/catalogue/kra.toml", 5, "wider than a list row", Severity::Error),
    },
    Case {
        name: "catalogue-fee-does-not-parse",
        edits: &[
            Add(
                "menus/templates/fee.toml",
                r#"[template]
start = "pay"
payment = "fixed"

[screens.pay]
kind = "submit"
service = "{service}"
payment = { amount = "fee", account = "service_code" }
text = "pin-ask""#,
            ),
            Append("menus/catalogue/kra.toml", SECOND_ROW),
            Append("menus/catalogue/kra.toml", "flow = \"fee\"\nfee = \"1,0000\""),
        ],
        want: ("menus/catalogue/kra.toml", 17, "fee \"1,0000\" is not an amount", Severity::Error),
    },
    Case {
        name: "catalogue-template-parameter-undeclared",
        edits: &[Swap("menus/templates/check.toml", r#"text = "{prompt}""#, r#"text = "{question}""#)],
        want: (
            "menus/templates/check.toml",
            10,
            "{question} is not a parameter of template \"check\"",
            Severity::Error,
        ),
    },
    Case {
        name: "catalogue-template-unknown-screen",
        edits: &[Swap("menus/templates/check.toml", r#"next = "done""#, r#"next = "don""#)],
        want: ("menus/templates/check.toml", 13, "unknown screen \"don\"", Severity::Error),
    },
];

const CASES: &[Case] = &[
    Case {
        name: "toml-syntax",
        edits: &[Swap("menus/m.toml", r#"text = "home-title""#, r#"text = "home-title"#)],
        want: ("menus/m.toml", 13, "invalid menu file", Severity::Error),
    },
    Case {
        name: "unknown-field",
        edits: &[Swap("menus/m.toml", r#"save_as = "id""#, r#"save_ass = "id""#)],
        want: ("menus/m.toml", 22, "unknown field `save_ass`", Severity::Error),
    },
    Case {
        name: "unknown-screen",
        edits: &[Swap(
            "menus/m.toml",
            r#"  { label = "home-quit", goto = "bye" },"#,
            r#"  { label = "home-quit", goto = "by" },"#,
        )],
        want: ("menus/m.toml", 16, "unknown screen \"by\"", Severity::Error),
    },
    Case {
        name: "unreachable-screen",
        edits: &[Append(
            "menus/m.toml",
            r#"
[screens.orphan]
kind = "end"
text = "bye""#,
        )],
        want: ("menus/m.toml", 43, "screen \"orphan\" is unreachable", Severity::Error),
    },
    Case {
        name: "no-way-out",
        edits: &[
            Swap(
                "menus/m.toml",
                r#"  { label = "home-quit", goto = "bye" },"#,
                r#"  { label = "home-quit", goto = "bye" },
  { label = "home-check", goto = "spin-a" },"#,
            ),
            Append(
                "menus/m.toml",
                r#"
[screens.spin-a]
kind = "menu"
text = "home-title"
options = [{ label = "home-check", goto = "spin-b" }]

[screens.spin-b]
kind = "menu"
text = "home-title"
options = [{ label = "home-check", goto = "spin-a" }]"#,
            ),
        ],
        want: ("menus/m.toml", 44, "screen \"spin-a\" has no way out", Severity::Error),
    },
    Case {
        name: "missing-message",
        edits: &[Drop("locales/sw/m.ftl", r#"bye = Kwaheri."#)],
        want: ("menus/m.toml", 41, "message \"bye\" (screen \"bye\") is missing in locale sw", Severity::Error),
    },
    Case {
        name: "one-locale-only",
        edits: &[Append("locales/en/m.ftl", r#"stray = Only in English"#)],
        want: ("locales/en/m.ftl", 10, "message \"stray\" is defined in en only but missing in sw", Severity::Error),
    },
    Case {
        name: "fluent-syntax",
        edits: &[Swap(
            "locales/sw/m.ftl",
            r#"home-quit = Ondoka"#,
            r#"home-quit = Ondoka
this line is not fluent"#,
        )],
        want: ("locales/sw/m.ftl", 5, "Fluent syntax error", Severity::Error),
    },
    Case {
        name: "unset-variable",
        edits: &[Swap("locales/sw/m.ftl", r#"bye = Kwaheri."#, r#"bye = Kwaheri, {$x}."#)],
        want: ("menus/m.toml", 41, "uses $x, which no path to screen \"bye\" sets", Severity::Error),
    },
    Case {
        name: "bad-regex",
        edits: &[Swap(
            "menus/m.toml",
            r#"validate = { pattern = "[0-9]{4,8}", max_length = 8, error = "id-invalid" }"#,
            r#"validate = { pattern = "[0-9", max_length = 8, error = "id-invalid" }"#,
        )],
        want: ("menus/m.toml", 23, "regular expression does not compile", Severity::Error),
    },
    // Wrapped in a group for anchoring, `[0-9]{4})|(x` would become valid; it must not pass.
    Case {
        name: "regex-unbalanced",
        edits: &[Swap(
            "menus/m.toml",
            r#"validate = { pattern = "[0-9]{4,8}", max_length = 8, error = "id-invalid" }"#,
            r#"validate = { pattern = "[0-9]{4})|(x", max_length = 8, error = "id-invalid" }"#,
        )],
        want: ("menus/m.toml", 23, "unopened group", Severity::Error),
    },
    // The second lookup of a chain returns to the screen before the chain with its reason.
    Case {
        name: "lookup-chain",
        edits: &[
            Swap(
                "menus/m.toml",
                r#"not_found = "id-unknown""#,
                r#"not_found = "id-unknown"
next = "find-more"

# A second lookup in a chain: when it finds nothing, the citizen is back on ask-id with this
# reason on top, and ask-id cannot hold it.
[screens.find-more]
kind = "lookup"
backend = "registry"
operation = "history"
args = ["id"]
not_found = "history-unknown""#,
            ),
            Append(
                "menus/lookups/registry.toml",
                r#"
[history."12345678"]"#,
            ),
            Append(
                "locales/sw/m.ftl",
                r#"history-unknown = Tumempata mtu lakini si historia yake. Rekodi huhifadhiwa kwa miaka kumi tu; rekodi za zamani ziko katika ofisi ya kaunti. Tafadhali tembelea ofisi."#,
            ),
            Append(
                "locales/en/m.ftl",
                r#"history-unknown = We found the person but not their history. The registry keeps records for ten years only; older records are at the county office. Please visit."#,
            ),
        ],
        want: ("menus/m.toml", 21, "screen \"ask-id\" can need 197 GSM-7 characters in sw", Severity::Error),
    },
    // Widths far past any screen are refused instead of being rendered as worst cases.
    Case {
        name: "huge-width",
        edits: &[Swap("menus/m.toml", r#"name = { max_width = 10 }"#, r#"name = { max_width = 100000000000 }"#)],
        want: ("menus/m.toml", 9, "wider than any screen", Severity::Error),
    },
    Case {
        name: "too-long",
        edits: &[Swap("menus/m.toml", r#"name = { max_width = 10 }"#, r#"name = { max_width = 145 }"#)],
        want: (
            "menus/m.toml",
            37,
            "screen \"result\" can need 166 GSM-7 characters in sw, over the limit of 160",
            Severity::Error,
        ),
    },
    Case {
        name: "non-gsm7",
        edits: &[Swap("locales/en/m.ftl", r#"bye = Goodbye."#, r#"bye = That’s all, goodbye."#)],
        want: ("locales/en/m.ftl", 9, "non-GSM-7 characters", Severity::Warning),
    },
    Case {
        name: "duplicate-service-code",
        edits: &[Add(
            "menus/m2.toml",
            r#"[menu]
id = "m2"
service_codes = ["*500#"]
start = "bye"

[screens.bye]
kind = "end"
text = "bye""#,
        )],
        want: ("menus/m2.toml", 3, "service code *500# is claimed", Severity::Error),
    },
    // Sessions never keep a secret between hops: it must go straight to the lookup that uses it.
    Case {
        name: "secret-not-consumed",
        edits: &[
            Swap(
                "menus/m.toml",
                r#"validate = { pattern = "[0-9]{4,8}", max_length = 8, error = "id-invalid" }"#,
                r#"validate = { pattern = "[0-9]{4,8}", max_length = 8, error = "id-invalid" }
next = "ask-pin"

# The mistake: the lookup after the secret input does not take it.
[screens.ask-pin]
kind = "input"
text = "ask-id"
save_as = "pin"
secret = true
validate = { pattern = "[0-9]{4}" }"#,
            ),
            Drop(
                "locales/sw/njia.ftl",
                r#"njia-rate-limited = Samahani, maombi ni mengi kwa sasa. Jaribu tena baada ya dakika moja."#,
            ),
            Append(
                "locales/sw/njia.ftl",
                r#"njia-rate-limited = Samahani, maombi ni mengi kwa sasa. Jaribu tena baada ya dakika moja."#,
            ),
            Drop(
                "locales/en/njia.ftl",
                r#"njia-rate-limited = Sorry, there are too many requests right now. Please try again in a minute."#,
            ),
            Append(
                "locales/en/njia.ftl",
                r#"njia-rate-limited = Sorry, there are too many requests right now. Please try again in a minute."#,
            ),
        ],
        want: (
            "menus/m.toml",
            27,
            "secret input \"pin\" of screen \"ask-pin\" leads to screen \"find\", not to a lookup that takes it",
            Severity::Error,
        ),
    },
    Case {
        name: "missing-system-message",
        edits: &[Drop("locales/en/njia.ftl", r#"njia-nav-back = Back"#)],
        want: ("locales/en/njia.ftl", 1, "system message \"njia-nav-back\" is missing in en", Severity::Error),
    },
    Case {
        name: "missing-sms-message",
        edits: &[Drop(
            "locales/sw/sms.ftl",
            r#"sms-payment-busy = e-Citizen: Simu yako ilikuwa na shughuli nyingine, hatukuweza kutuma ombi la M-Pesa la ombi {$reference}. Piga *384# ujaribu tena."#,
        )],
        want: ("locales/sw/sms.ftl", 1, "SMS message \"sms-payment-busy\" is missing in sw", Severity::Error),
    },
    Case {
        name: "field-wrong-kind",
        edits: &[Swap(
            "menus/m.toml",
            r#"text = "home-title""#,
            r#"text = "home-title"
validate = { max_length = 4 }"#,
        )],
        want: ("menus/m.toml", 14, "field \"validate\" does not belong on a menu screen", Severity::Error),
    },
    Case {
        name: "sms-keyword-missing",
        edits: &[
            Append("menus/m.toml", SMS_SECTION),
            Append(
                "locales/sw/sms.ftl",
                r#"
kw-language = LUGHA
sms-help = Tuma HALI na nambari ya ombi.
sms-status = Ombi {$reference} la {$service}: {$status}.
sms-status-unknown = Hatukupata ombi {$reference}.
sms-language-set = Sawa, Kiswahili.
sms-language-unknown = Tuma LUGHA SW au LUGHA EN."#,
            ),
            Append(
                "locales/en/sms.ftl",
                r#"
kw-status = STATUS
kw-language = LANGUAGE
sms-help = Send STATUS and your request number.
sms-status = Request {$reference} for {$service}: {$status}.
sms-status-unknown = No request {$reference}.
sms-language-set = Done, English.
sms-language-unknown = Send LANGUAGE EN or LANGUAGE SW."#,
            ),
        ],
        want: (
            "menus/m.toml",
            45,
            "message \"kw-status\" ([sms] status keyword) is missing in locale sw",
            Severity::Error,
        ),
    },
    Case {
        name: "sms-keyword-twice",
        edits: &[
            Append("menus/m.toml", SMS_SECTION),
            Append(
                "locales/sw/sms.ftl",
                r#"
kw-status = HALI
kw-language = LUGHA
sms-help = Tuma HALI na nambari ya ombi.
sms-status = Ombi {$reference} la {$service}: {$status}.
sms-status-unknown = Hatukupata ombi {$reference}.
sms-language-set = Sawa, Kiswahili.
sms-language-unknown = Tuma LUGHA SW au LUGHA EN."#,
            ),
            Append(
                "locales/en/sms.ftl",
                r#"
kw-status = STATUS
kw-language = LANGUAGE, HALI
sms-help = Send STATUS and your request number.
sms-status = Request {$reference} for {$service}: {$status}.
sms-status-unknown = No request {$reference}.
sms-language-set = Done, English.
sms-language-unknown = Send LANGUAGE EN or LANGUAGE SW."#,
            ),
        ],
        want: (
            "menus/m.toml",
            46,
            "keyword HALI is used by two actions: status in sw and language in en",
            Severity::Error,
        ),
    },
    Case {
        name: "sms-reply-missing",
        edits: &[
            Append("menus/m.toml", SMS_SECTION),
            Append(
                "locales/sw/sms.ftl",
                r#"
kw-status = HALI
kw-language = LUGHA
sms-help = Tuma HALI na nambari ya ombi.
sms-status = Ombi {$reference} la {$service}: {$status}.
sms-status-unknown = Hatukupata ombi {$reference}.
sms-language-set = Sawa, Kiswahili.
sms-language-unknown = Tuma LUGHA SW au LUGHA EN."#,
            ),
            Append(
                "locales/en/sms.ftl",
                r#"
kw-status = STATUS
kw-language = LANGUAGE
sms-help = Send STATUS and your request number.
sms-status-unknown = No request {$reference}.
sms-language-set = Done, English.
sms-language-unknown = Send LANGUAGE EN or LANGUAGE SW."#,
            ),
        ],
        want: (
            "menus/m.toml",
            45,
            "message \"sms-status\" ([sms] status reply) is missing in locale en",
            Severity::Error,
        ),
    },
    // #11: check loads the lookup data serve answers from, and holds it to the menu.
    Case {
        name: "unknown-backend",
        edits: &[Swap("menus/m.toml", r#"backend = "registry""#, r#"backend = "registri""#)],
        want: ("menus/m.toml", 28, "no lookup backend \"registri\"", Severity::Error),
    },
    Case {
        name: "data-missing-variable",
        edits: &[Swap("menus/lookups/registry.toml", r#"name = "Amina Ali""#, r#"surname = "Ali""#)],
        want: ("menus/lookups/registry.toml", 2, "entry \"12345678\" of person has no name", Severity::Error),
    },
    Case {
        name: "data-too-wide",
        edits: &[Swap("menus/lookups/registry.toml", r#"name = "Amina Ali""#, r#"name = "Amina Ali Mohamed""#)],
        want: (
            "menus/lookups/registry.toml",
            3,
            "name of entry \"12345678\": 17 characters, wider than its max_width 10",
            Severity::Error,
        ),
    },
    Case {
        name: "data-not-amount",
        edits: &[
            Swap(
                "menus/m.toml",
                r#"name = { max_width = 10 }"#,
                r#"name = { max_width = 10 }
fee = { type = "amount" }"#,
            ),
            Swap("menus/m.toml", r#"provides = ["name"]"#, r#"provides = ["name", "fee"]"#),
            Append("menus/lookups/registry.toml", r#"fee = "10,00""#),
        ],
        want: ("menus/lookups/registry.toml", 4, "fee of entry \"12345678\": not an amount", Severity::Error),
    },
    // An active member told they are in arrears: a selector key no value takes.
    Case {
        name: "selector-key-typo",
        edits: &[
            Swap(
                "menus/m.toml",
                r#"name = { max_width = 10 }"#,
                r#"name = { max_width = 10 }
state = { max_width = 8 }"#,
            ),
            Swap("menus/m.toml", r#"provides = ["name"]"#, r#"provides = ["name", "state"]"#),
            Append(
                "menus/lookups/registry.toml",
                r#"state = "active"

[person."87654321"]
name = "Juma Said"
state = "inactive""#,
            ),
            Swap(
                "locales/sw/m.ftl",
                r#"result = Jina lililosajiliwa: {$name}"#,
                r#"result = Jina lililosajiliwa: {$name}. { $state ->
        [activ] Hai
       *[other] Ana deni
    }"#,
            ),
            Swap(
                "locales/en/m.ftl",
                r#"result = Name: {$name}"#,
                r#"result = Name: {$name}. { $state ->
        [active] Active
       *[other] In arrears
    }"#,
            ),
        ],
        want: ("locales/sw/m.ftl", 8, "[activ] in sw can never be chosen", Severity::Error),
    },
    Case {
        name: "truncate-amount",
        edits: &[Swap(
            "menus/m.toml",
            r#"name = { max_width = 10 }"#,
            r#"name = { max_width = 10 }
fee = { type = "amount", truncate = true }"#,
        )],
        want: ("menus/m.toml", 10, "it can never be shortened", Severity::Error),
    },
    // An ID pattern that takes 0: Back and Home are data there, and a citizen is stuck.
    Case {
        name: "input-zero-is-data",
        edits: &[Swap(
            "menus/m.toml",
            r#"validate = { pattern = "[0-9]{4,8}", max_length = 8, error = "id-invalid" }"#,
            r#"validate = { pattern = "[0-9]{1,8}", max_length = 8, error = "id-invalid" }"#,
        )],
        want: (
            "menus/m.toml",
            19,
            "a typed 0 or 00 is data (the validators accept it), so citizens cannot go back",
            Severity::Warning,
        ),
    },
    // A long title: after a wrong choice the error line takes its place.
    Case {
        name: "title-replaced",
        edits: &[
            Swap(
                "locales/sw/m.ftl",
                r#"home-title = Karibu"#,
                r#"home-title = Karibu kwenye sajili ya watu. Chagua unachotaka kufanya leo kutoka kwenye orodha ya huduma hapa chin"#,
            ),
            Swap(
                "locales/en/m.ftl",
                r#"home-title = Welcome"#,
                r#"home-title = Welcome to the registry of persons. Choose what you want to do today from the list of services below"#,
            ),
            Swap(
                "locales/sw/njia.ftl",
                r#"njia-invalid-choice = Chaguo si sahihi."#,
                r#"njia-invalid-choice = Chaguo si sahihi. Tafadhali chagua nambari iliyo kwenye orodha."#,
            ),
        ],
        want: ("menus/m.toml", 13, "in sw: after a wrong choice the error line replaces the title", Severity::Warning),
    },
];

/// The case folders other tests read (`cli.rs` runs the binary on bad-regex, `hub.rs` builds the
/// server on unknown-screen).
const ON_DISK: &[&str] = &["bad-regex", "unknown-screen"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The base set with `edits` applied, by path.
fn files<'a>(edits: impl IntoIterator<Item = &'a Edit>) -> BTreeMap<&'static str, String> {
    let mut files: BTreeMap<&str, String> = BASE.iter().map(|(path, text)| (*path, (*text).to_owned())).collect();
    for edit in edits {
        match *edit {
            Swap(path, old, new) => swap(&mut files, path, old, &format!("{new}\n")),
            Drop(path, old) => swap(&mut files, path, old, ""),
            Append(path, more) => {
                let text = files.get_mut(path).unwrap_or_else(|| panic!("{path} is not a base file"));
                text.push_str(more);
                text.push('\n');
            }
            Add(path, text) => assert!(files.insert(path, format!("{text}\n")).is_none(), "{path} is a base file"),
        }
    }
    files
}

/// Replaces the lines `old` (found at the start of a line, exactly once) of the file at `path`.
fn swap(files: &mut BTreeMap<&'static str, String>, path: &str, old: &str, new: &str) {
    let text = files.get_mut(path).unwrap_or_else(|| panic!("{path} is not a base file"));
    let old = format!("{old}\n");
    // Whole lines in one place only: an edit that matched twice, or inside a line, would break
    // more than it says.
    let places: Vec<usize> =
        text.match_indices(&old).map(|(at, _)| at).filter(|at| *at == 0 || text[..*at].ends_with('\n')).collect();
    assert_eq!(places.len(), 1, "{path} must hold the lines {old:?} exactly once");
    text.replace_range(places[0]..places[0] + old.len(), new);
}

/// Writes the base set with `edits` applied to a fresh temporary directory.
fn written<'a>(edits: impl IntoIterator<Item = &'a Edit>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (path, text) in files(edits) {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a file in a folder")).expect("the folder is created");
        std::fs::write(&path, text).expect("the file is written");
    }
    dir
}

fn run(menus_dir: &Path, locales_dir: &Path) -> Vec<Problem> {
    let fallback: Vec<Locale> = ["sw", "en"].iter().map(|l| Locale::parse(l).expect("locale")).collect();
    check(&Options {
        menus_dir,
        locales_dir,
        limit: LIMIT,
        channels: &[],
        fallback: &fallback,
        lookups_dir: None,
        http_backends: &[],
    })
}

fn run_edited<'a>(edits: impl IntoIterator<Item = &'a Edit>) -> Vec<Problem> {
    let dir = written(edits);
    run(&dir.path().join("menus"), &dir.path().join("locales"))
}

fn listing(problems: &[Problem]) -> String {
    if problems.is_empty() {
        return "  (no problems)".to_owned();
    }
    problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
}

fn errors(problems: &[Problem]) -> usize {
    problems.iter().filter(|p| p.is_error()).count()
}

#[test]
fn each_rule_has_a_broken_case_that_trips_it() {
    trip(CASES, &[]);
}

/// #13: the catalogue's rules, each broken once on the base set with a catalogue added.
#[test]
fn each_catalogue_rule_has_a_broken_case_that_trips_it() {
    trip(CATALOGUE_CASES, CATALOGUE);
}

#[test]
fn the_catalogue_base_checks_clean() {
    let problems = run_edited(CATALOGUE);
    assert!(problems.is_empty(), "the catalogue base must pass every rule:\n{}", listing(&problems));
}

/// Runs every case on the base set with `base` applied first.
fn trip(cases: &[Case], base: &[Edit]) {
    let mut failures = Vec::new();
    for case in cases {
        let (file, line, fragment, severity) = case.want;
        let problems = run_edited(base.iter().chain(case.edits));
        let found = problems
            .iter()
            .any(|p| p.file.ends_with(file) && p.line == line && p.what.contains(fragment) && p.severity == severity);
        let n_errors = errors(&problems);
        let mut why = Vec::new();
        if !found {
            why.push(format!("no {severity:?} at {file}:{line} containing {fragment:?}"));
        }
        match severity {
            Severity::Error if n_errors == 0 => why.push("check reported no error".to_owned()),
            Severity::Error if n_errors > MAX_ERRORS => {
                why.push(format!("{n_errors} errors (at most {MAX_ERRORS} expected: the case should break one rule)"))
            }
            Severity::Warning if n_errors > 0 => {
                why.push(format!("{n_errors} errors (a warning-only case must check clean of errors)"))
            }
            _ => {}
        }
        if let Some(p) = problems.iter().find(|p| p.line == 0 || p.col == 0 || p.what.is_empty() || p.fix.is_empty()) {
            why.push(format!("problem without a position, a description or a fix: {p:?}"));
        }
        if !why.is_empty() {
            failures.push(format!("[{}] {}\n{}", case.name, why.join("; "), listing(&problems)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rule cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<&str> = CASES.iter().chain(CATALOGUE_CASES).map(|c| c.name).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n, "two cases share a name");
}

/// The folders other tests read hold exactly their case here (the same files, word for word),
/// and no other folder is left in `tests/fixtures/check`.
#[test]
fn the_folders_other_tests_read_are_their_cases() {
    let root = repo().join("tests/fixtures/check");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .expect("tests/fixtures/check")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, ON_DISK, "only the folders other tests read are kept on disk");
    for name in ON_DISK {
        let case = CASES.iter().find(|c| c.name == *name).unwrap_or_else(|| panic!("{name} is not a case"));
        let want = files(case.edits);
        let mut on_disk = BTreeMap::new();
        let mut pending = vec![root.join(name)];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("a readable folder").filter_map(Result::ok) {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let relative = path.strip_prefix(root.join(name)).expect("under the folder");
                    let text = std::fs::read_to_string(&path).expect("a text file");
                    on_disk.insert(relative.to_string_lossy().replace('\\', "/"), text);
                }
            }
        }
        let want: BTreeMap<String, String> = want.into_iter().map(|(p, t)| (p.to_owned(), t)).collect();
        assert_eq!(on_disk.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{name}: the files");
        for (path, text) in &want {
            assert!(on_disk[path] == *text, "{name}/{path} differs from its case in CASES");
        }
    }
}

#[test]
fn base_set_checks_clean() {
    let problems = run_edited(&[]);
    assert!(problems.is_empty(), "the base set must pass every rule:\n{}", listing(&problems));
}

#[test]
fn demo_menus_check_clean() {
    let root = repo();
    let problems = run(&root.join("menus"), &root.join("locales"));
    assert_eq!(errors(&problems), 0, "the demo menus must pass njia check:\n{}", listing(&problems));
}

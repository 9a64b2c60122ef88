//! Engine features on a small purpose-built menu (tests/fixtures/features): secret inputs,
//! conditional options, validators, navigation on an input screen, resuming. Each case is a
//! table: what the citizen (or the hub, for lookups, submits and resuming) does next and what
//! must hold after it, run by one small driver, [`check`].

use crate::common;

use njia::check::Loaded;
use njia::engine::{self, Ctx, LookupAnswer, Session, Step, Value};
use njia::types::Locale;
use njia::value::Refusal;

use Do::{Answer, Resume, Stored, Type};
use Want::{Lookup, LookupAny, Refused, Resumable, SameSessionAs, Screen, Secrets, Serialized, Starts, Submit, Var};

/// What happens next to the session.
enum Do {
    /// The citizen types an input.
    Type(&'static str),
    /// The hub answers the pending lookup.
    Answer(LookupAnswer),
    /// The hub stored the pending submit under this reference.
    Stored(&'static str),
    /// The hub offers to resume a copy of the session (as a dropped session is offered): when
    /// `engine::resumable` says yes, the copy becomes the session and its screen is the one
    /// `engine::current` shows; when no, the session stays as it was.
    Resume,
}

/// What must hold after it.
enum Want {
    /// This screen, word for word; `true` for an END.
    Screen(&'static str, bool),
    /// A screen (CON or END) beginning with this.
    Starts(&'static str),
    /// A lookup called with exactly these arguments.
    Lookup(&'static [(&'static str, &'static str)]),
    /// Some lookup.
    LookupAny,
    /// A submit asking for a payment of this amount to this account, whose fields hold no
    /// `pin` and no value equal to the given secret.
    Submit { amount: u64, account: &'static str, secret: &'static str },
    /// A lookup answer refused for this variable, for this reason (`None`: nothing refused).
    Refused(Option<(&'static str, Refusal)>),
    /// A session variable's value (`None`: not set).
    Var(&'static str, Option<&'static str>),
    /// Whether the session holds a secret.
    Secrets(bool),
    /// Whether the serialized session contains this text.
    Serialized(&'static str, bool),
    /// What `engine::resumable` said.
    Resumable(bool),
    /// The session equals the one after the `n`th action (counted from 0).
    SameSessionAs(usize),
}

/// A walk of the features menu: the locale, the first screen's expectations, then each action
/// with its expectations.
struct Case {
    name: &'static str,
    locale: &'static str,
    first: Vec<Want>,
    then: Vec<(Do, Vec<Want>)>,
}

fn loaded() -> Loaded {
    common::load(&common::repo().join("tests/fixtures/features"))
}

/// The driver: begins a session on the `features` menu (no language question), applies each
/// action and checks what it wants, naming the case and the action on a failure.
fn check(l: &Loaded, case: &Case) {
    let served = engine::serve(&l.menus, &l.catalog, |_| vec![160]);
    let m = served.by_id("features").expect("the features menu");
    let ctx = Ctx::new(m, &l.catalog, 160);
    let (mut s, first) = engine::begin(ctx, Locale::parse(case.locale).expect("a locale"), false);
    let mut after: Vec<Session> = Vec::new();
    let at = format!("{}, first screen", case.name);
    expect(&at, &first, None, None, &s, &after, &case.first);
    for (i, (action, wants)) in case.then.iter().enumerate() {
        let (step, refused, resumed) = match action {
            Type(input) => (engine::step(ctx, &mut s, input).step, None, None),
            Answer(answer) => {
                let a = engine::lookup_answered(ctx, &mut s, answer.clone());
                (a.step, Some(a.refused), None)
            }
            Stored(reference) => (engine::submitted(ctx, &mut s, reference), None, None),
            Resume => {
                let mut copy = s.clone();
                let yes = engine::resumable(ctx, &mut copy);
                if yes {
                    s = copy;
                }
                (engine::current(ctx, &s), None, Some(yes))
            }
        };
        let at = format!("{}, action {i}", case.name);
        expect(&at, &step, refused.as_ref(), resumed, &s, &after, wants);
        after.push(s.clone());
    }
}

fn expect(
    at: &str,
    step: &Step,
    refused: Option<&Option<engine::Refused>>,
    resumed: Option<bool>,
    s: &Session,
    after: &[Session],
    wants: &[Want],
) {
    for want in wants {
        match want {
            Screen(text, end) => {
                assert_eq!(step, &Step::Show { text: (*text).to_owned(), end: *end }, "{at}");
            }
            Starts(prefix) => match step {
                Step::Show { text, .. } => assert!(text.starts_with(prefix), "{at}: {text:?}"),
                other => panic!("{at}: expected a screen, got {other:?}"),
            },
            Lookup(args) => match step {
                Step::Lookup(call) => {
                    let want: Vec<(String, String)> =
                        args.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
                    assert_eq!(call.args, want, "{at}");
                }
                other => panic!("{at}: expected a lookup, got {other:?}"),
            },
            LookupAny => assert!(matches!(step, Step::Lookup(_)), "{at}: expected a lookup, got {step:?}"),
            Submit { amount, account, secret } => {
                let Step::Submit(call) = step else { panic!("{at}: expected a submit, got {step:?}") };
                assert!(call.fields.iter().all(|(k, v)| k != "pin" && v != secret), "{at}: {:?}", call.fields);
                let payment = call.payment.as_ref().unwrap_or_else(|| panic!("{at}: a payment"));
                assert_eq!((payment.amount.get(), payment.account.as_str()), (*amount, *account), "{at}");
            }
            Refused(want) => {
                let got = refused.unwrap_or_else(|| panic!("{at}: only a lookup answer can be refused"));
                let got = got.as_ref().map(|r| (r.variable.as_str(), &r.why));
                assert_eq!(got, want.as_ref().map(|(v, why)| (*v, why)), "{at}");
            }
            Var(name, value) => assert_eq!(s.var(name).as_deref(), *value, "{at}: variable {name}"),
            Secrets(held) => assert_eq!(!s.secrets.is_empty(), *held, "{at}: secrets held"),
            Serialized(text, contained) => {
                let json = serde_json::to_string(s).expect("a session serializes");
                assert_eq!(json.contains(text), *contained, "{at}: {text:?} in {json}");
            }
            Resumable(yes) => assert_eq!(resumed, Some(*yes), "{at}: resumable"),
            SameSessionAs(n) => assert_eq!(Some(s), after.get(*n), "{at}: the session after action {n}"),
        }
    }
}

fn found(pairs: &[(&str, &str)]) -> LookupAnswer {
    LookupAnswer::Found(pairs.iter().map(|(k, v)| ((*k).into(), Value::Text((*v).into()))).collect())
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "conditions show and hide options",
            locale: "en",
            first: vec![Screen("Welcome\n1. Send money\n2. Join", false)],
            then: vec![
                (Type("2"), vec![Screen("Welcome\n1. Send money\n2. Special service", false)]),
                (Type("2"), vec![Screen("Thank you", true)]),
            ],
        },
        Case {
            name: "validators, secrets and input navigation",
            locale: "en",
            first: vec![],
            then: vec![
                (Type("1"), vec![]),
                // navigation = true: 0 is Back here, not data.
                (Type("0"), vec![Starts("Welcome")]),
                (Type("1"), vec![]),
                (Type("12345"), vec![Screen("That is not valid. Try again.\nEnter the phone number:\n0. Back", false)]),
                // Phone numbers are saved normalised.
                (Type("0722000000"), vec![Var("to", Some("254722000000"))]),
                (
                    Type("70001"),
                    vec![Screen("The amount is KES 10 to 70,000.\nEnter the amount:\n0. Back\n00. Home", false)],
                ),
                (Type("1,000"), vec![Starts("The amount is")]),
                (Type("1000"), vec![]),
                (Type("tkash"), vec![Starts("That is not valid.")]),
                (Type("MPESA"), vec![Var("channel", Some("mpesa"))]),
                // The PIN reaches the lookup, and nothing else: a secret is never a shown
                // variable and never serialized.
                (
                    Type("4321"),
                    vec![
                        Lookup(&[("to", "254722000000"), ("pin", "4321")]),
                        Var("pin", None),
                        Serialized("4321", false),
                    ],
                ),
                // #11: a value wider than its declared width (balance, max_width 8) is never
                // cut: the whole answer is refused, nothing is set, and the citizen is back on
                // the PIN screen; secrets are dropped once the lookup used them.
                (
                    Answer(found(&[("amount", "999999"), ("balance", "5,000 and a great deal more")])),
                    vec![
                        Refused(Some(("balance", Refusal::TooWide { len: 27, width: 8 }))),
                        Screen(
                            "Sorry, the service is unavailable now. Try again.\nEnter PIN:\n0. Back\n00. Home",
                            false,
                        ),
                        Var("balance", None),
                        Secrets(false),
                    ],
                ),
                (Type("4321"), vec![]),
                // A backend sets only what the lookup provides: an attempt to overwrite the
                // amount is ignored.
                (
                    Answer(found(&[("amount", "999999"), ("balance", "5,000")])),
                    vec![
                        Refused(None),
                        Var("amount", Some("1000")),
                        Var("balance", Some("5,000")),
                        Submit { amount: 1000, account: "254722000000", secret: "4321" },
                    ],
                ),
                (Stored("NJ-7K2QX"), vec![Screen("Request NJ-7K2QX: KES 1,000 to 254722000000. Balance 5,000.", true)]),
            ],
        },
        Case {
            name: "a failed lookup returns to the screen before it",
            locale: "sw",
            first: vec![],
            then: vec![
                (Type("1"), vec![]),
                (Type("0722000000"), vec![]),
                (Type("100"), vec![]),
                (Type("airtel"), vec![]),
                (Type("1234"), vec![LookupAny]),
                // The PIN is not kept for the retry.
                (
                    Answer(LookupAnswer::Failed),
                    vec![
                        Screen(
                            "Samahani, huduma haipatikani sasa. Jaribu tena.\nWeka PIN:\n0. Rudi\n00. Mwanzo",
                            false,
                        ),
                        Secrets(false),
                    ],
                ),
            ],
        },
        // A session resumed while it still held a secret (typed, not yet used by its lookup)
        // goes back to the screen that asked for it, keeps what else was entered, and holds
        // no secret; a session that never left its first screen has nothing to resume.
        Case {
            name: "resuming drops secrets and goes back to the screen that asked",
            locale: "en",
            first: vec![],
            then: vec![
                (Resume, vec![Resumable(false)]),
                (Type("1"), vec![]),
                (Type("0722000000"), vec![]),
                (Type("100"), vec![]),
                (Type("airtel"), vec![]),
                (Type("1234"), vec![LookupAny, Secrets(true)]),
                (
                    Resume,
                    vec![
                        Resumable(true),
                        Secrets(false),
                        SameSessionAs(4),
                        Screen("Enter PIN:\n0. Back\n00. Home", false),
                        Var("channel", Some("airtel")),
                    ],
                ),
            ],
        },
    ]
}

#[test]
fn features_menu_walks() {
    let l = loaded();
    for case in cases() {
        check(&l, &case);
    }
}

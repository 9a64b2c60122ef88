//! Engine features on a small purpose-built menu (tests/fixtures/features): secret inputs,
//! conditional options, validators, navigation on an input screen.

mod common;

use njia::check::Loaded;
use njia::engine::{self, Ctx, LookupAnswer, Step, Value};
use njia::types::Locale;

fn loaded() -> Loaded {
    common::load(&common::repo().join("tests/fixtures/features"))
}

fn text(step: &Step) -> &str {
    match step {
        Step::Show { text, .. } => text,
        other => panic!("expected a screen, got {other:?}"),
    }
}

#[test]
fn conditions_show_and_hide_options() {
    let l = loaded();
    let served = engine::serve(&l.menus, &l.catalog, |_| vec![160]);
    let m = served.by_id("features").unwrap();
    let ctx = Ctx::new(m, &l.catalog, 160);
    let (mut s, first) = engine::begin(ctx, Locale::parse("en").unwrap(), false);
    assert_eq!(text(&first), "Welcome\n1. Send money\n2. Join");
    let joined = engine::step(ctx, &mut s, "2").step;
    assert_eq!(text(&joined), "Welcome\n1. Send money\n2. Special service");
    let vip = engine::step(ctx, &mut s, "2").step;
    assert_eq!(vip, Step::Show { text: "Thank you".into(), end: true });
}

#[test]
fn validators_secrets_and_input_navigation() {
    let l = loaded();
    let served = engine::serve(&l.menus, &l.catalog, |_| vec![160]);
    let m = served.by_id("features").unwrap();
    let ctx = Ctx::new(m, &l.catalog, 160);
    let (mut s, _) = engine::begin(ctx, Locale::parse("en").unwrap(), false);
    engine::step(ctx, &mut s, "1");
    // navigation = true: 0 is Back here, not data.
    let back = engine::step(ctx, &mut s, "0").step;
    assert!(text(&back).starts_with("Welcome"), "{back:?}");
    engine::step(ctx, &mut s, "1");
    let bad_phone = engine::step(ctx, &mut s, "12345").step;
    assert_eq!(text(&bad_phone), "That is not valid. Try again.\nEnter the phone number:\n0. Back");
    engine::step(ctx, &mut s, "0722 000 000".replace(' ', "").as_str());
    assert_eq!(s.var("to").as_deref(), Some("254722000000"), "phone numbers are saved normalised");
    let too_much = engine::step(ctx, &mut s, "70001").step;
    assert_eq!(text(&too_much), "The amount is KES 10 to 70,000.\nEnter the amount:\n0. Back\n00. Home");
    let not_a_number = engine::step(ctx, &mut s, "1,000").step;
    assert!(text(&not_a_number).starts_with("The amount is"));
    engine::step(ctx, &mut s, "1000");
    let bad_channel = engine::step(ctx, &mut s, "tkash").step;
    assert!(text(&bad_channel).starts_with("That is not valid."));
    engine::step(ctx, &mut s, "MPESA");
    assert_eq!(s.var("channel").as_deref(), Some("mpesa"));

    // The PIN reaches the lookup, and nothing else.
    let call = match engine::step(ctx, &mut s, "4321").step {
        Step::Lookup(call) => call,
        other => panic!("expected the verify lookup, got {other:?}"),
    };
    assert_eq!(call.args, vec![("to".to_owned(), "254722000000".to_owned()), ("pin".to_owned(), "4321".to_owned())]);
    assert!(s.var("pin").is_none(), "a secret is never a shown variable");
    let serialized = serde_json::to_string(&s).unwrap();
    assert!(!serialized.contains("4321"), "a secret is never serialized: {serialized}");
    // #11: a value wider than its declared width (balance, max_width 8) is never cut: the
    // whole answer is refused, nothing is set, and the citizen is back on the PIN screen.
    let answer = LookupAnswer::Found(vec![
        ("amount".into(), Value::Text("999999".into())),
        ("balance".into(), Value::Text("5,000 and a great deal more".into())),
    ]);
    let refused = engine::lookup_answered(ctx, &mut s, answer);
    let r = refused.refused.expect("refused");
    assert_eq!(r.variable, "balance");
    assert_eq!(r.why, njia::value::Refusal::TooWide { len: 27, width: 8 });
    assert_eq!(text(&refused.step), "Sorry, the service is unavailable now. Try again.\nEnter PIN:\n0. Back\n00. Home");
    assert!(s.var("balance").is_none());
    assert!(s.secrets.is_empty(), "secrets are dropped once the lookup used them");
    // A backend sets only what the lookup provides: an attempt to overwrite the amount is
    // ignored.
    engine::step(ctx, &mut s, "4321");
    let answer = LookupAnswer::Found(vec![
        ("amount".into(), Value::Text("999999".into())),
        ("balance".into(), Value::Text("5,000".into())),
    ]);
    let submit = engine::lookup_answered(ctx, &mut s, answer);
    assert_eq!(submit.refused, None);
    assert_eq!(s.var("amount").as_deref(), Some("1000"));
    assert_eq!(s.var("balance").as_deref(), Some("5,000"));
    let Step::Submit(call) = submit.step else { panic!("expected a submit, got {submit:?}") };
    assert!(call.fields.iter().all(|(k, v)| k != "pin" && v != "4321"), "{:?}", call.fields);
    let payment = call.payment.expect("a payment");
    assert_eq!((payment.amount.get(), payment.account.as_str()), (1000, "254722000000"));
    let end = engine::submitted(ctx, &mut s, "NJ-7K2QX");
    assert_eq!(
        end,
        Step::Show { text: "Request NJ-7K2QX: KES 1,000 to 254722000000. Balance 5,000.".into(), end: true }
    );
}

#[test]
fn a_failed_lookup_returns_to_the_screen_before_it() {
    let l = loaded();
    let served = engine::serve(&l.menus, &l.catalog, |_| vec![160]);
    let m = served.by_id("features").unwrap();
    let ctx = Ctx::new(m, &l.catalog, 160);
    let (mut s, _) = engine::begin(ctx, Locale::parse("sw").unwrap(), false);
    for input in ["1", "0722000000", "100", "airtel"] {
        engine::step(ctx, &mut s, input);
    }
    assert!(matches!(engine::step(ctx, &mut s, "1234").step, Step::Lookup(_)));
    let sorry = engine::lookup_answered(ctx, &mut s, LookupAnswer::Failed);
    assert_eq!(text(&sorry.step), "Samahani, huduma haipatikani sasa. Jaribu tena.\nWeka PIN:\n0. Rudi\n00. Mwanzo");
    assert!(s.secrets.is_empty(), "the PIN is not kept for the retry");
}

/// A session resumed while it still held a secret (typed, not yet used by its lookup) goes
/// back to the screen that asked for it, keeps what else was entered, and holds no secret; a
/// session that never left its first screen has nothing to resume.
#[test]
fn resuming_drops_secrets_and_goes_back_to_the_screen_that_asked() {
    let l = loaded();
    let served = engine::serve(&l.menus, &l.catalog, |_| vec![160]);
    let m = served.by_id("features").unwrap();
    let ctx = Ctx::new(m, &l.catalog, 160);
    let (mut s, _) = engine::begin(ctx, Locale::parse("en").unwrap(), false);
    assert!(!engine::resumable(ctx, &mut s.clone()), "nothing entered, nothing to resume");
    for input in ["1", "0722000000", "100", "airtel"] {
        engine::step(ctx, &mut s, input);
    }
    let on_pin = s.clone();
    assert!(matches!(engine::step(ctx, &mut s, "1234").step, Step::Lookup(_)));
    assert!(!s.secrets.is_empty());
    assert!(engine::resumable(ctx, &mut s));
    assert!(s.secrets.is_empty());
    assert_eq!(s, on_pin, "back on the PIN screen with everything else entered");
    assert_eq!(text(&engine::current(ctx, &s)), "Enter PIN:\n0. Back\n00. Home");
    assert_eq!(s.var("channel").as_deref(), Some("airtel"));
}

//! The flow: starting a session, applying one input, continuing after a lookup or a submit,
//! and preparing a dropped session to be resumed. Each moves the session and returns the next
//! [`Step`]; rendering is `render`'s.

use std::borrow::Cow;

use super::prepared::{fixed_for, fixed_layout, prepared_text};
use super::render::{Item, apology, fit, format, items, page_text, render, view};
use super::validation::{admit, admit_answer, parse_choice, validate};
use super::{
    Answered, Ctx, ListItem, LookupAnswer, LookupCall, Outcome, PaymentCall, Secrets, Session, Step, SubmitCall, Value,
};
use crate::menu::catalogue::{CODE_VAR, DIAL_VAR, FEE_VAR, NAME_VAR, Paid, SEARCH_RESULTS};
use crate::menu::{Kind, ListNext, ScreenId, Search};
use crate::types::Locale;

/// Starts a session: the language screen on first use, else the menu's start screen.
pub fn begin(ctx: Ctx<'_>, locale: Locale, ask_language: bool) -> (Session, Step) {
    begin_returning(ctx, locale, ask_language, &[])
}

/// Starts the session of a returning citizen whose recent catalogue services are `recent`
/// (codes, the most recent first): the start screen offers them first (see [`offered`]).
pub fn begin_returning(ctx: Ctx<'_>, locale: Locale, ask_language: bool, recent: &[u32]) -> (Session, Step) {
    let start = match (ask_language, ctx.menu.language_screen) {
        (true, Some(l)) => l,
        _ => ctx.menu.start,
    };
    let mut s = Session {
        locale,
        screen: start,
        page: 0,
        stack: Vec::new(),
        vars: Vec::new(),
        secrets: Secrets::default(),
        recent: offered(ctx, recent),
    };
    let step = enter(ctx, &mut s, start);
    (s, step)
}

/// The recent services a start screen offers: those the catalogue still has and the start
/// screen does not already lead to (a service one choice away needs no second line), at most
/// the catalogue's `recent` count. None when the start screen is not a menu.
fn offered(ctx: Ctx<'_>, recent: &[u32]) -> Vec<u32> {
    let Some(catalogue) = ctx.menu.catalogue.as_deref() else { return Vec::new() };
    if !matches!(ctx.menu.screen(ctx.menu.start).kind, Kind::Menu { .. }) {
        return Vec::new();
    }
    let mut out: Vec<u32> = Vec::new();
    for &code in recent {
        if out.len() >= usize::from(catalogue.recent.count) {
            break;
        }
        let Some(service) = catalogue.by_code(code) else { continue };
        if !out.contains(&code) && !ctx.menu.home_leads_to(service.entry) {
            out.push(code);
        }
    }
    out
}

/// Gives a session the recent services its start screen offers, from `recent` (codes, the
/// most recent first): a resumed session takes those read for the dial that resumed it.
pub fn offer_recent(ctx: Ctx<'_>, s: &mut Session, recent: &[u32]) {
    s.recent = offered(ctx, recent);
}

/// The code of the catalogue service whose END the session rests on (a screen of its flow,
/// see [`crate::menu::Screen::within`]): the citizen used it (a request received, a status
/// shown, an office's hours read). The caller remembers it among
/// the number's recent services and counts the use.
pub fn used_service(ctx: Ctx<'_>, s: &Session) -> Option<u32> {
    let screen = ctx.menu.screen(s.screen);
    // A submit's screen is where its END (the reference) is shown.
    if !matches!(screen.kind, Kind::End | Kind::Submit(_)) {
        return None;
    }
    let i = screen.within?;
    Some(ctx.menu.catalogue.as_deref()?.service(i).code)
}

/// Applies one input to the session.
pub fn step(ctx: Ctx<'_>, s: &mut Session, input: &str) -> Outcome {
    let nav = &ctx.menu.nav;
    let input = input.trim();
    let screen = ctx.menu.screen(s.screen);
    match &screen.kind {
        Kind::Menu { .. } | Kind::Language { .. } => {
            if input == &*nav.home {
                return go_home(ctx, s).into();
            }
            if input == &*nav.back {
                return go_back(ctx, s).into();
            }
            if input == &*nav.more {
                if let Some(pages) = fixed_for(ctx, s) {
                    if usize::from(s.page) + 1 < pages.len() {
                        s.page += 1;
                        return Step::Show { text: pages[usize::from(s.page)].to_string(), end: false }.into();
                    }
                    return render(ctx, s, Some("njia-invalid-choice")).into();
                }
                let view = view(ctx, s);
                if view.broken {
                    return apology(ctx, s).into();
                }
                if view.pages.get(usize::from(s.page) + 1).is_some() {
                    s.page += 1;
                    // The layout does not depend on the page, so reuse it.
                    let known_to_fit = view.page_fits(usize::from(s.page));
                    let text = page_text(s, view, ctx.limit);
                    return Step::Show { text: if known_to_fit { text } else { fit(text, ctx.limit) }, end: false }
                        .into();
                }
                return render(ctx, s, Some("njia-invalid-choice")).into();
            }
            // On the start screen a catalogue code opens its service: `*384*4021#` arrives as
            // 4021 typed there, in every dialect that carries the extra digits, and a citizen
            // who knows the code can type it too. Codes have three digits or more, so they are
            // never a choice.
            if s.screen == ctx.menu.start
                && input.len() >= 3
                && let Some(entry) = service_entry(ctx, input)
            {
                s.push();
                return enter(ctx, s, entry).into();
            }
            // Numbering is stable across pages, but only what this page shows can be chosen:
            // a citizen never lands somewhere they never saw (typing 16 on page 2, where 16
            // is on page 3, is a wrong choice, not a jump).
            let items = items(ctx, s);
            let (first, last) = on_page(ctx, s, items.len());
            // Recent services come first and are numbered by their codes (chosen above), so
            // the menu's own options keep their numbers: choice `n` is the item after them.
            // Those options are what a returning citizen saw on the first page before the
            // recent services pushed some of them on: each can still be chosen by its number
            // from any page of the start screen.
            let recent = items.iter().take_while(|i| matches!(i, Item::Recent(_))).count();
            let at = parse_choice(input).and_then(|n| (n + recent).checked_sub(1));
            let pushed = |i: &usize| recent > 0 && matches!(items.get(*i), Some(Item::Option(_)));
            let Some(at) = at.filter(|i| (first..last).contains(i) || pushed(i)) else {
                return render(ctx, s, Some("njia-invalid-choice")).into();
            };
            choose(ctx, s, items[at])
        }
        Kind::Input(inp) => {
            if inp.navigation && input == &*nav.home {
                return go_home(ctx, s).into();
            }
            if inp.navigation && input == &*nav.back {
                return go_back(ctx, s).into();
            }
            // What the citizen typed is admitted like any other value: typed amounts and dates
            // are parsed here, and a value wider than its variable is a wrong input.
            let admitted = validate(inp, input).and_then(|value| {
                if inp.secret {
                    Ok(Value::Text(value.into()))
                } else {
                    admit(ctx, &inp.save_as, &value).map_err(|_| ())
                }
            });
            match admitted {
                Ok(value) => {
                    if inp.secret {
                        let Value::Text(value) = value else { return render(ctx, s, None).into() };
                        s.secrets.retain(|(k, _)| **k != *inp.save_as);
                        s.secrets.push((inp.save_as.as_str().into(), value));
                    } else {
                        s.set_var(&inp.save_as, value);
                    }
                    s.push();
                    if let Some(search) = &inp.search {
                        return find(ctx, s, input, inp.next, search);
                    }
                    enter(ctx, s, inp.next).into()
                }
                Err(()) => {
                    let err = inp.validate.error.as_ref().map_or("njia-invalid-input", |m| m.id.as_str());
                    render(ctx, s, Some(err)).into()
                }
            }
        }
        // The session never rests on these kinds; show where it is without moving.
        Kind::Lookup(_) | Kind::Submit(_) | Kind::End => enter(ctx, s, s.screen).into(),
    }
}

/// Continues after a lookup the caller performed.
///
/// Every value the answer provides is admitted first ([`crate::value::admit`]): parsed into
/// its variable's type and held to its declared width. One refused value refuses the whole
/// answer (the citizen sees the lookup apology, nothing is set), because a screen or a submit
/// built on part of an answer would be wrong in a way nobody sees.
pub fn lookup_answered(ctx: Ctx<'_>, s: &mut Session, answer: LookupAnswer) -> Answered {
    let Kind::Lookup(l) = &ctx.menu.screen(s.screen).kind else {
        return Answered { step: render(ctx, s, None), refused: None };
    };
    s.secrets.clear();
    let mut refused = None;
    let error = match answer {
        LookupAnswer::Found(values) => match admit_answer(ctx, &l.provides, values) {
            Ok(values) => {
                // A backend sets only what the menu says it provides: the checker proved the
                // screens fit with those widths, and a backend must not overwrite what the
                // citizen entered.
                for (k, v) in values {
                    s.set_var(&k, v);
                }
                return Answered { step: enter(ctx, s, l.next), refused: None };
            }
            Err(r) => {
                refused = Some(r);
                "njia-lookup-failed"
            }
        },
        LookupAnswer::NotFound => l.not_found.as_ref().map_or("njia-lookup-not-found", |m| m.id.as_str()),
        LookupAnswer::Failed => "njia-lookup-failed",
    };
    Answered { step: lookup_failed(ctx, s, error), refused }
}

/// Back to the screen that led to a lookup, with the reason on top: the session goes on.
fn lookup_failed(ctx: Ctx<'_>, s: &mut Session, error: &str) -> Step {
    match s.stack.pop() {
        Some(f) => {
            s.screen = f.screen;
            s.page = f.page;
            render(ctx, s, Some(error))
        }
        None => Step::Show { text: fit(ctx.catalog.format(&s.locale, error, None).into_owned(), ctx.limit), end: true },
    }
}

/// The END screen after the caller stored the request under `reference`.
pub fn submitted(ctx: Ctx<'_>, s: &mut Session, reference: &str) -> Step {
    s.secrets.clear();
    s.set_var("reference", Value::Text(reference.into()));
    let text = match ctx.menu.screen(s.screen).text.as_ref() {
        Some(m) => format(ctx, s, &m.id),
        None => Some(String::new()),
    };
    match text {
        Some(text) => Step::Show { text: fit(text, ctx.limit), end: true },
        None => apology(ctx, s),
    }
}

/// The END a stored request's submit showed, rendered again from what the store kept (its
/// language, fields and amount): the answer to a telco's retry of the final hop when the
/// session that showed it is gone. `None` when the menu has no submit for the service.
pub fn stored_end(
    ctx: Ctx<'_>,
    locale: Locale,
    service: &str,
    fields: &[(String, String)],
    amount: Option<crate::money::Kes>,
    reference: &str,
) -> Option<Step> {
    let screen =
        ctx.menu.screens.iter().position(|s| matches!(&s.kind, Kind::Submit(sub) if sub.service == service))?;
    let mut s = Session {
        locale,
        screen: ScreenId(u16::try_from(screen).ok()?),
        page: 0,
        stack: Vec::new(),
        vars: Vec::new(),
        secrets: Secrets::default(),
        recent: Vec::new(),
    };
    for (k, v) in fields {
        // Stored canonical; typed again so amounts and dates show as they did.
        let value = admit(ctx, k, v).unwrap_or_else(|_| Value::Text(v.as_str().into()));
        s.set_var(k, value);
    }
    if let (Kind::Submit(sub), Some(kes)) = (&ctx.menu.screen(s.screen).kind, amount)
        && let Some(p) = &sub.payment
    {
        s.set_var(&p.amount, Value::Amount(kes));
    }
    Some(submitted(ctx, &mut s, reference))
}

/// Prepares a dropped session's state to be continued by a later dial. Secret inputs are
/// dropped; if one was still held (typed, and not yet used by a lookup), the screens after it
/// depend on it, so the session goes back to the screen that asked for it, which asks again.
/// False when there is nothing worth continuing: the session never left its first screen.
pub fn resumable(ctx: Ctx<'_>, s: &mut Session) -> bool {
    if !s.secrets.is_empty() {
        let asked = s.stack.iter().position(|f| {
            matches!(&ctx.menu.screen(f.screen).kind,
                Kind::Input(i) if i.secret && s.secrets.iter().any(|(k, _)| **k == *i.save_as))
        });
        match asked {
            Some(at) => {
                s.screen = s.stack[at].screen;
                s.stack.truncate(at);
            }
            // Its frame was trimmed from a very deep stack: start over rather than guess.
            None => {
                s.screen = ctx.menu.start;
                s.stack.clear();
                s.vars.clear();
            }
        }
        s.page = 0;
        s.secrets.clear();
    }
    let resting = matches!(ctx.menu.screen(s.screen).kind, Kind::Menu { .. } | Kind::Input(_) | Kind::Language { .. });
    let first = s.stack.is_empty()
        && s.vars.is_empty()
        && s.page == 0
        && (s.screen == ctx.menu.start || Some(s.screen) == ctx.menu.language_screen);
    resting && !first
}

/// The current screen again (a telco retry after a lost reply, or an inconsistent hop).
pub fn current(ctx: Ctx<'_>, s: &Session) -> Step {
    render(ctx, s, None)
}

fn choose(ctx: Ctx<'_>, s: &mut Session, item: Item) -> Outcome {
    match (&ctx.menu.screen(s.screen).kind, item) {
        (Kind::Menu { options, .. }, Item::Option(i)) => {
            let o = &options[i];
            for (k, v) in &o.set {
                s.set_var(k, v.clone());
            }
            s.push();
            enter(ctx, s, o.goto).into()
        }
        (Kind::Menu { list: Some(list), .. }, Item::Listed(i)) => {
            let chosen = s.list_item(&list.var, i);
            let next = match (list.next, chosen) {
                (ListNext::Screen(next), _) => Some(next),
                (ListNext::Service, Some(ListItem::Text(code))) => service_entry(ctx, code),
                // A code a search listed is a service's own, never one typed.
                (ListNext::Service, Some(ListItem::Code(code))) => {
                    ctx.menu.catalogue.as_deref().and_then(|c| c.by_code(code)).map(|service| service.entry)
                }
                (ListNext::Service, None) => None,
            };
            let Some(next) = next else { return render(ctx, s, Some("njia-invalid-choice")).into() };
            if let Some(save_as) = &list.save_as {
                let chosen = chosen.map(|c| c.to_string()).unwrap_or_default();
                s.set_var(save_as, Value::Text(chosen.into()));
            }
            s.push();
            enter(ctx, s, next).into()
        }
        (Kind::Language { options, next }, Item::Option(i)) => {
            let locale = options[i].locale.clone();
            s.locale = locale.clone();
            let target = next.unwrap_or(ctx.menu.start);
            // A language chosen on first use leads into the menu proper: nothing to go back to.
            if Some(s.screen) == ctx.menu.language_screen && s.stack.is_empty() {
                s.stack.clear();
            } else {
                s.push();
            }
            Outcome { step: enter(ctx, s, target), language: Some(locale), missed: None }
        }
        _ => render(ctx, s, Some("njia-invalid-choice")).into(),
    }
}

/// The items the session's page shows, as `(first, last)` with item `i` numbered `i + 1`.
/// A screen with one page shows them all (no layout needed); otherwise the layout says.
pub(super) fn on_page(ctx: Ctx<'_>, s: &Session, n: usize) -> (usize, usize) {
    if let Some(f) = fixed_layout(ctx, s) {
        if f.items.len() <= 1 {
            return (0, n);
        }
        let page = usize::from(s.page).min(f.items.len() - 1);
        return f.items.get(page).map_or((0, n), |&(a, b)| (a, b.min(n)));
    }
    let v = view(ctx, s);
    let page = usize::from(s.page).min(v.pages.len().saturating_sub(1));
    v.pages.get(page).copied().map_or((0, n), |(a, b)| (a, b.min(n)))
}

/// Home starts over: the back stack and everything entered so far are forgotten, so a later
/// request never carries values from an abandoned flow.
fn go_home(ctx: Ctx<'_>, s: &mut Session) -> Step {
    s.stack.clear();
    s.vars.clear();
    s.secrets.clear();
    enter(ctx, s, ctx.menu.start)
}

fn go_back(ctx: Ctx<'_>, s: &mut Session) -> Step {
    if s.page > 0 {
        s.page -= 1;
    } else if let Some(f) = s.stack.pop() {
        s.screen = f.screen;
        s.page = f.page;
    }
    render(ctx, s, None)
}

/// A search: the codes of what `query` finds go in the results list, and the session moves to
/// the list, or to the screen saying nothing was found (whose words the caller counts).
fn find(ctx: Ctx<'_>, s: &mut Session, query: &str, next: ScreenId, search: &Search) -> Outcome {
    let found = ctx.prepared.finder().map(|f| f.find(query, SEARCH_RESULTS)).unwrap_or_default();
    let missed = found.is_empty().then(|| query.to_owned());
    let target = if found.is_empty() { search.empty } else { next };
    s.set_var(&search.results, Value::Codes(found));
    Outcome { step: enter(ctx, s, target), language: None, missed }
}

/// The screen the catalogue service with code `code` starts on; the code as written, so
/// `04021` or `+4021` is not a code.
fn service_entry(ctx: Ctx<'_>, code: &str) -> Option<ScreenId> {
    let catalogue = ctx.menu.catalogue.as_deref()?;
    let service = catalogue.by_code(code.parse().ok()?)?;
    (*service.code_text == *code).then_some(service.entry)
}

/// Moves to `target` and runs it: resting screens render, the others become steps.
fn enter(ctx: Ctx<'_>, s: &mut Session, target: ScreenId) -> Step {
    s.screen = target;
    s.page = 0;
    if target == ctx.menu.start {
        s.stack.clear();
    }
    let screen = ctx.menu.screen(target);
    // Entering a catalogue service, by any way in (browse, search, a code dialled, a recent
    // service), gives its screens the service's code, dial string and name (as prepared for
    // the locale, formatted only where nothing was), and its fee: a fixed one as the amount
    // typed at load, none for any other (a fee from a service left behind never charges).
    if let (Some(i), Some(catalogue)) = (screen.service, ctx.menu.catalogue.as_deref()) {
        let service = catalogue.service(i);
        s.set_var(CODE_VAR, Value::Text(service.code_text.clone()));
        s.set_var(DIAL_VAR, Value::Text(service.dial.clone()));
        let name = match ctx.prepared.service_name(&s.locale, i) {
            Some(name) => name.into(),
            None => ctx.catalog.format(&s.locale, &service.name, None).as_ref().into(),
        };
        s.set_var(NAME_VAR, Value::Text(name));
        match service.paid {
            Paid::Fixed(fee) => s.set_var(FEE_VAR, Value::Amount(fee)),
            _ => s.vars.retain(|(k, _)| &**k != FEE_VAR),
        }
    }
    match &screen.kind {
        Kind::Menu { .. } | Kind::Input(_) | Kind::Language { .. } => render(ctx, s, None),
        Kind::End => {
            let text = match (prepared_text(ctx, s, target), &screen.text) {
                (Some(line), _) => Some(line.text.to_string()),
                (None, Some(m)) => format(ctx, s, &m.id),
                (None, None) => Some(String::new()),
            };
            s.secrets.clear();
            match text {
                Some(text) => Step::Show { text: fit(text, ctx.limit), end: true },
                None => apology(ctx, s),
            }
        }
        Kind::Lookup(l) => Step::Lookup(LookupCall {
            language: s.locale.clone(),
            backend: l.backend.clone(),
            operation: l.operation.clone(),
            args: l
                .args
                .iter()
                .map(|a| {
                    let v = s.var(a).map(Cow::into_owned).or_else(|| s.secret(a).map(str::to_owned));
                    (a.clone(), v.unwrap_or_default())
                })
                .collect(),
        }),
        Kind::Submit(sub) => {
            let mut fields: Vec<(String, String)> = match &sub.fields {
                Some(names) => names.iter().filter_map(|n| s.var(n).map(|v| (n.clone(), v.into_owned()))).collect(),
                None => s.vars.iter().filter_map(|(k, v)| Some((k.to_string(), v.canonical()?.into_owned()))).collect(),
            };
            // A catalogue service's request carries its code, so its receipt can say how to
            // dial it next time.
            // Only the request of the service entered: a hand-written submit reached after
            // leaving a service does not carry that service's code.
            let entered = s
                .var(CODE_VAR)
                .and_then(|c| ctx.menu.catalogue.as_deref()?.by_code(c.parse().ok()?))
                .is_some_and(|service| service.id == sub.service);
            for var in [CODE_VAR, DIAL_VAR] {
                if let Some(v) = s.var(var).filter(|_| entered)
                    && !fields.iter().any(|(k, _)| k == var)
                {
                    fields.push((var.to_owned(), v.into_owned()));
                }
            }
            let payment = match &sub.payment {
                None => None,
                // The amount is the number admitted when it entered the session. Anything else
                // here (unset, or text from a session stored before amounts were typed) is never
                // parsed into a charge: the citizen gets the apology, nothing is stored.
                Some(p) => match s.value(&p.amount) {
                    Some(Value::Amount(amount)) => Some(PaymentCall {
                        amount: *amount,
                        account: s.var(&p.account).map(Cow::into_owned).unwrap_or_default(),
                    }),
                    _ => return apology(ctx, s),
                },
            };
            Step::Submit(SubmitCall { service: sub.service.clone(), payment, fields })
        }
    }
}

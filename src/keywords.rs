//! SMS keywords: what a citizen's SMS to the short code asks, read against the menu's `[sms]`
//! section, and the reply it gets.
//!
//! Keywords are data: each action (`status`, `language`) names a Fluent message whose value in
//! each locale is the word citizens send in that language (`HALI` and `STATUS`, `LUGHA` and
//! `LANGUAGE`). Matching is case-insensitive and tolerant of extra spaces, of punctuation after
//! the keyword and of a reference written without its hyphen (`hali nj7k2qx`). A reply is in
//! the language of the keyword used; the help reply, for a text that names no keyword, is in
//! the language remembered for the number. A citizen only ever hears about their own requests:
//! another number's reference gets the same answer as one that does not exist.
//!
//! [`understand`] is pure; [`answer`] reads the store and composes the reply; [`receive`]
//! records the message with its reply queued, once per provider message id.

use fluent::FluentArgs;

use crate::hub::Hub;
use crate::i18n::Catalog;
pub use crate::menu::{Action, Keyword};
use crate::menu::{Sms, SmsStatus};
use crate::sms::InboundSms;
use crate::store::{NewInbound, QueuedSms, Store, StoreError, now_ms};
use crate::types::{Locale, Msisdn, Reference};

/// The words of a keyword message's value: split on spaces and commas, upper-cased. Words
/// that are not plain letters and digits are returned too, for the checker to refuse.
pub fn split_words(value: &str) -> Vec<String> {
    value.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).map(str::to_uppercase).collect()
}

/// A keyword word is letters and digits only, so it ends where punctuation or a space begins.
pub fn valid_word(word: &str) -> bool {
    !word.is_empty() && word.chars().all(char::is_alphanumeric)
}

/// Every keyword word of `sms` in every locale of `catalog` that defines its message (the
/// checker reports the locales that do not).
pub fn words(sms: &Sms, catalog: &Catalog) -> Vec<Keyword> {
    let actions = [
        sms.status.as_ref().map(|s| (Action::Status, &s.keyword)),
        sms.language.as_ref().map(|l| (Action::Language, &l.keyword)),
    ];
    let mut out = Vec::new();
    for (action, message) in actions.into_iter().flatten() {
        for locale in catalog.locales() {
            if catalog.message(locale, &message.id).is_none() {
                continue;
            }
            let value = catalog.format(locale, &message.id, None);
            for word in split_words(&value).into_iter().filter(|w| valid_word(w)) {
                out.push(Keyword { word, action, locale: locale.clone() });
            }
        }
    }
    out
}

/// What an SMS asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Understood {
    /// The state of a request; `None` when no reference could be read after the keyword.
    Status { locale: Locale, reference: Option<Reference> },
    /// A language to remember, as written after the keyword (lower case; `None` when absent).
    Language { locale: Locale, requested: Option<String> },
    /// No keyword.
    Help,
}

impl Understood {
    /// What Njia keeps of the message (its text is not kept).
    pub fn summary(&self) -> String {
        match self {
            Understood::Status { reference: Some(r), .. } => format!("status {r}"),
            Understood::Status { reference: None, .. } => "status (no reference)".to_owned(),
            // Only a word shaped like a language tag is kept: the citizen may have typed
            // anything there (an ID number), and the text itself is never kept.
            Understood::Language { requested: Some(l), .. }
                if l.len() <= 8 && l.chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                format!("language {l}")
            }
            Understood::Language { requested: Some(_), .. } => "language (not a language tag)".to_owned(),
            Understood::Language { requested: None, .. } => "language (none named)".to_owned(),
            Understood::Help => "help".to_owned(),
        }
    }
}

/// Reads an SMS against the keyword words. The keyword is the text's first run of letters and
/// digits; what follows it is the argument. A word defined in several locales answers in
/// `prefer` when that is one of them, otherwise in the first.
pub fn understand(words: &[Keyword], prefer: Option<&Locale>, text: &str) -> Understood {
    let text = text.trim_start();
    let end = text.find(|c: char| !c.is_alphanumeric()).unwrap_or(text.len());
    let (word, rest) = text.split_at(end);
    let word = word.to_uppercase();
    let matching: Vec<&Keyword> = words.iter().filter(|k| k.word == word).collect();
    let Some(first) = matching.first() else { return Understood::Help };
    let chosen = matching.iter().find(|k| Some(&k.locale) == prefer).unwrap_or(first);
    let locale = chosen.locale.clone();
    match chosen.action {
        Action::Status => {
            // Spaces, hyphens and punctuation anywhere in the reference are forgiven:
            // `NJ 7K2QX`, `nj7k2qx.` and `NJ-7K2QX` all name NJ-7K2QX.
            let compact: String = rest.chars().filter(|c| c.is_alphanumeric()).collect();
            Understood::Status { locale, reference: Reference::parse(&compact) }
        }
        Action::Language => {
            let requested = rest.split(|c: char| !c.is_alphanumeric()).find(|w| !w.is_empty()).map(str::to_lowercase);
            Understood::Language { locale, requested }
        }
    }
}

/// What to do about one inbound SMS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub understood: Understood,
    /// A language to remember for the sender.
    pub set_language: Option<Locale>,
    /// The reply and its language; `None` when no menu defines an `[sms]` section.
    pub reply: Option<(Locale, String)>,
}

/// Decides the reply to `text` from `from`. Reads the store (the sender's language, the request
/// asked about) and writes nothing.
pub async fn answer(
    store: &dyn Store,
    catalog: &Catalog,
    sms: Option<(&Sms, Option<&Locale>)>,
    default_locale: &Locale,
    from: Msisdn,
    text: &str,
) -> Result<Answer, StoreError> {
    let Some((sms, menu_default)) = sms else {
        return Ok(Answer { understood: Understood::Help, set_language: None, reply: None });
    };
    let remembered = store.language(from).await?.filter(|l| catalog.has_locale(l));
    // The words are the keyword messages' values in the catalog in service, read per SMS (a
    // few messages per locale, far from the USSD hop), so the menus stay plain data.
    let understood = understand(&words(sms, catalog), remembered.as_ref(), text);
    let home = remembered.or_else(|| menu_default.cloned()).unwrap_or_else(|| default_locale.clone());
    let format = |locale: &Locale, id: &str, args: Option<&FluentArgs>| catalog.format(locale, id, args).into_owned();
    let help = |locale: &Locale| (locale.clone(), format(locale, &sms.help.id, None));
    let (set_language, reply) = match (&understood, &sms.status, &sms.language) {
        (Understood::Status { locale, reference: Some(reference) }, Some(status), _) => {
            let reply = match store.request(reference).await? {
                // Another number's request (or a purged one, nobody's) is answered exactly as a
                // missing one.
                Some(r) if r.msisdn == Some(from) => {
                    let shown = crate::lookup::citizen_status(store, &r).await?;
                    status_reply(catalog, status, locale, reference, &r.service, &shown)
                }
                _ => not_found_reply(catalog, status, locale, reference),
            };
            (None, (locale.clone(), reply))
        }
        (Understood::Language { locale, requested }, _, Some(language)) => {
            match requested.as_deref().and_then(|r| Locale::parse(r).ok()).filter(|l| catalog.has_locale(l)) {
                // Confirmed in the language just chosen: that is the one the citizen reads.
                Some(chosen) => (Some(chosen.clone()), (chosen.clone(), format(&chosen, &language.reply.id, None))),
                None => (None, (locale.clone(), format(locale, &language.unknown.id, None))),
            }
        }
        // A keyword without what it needs (`HALI` alone) gets the help in the keyword's language.
        (Understood::Status { locale, .. } | Understood::Language { locale, .. }, _, _) => (None, help(locale)),
        (Understood::Help, _, _) => (None, help(&home)),
    };
    Ok(Answer { understood, set_language, reply: Some(reply) })
}

/// The status reply: the request's reference, its service as receipts name it (`sms-service`)
/// and its status (a lifecycle status name, which the message translates).
pub fn status_reply(
    catalog: &Catalog,
    status: &SmsStatus,
    locale: &Locale,
    reference: &Reference,
    service: &str,
    shown_status: &str,
) -> String {
    let mut service_args = FluentArgs::new();
    service_args.set("service", service.to_owned());
    let mut args = FluentArgs::new();
    args.set("reference", reference.to_string());
    args.set("service", catalog.format(locale, "sms-service", Some(&service_args)).into_owned());
    args.set("status", shown_status.to_owned());
    catalog.format(locale, &status.reply.id, Some(&args)).into_owned()
}

/// The answer about a reference the sender has no request for (whether or not it exists).
pub fn not_found_reply(catalog: &Catalog, status: &SmsStatus, locale: &Locale, reference: &Reference) -> String {
    let mut args = FluentArgs::new();
    args.set("reference", reference.to_string());
    catalog.format(locale, &status.not_found.id, Some(&args)).into_owned()
}

/// The `[sms]` section that answers inbound SMS (the checker allows one per menu set) and its
/// menu's default locale.
pub fn section(hub: &Hub) -> Option<(&Sms, Option<&Locale>)> {
    hub.menus.menus.iter().find_map(|m| m.sms.as_ref().map(|s| (s, m.default_locale.as_ref())))
}

/// Answers an inbound SMS: records it, with the language it sets and its reply queued for the
/// dispatcher, in one transaction. False when the message was recorded before (a provider
/// retry): nothing is written or sent again.
pub async fn receive(hub: &Hub, provider: &str, sms: &InboundSms) -> Result<bool, StoreError> {
    let answer =
        answer(hub.store.as_ref(), &hub.catalog, section(hub), &hub.config.default_locale, sms.from, &sms.text).await?;
    let policy = &hub.config.handoff;
    let inbound = NewInbound {
        provider: provider.to_owned(),
        provider_id: sms.provider_id.clone(),
        msisdn: sms.from,
        to: sms.to.clone(),
        sent_at_ms: Some(sms.sent_at_ms),
        link_id: sms.link_id.clone(),
        text_chars: u32::try_from(sms.text.chars().count()).unwrap_or(u32::MAX),
        understood: answer.understood.summary(),
        set_language: answer.set_language.clone(),
        reply: answer.reply.map(|(locale, text)| QueuedSms {
            msisdn: sms.from,
            locale: locale.as_str().to_owned(),
            text,
            send_at_ms: now_ms(),
            max_failures: policy.max_failures,
        }),
    };
    let new = hub.store.record_inbound(inbound).await?;
    tracing::info!(
        provider,
        id = %sms.provider_id,
        from = %sms.from.masked(),
        chars = sms.text.chars().count(),
        understood = %answer.understood.summary(),
        new,
        "inbound SMS"
    );
    if new {
        hub.config.wake.notify_one();
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words() -> Vec<Keyword> {
        let sw = Locale::parse("sw").unwrap();
        let en = Locale::parse("en").unwrap();
        vec![
            Keyword { word: "HALI".into(), action: Action::Status, locale: sw.clone() },
            Keyword { word: "STATUS".into(), action: Action::Status, locale: en.clone() },
            Keyword { word: "STATUS".into(), action: Action::Status, locale: sw.clone() },
            Keyword { word: "LUGHA".into(), action: Action::Language, locale: sw },
            Keyword { word: "LANGUAGE".into(), action: Action::Language, locale: en },
        ]
    }

    #[test]
    fn keywords_are_forgiving() {
        let sw = Locale::parse("sw").unwrap();
        let en = Locale::parse("en").unwrap();
        let r = Reference::parse("NJ-7K2QX");
        let cases: &[(&str, Option<&Locale>, Understood)] = &[
            ("HALI NJ-7K2QX", None, Understood::Status { locale: sw.clone(), reference: r.clone() }),
            ("  hali   nj7k2qx ", None, Understood::Status { locale: sw.clone(), reference: r.clone() }),
            ("Hali: NJ 7K2QX.", None, Understood::Status { locale: sw.clone(), reference: r.clone() }),
            ("hali 7k2qx", None, Understood::Status { locale: sw.clone(), reference: r.clone() }),
            ("HALI", None, Understood::Status { locale: sw.clone(), reference: None }),
            ("HALI NJ-7K2Q0", None, Understood::Status { locale: sw.clone(), reference: None }),
            ("status NJ-7K2QX", None, Understood::Status { locale: en.clone(), reference: r.clone() }),
            ("STATUS NJ-7K2QX", Some(&sw), Understood::Status { locale: sw.clone(), reference: r.clone() }),
            ("LUGHA EN", None, Understood::Language { locale: sw.clone(), requested: Some("en".into()) }),
            ("language, sw", None, Understood::Language { locale: en.clone(), requested: Some("sw".into()) }),
            ("LUGHA", None, Understood::Language { locale: sw.clone(), requested: None }),
            ("HALINJ7K2QX", None, Understood::Help),
            ("habari", None, Understood::Help),
            ("", None, Understood::Help),
            ("ħ€llo HALI", None, Understood::Help),
        ];
        for (text, prefer, want) in cases {
            assert_eq!(&understand(&words(), *prefer, text), want, "{text:?}");
        }
    }

    #[test]
    fn words_split_and_validate() {
        assert_eq!(split_words(" hali, ombi "), ["HALI", "OMBI"]);
        assert!(valid_word("HALI") && !valid_word("HA-LI") && !valid_word(""));
    }
}

//! The SMS texts of the hand-off's notices: every message id a receipt may use
//! ([`SMS_MESSAGES`], checked in every locale) and [`compose_sms`], which renders a notice in
//! the citizen's language, from the menu's own `<menu>-sms-…` messages where it has them.

use fluent::FluentArgs;

use super::plan::Notice;
use crate::i18n::Catalog;
use crate::money::Kes;
use crate::store::{AttemptRow, RequestRow};
use crate::types::Locale;

/// Messages the SMS receipts use; every locale must define them (`njia check` fails
/// otherwise).
pub const SMS_MESSAGES: &[&str] = &[
    "sms-service",
    "sms-fulfilled",
    "sms-fulfilled-paid",
    "sms-rejected",
    "sms-rejected-paid",
    "sms-payment-insufficient",
    "sms-payment-cancelled",
    "sms-payment-unreachable",
    "sms-payment-wrong-pin",
    "sms-payment-busy",
    "sms-payment-failed",
    "sms-payment-unknown",
    "sms-push-unknown",
    "sms-delayed",
];

/// The SMS for a notice, in the citizen's language, always with the request reference.
pub fn compose_sms(
    catalog: &Catalog,
    default_locale: &Locale,
    request: &RequestRow,
    notice: Notice,
    paid: Option<&AttemptRow>,
) -> String {
    let locale = Locale::parse(&request.locale).unwrap_or_else(|_| default_locale.clone());
    // A menu's own receipts: `<menu id>-sms-…` where the locales define it (a county's
    // menu signs and refers to its own code), the deployment's `sms-…` otherwise.
    let own = |id: &str| {
        let mine = format!("{}-{id}", request.menu);
        if catalog.message(&locale, &mine).is_some() { mine } else { id.to_owned() }
    };
    let mut args = FluentArgs::new();
    args.set("service", request.service.clone());
    let service = catalog.format(&locale, &own("sms-service"), Some(&args)).into_owned();
    let mut args = FluentArgs::new();
    args.set("reference", request.reference.to_string());
    args.set("service", service);
    if let Some(a) = paid {
        args.set("amount", crate::money::group_thousands(a.amount_kes));
        args.set("receipt", a.receipt.clone().unwrap_or_else(|| "-".into()));
    } else if let Some((amount, _)) = &request.payment {
        // The store keeps the amount as digits (older rows grouped); shown grouped either way.
        args.set("amount", Kes::parse(amount).map_or_else(|_| amount.clone(), Kes::formatted));
    }
    let id = match (notice, paid.is_some()) {
        (Notice::Fulfilled, true) => "sms-fulfilled-paid",
        (Notice::Fulfilled, false) => "sms-fulfilled",
        (Notice::Rejected, true) => "sms-rejected-paid",
        (Notice::Rejected, false) => "sms-rejected",
        (Notice::PaymentFailed(r), _) => r.message_id(),
        (Notice::PaymentUnknown, _) => "sms-payment-unknown",
        (Notice::PushUnknown, _) => "sms-push-unknown",
        (Notice::Delayed, _) => "sms-delayed",
    };
    let text = catalog.format(&locale, &own(id), Some(&args)).into_owned();
    // A catalogue service's receipt ends with how to reach it in one dial next time, where
    // the locales say it (`sms-next-time`, optional: a deployment without a catalogue has no
    // use for it).
    let dial = request.fields.iter().find(|(k, _)| k == crate::menu::catalogue::DIAL_VAR);
    let next = own("sms-next-time");
    match (notice, dial) {
        (Notice::Fulfilled, Some((_, dial))) if catalog.message(&locale, &next).is_some() => {
            let mut args = FluentArgs::new();
            args.set("dial", dial.clone());
            format!("{text} {}", catalog.format(&locale, &next, Some(&args)))
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts() {
        assert_eq!(crate::money::group_thousands(4500), "4,500");
        assert_eq!(crate::money::group_thousands(250000), "250,000");
        assert_eq!(crate::money::group_thousands(7), "7");
    }
}

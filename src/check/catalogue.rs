//! The catalogue's word rules, which need the locales: every service is named in every locale,
//! the name fits one list row, every locale has words that find it, and the start screen's
//! first page holds the recent services it offers.

use crate::diag::Problem;
use crate::gsm7;
use crate::i18n::Catalog;
use crate::menu::catalogue::NAME_WIDTH;
use crate::menu::{Kind, Menu};

/// Names and search words of every catalogue service of `m`, in every locale.
pub(super) fn words(m: &Menu, catalog: &Catalog, problems: &mut Vec<Problem>) {
    let Some(c) = m.catalogue.as_deref() else { return };
    for s in &c.services {
        for locale in catalog.locales() {
            // A missing name is reported where the browse list shows it (the row).
            if catalog.message(locale, &s.name).is_none() {
                continue;
            }
            let name = catalog.format(locale, &s.name, None);
            let width = gsm7::cost(&name).units;
            if width > NAME_WIDTH {
                problems.push(Problem::error(
                    s.place.clone(),
                    format!(
                        "the name of service {:?} in {locale} is {width} characters, wider than a list row ({NAME_WIDTH}): {name:?}",
                        s.id
                    ),
                    format!("shorten {} in locales/{locale}/catalogue/", s.name),
                ));
            }
            let keywords = catalog.attribute(locale, &s.name, "keywords");
            if keywords.as_deref().is_none_or(|k| crate::search::words(k).next().is_none()) {
                problems.push(Problem::error(
                    s.place.clone(),
                    format!("service {:?} has no search words in {locale}", s.id),
                    format!(
                        "give {} a .keywords attribute in locales/{locale}/catalogue/: the words citizens type to find it",
                        s.name
                    ),
                ));
            }
        }
    }
}

/// A start screen that offers recent services shows all of them on its first page, in every
/// locale, at the narrowest channel the menu is served on, even when they are the services with
/// the widest lines: "first" is what makes the common case one hop.
pub(super) fn recent(m: &Menu, catalog: &Catalog, limit: Option<(usize, Option<&str>)>, problems: &mut Vec<Problem>) {
    let Some(c) = m.catalogue.as_deref() else { return };
    let (count, Some(place)) = (usize::from(c.recent.count), c.recent_place.clone()) else { return };
    if count == 0 {
        return;
    }
    let Kind::Menu { .. } = &m.screen(m.start).kind else {
        problems.push(Problem::error(
            place,
            format!("recent services are offered on the start screen, and {:?} is not a menu", m.screen(m.start).name),
            "start the menu on a menu screen, or remove `recent`",
        ));
        return;
    };
    // A menu no channel reaches is warned about on its own.
    let Some((limit, channel)) = limit else { return };
    let at = channel.map_or_else(|| format!("{limit} characters"), |c| format!("{limit} characters (channel {c})"));
    let ctx = crate::engine::Ctx::unprepared(m, catalog, limit);
    for locale in catalog.locales() {
        // The widest lines a citizen's recent services can make: code and name.
        let mut widest: Vec<(usize, u32)> = c
            .services
            .iter()
            .filter(|s| !m.home_leads_to(s.entry))
            .filter(|s| catalog.message(locale, &s.name).is_some())
            .map(|s| (s.code_text.len() + gsm7::cost(&catalog.format(locale, &s.name, None)).units, s.code))
            .collect();
        widest.sort_unstable_by(|a, b| b.cmp(a));
        let codes: Vec<u32> = widest.iter().take(count).map(|&(_, code)| code).collect();
        let wanted = codes.len();
        let shown = crate::engine::recent_on_first_page(ctx, locale.clone(), codes);
        if shown < wanted {
            problems.push(Problem::error(
                place.clone(),
                format!(
                    "the start screen's first page in {locale} holds {shown} of the {wanted} recent services it offers at {at}, with the widest service names"
                ),
                "offer fewer recent services, or shorten the start screen's title",
            ));
        }
    }
}

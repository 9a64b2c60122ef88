//! The catalogue's word rules, which need the locales: every service is named in every locale,
//! the name fits one list row, and every locale has words that find it.

use crate::diag::Problem;
use crate::gsm7;
use crate::i18n::Catalog;
use crate::menu::Menu;
use crate::menu::catalogue::NAME_WIDTH;

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

//! The menu map (`/console/map`): each menu, or one catalogue service's flow (its template
//! filled in), drawn as a graph of screens by `graph::svg_linked` from the checker's own
//! `check::Map` (kinds by shape, the start in bold, unreachable screens and dead ends
//! highlighted). Every screen is a link: it opens the screen's texts in every locale at their
//! worst case (`check::worst_case`), with their size against the smallest limit of the
//! channels that reach the menu. The served menus, or the draft on disk as far as it compiles.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::Console;
use super::access::Viewer;
use super::html::{self, esc, url};
use crate::gsm7;
use crate::i18n::Catalog;
use crate::menu::Menu;

/// `GET /console/map?source=&menu=&service=&screen=`.
pub async fn page(
    State(c): State<Arc<Console>>,
    Viewer(entry): Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let draft = q.get("source").is_some_and(|s| s == "draft");
    let body = if draft {
        let (menus_dir, locales_dir) = (c.config.menus_dir.clone(), c.config.locales_dir.clone());
        let fallback = c.config.fallback_locales.clone();
        // The draft as far as it compiles, as `njia graph` draws it.
        let loaded = tokio::task::spawn_blocking(move || {
            let (menus, _) = crate::menu::load_dir(&menus_dir);
            let (catalog, _) = Catalog::load(&locales_dir, &fallback);
            (menus, catalog)
        })
        .await;
        match loaded {
            Ok((menus, catalog)) => render(&c, &menus.iter().collect::<Vec<_>>(), &catalog, &q, true),
            Err(e) => format!("<p class=\"error\" id=\"error\">Loading the draft failed: {}</p>", esc(&e.to_string())),
        }
    } else {
        let hub = c.state.hub();
        let menus: Vec<&Menu> = hub.menus.menus.iter().map(|m| AsRef::<Menu>::as_ref(&**m)).collect();
        render(&c, &menus, &hub.catalog, &q, false)
    };
    html::respond(StatusCode::OK, Some(&entry), html::page("Menu map", "/console/map", Some(&entry), &body))
}

fn render(c: &Console, menus: &[&Menu], catalog: &Catalog, q: &HashMap<String, String>, draft: bool) -> String {
    let mut b = String::new();
    let wanted = q.get("menu").map(String::as_str).unwrap_or_default();
    let Some(m) = menus.iter().find(|m| m.id == wanted).or_else(|| menus.first()).copied() else {
        return "<p id=\"error\" class=\"error\">No menu compiles.</p>".into();
    };
    let service: Option<u32> = q.get("service").and_then(|s| s.parse().ok());
    let source = if draft { "draft" } else { "served" };
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/console/map\" id=\"map-form\" class=\"dial\">\
         <div class=\"field\"><label for=\"map-source\">Menus</label><select id=\"map-source\" name=\"source\">\
         <option value=\"served\"{}>in service</option><option value=\"draft\"{}>draft on disk</option></select></div>\
         <div class=\"field\"><label for=\"map-menu\">Menu</label><select id=\"map-menu\" name=\"menu\">",
        if draft { "" } else { " selected" },
        if draft { " selected" } else { "" }
    );
    for x in menus {
        let sel = if x.id == m.id { " selected" } else { "" };
        let _ = write!(b, "<option value=\"{}\"{sel}>{}</option>", esc(&x.id), esc(&x.id));
    }
    b.push_str("</select></div>");
    if let Some(cat) = m.catalogue.as_deref() {
        b.push_str(
            "<div class=\"field\"><label for=\"map-service\">Catalogue service (its template)</label>\
             <select id=\"map-service\" name=\"service\"><option value=\"\">the whole menu</option>",
        );
        for s in &cat.services {
            let sel = if Some(s.code) == service { " selected" } else { "" };
            let _ =
                write!(b, "<option value=\"{}\"{sel}>{} {} ({})</option>", s.code, s.code, esc(&s.id), esc(&s.flow));
        }
        b.push_str("</select></div>");
    }
    b.push_str("<button type=\"submit\" id=\"draw\">Draw</button></form>");
    b.push_str(
        "<p class=\"legend\" id=\"legend\">Shapes by kind; the start in bold; <span class=\"k-unreachable\">red: the start \
         cannot reach it</span>; <span class=\"k-stuck\">orange: no way out</span>; <span class=\"k-done\">green: ends \
         and submits</span>. Select a screen for its texts.</p>",
    );
    let base = format!(
        "/console/map?source={source}&menu={}{}",
        url(&m.id),
        service.map(|s| format!("&service={s}")).unwrap_or_default()
    );
    let href = |name: &str| format!("{base}&screen={}#screen-detail", url(name));
    match crate::graph::svg_linked(m, service, &href) {
        Ok(svg) => {
            let _ = write!(b, "<figure class=\"map\" id=\"map\" data-menu=\"{}\">{svg}</figure>", esc(&m.id));
        }
        Err(e) => {
            let _ = write!(b, "<p class=\"error\" id=\"error\">{}</p>", esc(&e.to_string()));
        }
    }
    if let Some(name) = q.get("screen") {
        screen_detail(&mut b, c, m, catalog, name);
    }
    b
}

/// The screen's texts in every locale at their worst case, with their size.
fn screen_detail(b: &mut String, c: &Console, m: &Menu, catalog: &Catalog, name: &str) {
    let Some(id) = m.screen_id(name) else {
        let _ = write!(b, "<p class=\"error\" id=\"screen-detail\">No screen {} in {}.</p>", esc(name), esc(&m.id));
        return;
    };
    let s = m.screen(id);
    let limit = c
        .state
        .channels
        .iter()
        .filter(|ch| ch.reaches(&m.id))
        .map(|ch| ch.limit)
        .min()
        .unwrap_or(c.config.screen_limit);
    let map = crate::check::Map::of(m);
    let i = usize::from(id.0);
    let mut flags = Vec::new();
    if !map.reachable[i] {
        flags.push("unreachable");
    }
    if !map.way_out[i] {
        flags.push("no way out");
    }
    let _ = write!(
        b,
        "<section id=\"screen-detail\" data-screen=\"{}\" tabindex=\"-1\"><h2>Screen <code>{}</code></h2>\
         <p>{} · {}:{}{}{}</p>",
        esc(&s.name),
        esc(&s.name),
        esc(crate::graph::kind_name(&s.kind)),
        esc(&s.place.file.display().to_string()),
        s.place.line,
        s.text.as_ref().map(|t| format!(" · text <code>{}</code>", esc(&t.id))).unwrap_or_default(),
        if flags.is_empty() {
            String::new()
        } else {
            format!(" · <strong class=\"error\">{}</strong>", flags.join(", "))
        }
    );
    let _ = write!(
        b,
        "<p>Worst case (every variable at its widest, with the widest error line), against {limit} characters:</p>"
    );
    for locale in catalog.locales() {
        let versions = crate::check::worst_case(m, catalog, locale, id);
        let _ = write!(b, "<h3 lang=\"{}\">{}</h3>", esc(locale.as_str()), esc(locale.as_str()));
        for v in versions {
            let (cost, room) = gsm7::measure(&v, limit);
            let enc = cost.encoding.name();
            let over = if cost.units > room { " over" } else { "" };
            let _ = write!(
                b,
                "<div class=\"worst\" data-locale=\"{}\"><p class=\"meta\"><span class=\"size{over}\">{}/{room}</span> · {enc}</p>\
                 <pre class=\"screen\" lang=\"{}\">{}</pre></div>",
                esc(locale.as_str()),
                cost.units,
                esc(locale.as_str()),
                esc(&v)
            );
        }
    }
    b.push_str("</section>");
}

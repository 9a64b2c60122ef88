//! Where citizens drop off (`/console/dropoff`): `njia stats`' figures (`stats::figures`) for
//! every menu in service, per day, screen and catalogue service, drawn as server-rendered SVG
//! bars (no chart library, nothing inline to run). The figures counted since the last write
//! are written first, so sessions just made are in them.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::Console;
use super::access::Viewer;
use super::html::{self, esc};
use crate::stats::Figures;

/// Width of a full bar, in pixels.
const BAR: i64 = 240;

/// A horizontal bar of `value` against `max`, labelled for screen readers.
fn bar(value: i64, max: i64, class: &str, label: &str) -> String {
    let w = if max > 0 { value.clamp(0, max) * BAR / max } else { 0 };
    format!(
        "<svg class=\"bar\" width=\"{BAR}\" height=\"14\" viewBox=\"0 0 {BAR} 14\" role=\"img\" aria-label=\"{}\">\
         <rect class=\"track\" width=\"{BAR}\" height=\"14\"/><rect class=\"{class}\" width=\"{w}\" height=\"14\"/></svg>",
        esc(label)
    )
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 { "-".to_owned() } else { format!("{}%", (part * 100 + whole / 2) / whole) }
}

fn render(b: &mut String, f: &Figures) {
    let started: i64 = f.days.iter().map(|d| d.started).sum();
    let completed: i64 = f.days.iter().map(|d| d.completed).sum();
    let limited: i64 = f.days.iter().map(|d| d.limited).sum();
    let _ = write!(
        b,
        "<section class=\"figures\" id=\"dropoff-{}\" data-menu=\"{}\"><h2>Menu <code>{}</code></h2>\
         <p><span id=\"started-{}\" data-testid=\"started\">{started}</span> sessions started, \
         <span data-testid=\"completed\">{completed}</span> completed ({}), {limited} hops over the rate limit.</p>",
        esc(&f.menu),
        esc(&f.menu),
        esc(&f.menu),
        esc(&f.menu),
        percent(completed, started)
    );
    let max = f.days.iter().map(|d| d.started).max().unwrap_or(0);
    b.push_str(
        "<h3>Per day</h3><div class=\"scroll\"><table class=\"days\"><thead><tr><th scope=\"col\">Day</th>\
         <th scope=\"col\" class=\"n\">Started</th><th scope=\"col\" class=\"n\">Completed</th><th scope=\"col\"></th></tr></thead><tbody>",
    );
    for d in &f.days {
        let _ = write!(
            b,
            "<tr data-day=\"{}\"><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}{}</td></tr>",
            esc(&d.day),
            esc(&d.day),
            d.started,
            d.completed,
            bar(d.started, max, "started", &format!("{} started", d.started)),
            bar(d.completed, max, "completed", &format!("{} completed", d.completed))
        );
    }
    b.push_str("</tbody></table></div>");
    let max = f.screens.iter().map(|s| s.shown).max().unwrap_or(0);
    b.push_str(
        "<h3>Per screen</h3><div class=\"scroll\"><table class=\"screens\"><thead><tr><th scope=\"col\">Screen</th>\
         <th scope=\"col\" class=\"n\">Shown</th><th scope=\"col\" class=\"n\">Left</th><th scope=\"col\" class=\"n\">Ended</th><th scope=\"col\" class=\"n\">Abandoned</th>\
         <th scope=\"col\" class=\"n\">Lookup failed</th><th scope=\"col\">Shown / abandoned</th></tr></thead><tbody>",
    );
    for s in &f.screens {
        let _ = write!(
            b,
            "<tr data-screen=\"{}\"><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}{}</td></tr>",
            esc(&s.screen),
            esc(&s.screen),
            s.shown,
            s.left,
            s.ended,
            s.abandoned,
            s.failed,
            bar(s.shown, max, "shown", &format!("{} shown", s.shown)),
            bar(s.abandoned, max, "abandoned", &format!("{} abandoned", s.abandoned))
        );
    }
    b.push_str("</tbody></table></div>");
    if !f.services.is_empty() {
        b.push_str(
            "<h3>Per service: first screen to completion</h3><div class=\"scroll\"><table class=\"services\"><thead><tr>\
             <th scope=\"col\">Code</th><th scope=\"col\">Service</th><th scope=\"col\" class=\"n\">Entered</th>\
             <th scope=\"col\" class=\"n\">Completed</th><th scope=\"col\" class=\"n\">Conversion</th><th scope=\"col\"></th></tr></thead><tbody>",
        );
        for s in &f.services {
            let _ = write!(
                b,
                "<tr data-service=\"{}\"><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td>{}</td></tr>",
                esc(&s.id),
                s.code,
                esc(&s.id),
                s.entered,
                s.completed,
                percent(s.completed, s.entered),
                bar(s.completed, s.entered, "completed", &format!("{} of {} completed", s.completed, s.entered))
            );
        }
        b.push_str("</tbody></table></div>");
    }
    b.push_str("</section>");
}

/// `GET /console/dropoff?days=N`.
pub async fn page(
    State(c): State<Arc<Console>>,
    Viewer(entry): Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let days: i64 = q.get("days").and_then(|d| d.parse().ok()).unwrap_or(7).clamp(1, 366);
    let hub = c.state.hub();
    crate::hub::funnel::flush(&hub).await;
    let today = crate::clock::eat_day(crate::store::now_ms());
    let mut b = String::new();
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/console/dropoff\" id=\"days-form\" class=\"dial\"><div class=\"field\">\
         <label for=\"days\">Days</label><input id=\"days\" name=\"days\" type=\"number\" min=\"1\" max=\"366\" value=\"{days}\">\
         </div><button type=\"submit\">Show</button></form>\
         <p class=\"hint\">Abandoned: shown and never left (the citizen hung up, the network dropped the session, or it \
         timed out). Completed: ended on an END or a submit's receipt.</p>"
    );
    for m in &hub.menus.menus {
        match crate::stats::figures(hub.store.as_ref(), m, today - days + 1).await {
            Ok(f) => render(&mut b, &f),
            Err(e) => {
                let _ = write!(b, "<p class=\"error\">{}: {}</p>", esc(&m.id), esc(&e.to_string()));
            }
        }
    }
    html::respond(
        StatusCode::OK,
        Some(&entry),
        html::page("Where citizens drop off", "/console/dropoff", Some(&entry), &b),
    )
}

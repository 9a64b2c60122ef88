//! Preview before reload (`/console/preview`): the check of the files on disk against the
//! set in service, every problem with its `file:line`, and what would change (screens added
//! or removed, texts changed per locale), all from `reload::preview`; and the Reload button,
//! which does what SIGHUP does after a confirmation step, offered only while the check is
//! clean (and refused by the server otherwise).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::Console;
use super::access::{Posted, Viewer};
use super::html::{self, esc};
use crate::reload::{Outcome, Preview};

fn problems_list(b: &mut String, problems: &[String]) {
    if problems.is_empty() {
        return;
    }
    b.push_str("<h2>Problems</h2><ul id=\"problems\" class=\"problems\">");
    for p in problems {
        let class = if p.contains(": error: ") { "problem error" } else { "problem warning" };
        let _ = write!(b, "<li class=\"{class}\"><code>{}</code></li>", esc(p));
    }
    b.push_str("</ul>");
}

fn render(p: &Preview) -> String {
    let mut b = String::new();
    let errors = p.problems.iter().filter(|x| x.contains(": error: ")).count();
    if p.clean {
        let _ = write!(
            b,
            "<p class=\"ok\" id=\"check-status\" data-clean=\"true\" role=\"status\">The files on disk pass every check \
             ({} warning(s)).</p>",
            p.problems.len()
        );
    } else {
        let _ = write!(
            b,
            "<p class=\"error\" id=\"check-status\" data-clean=\"false\" role=\"status\">The files on disk do not pass the \
             check: {errors} error(s). A reload would be refused; the menus in service keep serving.</p>"
        );
    }
    problems_list(&mut b, &p.problems);
    let _ = write!(b, "<h2>What would change</h2>");
    if p.changes.is_empty() {
        b.push_str("<p id=\"no-changes\">Nothing: the files on disk are the set in service.</p>");
    } else {
        b.push_str(
            "<div class=\"scroll\"><table id=\"changes\"><thead><tr><th scope=\"col\">Change</th><th scope=\"col\">Menu</th>\
             <th scope=\"col\">Screen</th><th scope=\"col\">Locale</th><th scope=\"col\">Message</th>\
             <th scope=\"col\">Before</th><th scope=\"col\">After</th></tr></thead><tbody>",
        );
        for c in &p.changes {
            let o = |v: &Option<String>| v.as_deref().map(|s| esc(s).to_string()).unwrap_or_default();
            let _ = write!(
                b,
                "<tr class=\"change\" data-what=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td>\
                 <td class=\"before\">{}</td><td class=\"after\">{}</td></tr>",
                esc(c.what),
                esc(c.what),
                o(&c.menu),
                o(&c.screen),
                o(&c.locale),
                o(&c.id),
                o(&c.before),
                o(&c.after)
            );
        }
        b.push_str("</tbody></table></div>");
    }
    b.push_str("<h2>Reload</h2>");
    if p.clean {
        b.push_str(
            "<p>A reload swaps the files on disk in, as SIGHUP does; sessions already running finish on the version they \
             started with.</p><p><a class=\"button\" id=\"reload\" href=\"/console/reload\">Reload…</a> \
             <a href=\"/console/phone?source=draft\" id=\"dial-draft\">Dial the draft first</a></p>",
        );
    } else {
        b.push_str("<p><button type=\"button\" id=\"reload\" disabled>Reload</button> Fix the errors above first.</p>");
    }
    b
}

/// `GET /console/preview`.
pub async fn page(State(c): State<Arc<Console>>, Viewer(entry): Viewer) -> Response {
    let preview = crate::reload::preview(&c.state.live, &c.state.channels).await;
    let body = render(&preview);
    html::respond(
        StatusCode::OK,
        Some(&entry),
        html::page("Preview before reload", "/console/preview", Some(&entry), &body),
    )
}

/// `GET /console/reload`: the confirmation step.
pub async fn confirm(State(c): State<Arc<Console>>, Viewer(entry): Viewer) -> Response {
    let preview = crate::reload::preview(&c.state.live, &c.state.channels).await;
    let mut b = String::new();
    if preview.clean {
        let _ = write!(
            b,
            "<p id=\"confirm-text\">Swap in the files on disk ({} change(s)) on this instance? With several instances, \
             reload each.</p><form method=\"post\" action=\"/console/reload\" id=\"reload-form\">{}\
             <input type=\"hidden\" name=\"confirm\" value=\"yes\">\
             <button type=\"submit\" id=\"confirm-reload\">Yes, reload</button> <a href=\"/console/preview\">Cancel</a></form>",
            preview.changes.len(),
            html::csrf_field(&entry)
        );
    } else {
        b.push_str(
            "<p class=\"error\" id=\"error\" role=\"alert\">The check is not clean: a reload would be refused.</p>",
        );
        problems_list(&mut b, &preview.problems);
    }
    html::respond(StatusCode::OK, Some(&entry), html::page("Reload", "/console/preview", Some(&entry), &b))
}

/// `POST /console/reload`: refused unless confirmed and clean; then what SIGHUP does.
pub async fn reload(State(c): State<Arc<Console>>, Posted { entry, form }: Posted) -> Response {
    if form.get("confirm").map(String::as_str) != Some("yes") {
        return html::redirect("/console/reload", None);
    }
    let preview = crate::reload::preview(&c.state.live, &c.state.channels).await;
    if !preview.clean {
        let mut b = String::from(
            "<p class=\"error\" id=\"error\" role=\"alert\">Reload refused: the files on disk do not pass the check. The \
             menus in service keep serving.</p>",
        );
        problems_list(&mut b, &preview.problems);
        return html::respond(
            StatusCode::CONFLICT,
            Some(&entry),
            html::page("Reload", "/console/preview", Some(&entry), &b),
        );
    }
    tracing::info!("console: reloading menus and locales");
    let (status, b) = match crate::reload::reload(&c.state.live, &c.state.channels).await {
        Outcome::Reloaded { menus, warnings } => {
            let mut b = format!(
                "<p class=\"ok\" id=\"reloaded\" role=\"status\">Reloaded: {} warning(s). Now in service:</p><ul id=\"menus-served\">",
                warnings.len()
            );
            for (id, v) in &menus {
                let _ = write!(b, "<li><code>{}</code> version <code>{v:016x}</code></li>", esc(id));
            }
            b.push_str("</ul><p><a href=\"/console/preview\">Back to the preview</a></p>");
            (StatusCode::OK, b)
        }
        Outcome::Refused { problems } => {
            let mut b = String::from(
                "<p class=\"error\" id=\"error\" role=\"alert\">Reload refused; the menus in service keep serving.</p>",
            );
            problems_list(&mut b, &problems.iter().map(ToString::to_string).collect::<Vec<_>>());
            (StatusCode::UNPROCESSABLE_ENTITY, b)
        }
    };
    html::respond(status, Some(&entry), html::page("Reload", "/console/preview", Some(&entry), &b))
}

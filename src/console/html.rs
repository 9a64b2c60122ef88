//! The console's HTML: escaping, the one layout every page shares, and the embedded assets.
//!
//! Pages are written by hand with [`esc`], a `Display` wrapper that escapes whatever it is
//! given for text and attribute values alike. A template crate (maud, askama) would escape by
//! default too, but brings a proc-macro build and a template language for six small pages;
//! every dynamic value here passes through `esc` (or is a number), and the console's tests
//! scan every page for markup that should not be there.

use std::collections::HashMap;
use std::fmt::{self, Display, Write};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Console;
use super::access::{Entry, Viewer};

/// Text made safe for HTML text and double- or single-quoted attribute values.
pub struct Esc<'a>(&'a str);

/// Escapes `s` where it is written.
pub fn esc(s: &str) -> Esc<'_> {
    Esc(s)
}

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, b) in self.0.bytes().enumerate() {
            let with = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(with)?;
            last = i + 1;
        }
        f.write_str(&self.0[last..])
    }
}

/// A query-string value, percent-encoded.
pub fn url(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// One embedded asset, served under a name that carries its content hash, so it can be cached
/// for a year and a new build is fetched at once.
pub struct Asset {
    pub name: String,
    pub body: &'static [u8],
    pub content_type: &'static str,
}

fn asset_named(stem: &str, ext: &str, body: &'static [u8], content_type: &'static str) -> Asset {
    // SipHash with fixed keys: the same bytes give the same name in every process.
    let mut h = std::hash::DefaultHasher::new();
    body.hash(&mut h);
    Asset { name: format!("{stem}.{:016x}.{ext}", h.finish()), body, content_type }
}

pub static CSS: LazyLock<Asset> =
    LazyLock::new(|| asset_named("console", "css", include_bytes!("assets/console.css"), "text/css; charset=utf-8"));
pub static JS: LazyLock<Asset> = LazyLock::new(|| {
    asset_named("console", "js", include_bytes!("assets/console.js"), "text/javascript; charset=utf-8")
});

/// `GET /console/assets/{name}`: the stylesheet or the script, cached for a year (the name
/// changes with the content). Assets need no login (they hold nothing but code), but are
/// judged by address like every console path (`access::gate`). Path
/// parameters are read by name: the server's mount adds its own (`rest`) beside the console's.
pub async fn asset(Path(params): Path<HashMap<String, String>>) -> Response {
    let name = params.get("name").map_or("", String::as_str);
    for a in [&*CSS, &*JS] {
        if a.name == name {
            return (
                [
                    (header::CONTENT_TYPE, a.content_type),
                    (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                ],
                a.body,
            )
                .into_response();
        }
    }
    (StatusCode::NOT_FOUND, "no such asset\n").into_response()
}

/// The console's sections, in the navigation's order: (path, label, element id).
const SECTIONS: &[(&str, &str, &str)] = &[
    ("/console/phone", "Phone", "nav-phone"),
    ("/console/preview", "Preview & reload", "nav-preview"),
    ("/console/map", "Menu map", "nav-map"),
    ("/console/requests", "Helpdesk", "nav-requests"),
    ("/console/dropoff", "Drop-off", "nav-dropoff"),
];

/// A whole page: the layout around `body`, with the navigation (`current` marked) and, for a
/// signed-in caller, the log-out form carrying the CSRF token.
pub fn page(title: &str, current: &str, entry: Option<&Entry>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    // The empty `data:` icon keeps a browser from asking for `/favicon.ico`, which the
    // server does not have: a 404 on every first page, in the browser's log as an error.
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Njia console</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/console/assets/{}\">\
         <script src=\"/console/assets/{}\" defer></script></head>\n<body>\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header class=\"top\"><a class=\"brand\" href=\"/console\">Njia console</a>\
         <nav aria-label=\"Console sections\"><ul>",
        esc(title),
        esc(&CSS.name),
        esc(&JS.name)
    );
    for (path, label, id) in SECTIONS {
        let here = if *path == current { " aria-current=\"page\"" } else { "" };
        let _ = write!(out, "<li><a id=\"{id}\" href=\"{path}\"{here}>{}</a></li>", esc(label));
    }
    out.push_str("</ul></nav>");
    if let Some(e) = entry.filter(|e| e.signed_in) {
        let _ = write!(
            out,
            "<form class=\"logout\" method=\"post\" action=\"/console/logout\">{}\
             <button type=\"submit\" id=\"logout\">Log out</button></form>",
            csrf_field(e)
        );
    }
    let _ = write!(
        out,
        "</header>\n<main id=\"main\" tabindex=\"-1\">\n<h1>{}</h1>\n{body}\n</main></body></html>\n",
        esc(title)
    );
    out
}

/// The hidden field that carries the session's CSRF token in every form that posts.
pub fn csrf_field(e: &Entry) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(&e.csrf))
}

/// A page response, with the session cookie when the request opened a session.
pub fn respond(status: StatusCode, entry: Option<&Entry>, html: String) -> Response {
    let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    if let Some(cookie) = entry.and_then(|e| e.set_cookie.clone()) {
        r.headers_mut().append(header::SET_COOKIE, cookie);
    }
    r
}

/// A See Other to `to`, with the session cookie when the request opened a session.
pub fn redirect(to: &str, entry: Option<&Entry>) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    if let Some(cookie) = entry.and_then(|e| e.set_cookie.clone()) {
        r.headers_mut().append(header::SET_COOKIE, cookie);
    }
    r
}

/// A page that says what went wrong, in the layout.
pub fn problem(status: StatusCode, entry: Option<&Entry>, title: &str, why: &str) -> Response {
    let body = format!("<p class=\"error\" id=\"error\" role=\"alert\">{}</p>", esc(why));
    respond(status, entry, page(title, "", entry, &body))
}

/// `GET /console`: what each section is for.
pub async fn home(State(c): State<Arc<Console>>, Viewer(entry): Viewer) -> Response {
    let hub = c.state.hub();
    let mut body = String::from(
        "<p>Everything an administrator needs to keep the menus right, on the server itself.</p><ul class=\"sections\">",
    );
    let what = [
        "dial a menu on a sandbox, as any telco would send it, in either language",
        "check the files on disk against the menus in service, see what would change, and reload",
        "each menu and catalogue service as a graph of its screens, with every text's worst-case size",
        "find a citizen's request by reference or phone number, its history and SMS; retry a dead letter",
        "where citizens leave each menu, per screen, service and day",
    ];
    for ((path, label, _), what) in SECTIONS.iter().zip(what) {
        let _ = write!(body, "<li><a href=\"{path}\">{}</a>: {}</li>", esc(label), esc(what));
    }
    body.push_str("</ul><h2>In service</h2><ul id=\"menus-served\">");
    for m in &hub.menus.menus {
        let _ = write!(body, "<li><code>{}</code> version <code>{:016x}</code></li>", esc(&m.id), m.version);
    }
    body.push_str("</ul>");
    respond(StatusCode::OK, Some(&entry), page("Console", "", Some(&entry), &body))
}

/// What no console route answers.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found: no console page at this path\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_both_quotes() {
        assert_eq!(
            esc("<a href=\"x\" title='y'>&</a>").to_string(),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(esc("Karibu").to_string(), "Karibu");
    }
}

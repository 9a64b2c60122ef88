//! The helpdesk (`/console/requests`): a request found by its reference or by the citizen's
//! full phone number (the number the store already keeps on requests; every number shown is
//! masked, only the search the agent typed is echoed as typed), its whole history as `njia
//! requests show` prints it (`admin::request_show`), its jobs with a retry for a dead letter
//! (the store's `retry_job`, as `njia jobs retry`), its SMS, and a CSV export of a list. The
//! search and the export are POSTed (with the CSRF token), so a full phone number never lands
//! in a URL (proxy logs, history); every CSV cell a spreadsheet would read as a formula is
//! written with a leading `'`.
//!
//! Requests made in the phone simulator live in its sandboxes' scratch stores, never in the
//! live one; a search reads those too and lists them apart, labelled "simulator (sandbox)",
//! so an administrator who just walked a flow finds its request the way they would a
//! citizen's. Sandbox requests are read only here (no retry: the sandbox runs its own
//! hand-off), and the CSV export holds live requests only.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Console;
use super::access::{Entry, Posted, Viewer};
use super::html::{self, esc, url};
use crate::clock::format_eat_ms;
use crate::lifecycle::{JobState, RequestStatus};
use crate::store::{JobRow, RequestRow, SmsRow, Store, StoreError};
use crate::types::{Msisdn, Reference, masked_or_purged};

/// The page for a store that did not answer.
fn store_down(entry: &Entry, title: &str, e: &StoreError) -> Response {
    html::problem(StatusCode::SERVICE_UNAVAILABLE, Some(entry), title, &format!("The store: {e}"))
}

/// How many requests a list shows at most.
const LIST: u32 = 100;

/// What a search asked for.
enum Search {
    Newest,
    Phone(Msisdn),
    Reference(Reference),
    Neither,
}

fn search_of(q: &str) -> Search {
    if q.is_empty() {
        Search::Newest
    } else if let Some(r) = Reference::parse(&q.to_ascii_uppercase()) {
        Search::Reference(r)
    } else if let Ok(m) = Msisdn::parse(q) {
        Search::Phone(m)
    } else {
        Search::Neither
    }
}

/// The requests a search and status filter select, newest first.
async fn select(
    store: &dyn Store,
    search: &Search,
    status: Option<RequestStatus>,
) -> Result<Vec<RequestRow>, StoreError> {
    Ok(match search {
        Search::Newest => store.requests_with_status(status, LIST).await?,
        Search::Phone(m) => store
            .recent_requests(Some(*m), LIST)
            .await?
            .into_iter()
            .filter(|r| status.is_none_or(|s| r.status == s.as_str()))
            .collect(),
        Search::Reference(r) => store.request(r).await?.into_iter().collect(),
        Search::Neither => Vec::new(),
    })
}

fn filters(q: &HashMap<String, String>) -> (String, Option<RequestStatus>) {
    let text = q.get("q").map_or("", |s| s.trim()).to_owned();
    let status = q.get("status").and_then(|s| RequestStatus::parse(s));
    (text, status)
}

/// `GET /console/requests?q=&status=`: the newest requests, or a reference's page. A phone
/// number is searched with the form's POST only, never from a URL.
pub async fn search(
    State(c): State<Arc<Console>>,
    Viewer(entry): Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Search::Phone(_) = search_of(&filters(&q).0) {
        return html::problem(
            StatusCode::BAD_REQUEST,
            Some(&entry),
            "Helpdesk",
            "Search by phone number with the form: it is posted, so the number never appears in a URL (proxy logs, \
             browser history).",
        );
    }
    list(&c, entry, &q).await
}

/// `POST /console/requests`: the search form (its CSRF token checked).
pub async fn search_posted(State(c): State<Arc<Console>>, Posted { entry, form }: Posted) -> Response {
    list(&c, entry, &form).await
}

/// The helpdesk page for a search (`q`, `status`).
async fn list(c: &Console, entry: Entry, q: &HashMap<String, String>) -> Response {
    let (text, status) = filters(q);
    let search = search_of(&text);
    if let Search::Reference(r) = &search {
        return html::redirect(&format!("/console/requests/{}", url(r.as_str())), None);
    }
    let mut b = String::new();
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/console/requests\" id=\"search-form\" class=\"dial\" role=\"search\">{}\
         <div class=\"field\"><label for=\"q\">Reference or full phone number</label>\
         <input id=\"q\" name=\"q\" value=\"{}\" autocomplete=\"off\" placeholder=\"NJ-7K2QX or 0711223344\"></div>\
         <div class=\"field\"><label for=\"status\">Status</label><select id=\"status\" name=\"status\"><option value=\"\">any</option>",
        html::csrf_field(&entry),
        esc(&text)
    );
    for s in RequestStatus::ALL {
        let sel = if Some(s) == status { " selected" } else { "" };
        let _ = write!(b, "<option value=\"{}\"{sel}>{}</option>", s.as_str(), s.as_str());
    }
    b.push_str("</select></div><button type=\"submit\" id=\"search\">Find</button></form>");
    b.push_str("<p><a href=\"/console/jobs?state=dead\" id=\"dead-letters\">Dead letters</a></p>");
    let heading = match &search {
        Search::Phone(_) => format!("Requests from {}", text),
        Search::Neither => {
            let _ = write!(
                b,
                "<p class=\"error\" id=\"error\" role=\"alert\">{} is neither a reference (NJ-7K2QX) nor a phone number.</p>",
                esc(&text)
            );
            return html::respond(
                StatusCode::OK,
                Some(&entry),
                html::page("Helpdesk", "/console/requests", Some(&entry), &b),
            );
        }
        _ => "Newest requests".to_owned(),
    };
    let store = c.state.hub().store.clone();
    let rows = match select(store.as_ref(), &search, status).await {
        Ok(r) => r,
        Err(e) => {
            return store_down(&entry, "Helpdesk", &e);
        }
    };
    let _ = write!(b, "<h2 id=\"results-heading\">{}</h2>", esc(&heading));
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/console/requests.csv\" class=\"inline\">{}\
         <input type=\"hidden\" name=\"q\" value=\"{}\"><input type=\"hidden\" name=\"status\" value=\"{}\">\
         <button type=\"submit\" id=\"export-csv\">Export these as CSV</button></form>",
        html::csrf_field(&entry),
        esc(&text),
        status.map_or("", RequestStatus::as_str)
    );
    requests_table(&mut b, &rows, "requests", "no-requests");
    // The simulator's requests, from its sandboxes' scratch stores, listed apart.
    let mut sandbox_rows = Vec::new();
    for store in c.sandboxes.stores().await {
        match select(store.as_ref(), &search, status).await {
            Ok(rows) => sandbox_rows.extend(rows),
            Err(e) => {
                let _ = write!(b, "<p class=\"error\">The simulator's sandbox store: {}</p>", esc(&e.to_string()));
            }
        }
    }
    if !sandbox_rows.is_empty() {
        sandbox_rows.sort_by_key(|r| std::cmp::Reverse(r.created_at_ms));
        b.push_str(
            "<section id=\"sandbox-results\" class=\"sandbox\"><h2 id=\"sandbox-heading\">Simulator (sandbox)</h2>\
             <p class=\"hint\">Made in the console's phone simulator, on its sandbox: not in the live store, no \
             citizen was charged or told.</p>",
        );
        requests_table(&mut b, &sandbox_rows, "sandbox-requests", "no-sandbox-requests");
        b.push_str("</section>");
    }
    html::respond(StatusCode::OK, Some(&entry), html::page("Helpdesk", "/console/requests", Some(&entry), &b))
}

/// A table of requests (or a line saying there are none), numbers masked.
fn requests_table(b: &mut String, rows: &[RequestRow], id: &str, none_id: &str) {
    if rows.is_empty() {
        let _ = write!(b, "<p id=\"{none_id}\">No requests.</p>");
        return;
    }
    let _ = write!(
        b,
        "<div class=\"scroll\"><table id=\"{id}\"><thead><tr><th scope=\"col\">Reference</th><th scope=\"col\">Created</th>\
         <th scope=\"col\">Service</th><th scope=\"col\">Status</th><th scope=\"col\">Phone</th><th scope=\"col\">Amount</th></tr>\
         </thead><tbody>"
    );
    for r in rows {
        let _ = write!(
            b,
            "<tr data-reference=\"{}\"><td><a href=\"/console/requests/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}{}</td>\
             <td>{}</td><td>{}</td></tr>",
            esc(r.reference.as_str()),
            url(r.reference.as_str()),
            esc(r.reference.as_str()),
            esc(&format_eat_ms(r.created_at_ms)),
            esc(&r.service),
            esc(&r.status),
            if r.refund_review { " <strong>REFUND REVIEW</strong>" } else { "" },
            esc(&masked_or_purged(r.msisdn)),
            esc(r.payment.as_ref().map_or("-", |p| p.0.as_str()))
        );
    }
    b.push_str("</tbody></table></div>");
}

/// `POST /console/requests.csv` (`q`, `status`): the same list as a spreadsheet, numbers
/// masked.
pub async fn csv(State(c): State<Arc<Console>>, Posted { entry, form }: Posted) -> Response {
    let (text, status) = filters(&form);
    let store = c.state.hub().store.clone();
    let rows = match select(store.as_ref(), &search_of(&text), status).await {
        Ok(r) => r,
        Err(e) => {
            return store_down(&entry, "Helpdesk", &e);
        }
    };
    match to_csv(&rows) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"requests.csv\""),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => html::problem(StatusCode::INTERNAL_SERVER_ERROR, Some(&entry), "Helpdesk", &format!("CSV: {e}")),
    }
}

/// A cell as written to the CSV: one a spreadsheet would read as a formula (starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, so a citizen's input
/// never runs in an agent's spreadsheet.
fn cell(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}").into() } else { value.into() }
}

/// The rows as CSV, numbers masked.
fn to_csv(rows: &[RequestRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "reference",
        "created",
        "service",
        "menu",
        "status",
        "phone",
        "amount",
        "account",
        "refund_review",
    ])?;
    for r in rows {
        let (amount, account) = r.payment.as_ref().map_or(("", ""), |p| (p.0.as_str(), p.1.as_str()));
        w.write_record(
            [
                r.reference.as_str(),
                &format_eat_ms(r.created_at_ms),
                &r.service,
                &r.menu,
                &r.status,
                &masked_or_purged(r.msisdn),
                amount,
                account,
                if r.refund_review { "yes" } else { "no" },
            ]
            .map(cell)
            .iter()
            .map(|c| c.as_bytes()),
        )?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// A table of jobs, with a retry form for each dead one when `retry` gives the session and
/// the page to come back to (never for a sandbox's jobs: the retry acts on the live store).
fn jobs_table(b: &mut String, jobs: &[JobRow], retry: Option<(&Entry, &str)>) {
    if jobs.is_empty() {
        b.push_str("<p id=\"no-jobs\">No jobs.</p>");
        return;
    }
    b.push_str(
        "<div class=\"scroll\"><table id=\"jobs\"><thead><tr><th scope=\"col\">Job</th><th scope=\"col\">Kind</th>\
         <th scope=\"col\">For</th><th scope=\"col\">State</th><th scope=\"col\">Failures</th><th scope=\"col\">Next run</th>\
         <th scope=\"col\">Last error</th><th scope=\"col\"></th></tr></thead><tbody>",
    );
    for j in jobs {
        let owner = match (&j.reference, j.sms_id) {
            (Some(r), _) => format!("<a href=\"/console/requests/{}\">{}</a>", url(r.as_str()), esc(r.as_str())),
            (None, Some(id)) => format!("sms #{id}"),
            (None, None) => "-".into(),
        };
        let _ = write!(
            b,
            "<tr id=\"job-{}\" data-state=\"{}\"><td>{}</td><td>{}</td><td>{owner}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>",
            j.id,
            j.state.as_str(),
            j.id,
            j.kind.as_str(),
            j.state.as_str(),
            j.failures,
            j.max_failures,
            esc(&format_eat_ms(j.run_at_ms)),
            esc(j.last_error.as_deref().unwrap_or(""))
        );
        if let Some((entry, back)) = retry.filter(|_| j.state == JobState::Dead) {
            let _ = write!(
                b,
                "<form method=\"post\" action=\"/console/jobs/{}/retry\" class=\"inline\">{}\
                 <input type=\"hidden\" name=\"back\" value=\"{}\"><button type=\"submit\" id=\"retry-{}\">Retry</button></form>",
                j.id,
                html::csrf_field(entry),
                esc(back),
                j.id
            );
        }
        b.push_str("</td></tr>");
    }
    b.push_str("</tbody></table></div>");
}

/// `GET /console/requests/{reference}`: the whole history, its jobs and its SMS.
pub async fn show(
    State(c): State<Arc<Console>>,
    Viewer(entry): Viewer,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let reference = params.get("reference").cloned().unwrap_or_default();
    let Some(r) = Reference::parse(&reference.to_ascii_uppercase()) else {
        return html::problem(
            StatusCode::NOT_FOUND,
            Some(&entry),
            "Request",
            &format!("{reference} is not a reference"),
        );
    };
    // The live store first; then the simulator's sandboxes, where a request the console's
    // phone made lives.
    let live = c.state.hub().store.clone();
    let mut stores = vec![live];
    stores.extend(c.sandboxes.stores().await);
    let mut found = None;
    for (i, store) in stores.iter().enumerate() {
        match history(store.as_ref(), &r).await {
            Ok(Some(x)) => {
                found = Some((i > 0, x));
                break;
            }
            Ok(None) => {}
            Err(e) => return store_down(&entry, "Request", &e),
        }
    }
    let Some((sandbox, (text, jobs, sms))) = found else {
        return html::problem(
            StatusCode::NOT_FOUND,
            Some(&entry),
            "Request",
            &format!("There is no request {}.", r.as_str()),
        );
    };
    let mut b = String::from("<p><a href=\"/console/requests\">Back to the helpdesk</a></p>");
    if sandbox {
        b.push_str(
            "<p class=\"sandbox-note\" id=\"request-source\" data-source=\"sandbox\">Simulator (sandbox): made in the \
             console's phone simulator, on its scratch store. It is not in the live store; no citizen was charged or told.</p>",
        );
    }
    let _ = write!(b, "<h2>History</h2><pre id=\"request-history\">{}</pre>", esc(&text));
    b.push_str("<h2>Jobs</h2>");
    let mut jobs = jobs;
    jobs.reverse();
    let back = format!("/console/requests/{}", r.as_str());
    jobs_table(&mut b, &jobs, (!sandbox).then_some((&entry, back.as_str())));
    b.push_str("<h2>SMS</h2>");
    if sms.is_empty() {
        b.push_str("<p id=\"no-sms\">No SMS yet.</p>");
    } else {
        b.push_str("<ul id=\"request-sms\">");
        for s in sms.iter().rev() {
            let delivery = s.delivery.map(|d| format!(", delivery {}", d.as_str())).unwrap_or_default();
            let _ = write!(
                b,
                "<li>{} to {} [{} {}{}]: {}</li>",
                esc(&format_eat_ms(s.at_ms)),
                esc(&masked_or_purged(s.record.msisdn)),
                esc(&s.record.sender),
                esc(&s.record.status),
                esc(&delivery),
                esc(&s.record.text)
            );
        }
        b.push_str("</ul>");
    }
    let title = format!("Request {}{}", r.as_str(), if sandbox { " (simulator, sandbox)" } else { "" });
    html::respond(StatusCode::OK, Some(&entry), html::page(&title, "/console/requests", Some(&entry), &b))
}

/// A request's history as `njia requests show` prints it, its jobs and its SMS, when `store`
/// holds it.
async fn history(store: &dyn Store, r: &Reference) -> Result<Option<(String, Vec<JobRow>, Vec<SmsRow>)>, StoreError> {
    let Some(text) = crate::admin::request_show(store, r, false).await? else { return Ok(None) };
    let Some(row) = store.request(r).await? else { return Ok(None) };
    let jobs = store.jobs(None, Some(row.id), 100).await?;
    let sms = store.sms(Some(row.id), 100).await?;
    Ok(Some((text, jobs, sms)))
}

/// `GET /console/jobs?state=`: the hand-off's jobs, dead letters with a retry.
pub async fn jobs(
    State(c): State<Arc<Console>>,
    Viewer(entry): Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = q.get("state").and_then(|s| JobState::parse(s));
    let store = c.state.hub().store.clone();
    let jobs = match store.jobs(state, None, LIST).await {
        Ok(j) => j,
        Err(e) => {
            return store_down(&entry, "Jobs", &e);
        }
    };
    let mut b = String::from("<p>");
    for (s, label) in [(None, "all"), (Some(JobState::Dead), "dead letters"), (Some(JobState::Ready), "ready")] {
        let href =
            s.map_or_else(|| "/console/jobs".to_owned(), |s: JobState| format!("/console/jobs?state={}", s.as_str()));
        let here = if s == state { " aria-current=\"page\"" } else { "" };
        let _ = write!(b, "<a href=\"{href}\"{here}>{label}</a> ");
    }
    b.push_str("</p>");
    let back = format!("/console/jobs{}", state.map(|s| format!("?state={}", s.as_str())).unwrap_or_default());
    jobs_table(&mut b, &jobs, Some((&entry, &back)));
    html::respond(StatusCode::OK, Some(&entry), html::page("Jobs", "/console/requests", Some(&entry), &b))
}

/// `POST /console/jobs/{id}/retry`: puts a dead job back in the queue, as `njia jobs retry`.
pub async fn retry(
    State(c): State<Arc<Console>>,
    Path(params): Path<HashMap<String, String>>,
    Posted { entry, form }: Posted,
) -> Response {
    let Some(id) = params.get("id").and_then(|i| i.parse::<i64>().ok()) else {
        return super::html::not_found().await;
    };
    // Only a console path is a way back (never another site).
    let back = form
        .get("back")
        .filter(|b| b.starts_with("/console/") && !b.contains("//") && !b.contains('\\'))
        .map_or("/console/jobs?state=dead", String::as_str);
    let store = c.state.hub().store.clone();
    match store.retry_job(id).await {
        Ok(true) => {
            tracing::info!(job = id, "console: dead job put back in the queue");
            c.state.hub().config.wake.notify_one();
            let b = format!(
                "<p class=\"ok\" id=\"retried\" role=\"status\">Job {id} is back in the queue.</p><p><a href=\"{}\">Back</a></p>",
                esc(back)
            );
            html::respond(StatusCode::OK, Some(&entry), html::page("Retry", "/console/requests", Some(&entry), &b))
        }
        Ok(false) => {
            html::problem(StatusCode::CONFLICT, Some(&entry), "Retry", &format!("Job {id} is not a dead letter."))
        }
        Err(e) => store_down(&entry, "Retry", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn a_cell_a_spreadsheet_would_run_gets_a_leading_quote() {
        for (given, written) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+2547****999", "'+2547****999"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("KAJIADO/1234", "KAJIADO/1234"),
            ("", ""),
        ] {
            assert_eq!(cell(given), written);
        }
    }
}

//! Operating the server: `/readyz` and `/metrics` against the real server, the `[admin]` guard,
//! and rate limits per phone number answered with a localized END.

use crate::common;

use common::{TestServer, at_hop, config, exchange_with};
use njia::config::{AdminSection, HeaderAuthSection};
use njia::limit::Limits;

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn readyz_names_the_store_and_the_menus() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let (status, body) = server.request("GET", "/readyz", "text/plain", "").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ready"], true);
    assert_eq!(v["store"], "ok");
    assert_eq!(v["menus"][0]["id"], "ecitizen");
    assert_eq!(v["menus"][0]["version"].as_str().unwrap().len(), 16);
    let (status, _) = server.request("POST", "/readyz", "text/plain", "").await;
    assert_eq!(status, 405);
    server.stop().await;
}

/// The value of the first sample of `metric` whose line contains every one of `labels`.
pub(crate) fn sample(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(metric) && labels.iter().all(|x| l.contains(x)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {metric} {labels:?} in\n{text}"))
}

#[tokio::test]
async fn metrics_count_hops_per_channel_with_explicit_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let (_, before) = server.request("GET", "/metrics", "text/plain", "").await;
    let hops_before = sample(&before, "njia_hops_total", &["outcome=\"continue\""]);
    for (i, text) in ["", "1", "1*1"].iter().enumerate() {
        let (status, _) =
            server.post_form("/ussd/africastalking", &at_hop("m-1", "+254711000701", "*384#", text)).await;
        assert_eq!(status, 200, "hop {i}");
    }
    let (status, _) = server.post_form("/ussd/africastalking", "sessionId=").await;
    assert_eq!(status, 400);
    let (status, text) = server.request("GET", "/metrics", "text/plain", "").await;
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE njia_channel_request_duration_seconds histogram"), "{text}");
    // Explicit buckets, cumulative, ending in +Inf with the count.
    let ch = "channel=\"africastalking\"";
    let inf = sample(&text, "njia_channel_request_duration_seconds_bucket", &[ch, "le=\"+Inf\""]);
    let count = sample(&text, "njia_channel_request_duration_seconds_count", &[ch]);
    assert!(inf >= 4.0 && inf == count, "{inf} {count}");
    assert!(sample(&text, "njia_channel_request_duration_seconds_bucket", &[ch, "le=\"0.0001\""]) <= inf);
    assert!(sample(&text, "njia_channel_requests_total", &[ch, "status=\"200\""]) >= 3.0);
    assert!(sample(&text, "njia_channel_requests_total", &[ch, "status=\"400\""]) >= 1.0);
    assert!(sample(&text, "njia_hops_total", &["outcome=\"continue\""]) >= hops_before + 3.0);
    // The land-rates parcel screen came from the first lookup-free hops; every family is there.
    for family in ["njia_lookup_duration_seconds", "njia_job_duration_seconds", "njia_payment_results_total"] {
        assert!(text.contains(&format!("# TYPE {family}")), "{family} missing");
    }
    assert!(text.contains("njia_sessions_live "), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn admin_rules_guard_metrics_and_admin_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let open = TestServer::start(config(dir.path())).await;
    // Without [admin], administration is off.
    let (status, body) = open.request("POST", "/admin/reload", "text/plain", "").await;
    assert_eq!(status, 403, "{body}");
    open.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.admin = Some(AdminSection {
        header: Some(HeaderAuthSection { name: "X-Njia-Admin".into(), secret_env: "T_ADMIN".into() }),
        ..AdminSection::default()
    });
    c.secrets.insert("T_ADMIN".into(), "adm1n".into());
    let server = TestServer::start(c).await;
    let (status, _, _) = exchange_with(server.addr, "GET", "/metrics", FORM, &[], "").await.unwrap();
    assert_eq!(status, 401);
    let (status, _, body) =
        exchange_with(server.addr, "GET", "/metrics", FORM, &[("X-Njia-Admin", "adm1n")], "").await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("njia_hops_total"));
    // Readiness is for load balancers: never guarded.
    let (status, _) = server.request("GET", "/readyz", "text/plain", "").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_phone_over_its_rate_gets_a_localized_end_and_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.rate_limit = Limits { phone_per_minute: 1, phone_burst: 3, ..Limits::default() };
    let server = TestServer::start(c).await;
    let phone = "+254711000702";
    for (i, text) in ["", "1", "1*1"].iter().enumerate() {
        let (_, body) = server.post_form("/ussd/africastalking", &at_hop("r-1", phone, "*384#", text)).await;
        assert!(body.starts_with("CON "), "hop {i}: {body}");
    }
    // The fourth hop in a burst of three: an END the telco shows, in the number's language
    // (Kiswahili was chosen on the first screen), never an HTTP error.
    let (status, body) = server.post_form("/ussd/africastalking", &at_hop("r-1", phone, "*384#", "1*1*2")).await;
    assert_eq!(status, 200);
    assert_eq!(body, "END Samahani, kuna majaribio mengi mno kwa sasa. Jaribu tena baada ya dakika moja.");
    // Another number is not affected.
    let (_, body) = server.post_form("/ussd/africastalking", &at_hop("r-2", "+254711000703", "*384#", "")).await;
    assert!(body.starts_with("CON Chagua lugha"), "{body}");
    let (_, text) = server.request("GET", "/metrics", "text/plain", "").await;
    assert!(sample(&text, "njia_hops_total", &["outcome=\"limited_phone\""]) >= 1.0);
    server.stop().await;
}

/// #11: the README's metrics table is the registry: every metric `/metrics` serves is in the
/// table with exactly its labels, and the table names nothing the server does not serve. The
/// server runs in production against the doubles, so the outbound providers it calls (#15)
/// are registered and served with their labels.
#[tokio::test]
async fn the_readme_metrics_table_matches_what_is_served() {
    use std::collections::{BTreeMap, BTreeSet};
    let (server, _world, _dir) = crate::metrics::production_server(|_| {}).await;
    let (status, body) = server.request("GET", "/metrics", "text/plain", "").await;
    assert_eq!(status, 200);
    let mut served: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_whitespace().next().unwrap().to_owned();
            served.entry(name).or_default();
        }
    }
    let names: Vec<String> = served.keys().cloned().collect();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let (series, _) = line.split_once(' ').unwrap();
        let (metric, labels) = series.split_once('{').map_or((series, ""), |(m, l)| (m, l.trim_end_matches('}')));
        let base = names.iter().filter(|n| metric.starts_with(n.as_str())).max_by_key(|n| n.len()).unwrap();
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let label = pair.split_once('=').unwrap().0;
            if label != "le" {
                served.get_mut(base).unwrap().insert(label.to_owned());
            }
        }
    }
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in readme.lines().filter(|l| l.starts_with("| `njia_")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let ticked = |cell: &str| -> Vec<String> {
            cell.split(',').map(|s| s.trim().trim_matches('`').to_owned()).filter(|s| !s.is_empty()).collect()
        };
        let labels: BTreeSet<String> = ticked(cells[2]).into_iter().collect();
        for name in ticked(cells[1]) {
            documented.insert(name, labels.clone());
        }
    }
    // Exactly: a row names metrics that all carry exactly the labels it lists.
    for (name, labels) in &served {
        let doc =
            documented.get(name).unwrap_or_else(|| panic!("{name} is served but not in README.md's metrics table"));
        assert_eq!(labels, doc, "{name}: served with labels {labels:?}, README.md says {doc:?}");
    }
    for name in documented.keys() {
        assert!(served.contains_key(name), "README.md's metrics table names {name}, which is not served");
    }
    server.stop().await;
}

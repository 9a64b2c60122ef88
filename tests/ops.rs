//! Operating the server: `/readyz` and `/metrics` against the real server, the `[admin]` guard,
//! and rate limits per phone number answered with a localized END.

mod common;

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
fn sample(text: &str, metric: &str, labels: &[&str]) -> f64 {
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

//! #15 "See trouble early": `/metrics` against the real server. The queue's figures read from
//! the store at each scrape (jobs by kind and state, due jobs and the oldest's wait, dead
//! letters), calls to the outside world per provider timed and counted against the HTTP
//! doubles (a failing agency, a throttling Daraja), `njia_build_info` following a reload, and
//! the shipped alert rules and dashboard naming only metrics the server serves.
//!
//! The registry is process-wide (see `main.rs`): counters of a provider other tests also call
//! (`daraja`, `agency:lands`, `africastalking`) are read as differences; the store's figures
//! are the server's own.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common;
use crate::handoff::walk;
use crate::ops::sample;

use common::doubles::{AgencyDouble, AtSmsDouble, DarajaDouble, PushBehaviour, eventually, outside_world, production};
use common::editable::{ADMIN, FORM, edit};
use common::{TestServer, at_hop, config, exchange_with};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(15);

async fn scrape(server: &TestServer) -> String {
    let (status, body) = server.request("GET", "/metrics", "text/plain", "").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// An outbound counter: `provider`'s `call`s that ended in `result`.
fn calls(text: &str, provider: &str, call: &str, result: &str) -> f64 {
    let labels =
        [&format!("provider=\"{provider}\"") as &str, &format!("call=\"{call}\""), &format!("result=\"{result}\"")];
    sample(text, "njia_outbound_calls_total{", &labels)
}

/// How many `provider` `call`s the latency histogram holds.
fn timed(text: &str, provider: &str, call: &str) -> f64 {
    let labels = [&format!("provider=\"{provider}\"") as &str, &format!("call=\"{call}\"")];
    sample(text, "njia_outbound_duration_seconds_count{", &labels)
}

fn jobs(text: &str, kind: &str, state: &str) -> f64 {
    sample(text, "njia_jobs{", &[&format!("kind=\"{kind}\""), &format!("state=\"{state}\"")])
}

/// The doubles a production server calls: Daraja, the agency, the SMS API.
pub(crate) type World = (DarajaDouble, AgencyDouble, AtSmsDouble);

/// A production server (no sandbox) on the doubles, after `tweak`.
pub(crate) async fn production_server(
    tweak: impl FnOnce(&mut njia::config::Config),
) -> (TestServer, World, tempfile::TempDir) {
    let (daraja, agency, sms) = outside_world().await;
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = production(config(dir.path()), addr, &daraja, &agency, &sms);
    tweak(&mut cfg);
    let server = TestServer::start_on(listener, cfg).await;
    (server, (daraja, agency, sms), dir)
}

/// A paid request whose agency is down: Daraja's push and the agency's lookup count as `ok`,
/// each failed delivery as an `error` with its latency, and when the delivery dies the dead
/// letter shows on the queue's gauge (and the citizen's "delayed" SMS as an SMS API call).
#[tokio::test]
async fn a_dead_delivery_and_every_outbound_call_show_on_metrics() {
    let (server, (_daraja, agency, _sms), _dir) = production_server(|c| c.dispatcher.max_failures = 2).await;
    let before = scrape(&server).await;
    assert_eq!(sample(&before, "njia_store_up", &[]), 1.0);
    assert_eq!(jobs(&before, "deliver", "dead"), 0.0);
    let walked = walk(server.addr, "metrics-dead-1", "+254711001501", "2").await;
    assert!(walked.is_some(), "the walk ends with the received screen");
    agency.set_down(true);
    eventually("the delivery is dead-lettered on /metrics", WAIT, || async {
        jobs(&scrape(&server).await, "deliver", "dead") == 1.0
    })
    .await;
    eventually("the delayed SMS is sent", WAIT, || async {
        let now = scrape(&server).await;
        calls(&now, "africastalking", "send", "ok") > calls(&before, "africastalking", "send", "ok")
    })
    .await;
    let after = scrape(&server).await;
    let grew = |provider: &str, call: &str, result: &str| {
        calls(&after, provider, call, result) - calls(&before, provider, call, result)
    };
    assert!(grew("daraja", "push", "ok") >= 1.0, "the push:\n{after}");
    assert!(grew("agency:lands", "lookup", "ok") >= 1.0, "the parcel's lookup:\n{after}");
    assert!(grew("agency:lands", "deliver", "error") >= 2.0, "both failed deliveries:\n{after}");
    assert!(timed(&after, "agency:lands", "deliver") - timed(&before, "agency:lands", "deliver") >= 2.0);
    // Nothing waits for an administrator: the payment settled.
    for status in ["held_for_review", "payment_unknown"] {
        let waiting = sample(&after, "njia_requests_awaiting_admin", &[&format!("status=\"{status}\"")]);
        assert_eq!(waiting, 0.0, "{status}");
    }
    assert_eq!(sample(&after, "njia_jobs_due", &[]), 0.0, "{after}");
    server.stop().await;
}

/// Without a dispatcher the push job waits in the queue: ready, then due, and the oldest due
/// job's wait grows; nothing runs, so nothing is dead.
#[tokio::test]
async fn jobs_nobody_runs_wait_ready_and_due_on_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.dispatcher.enabled = false;
    c.dispatcher.push_delay_ms = 50;
    let server = TestServer::start(c).await;
    let empty = scrape(&server).await;
    assert_eq!((jobs(&empty, "push", "ready"), sample(&empty, "njia_jobs_due", &[])), (0.0, 0.0));
    assert_eq!(sample(&empty, "njia_jobs_oldest_due_age_seconds", &[]), 0.0);
    for text in common::paid_walk("2") {
        server.post_form("/ussd/africastalking", &at_hop("metrics-wait-1", "+254711001502", "*384#", &text)).await;
    }
    let text = scrape(&server).await;
    assert_eq!(jobs(&text, "push", "ready"), 1.0, "{text}");
    eventually("the push is due and waiting", WAIT, || async {
        let text = scrape(&server).await;
        sample(&text, "njia_jobs_due", &[]) == 1.0 && sample(&text, "njia_jobs_oldest_due_age_seconds", &[]) > 0.0
    })
    .await;
    let text = scrape(&server).await;
    for kind in ["push", "query", "deliver", "notify", "send"] {
        assert_eq!(jobs(&text, kind, "running") + jobs(&text, kind, "dead"), 0.0, "{kind}");
    }
    server.stop().await;
}

/// Daraja throttling every push ("Spike Arrest Violation"): each push counts as an `error`,
/// the ratio the `NjiaDarajaFailing` alert watches.
#[tokio::test]
async fn a_throttling_daraja_counts_push_errors() {
    let (server, (daraja, _agency, _sms), _dir) = production_server(|_| {}).await;
    daraja.set_push_behaviour(PushBehaviour::SpikeArrest);
    let before = scrape(&server).await;
    let walked = walk(server.addr, "metrics-daraja-1", "+254711001503", "2").await;
    assert!(walked.is_some(), "the walk ends with the received screen");
    eventually("a failed push is counted", WAIT, || async {
        calls(&scrape(&server).await, "daraja", "push", "error") > calls(&before, "daraja", "push", "error")
    })
    .await;
    server.stop().await;
}

/// The line of `njia_build_info`.
/// The console's simulator is a sandbox beside the live server (`RunOptions::beside_live`): its
/// hops, its channel's requests, its lookups, jobs and simulated payments count in a registry
/// of its own, which its own `/metrics` shows exactly (the process's registry holds every
/// other test's figures), and it shows none of the live server's gauges. So a walk in the
/// simulator never moves the live figures or fires their alerts.
#[tokio::test]
async fn a_sandbox_beside_the_live_server_counts_in_a_registry_of_its_own() {
    // A live server in the same process, walked first: whatever runs alone, the process's
    // registry holds hops and gauges that are not the sandbox's.
    let live_dir = tempfile::tempdir().unwrap();
    let live = TestServer::start(config(live_dir.path())).await;
    for text in ["", "2"] {
        let (status, _) =
            live.post_form("/ussd/africastalking", &at_hop("apart-0", "+254711000800", "*384#", text)).await;
        assert_eq!(status, 200);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.dispatcher.sandbox_pin_delay_ms = 0;
    let options = njia::server::RunOptions { beside_live: true, ..Default::default() };
    let sandbox = TestServer::start_with(c, options).await;
    let mut end = String::new();
    for text in ["", "2", "2*1", "2*1*KAJIADO/1234", "2*1*KAJIADO/1234*1"] {
        end = sandbox.post_form("/ussd/africastalking", &at_hop("apart-1", "+254711000801", "*384#", text)).await.1;
    }
    assert!(end.starts_with("END Request NJ-"), "{end}");
    // The simulated citizen pays at once: the push job, then the callback's result.
    let counted = |text: &str| {
        sample(text, "njia_payment_results_total", &["code=\"0\""]) == 1.0
            && sample(text, "njia_jobs_total", &["kind=\"push\"", "result=\"done\""]) == 1.0
    };
    eventually("the simulated payment is counted", WAIT, || async { counted(&scrape(&sandbox).await) }).await;
    let text = scrape(&sandbox).await;
    assert_eq!(sample(&text, "njia_hops_total", &["outcome=\"continue\""]), 4.0, "{text}");
    assert_eq!(sample(&text, "njia_hops_total", &["outcome=\"end\""]), 1.0);
    assert_eq!(sample(&text, "njia_lookups_total", &["outcome=\"found\""]), 1.0);
    let ch = "channel=\"africastalking\"";
    assert_eq!(sample(&text, "njia_channel_requests_total", &[ch, "status=\"200\""]), 5.0);
    assert_eq!(sample(&text, "njia_channel_request_duration_seconds_count", &[ch]), 5.0);
    assert!(!text.contains("njia_sessions_live "), "the live server's gauges are not the sandbox's: {text}");
    assert!(scrape(&live).await.contains("njia_sessions_live "));
    sandbox.stop().await;
    live.stop().await;
}

fn build_info(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("njia_build_info{"))
        .unwrap_or_else(|| panic!("no build info in\n{text}"))
        .to_owned()
}

/// `njia_build_info` names the version and each menu's and catalogue's version, and a reload
/// of an edited catalogue changes both (a refused reload changes nothing).
#[tokio::test]
async fn build_info_follows_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::editable::server(dir.path()).await;
    let get = || async {
        let (status, _, body) = exchange_with(server.addr, "GET", "/metrics", FORM, &[ADMIN], "").await.unwrap();
        assert_eq!(status, 200);
        build_info(&body)
    };
    let before = get().await;
    assert!(before.starts_with(&format!("njia_build_info{{version=\"{}\",", env!("CARGO_PKG_VERSION"))), "{before}");
    assert!(before.contains("menus=\"ecitizen@") && before.contains("catalogues=\"ecitizen@"), "{before}");
    assert!(before.ends_with("} 1"), "{before}");
    let lands = dir.path().join("menus/catalogue/lands.toml");
    let text = std::fs::read_to_string(&lands).unwrap();
    std::fs::write(&lands, format!("# reviewed for #15\n{text}")).unwrap();
    let (status, _, body) = exchange_with(server.addr, "POST", "/admin/reload", FORM, &[ADMIN], "").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let after = get().await;
    let label = |line: &str, name: &str| {
        let from = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        line[from..].split('"').next().unwrap().to_owned()
    };
    assert_ne!(label(&before, "menus"), label(&after, "menus"), "the menu's version covers its catalogue");
    assert_ne!(label(&before, "catalogues"), label(&after, "catalogues"));
    // A refused reload leaves the set, and its versions, as they were.
    edit(&dir.path().join("menus/ecitizen.toml"), "goto = \"agencies\"", "goto = \"agencys\"");
    let (status, _, _) = exchange_with(server.addr, "POST", "/admin/reload", FORM, &[ADMIN], "").await.unwrap();
    assert_eq!(status, 422);
    assert_eq!(get().await, after);
    server.stop().await;
}

/// Every metric name the shipped alert rules, their unit tests and the dashboard use is one a
/// production server serves (a renamed metric cannot leave an alert silently watching nothing),
/// and the dashboard is JSON with a panel for each thing an operator watches.
#[tokio::test]
async fn the_alerts_and_the_dashboard_use_only_served_metrics() {
    let (server, _world, _dir) = production_server(|_| {}).await;
    let text = scrape(&server).await;
    // Each sample's name (`…_bucket` of a histogram among them) and each family's.
    let served: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| match l.strip_prefix("# TYPE ") {
            Some(family) => family.split(' ').next(),
            None if l.starts_with('#') || l.is_empty() => None,
            None => l.split(['{', ' ']).next(),
        })
        .collect();
    let root = common::repo().join("deploy");
    let files = ["prometheus/njia-alerts.yml", "prometheus/njia-alerts.test.yml", "grafana/njia-dashboard.json"];
    for file in files {
        let source = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let used = metric_names(&source);
        assert!(!used.is_empty(), "{file} names no metric");
        for name in used {
            assert!(served.contains(name.as_str()), "{file} uses {name}, which /metrics does not serve");
        }
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("grafana/njia-dashboard.json")).unwrap()).unwrap();
    let titles: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .map(|p| p["title"].as_str().unwrap_or_default().to_lowercase())
        .collect();
    for topic in ["hops", "latency", "jobs", "payments", "sms", "dead letters", "outbound"] {
        assert!(titles.iter().any(|t| t.contains(topic)), "no panel about {topic}: {titles:?}");
    }
    server.stop().await;
}

/// Every `njia_…` word of `source`.
fn metric_names(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find("njia_") {
        let word: String =
            rest[at..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        // The name of an alert's group or a dashboard's uid is not a metric: only words that
        // begin where a word begins and are not preceded by a letter.
        let starts_word = rest[..at].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
        if starts_word {
            names.insert(word.clone());
        }
        rest = &rest[at + word.len().max(5)..];
    }
    names
}

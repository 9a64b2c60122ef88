//! Personal data retention (#15) in the real server and from the command line: the server
//! purges what is older than `retention_days` on its own, by its clock (a manual one here,
//! moved past the retention instead of waited through); `njia requests show` then shows the
//! request as purged; `njia purge --dry-run` counts and changes nothing, `njia purge` finds
//! nothing left. The store's purge itself, on both stores, is in `store.rs`.

use std::path::Path;
use std::time::Duration;

use njia::clock::ManualClock;
use njia::lifecycle::{JobState, RequestStatus};
use njia::server::RunOptions;
use njia::store::prelude::*;
use njia::store::sqlite::SqliteStore;
use njia::types::Reference;

use crate::common::doubles::eventually;
use crate::common::{TestServer, at_hop, config, njia, paid_walk};

/// Runs `njia` with `args` and the data directory `data`; its status and what it printed.
fn run(args: &[&str], data: &Path) -> (bool, String) {
    let out = njia().args(args).arg("--data-dir").arg(data).output().expect("run njia");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_purges_finished_requests_past_retention_by_its_clock() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = config(&data);
    cfg.retention_days = 1;
    cfg.dispatcher.push_delay_ms = 0;
    cfg.dispatcher.sandbox_pin_delay_ms = 0;
    // The checks a push plans (queries, the unknown-push notice) due at once, so the finished
    // request has no job left to run soon after its receipt; until then it is not purged.
    cfg.dispatcher.query_delays_ms = vec![0];
    cfg.dispatcher.unknown_notice_ms = 0;
    let clock = ManualClock::new();
    let options = RunOptions { clock: clock.clone().into(), ..RunOptions::default() };

    // A citizen pays; the sandbox settles, delivers and notifies: the request is finished.
    let server = TestServer::start_with(cfg.clone(), options.clone()).await;
    let mut last = String::new();
    for text in paid_walk("2") {
        last = server.post_form("/ussd/africastalking", &at_hop("ret-1", "+254711000333", "*384#", &text)).await.1;
    }
    let at = last.find("NJ-").unwrap_or_else(|| panic!("no reference in {last:?}"));
    let reference = Reference::parse(&last[at..at + 8]).expect("a reference");
    let store = SqliteStore::open_existing(&data).unwrap();
    eventually("the request is notified, with no job left to run", Duration::from_secs(20), || async {
        let Some(r) = store.request(&reference).await.ok().flatten() else { return false };
        let jobs = store.jobs(None, Some(r.id), 100).await.unwrap_or_default();
        r.status == RequestStatus::Notified.as_str() && jobs.iter().all(|j| j.state == JobState::Done)
    })
    .await;
    // Within its retention the server keeps it whole (it purged once already, at start).
    let kept = store.request(&reference).await.unwrap().unwrap();
    assert_eq!((kept.msisdn.map(|m| m.digits()), kept.purged_at_ms), (Some("254711000333".to_owned()), None));
    let (ok, dry) = run(&["purge", "--dry-run", "--older-than", "1"], &data);
    assert!(ok, "{dry}");
    assert!(dry.starts_with("would purge (dry run, nothing changed): personal data older than 1 days"), "{dry}");
    assert!(dry.contains("\n  requests         0\n"), "{dry}");

    // What reconciliation reads of the payment, before the purge. (Whether the sandbox's
    // receipt or its status query settled the payment first decides whether there is a
    // receipt; either way the purge must keep what there is.)
    let paid: Vec<_> = store
        .attempts(kept.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.amount_kes, a.status, a.checkout_request_id, a.receipt, a.result_code))
        .collect();
    assert!(!paid.is_empty(), "the request was paid");

    // A day and a bit later by the server's clock, the next round purges it.
    clock.advance(Duration::from_secs(26 * 3600));
    eventually("the request is purged", Duration::from_secs(30), || async {
        store.request(&reference).await.ok().flatten().is_some_and(|r| r.msisdn.is_none())
    })
    .await;
    server.stop().await;

    let r = store.request(&reference).await.unwrap().unwrap();
    assert_eq!((r.status.as_str(), r.fields.len()), ("notified", 0));
    assert!(r.purged_at_ms.is_some_and(|at| at >= clock.now_ms() - 26 * 3600 * 1000));
    let attempts = store.attempts(r.id).await.unwrap();
    let still: Vec<_> = attempts
        .iter()
        .map(|a| (a.amount_kes, a.status, a.checkout_request_id.clone(), a.receipt.clone(), a.result_code))
        .collect();
    assert_eq!(still, paid, "amount, status, checkout id, receipt and result stay for reconciliation");
    assert!(attempts.iter().all(|a| a.msisdn.is_none()));
    let sms = store.sms(Some(r.id), 10).await.unwrap();
    assert!(!sms.is_empty() && sms.iter().all(|s| s.record.msisdn.is_none() && s.record.text.is_empty()));

    let (ok, shown) = run(&["requests", "show", reference.as_str()], &data);
    assert!(ok, "{shown}");
    assert!(shown.contains("  phone purged  language"), "{shown}");
    assert!(shown.contains("personal data purged"), "{shown}");
    assert!(!shown.contains("333"), "no trace of the number: {shown}");
    let (ok, listed) = run(&["sms", "list"], &data);
    assert!(ok && listed.contains("to purged"), "{listed}");
    let (ok, again) = run(&["purge", "--older-than", "1"], &data);
    assert!(ok, "{again}");
    assert!(again.starts_with("purged: personal data older than 1 days"), "{again}");
    assert!(again.contains("\n  requests         0\n"), "nothing is left to purge: {again}");
}

#[test]
fn purge_refuses_when_retention_is_off_unless_told_how_old() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("njia.toml");
    std::fs::write(&file, "retention_days = 0\n").unwrap();
    let out = njia().args(["purge", "--config"]).arg(&file).arg("--data-dir").arg(dir.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("retention_days is 0"), "{err}");
    let out = njia().args(["purge", "--older-than", "0"]).arg("--data-dir").arg(dir.path()).output().unwrap();
    assert!(!out.status.success(), "a purge of everything finished up to now is refused");
}

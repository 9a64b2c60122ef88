//! The hub with a slow agency backend (a lookup double that answers too late), and the server
//! refusing to start on broken menus.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use njia::BoxFuture;
use njia::engine::{LookupAnswer, LookupCall};
use njia::hub::{Hop, HopInput, Hub};
use njia::lookup::{Lookup, LookupError};
use njia::session::MemorySessions;
use njia::store::sqlite::SqliteStore;
use njia::types::{Msisdn, SessionKey};

/// An agency backend that takes `delay` to answer, then answers from the shipped data.
struct SlowBackend {
    delay: Duration,
    files: njia::lookup::DataFiles,
}

impl Lookup for SlowBackend {
    fn call<'a>(&'a self, _caller: Msisdn, call: &'a LookupCall) -> BoxFuture<'a, Result<LookupAnswer, LookupError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.files.answer(call)
        })
    }
}

fn hub(dir: &std::path::Path, delay: Duration) -> Hub {
    let root = common::repo();
    common::hub(
        MemorySessions::new(Duration::from_secs(180), Duration::from_secs(300), 1000),
        Arc::new(SqliteStore::open(dir).unwrap()),
        Arc::new(SlowBackend { delay, files: njia::lookup::DataFiles::load(&root.join("menus/lookups")).0 }),
        Duration::from_millis(100),
    )
}

fn hop(text: &str) -> Hop {
    Hop {
        key: SessionKey::new(Arc::from("test"), "slow-1").unwrap(),
        msisdn: Msisdn::parse("+254711000777").unwrap(),
        service_code: "*384#".into(),
        input: HopInput::Cumulative(text.into()),
        limit: 160,
        menus: None,
    }
}

#[tokio::test]
async fn a_lookup_past_its_deadline_shows_an_apology_and_keeps_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let slow = hub(dir.path(), Duration::from_secs(30));
    let started = std::time::Instant::now();
    for text in ["", "1", "1*3"] {
        slow.hop(hop(text)).await;
    }
    let reply = slow.hop(hop("1*3*A123456789B")).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the deadline cut the 30 s lookup short");
    assert!(!reply.end);
    assert!(
        reply.text.starts_with("Samahani, huduma haipatikani kwa sasa. Jaribu tena.\nWeka PIN ya KRA"),
        "{}",
        reply.text
    );
    // The session goes on: the next try with a backend that answers in time completes it.
    let fast = Hub {
        lookups: Arc::new(SlowBackend {
            delay: Duration::ZERO,
            files: njia::lookup::DataFiles::load(&common::repo().join("menus/lookups")).0,
        }),
        ..slow
    };
    let reply = fast.hop(hop("1*3*A123456789B*A123456789B")).await;
    assert_eq!(reply.text, "PIN A123456789B: Wanjiku Kamau. Hali: inatumika.");
    assert!(reply.end);
}

#[tokio::test]
async fn serve_refuses_broken_menus_with_the_checker_problems() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::repo().join("tests/fixtures/check/unknown-screen");
    let config = njia::config::Config {
        data_dir: dir.path().to_path_buf(),
        menus_dir: fixture.join("menus"),
        locales_dir: fixture.join("locales"),
        ..njia::config::Config::default()
    };
    match njia::server::build(&config).await {
        Err(njia::server::StartError::Check(problems)) => {
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            assert!(text.iter().any(|p| p.contains("menus/m.toml:") && p.contains("unknown screen")), "{text:#?}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a broken menu must not serve"),
    }
}

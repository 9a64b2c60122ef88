//! Channel authentication against the real server: a shared-secret header, basic auth and an
//! IP allow-list (with `X-Forwarded-For` believed only from a trusted proxy); refused requests
//! get 401/403 and never reach a session; unconfigured channels are not served once channels
//! are configured; and the server will not listen beyond loopback with an open channel.

use crate::common;

use std::sync::atomic::Ordering;

use common::{TestServer, at_hop, config, exchange_with};
use njia::config::{BasicAuthSection, ChannelSection, Config, HeaderAuthSection};

const FORM: &str = "application/x-www-form-urlencoded";

fn with_channels(dir: &std::path::Path) -> Config {
    let mut c = config(dir);
    c.channels.insert(
        "africastalking".into(),
        ChannelSection {
            header: Some(HeaderAuthSection { name: "X-Njia-Key".into(), secret_env: "T_AT_KEY".into() }),
            ..ChannelSection::default()
        },
    );
    c.channels.insert(
        "safaricom".into(),
        ChannelSection {
            basic: Some(BasicAuthSection { user: "safaricom".into(), password_env: "T_SF_PASSWORD".into() }),
            allow: vec!["10.0.0.0/8".into()],
            trusted_proxies: vec!["127.0.0.1".into()],
            ..ChannelSection::default()
        },
    );
    c.secrets.insert("T_AT_KEY".into(), "at-s3cret".into());
    c.secrets.insert("T_SF_PASSWORD".into(), "sf-pw".into());
    c
}

#[tokio::test]
async fn refused_requests_get_401_or_403_and_reach_no_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(with_channels(dir.path())).await;
    let hop = at_hop("auth-1", "+254711000301", "*384#", "");
    let at = |headers: &'static [(&'static str, &'static str)]| {
        let hop = hop.clone();
        let addr = server.addr;
        async move { exchange_with(addr, "POST", "/ussd/africastalking", FORM, headers, &hop).await.unwrap() }
    };
    assert_eq!(at(&[]).await.0, 401);
    assert_eq!(at(&[("X-Njia-Key", "wrong")]).await.0, 401);
    let (status, _, body) = at(&[("X-Njia-Key", "at-s3cret")]).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("CON Chagua lugha"), "{body}");
    // The end-of-session route of the same channel is guarded too.
    let (status, _, _) =
        exchange_with(server.addr, "POST", "/ussd/africastalking/events", FORM, &[], "sessionId=x&status=Success")
            .await
            .unwrap();
    assert_eq!(status, 401);

    // Safaricom: basic auth and an allow-list; the test connects from 127.0.0.1, a trusted
    // proxy, so the forwarded address decides.
    let q = "/ussd/safaricom?ORIG=254711000302&DEST=384&SESSION_ID=auth-2&USSD_PARAMS=";
    // "Basic c2FmYXJpY29tOnNmLXB3" is safaricom:sf-pw.
    let sf = |headers: &'static [(&'static str, &'static str)]| {
        let addr = server.addr;
        async move { exchange_with(addr, "GET", q, FORM, headers, "").await.unwrap().0 }
    };
    assert_eq!(sf(&[("Authorization", "Basic c2FmYXJpY29tOnNmLXB3")]).await, 403, "127.0.0.1 itself is not allowed");
    assert_eq!(sf(&[("Authorization", "Basic c2FmYXJpY29tOnNmLXB3"), ("X-Forwarded-For", "41.90.1.1")]).await, 403);
    assert_eq!(sf(&[("X-Forwarded-For", "10.20.30.40")]).await, 401, "allowed address, no password");
    assert_eq!(sf(&[("Authorization", "Basic c2FmYXJpY29tOnNmLXB3"), ("X-Forwarded-For", "10.20.30.40")]).await, 200);

    // A dialect not configured is not served at all.
    let hubtel = r#"{"Type":"initiation","Message":"*384#","Mobile":"233244000001","SessionId":"h","Sequence":1}"#;
    assert_eq!(
        exchange_with(server.addr, "POST", "/ussd/hubtel", "application/json", &[], hubtel).await.unwrap().0,
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn the_refused_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let app = njia::server::build(&with_channels(dir.path())).await.unwrap();
    let state = std::sync::Arc::clone(&app.state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(njia::server::serve(listener, app, async {
        let _ = rx.await;
    }));
    for _ in 0..3 {
        let hop = at_hop("auth-3", "+254711000303", "*384#", "");
        assert_eq!(exchange_with(addr, "POST", "/ussd/africastalking", FORM, &[], &hop).await.unwrap().0, 401);
    }
    assert_eq!(state.denied.load(Ordering::Relaxed), 3);
    let _ = tx.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn no_listening_beyond_loopback_with_an_open_channel() {
    let dir = tempfile::tempdir().unwrap();
    let open = njia::server::build(&config(dir.path())).await.unwrap();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = njia::server::serve(listener, open, async {}).await.expect_err("refused");
    let msg = err.to_string();
    assert!(msg.contains("have no authentication") && msg.contains("africastalking"), "{msg}");

    // Every served channel authenticated: it listens.
    let dir2 = tempfile::tempdir().unwrap();
    let closed = njia::server::build(&with_channels(dir2.path())).await.unwrap();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    njia::server::serve(listener, closed, async {}).await.expect("listens when every channel is authenticated");

    // A channel section for a dialect that does not exist is a clear start-up error.
    let mut bad = config(dir.path());
    bad.channels.insert("vodafone".into(), ChannelSection::default());
    match njia::server::build(&bad).await {
        Err(njia::server::StartError::Config(msg)) => assert!(msg.contains("no dialect \"vodafone\""), "{msg}"),
        _ => panic!("an unknown channel must refuse to start"),
    }
}

/// #11: an allow list that covers every address (`0.0.0.0/0`, `::/0`) refuses no one, so it
/// is no authentication: the server will not listen beyond loopback with it.
#[tokio::test]
async fn an_allow_all_list_is_no_authentication() {
    for everything in [vec!["0.0.0.0/0"], vec!["::/0"], vec!["196.201.214.0/24", "0.0.0.0/0"]] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.channels.insert(
            "africastalking".into(),
            ChannelSection { allow: everything.iter().map(|s| s.to_string()).collect(), ..ChannelSection::default() },
        );
        let app = njia::server::build(&c).await.unwrap();
        let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
        let err = njia::server::serve(listener, app, async {}).await.expect_err("refused");
        assert!(err.to_string().contains("have no authentication"), "{everything:?}: {err}");
    }
}

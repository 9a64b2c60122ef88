//! Channels are configuration: a dialect served at a path with its own screen limit, the menus
//! it may reach and its authentication. Two channels of one dialect never share a session; a
//! channel reaches only its menus; every menu is checked at the limit of each channel that may
//! reach it; and a configuration that cannot work is refused at start with a clear reason.

use crate::common;

use common::{TestServer, at_hop, config};
use njia::config::{ChannelSection, Config};

fn channel(dialect: &str, path: &str) -> ChannelSection {
    ChannelSection { dialect: Some(dialect.into()), path: Some(path.into()), ..ChannelSection::default() }
}

#[tokio::test]
async fn two_channels_of_one_dialect_at_their_own_paths_keep_their_own_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.channels.insert("at-ke".into(), channel("africastalking", "/ussd/at/ke"));
    c.channels.insert("at-tz".into(), channel("africastalking", "/ussd/at/tz"));
    let server = TestServer::start(c).await;
    let phone = "+254711000601";
    let (status, body) = server.post_form("/ussd/at/ke", &at_hop("same-id", phone, "*384#", "")).await;
    assert_eq!((status, body.starts_with("CON Chagua lugha")), (200, true), "{body}");
    let (_, body) = server.post_form("/ussd/at/ke", &at_hop("same-id", phone, "*384#", "2")).await;
    assert!(body.starts_with("CON Welcome to e-Citizen"), "{body}");
    // The same session id on the other channel is another session: it starts afresh
    // (English is remembered for the phone, so no language question).
    let (_, body) = server.post_form("/ussd/at/tz", &at_hop("same-id", phone, "*384#", "")).await;
    assert!(body.starts_with("CON Welcome to e-Citizen"), "{body}");
    // Its end-of-session route lives under its own path.
    let (status, _) = server.post_form("/ussd/at/tz/events", "sessionId=same-id&status=Success").await;
    assert_eq!(status, 200);
    // Dialects not configured are not served.
    let (status, _) = server.post_form("/ussd/africastalking", &at_hop("x", phone, "*384#", "")).await;
    assert_eq!(status, 404);
    let (status, _) = server.request("GET", "/ussd/at/ke", "text/plain", "").await;
    assert_eq!(status, 405);
    server.stop().await;
}

#[tokio::test]
async fn a_channel_reaches_only_its_menus() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.channels.insert("open".into(), ChannelSection { dialect: Some("arkesel".into()), ..ChannelSection::default() });
    c.channels.insert(
        "closed".into(),
        ChannelSection { dialect: Some("africastalking".into()), menus: Some(vec![]), ..ChannelSection::default() },
    );
    let server = TestServer::start(c).await;
    let (_, body) = server.post_form("/ussd/closed", &at_hop("c-1", "+254711000602", "*384#", "")).await;
    assert!(body.starts_with("END Samahani, huduma hii haipo"), "{body}");
    let hop = r#"{"sessionID":"o-1","userID":"N","newSession":true,"msisdn":"254711000603","userData":"*384#"}"#;
    let (_, body) = server.request("POST", "/ussd/open", "application/json", hop).await;
    assert!(body.contains("Chagua lugha"), "{body}");
    server.stop().await;
}

async fn start_error(c: Config) -> String {
    match njia::server::build(&c).await {
        Ok(_) => panic!("a configuration that cannot work started"),
        Err(njia::server::StartError::Check(problems)) => {
            problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n")
        }
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn menus_are_checked_at_each_channels_limit_and_bad_channels_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let with = |name: &str, section: ChannelSection| {
        let mut c = config(dir.path());
        c.channels.insert(name.into(), section);
        c
    };
    // A narrow channel: the shipped menu does not fit 70 characters, and the checker says which
    // channel sets the limit.
    let tiny = ChannelSection { dialect: Some("hubtel".into()), screen_limit: Some(70), ..ChannelSection::default() };
    let err = start_error(with("tiny", tiny.clone())).await;
    assert!(err.contains("over the limit of 70 (channel tiny)"), "{err}");
    // The same channel restricted to no menu checks nothing at its limit (and warns instead).
    let nothing = ChannelSection { menus: Some(vec![]), ..tiny };
    let mut c = with("tiny", nothing);
    c.channels.insert("wide".into(), ChannelSection { dialect: Some("beem".into()), ..ChannelSection::default() });
    assert!(njia::server::build(&c).await.is_ok());

    for (name, section, reason) in [
        ("x", ChannelSection { dialect: Some("smpp".into()), ..ChannelSection::default() }, "no dialect \"smpp\""),
        ("x", channel("hubtel", "/payments/stk"), "overlaps the server's own /payments"),
        ("x", channel("hubtel", "ussd"), "must look like /ussd/name"),
        (
            "x",
            ChannelSection { dialect: Some("nalo".into()), screen_limit: Some(20), ..ChannelSection::default() },
            "screen_limit 20 is not between",
        ),
        (
            "x",
            ChannelSection {
                dialect: Some("nalo".into()),
                menus: Some(vec!["nope".into()]),
                ..ChannelSection::default()
            },
            "no menu with id \"nope\"",
        ),
    ] {
        let err = start_error(with(name, section)).await;
        assert!(err.contains(reason), "want {reason:?} in {err}");
    }
    let mut c = with("a", channel("hubtel", "/ussd/gh"));
    c.channels.insert("b".into(), channel("arkesel", "/ussd/gh"));
    let err = start_error(c).await;
    assert!(err.contains("overlaps channel"), "{err}");
}

/// The SMS callbacks are a channel like any other: configured with an allow-list that does
/// not hold the caller, an inbound SMS is refused before it is recorded.
#[tokio::test]
async fn the_sms_channel_is_authenticated_like_the_ussd_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.channels.insert(
        "sms".into(),
        ChannelSection {
            dialect: Some("africastalking-sms".into()),
            path: Some("/sms/africastalking".into()),
            allow: vec!["196.201.214.0/24".into()],
            ..ChannelSection::default()
        },
    );
    c.channels.insert("africastalking".into(), ChannelSection::default());
    let server = TestServer::start(c).await;
    let inbound = "from=%2B254711000604&to=22384&text=HALI+NJ-7K2QX&date=2026-11-29+10%3A00%3A00&id=ATXid_1";
    let (status, _) = server.post_form("/sms/africastalking/inbound", inbound).await;
    assert_eq!(status, 403);
    let (status, _) = server.post_form("/sms/africastalking/delivery", "id=ATXid_1&status=Success").await;
    assert_eq!(status, 403);
    // The USSD channel next to it is open (loopback only).
    let (status, _) = server.post_form("/ussd/africastalking", &at_hop("s-1", "+254711000604", "*384#", "")).await;
    assert_eq!(status, 200);
    server.stop().await;
}

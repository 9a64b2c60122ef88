//! Africa's Talking USSD against the real server: the documented request shapes as a table,
//! then whole walks (cumulative input, retries, dial-string extras, durable submit, language).

use crate::common;

use common::{TestServer, at_hop, config, form};

/// One request and what must come back.
struct Case {
    label: &'static str,
    path: &'static str,
    body: String,
    status: u16,
    /// The reply starts with this.
    starts: &'static str,
    /// And contains this.
    contains: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        // §A.1 first hop shape (placeholder digits filled in); *123# is not bound here.
        Case {
            label: "documented first hop, unbound code",
            path: "/ussd/africastalking",
            body: form(&[
                ("sessionId", "ATUid_abc123"),
                ("serviceCode", "*123#"),
                ("phoneNumber", "+254711000111"),
                ("text", ""),
            ]),
            status: 200,
            starts: "END ",
            contains: "*384#",
        },
        Case {
            label: "first hop on *384#: language question",
            path: "/ussd/africastalking",
            body: at_hop("ATUid_t1", "+254711000112", "*384#", ""),
            status: 200,
            starts: "CON Chagua lugha / Choose language",
            contains: "2. English",
        },
        // §A.1 shared-code extension: text=4*1 on the first hop is applied as two inputs
        // (status, then "enter another reference"); the language question is skipped.
        Case {
            label: "dial-string extras on the first hop",
            path: "/ussd/africastalking",
            body: at_hop("ATUid_x", "+254722000000", "*384#", "4*1"),
            status: 200,
            starts: "CON Weka nambari ya kumbukumbu",
            contains: "NJ-7K2QX",
        },
        Case {
            label: "extras inside the service code",
            path: "/ussd/africastalking",
            body: at_hop("ATUid_y", "+254722000001", "*384*3#", ""),
            status: 200,
            starts: "CON Weka PIN ya KRA",
            contains: "",
        },
        // §A.1 end-of-session notification.
        Case {
            label: "end-of-session notification",
            path: "/ussd/africastalking/events",
            body: form(&[
                ("date", "2025-09-29 12:00:00"),
                ("sessionId", "ATUid_abc123"),
                ("serviceCode", "*123#"),
                ("networkCode", "63902"),
                ("phoneNumber", "+254711000111"),
                ("status", "Incomplete"),
                ("cost", "KES 0.10"),
                ("durationInMillis", "42000"),
                ("hopsCount", "3"),
                ("input", "1*1"),
                ("lastAppResponse", "CON Enter amount"),
                ("errorMessage", ""),
            ]),
            status: 200,
            starts: "OK",
            contains: "",
        },
        Case {
            label: "missing sessionId",
            path: "/ussd/africastalking",
            body: form(&[("serviceCode", "*384#"), ("phoneNumber", "+254711000111"), ("text", "")]),
            status: 400,
            starts: "bad request",
            contains: "sessionId",
        },
        Case {
            label: "phone number that is not one",
            path: "/ussd/africastalking",
            body: at_hop("s-bad-phone", "+254711XXXYYY", "*384#", ""),
            status: 400,
            starts: "bad request",
            contains: "phoneNumber",
        },
        Case {
            label: "missing serviceCode",
            path: "/ussd/africastalking",
            body: form(&[("sessionId", "s2"), ("phoneNumber", "+254711000111"), ("text", "")]),
            status: 400,
            starts: "bad request",
            contains: "serviceCode",
        },
        Case {
            label: "JSON body instead of a form",
            path: "/ussd/africastalking",
            body: r#"{"sessionId":"s1","phoneNumber":"+254711000111"}"#.into(),
            status: 400,
            starts: "bad request",
            contains: "sessionId",
        },
        Case {
            label: "end notification without status",
            path: "/ussd/africastalking/events",
            body: form(&[("sessionId", "s3")]),
            status: 400,
            starts: "bad request",
            contains: "status",
        },
        Case {
            label: "end notification with a non-numeric hop count",
            path: "/ussd/africastalking/events",
            body: form(&[("sessionId", "s3"), ("status", "Success"), ("hopsCount", "many")]),
            status: 400,
            starts: "bad request",
            contains: "hopsCount",
        },
    ]
}

#[tokio::test]
async fn documented_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await;
    let mut failures = Vec::new();
    for c in cases() {
        let (status, body) = server.post_form(c.path, &c.body).await;
        if status != c.status || !body.starts_with(c.starts) || !body.contains(c.contains) {
            failures.push(format!("{}: got {status} {body:?}", c.label));
        }
    }
    server.stop().await;
    assert!(failures.is_empty(), "failing cases:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await;
    let big = at_hop("s-big", "+254711000111", "*384#", &"1".repeat(20_000));
    let (status, _) = server.post_form("/ussd/africastalking", &big).await;
    assert_eq!(status, 413);
    let (status, body) = server.request("GET", "/healthz", "text/plain", "").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    server.stop().await;
}

/// Walks a whole land-rates payment with cumulative `text`, a telco retry of the submit hop,
/// and checks the request is in the database, once, by the time END arrives.
#[tokio::test]
async fn land_rates_walk_is_durable_and_retry_safe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await;
    let phone = "+254711223344";
    let sid = "ATUid_walk1";
    let hops = [
        ("", "CON Chagua lugha"),
        ("2", "CON Welcome to e-Citizen"),
        ("2*1", "CON Enter the land parcel number"),
        ("2*1*kajiado/1234", "CON KAJIADO/1234, Wanjiku Kamau\nRates due: KES 4,500"),
    ];
    for (text, want) in hops {
        let (status, body) = server.post_form("/ussd/africastalking", &at_hop(sid, phone, "*384#", text)).await;
        assert_eq!(status, 200);
        assert!(body.starts_with(want), "text={text:?}: {body:?}");
    }
    // A retry of the same hop returns the same screen and does not step.
    let (_, again) = server.post_form("/ussd/africastalking", &at_hop(sid, phone, "*384#", "2*1*kajiado/1234")).await;
    assert!(again.starts_with("CON KAJIADO/1234, Wanjiku Kamau"), "{again:?}");

    let submit = at_hop(sid, phone, "*384#", "2*1*kajiado/1234*1");
    let (_, end) = server.post_form("/ussd/africastalking", &submit).await;
    assert!(end.starts_with("END Request NJ-"), "{end:?}");
    assert!(end.contains("M-Pesa prompt for KES 4,500"), "{end:?}");
    let reference = &end[12..20];

    // The row is committed before the reply left: read it with a separate connection now.
    let conn = rusqlite::Connection::open(dir.path().join("njia.sqlite3")).expect("open db");
    let (service, amount, account, status): (String, String, String, String) = conn
        .query_row(
            "SELECT service, payment_amount, payment_account, status FROM requests WHERE reference = ?1",
            [reference],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("the request is stored");
    assert_eq!(
        (service.as_str(), amount.as_str(), account.as_str(), status.as_str()),
        ("land-rates", "4500", "KAJIADO/1234", "payment_pending")
    );
    // Its payment attempt and the job that will push it committed with it.
    let (attempt, job): (String, String) = conn
        .query_row(
            "SELECT a.status, j.kind FROM requests r JOIN payment_attempts a ON a.request_id = r.id \
             JOIN jobs j ON j.attempt_id = a.id WHERE r.reference = ?1",
            [reference],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the attempt and its push job are stored with the request");
    assert_eq!((attempt.as_str(), job.as_str()), ("created", "push"));

    // The telco retries the submit hop: same END, no second request.
    let (_, end2) = server.post_form("/ussd/africastalking", &submit).await;
    assert_eq!(end, end2);
    let n: i64 = conn.query_row("SELECT count(*) FROM requests", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 1);

    // The citizen checks the status by reference in a new session: language is remembered.
    let sid2 = "ATUid_walk2";
    let (_, first) = server.post_form("/ussd/africastalking", &at_hop(sid2, phone, "*384#", "")).await;
    assert!(first.starts_with("CON Welcome to e-Citizen"), "language remembered: {first:?}");
    let (_, mine) = server.post_form("/ussd/africastalking", &at_hop(sid2, phone, "*384#", "4")).await;
    assert_eq!(mine, format!("CON Choose a request:\n1. {reference}\n2. Enter another reference\n0. Back"));
    let (_, status_reply) = server.post_form("/ussd/africastalking", &at_hop(sid2, phone, "*384#", "4*1")).await;
    assert_eq!(status_reply, format!("END Request {reference} (land rates): awaiting payment."));

    // Typed by hand, case-insensitive: the same answer.
    let sid3 = "ATUid_walk2b";
    for text in ["", "4", "4*2"] {
        server.post_form("/ussd/africastalking", &at_hop(sid3, phone, "*384#", text)).await;
    }
    let text = format!("4*2*{}", reference.to_lowercase());
    let (_, typed) = server.post_form("/ussd/africastalking", &at_hop(sid3, phone, "*384#", &text)).await;
    assert_eq!(typed, format!("END Request {reference} (land rates): awaiting payment."));

    // Another number cannot read this request's status: a reference is not a password.
    let stranger = "+254733000001";
    let (_, _) = server.post_form("/ussd/africastalking", &at_hop("ATUid_other", stranger, "*384#", "4*1")).await;
    let text = format!("4*1*{reference}");
    let (_, refused) = server.post_form("/ussd/africastalking", &at_hop("ATUid_other", stranger, "*384#", &text)).await;
    assert!(refused.starts_with("CON Ombi hilo halijapatikana.\nWeka nambari ya kumbukumbu"), "{refused}");
    server.stop().await;

    // Durable across a restart: the language is still remembered.
    let server = TestServer::start(config(dir.path())).await;
    let (_, first) = server.post_form("/ussd/africastalking", &at_hop("ATUid_walk3", phone, "*384#", "")).await;
    assert!(first.starts_with("CON Welcome to e-Citizen"), "{first:?}");
    server.stop().await;
}

/// Invalid input shows the same screen with the reason in the user's language; `*` typed as
/// data is data; on an input screen whose pattern can never be `0` (a KRA PIN), `0` is Back
/// (#11: a citizen who chose the wrong service can go back).
#[tokio::test]
async fn bad_input_keeps_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await;
    let phone = "+254711000999";
    let sid = "ATUid_bad";
    let steps = [
        ("", "CON Chagua lugha"),
        ("1", "CON Karibu e-Citizen"),
        // The error line takes the title's place when both do not fit: options never move.
        ("1*9", "CON Chaguo si sahihi.\n1. Lipa ushuru wa ardhi"),
        ("1*9*3", "CON Weka PIN ya KRA"),
        ("1*9*3*X1", "CON PIN ya KRA si sahihi.\nWeka PIN ya KRA"),
        ("1*9*3*X1*0", "CON Karibu e-Citizen"),
        ("1*9*3*X1*0*3", "CON Weka PIN ya KRA (mfano A123456789B):\n0. Rudi"),
        ("1*9*3*X1*0*3*A1**", "CON PIN ya KRA si sahihi.\nWeka PIN ya KRA"),
        ("1*9*3*X1*0*3*A1***a123456789b", "END PIN A123456789B: Wanjiku Kamau. Hali: inatumika."),
    ];
    for (text, want) in steps {
        let (_, body) = server.post_form("/ussd/africastalking", &at_hop(sid, phone, "*384#", text)).await;
        assert!(body.starts_with(want), "text={text:?}: {body:?}");
    }
    // The middle of a session this server does not have (expired, or before a restart) is
    // not replayed from the start screen.
    let (_, lost) = server.post_form("/ussd/africastalking", &at_hop("ATUid_lost", phone, "*384#", "1*3*A12345")).await;
    assert_eq!(lost, "END Muda umekwisha. Piga *384# tena kuanza upya.");
    server.stop().await;
}

/// A session id belongs to the number that opened it; a late duplicate of an older hop does
/// not make the real last hop's retry step twice.
#[tokio::test]
async fn session_ids_are_bound_to_their_number_and_stale_hops_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The owner's first session is left open; the second must start at home, not with the
    // offer to continue the first (tests/it/resume.rs covers that).
    let server = TestServer::start(njia::config::Config { resume_window_secs: 0, ..config(dir.path()) }).await;
    let owner = "+254711000321";
    let sid = "ATUid_owned";
    for text in ["", "1", "1*1"] {
        server.post_form("/ussd/africastalking", &at_hop(sid, owner, "*384#", text)).await;
    }
    let (_, parcel) = server.post_form("/ussd/africastalking", &at_hop(sid, owner, "*384#", "1*1*KAJIADO/1234")).await;
    assert!(parcel.contains("Wanjiku Kamau"), "{parcel}");
    let (_, stranger) =
        server.post_form("/ussd/africastalking", &at_hop(sid, "+254722999999", "*384#", "1*1*KAJIADO/1234")).await;
    assert!(stranger.starts_with("END Samahani, kuna tatizo la kiufundi"), "{stranger}");
    assert!(!stranger.contains("Wanjiku"));

    let sid = "ATUid_stale";
    // The owner's language is remembered now: the first hop is the home menu.
    for text in ["", "5"] {
        server.post_form("/ussd/africastalking", &at_hop(sid, owner, "*384#", text)).await;
    }
    // A late duplicate of the first hop arrives, then the telco retries the real last hop.
    let (_, stale) = server.post_form("/ussd/africastalking", &at_hop(sid, owner, "*384#", "")).await;
    let (_, retry) = server.post_form("/ussd/africastalking", &at_hop(sid, owner, "*384#", "5")).await;
    assert!(stale.starts_with("CON Mashirika ya serikali"), "{stale}");
    assert_eq!(retry, stale, "the retry replays the agencies screen, it does not pick agency 5");
    server.stop().await;
}

/// Back, Home and pagination with stable numbering through the real endpoint.
#[tokio::test]
async fn navigation_and_pagination() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await;
    let phone = "+254711000555";
    let sid = "ATUid_nav";
    let hop = |text: &'static str| at_hop(sid, phone, "*384#", text);
    let (_, _) = server.post_form("/ussd/africastalking", &hop("")).await;
    let (_, home) = server.post_form("/ussd/africastalking", &hop("2")).await;
    let (_, page1) = server.post_form("/ussd/africastalking", &hop("2*5")).await;
    assert!(page1.contains("1. Kenya Revenue Authority") && page1.contains("98. More"), "{page1}");
    let (_, page2) = server.post_form("/ussd/africastalking", &hop("2*5*98")).await;
    assert!(page2.contains("0. Back"), "{page2}");
    let first_on_page2: usize =
        page2.lines().nth(1).and_then(|l| l.split('.').next()).and_then(|n| n.parse().ok()).expect("numbered");
    assert!(first_on_page2 > 1, "numbering continues across pages: {page2}");
    let (_, back) = server.post_form("/ussd/africastalking", &hop("2*5*98*0")).await;
    assert_eq!(back, page1);
    let (_, home_again) = server.post_form("/ussd/africastalking", &hop("2*5*98*0*00")).await;
    assert_eq!(home_again, home);
    let (_, again) = server.post_form("/ussd/africastalking", &hop("2*5*98*0*00*5")).await;
    assert_eq!(again, page1);
    // #11: numbering is stable, but only what the page shows can be chosen: 16 is not on
    // page 1, so typing it there is a wrong choice, never a jump to a screen not seen.
    let (_, off_page) = server.post_form("/ussd/africastalking", &hop("2*5*98*0*00*5*16")).await;
    assert!(off_page.starts_with("CON Invalid choice."), "{off_page}");
    assert!(off_page.contains("1. Kenya Revenue Authority"), "still page 1: {off_page}");
    let mut text = String::from("2*5*98*0*00*5*16");
    let mut page = off_page;
    while !page.lines().any(|l| l.starts_with("16. ")) {
        assert!(page.contains("98. More"), "16 is on some page: {page}");
        text.push_str("*98");
        page = server.post_form("/ussd/africastalking", &at_hop(sid, phone, "*384#", &text)).await.1;
    }
    text.push_str("*16");
    let (_, pick) = server.post_form("/ussd/africastalking", &at_hop(sid, phone, "*384#", &text)).await;
    assert!(pick.starts_with("END Judiciary services"), "16 on the page that shows it: {pick}");
    server.stop().await;
}

/// The same durable submit with PostgreSQL as the store: the row is committed before END.
#[tokio::test]
async fn submit_is_durable_on_postgres_too() {
    let db = common::create_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server =
        TestServer::start(njia::config::Config { database_url: Some(db.url.clone()), ..config(dir.path()) }).await;
    let (phone, sid) = ("+254711000888", "ATUid_pg");
    for text in ["", "2", "2*1", "2*1*kajiado/1234"] {
        server.post_form("/ussd/africastalking", &at_hop(sid, phone, "*384#", text)).await;
    }
    let (_, end) = server.post_form("/ussd/africastalking", &at_hop(sid, phone, "*384#", "2*1*kajiado/1234*1")).await;
    assert!(end.starts_with("END Request NJ-"), "{end}");
    let reference = &end[12..20];
    let client = common::pg_client(&db.url).await;
    let row = client
        .query_one("SELECT service, status, msisdn FROM requests WHERE reference = $1", &[&reference])
        .await
        .expect("the request is in PostgreSQL when END arrives");
    assert_eq!(
        (row.get::<_, &str>(0), row.get::<_, &str>(1), row.get::<_, i64>(2)),
        ("land-rates", "payment_pending", 254711000888)
    );
    let lang: String =
        client.query_one("SELECT locale FROM profiles WHERE msisdn = 254711000888", &[]).await.unwrap().get(0);
    assert_eq!(lang, "en");
    server.stop().await;
    drop(client);
    common::drop_database(db).await;
}

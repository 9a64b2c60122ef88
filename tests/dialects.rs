//! Every dialect against the real server: one table of documented examples per dialect (each
//! row a request and what must come back), and one walk of the same menu path through every
//! dialect that must show the same screens.

mod common;

use common::{TestServer, config};

/// One row: what the telco sends, the status, and text the reply must contain.
struct Case {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
    status: u16,
    contains: &'static [&'static str],
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

const SAFARICOM: &[Case] = &[
    Case {
        what: "vumi: a new session with empty USSD_PARAMS",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000501&DEST=384&SESSION_ID=sf-1&USSD_PARAMS=",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["CON Chagua lugha / Choose language"],
    },
    Case {
        what: "vumi: the next hop carries the history (1 = Kiswahili)",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000501&DEST=384&SESSION_ID=sf-1&USSD_PARAMS=1",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["CON Karibu e-Citizen"],
    },
    Case {
        what: "vumi: digits dialled with the code arrive in the first USSD_PARAMS (*384*5#)",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000502&DEST=384&SESSION_ID=sf-2&USSD_PARAMS=5",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["CON Mashirika ya serikali"],
    },
    Case {
        what: "a request without ORIG",
        method: "GET",
        path: "/ussd/safaricom?DEST=384&SESSION_ID=sf-3&USSD_PARAMS=",
        content_type: FORM,
        body: "",
        status: 400,
        contains: &["parameter 'ORIG' is required"],
    },
    Case {
        what: "a DEST that is not a code",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000503&DEST=%3Cscript%3E&SESSION_ID=sf-4&USSD_PARAMS=",
        content_type: FORM,
        body: "",
        status: 400,
        contains: &["DEST must be a code"],
    },
];

const AIRTEL: &[Case] = &[
    Case {
        what: "vumi: the first input is the code without * and # (384*5 is *384*5#)",
        method: "GET",
        path: "/ussd/airtel?SessionID=at-1&MSISDN=254733000901&MSC=airtel&input=384*5",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["Mashirika ya serikali"],
    },
    Case {
        what: "later hops carry the latest input only (98 = more)",
        method: "GET",
        path: "/ussd/airtel?SessionID=at-1&MSISDN=254733000901&MSC=airtel&input=98",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["Mashirika ya serikali", "0. Rudi"],
    },
    Case {
        what: "a menu choice with no session is not a code: the session is gone",
        method: "GET",
        path: "/ussd/airtel?SessionID=at-2&MSISDN=254733000902&MSC=airtel&input=hello",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["Piga *384# tena"],
    },
    Case {
        what: "the network cleans up a session",
        method: "GET",
        path: "/ussd/airtel?SessionID=at-1&msisdn=254733000901&clean=clean-session&error=522",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["OK"],
    },
    Case {
        what: "a request without a SessionID",
        method: "GET",
        path: "/ussd/airtel?MSISDN=254733000903&input=384",
        content_type: FORM,
        body: "",
        status: 400,
        contains: &["parameter 'SessionID' is required"],
    },
];

const BEEM: &[Case] = &[
    Case {
        what: "laravel-beem-africa test: initiate with request_id 0 and response 0",
        method: "POST",
        path: "/ussd/beem",
        content_type: JSON,
        body: r#"{"command":"initiate","msisdn":"255712345678","session_id":"4574","operator":"vodacom","payload":{"request_id":0,"response":0}}"#,
        status: 200,
        contains: &[r#""command":"continue""#, r#""request_id":1"#, r#""session_id":"4574""#, "Chagua lugha"],
    },
    Case {
        what: "continue with the latest input (1 = Kiswahili)",
        method: "POST",
        path: "/ussd/beem",
        content_type: JSON,
        body: r#"{"command":"continue","msisdn":"255712345678","session_id":"4574","operator":"vodacom","payload":{"request_id":1,"response":"1"}}"#,
        status: 200,
        contains: &[r#""command":"continue""#, "Karibu e-Citizen"],
    },
    Case {
        what: "the same request_id again is a retry",
        method: "POST",
        path: "/ussd/beem",
        content_type: JSON,
        body: r#"{"command":"continue","msisdn":"255712345678","session_id":"4574","operator":"vodacom","payload":{"request_id":1,"response":"1"}}"#,
        status: 200,
        contains: &["Karibu e-Citizen"],
    },
    Case {
        what: "the network terminates the session",
        method: "POST",
        path: "/ussd/beem",
        content_type: JSON,
        body: r#"{"command":"terminate","msisdn":"255712345678","session_id":"4574","operator":"vodacom","payload":{"request_id":2,"response":""}}"#,
        status: 200,
        contains: &[r#""command":"terminate""#],
    },
    Case {
        what: "an unknown command",
        method: "POST",
        path: "/ussd/beem",
        content_type: JSON,
        body: r#"{"command":"pause","msisdn":"255712345678","session_id":"4575","payload":{}}"#,
        status: 400,
        contains: &["command \"pause\" is not"],
    },
];

const HUBTEL: &[Case] = &[
    Case {
        what: "SDK README initiation: a code this server does not serve",
        method: "POST",
        path: "/ussd/hubtel",
        content_type: JSON,
        body: r#"{"Mobile":"233244234546","SessionId":"234567ityjhgwe654765utrye","ServiceCode":"7c920dc49b7a40588c657119ce599044","Type":"initiation","Message":"*711*23#","Operator":"mtn","Platform":"USSD"}"#,
        status: 200,
        contains: &[r#""Type":"Release""#, "huduma hii haipo"],
    },
    Case {
        what: "initiation of *384# with Sequence 1",
        method: "POST",
        path: "/ussd/hubtel",
        content_type: JSON,
        body: r#"{"Mobile":"233244000601","SessionId":"hb-1","ServiceCode":"384","Type":"initiation","Message":"*384#","Operator":"mtn","Sequence":1}"#,
        status: 200,
        contains: &[r#""Type":"Response""#, "Choose language"],
    },
    Case {
        what: "the next hop carries only the latest input",
        method: "POST",
        path: "/ussd/hubtel",
        content_type: JSON,
        body: r#"{"Mobile":"233244000601","SessionId":"hb-1","ServiceCode":"384","Type":"response","Message":"2","Sequence":2}"#,
        status: 200,
        contains: &[r#""Type":"Response""#, "Welcome to e-Citizen"],
    },
    Case {
        what: "the same Sequence again is a retry: the same screen, no step",
        method: "POST",
        path: "/ussd/hubtel",
        content_type: JSON,
        body: r#"{"Mobile":"233244000601","SessionId":"hb-1","ServiceCode":"384","Type":"response","Message":"2","Sequence":2}"#,
        status: 200,
        contains: &["Welcome to e-Citizen"],
    },
    Case {
        what: "the citizen hung up",
        method: "POST",
        path: "/ussd/hubtel",
        content_type: JSON,
        body: r#"{"Mobile":"233244000601","SessionId":"hb-1","Type":"release","Message":""}"#,
        status: 200,
        contains: &[r#""Type":"Release""#],
    },
    Case {
        what: "an unknown Type",
        method: "POST",
        path: "/ussd/hubtel",
        content_type: JSON,
        body: r#"{"Mobile":"233244000601","SessionId":"hb-2","Type":"favorite","Message":""}"#,
        status: 400,
        contains: &["Type \"favorite\" is not"],
    },
    Case {
        what: "not JSON",
        method: "POST",
        path: "/ussd/hubtel",
        content_type: JSON,
        body: "Type=initiation",
        status: 400,
        contains: &["not a Hubtel request"],
    },
];

const ARKESEL: &[Case] = &[
    Case {
        what: "Arkesel sample: a dial string this server does not serve",
        method: "POST",
        path: "/ussd/arkesel",
        content_type: JSON,
        body: r#"{"sessionID":"s1","userID":"ARK123","newSession":true,"msisdn":"233244000000","userData":"*928*1#","network":"MTN"}"#,
        status: 200,
        contains: &[r#""continueSession":false"#, r#""userID":"ARK123""#, r#""sessionID":"s1""#],
    },
    Case {
        what: "a new session without a dial string reaches the first menu",
        method: "POST",
        path: "/ussd/arkesel",
        content_type: JSON,
        body: r#"{"sessionID":"ak-1","userID":"ARK123","newSession":true,"msisdn":"233244000701","userData":"","network":"MTN"}"#,
        status: 200,
        contains: &[r#""continueSession":true"#, "Choose language"],
    },
    Case {
        what: "the latest input",
        method: "POST",
        path: "/ussd/arkesel",
        content_type: JSON,
        body: r#"{"sessionID":"ak-1","userID":"ARK123","newSession":false,"msisdn":"233244000701","userData":"1","network":"MTN"}"#,
        status: 200,
        contains: &[r#""continueSession":true"#, "Karibu e-Citizen"],
    },
    Case {
        what: "a hop for a session the server does not have",
        method: "POST",
        path: "/ussd/arkesel",
        content_type: JSON,
        body: r#"{"sessionID":"ak-unknown","userID":"ARK123","newSession":false,"msisdn":"233244000702","userData":"3","network":"MTN"}"#,
        status: 200,
        contains: &[r#""continueSession":false"#, "Piga *384# tena"],
    },
    Case {
        what: "a phone number that is not one",
        method: "POST",
        path: "/ussd/arkesel",
        content_type: JSON,
        body: r#"{"sessionID":"ak-2","userID":"ARK123","newSession":true,"msisdn":"not-a-phone","userData":""}"#,
        status: 400,
        contains: &["msisdn"],
    },
];

async fn run(table: &[Case]) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    for c in table {
        let (status, body) = server.request(c.method, c.path, c.content_type, c.body).await;
        assert_eq!(status, c.status, "{}: {body}", c.what);
        for needle in c.contains {
            assert!(body.contains(needle), "{}: {needle:?} missing from {body}", c.what);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn safaricom_examples() {
    run(SAFARICOM).await;
}

#[tokio::test]
async fn airtel_examples() {
    run(AIRTEL).await;
}

#[tokio::test]
async fn beem_examples() {
    run(BEEM).await;
}

#[tokio::test]
async fn hubtel_examples() {
    run(HUBTEL).await;
}

#[tokio::test]
async fn arkesel_examples() {
    run(ARKESEL).await;
}

/// Sends step `k` of `inputs` (the inputs typed so far are `inputs[..k]`) in a dialect's wire
/// format and returns the screen and whether it ended the session.
async fn step(server: &TestServer, dialect: &str, phone: &str, inputs: &[&str], k: usize) -> (String, bool) {
    let session = format!("walk-{dialect}");
    let so_far = inputs[..k].join("*");
    let last = if k == 0 { "" } else { inputs[k - 1] };
    let (status, body) = match dialect {
        "africastalking" => {
            let body = common::at_hop(&session, phone, "*384#", &so_far);
            server.post_form("/ussd/africastalking", &body).await
        }
        "safaricom" => {
            let q =
                common::form(&[("ORIG", phone), ("DEST", "384"), ("SESSION_ID", &session), ("USSD_PARAMS", &so_far)]);
            server.request("GET", &format!("/ussd/safaricom?{q}"), FORM, "").await
        }
        "airtel" => {
            let input = if k == 0 { "384" } else { last };
            let q = common::form(&[("SessionID", &session), ("MSISDN", phone), ("MSC", "airtel"), ("input", input)]);
            // Whether the session goes on is the `Freeflow` header.
            let (status, head, body) =
                common::exchange(server.addr, "GET", &format!("/ussd/airtel?{q}"), FORM, "").await.unwrap();
            assert_eq!(status, 200, "airtel step {k}: {body}");
            let head = head.to_ascii_lowercase();
            let end = head.contains("\r\nfreeflow: fb");
            assert!(end || head.contains("\r\nfreeflow: fc"), "airtel: no Freeflow header in {head}");
            return (body, end);
        }
        "beem" => {
            let response = if k == 0 { serde_json::json!(0) } else { serde_json::json!(last) };
            let body = serde_json::json!({"command": if k == 0 { "initiate" } else { "continue" }, "msisdn": phone,
                "session_id": session, "operator": "vodacom", "payload": {"request_id": k, "response": response}});
            server.request("POST", "/ussd/beem", JSON, &body.to_string()).await
        }
        "hubtel" => {
            let kind = if k == 0 { "initiation" } else { "response" };
            let message = if k == 0 { "*384#" } else { last };
            let body = serde_json::json!({"Type": kind, "Message": message, "ServiceCode": "384", "Mobile": phone,
                "SessionId": session, "Sequence": k + 1, "Operator": "mtn"});
            server.request("POST", "/ussd/hubtel", JSON, &body.to_string()).await
        }
        "arkesel" => {
            let data = if k == 0 { "*384#" } else { last };
            let body = serde_json::json!({"sessionID": session, "userID": "NJIA", "newSession": k == 0, "msisdn": phone,
                "userData": data, "network": "MTN"});
            server.request("POST", "/ussd/arkesel", JSON, &body.to_string()).await
        }
        other => panic!("no walker for {other}"),
    };
    assert_eq!(status, 200, "{dialect} step {k}: {body}");
    match dialect {
        "africastalking" | "safaricom" => {
            let end = body.starts_with("END ");
            assert!(end || body.starts_with("CON "), "{dialect}: {body}");
            (body[4..].to_owned(), end)
        }
        "hubtel" => {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            (v["Message"].as_str().unwrap().to_owned(), v["Type"] == "Release")
        }
        "beem" => {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            (v["payload"]["request"].as_str().unwrap().to_owned(), v["command"] == "terminate")
        }
        _ => {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            (v["message"].as_str().unwrap().to_owned(), v["continueSession"] == false)
        }
    }
}

/// The same path (English, land rates, a parcel, pay) through every dialect: the same screens,
/// and a stored request at the end.
#[tokio::test]
async fn every_dialect_walks_the_same_menu_to_the_same_screens() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let inputs = ["2", "1", "kajiado/1234", "1"];
    let names: Vec<&str> = njia::channel::DIALECTS.iter().map(|d| d.name).collect();
    assert_eq!(names, ["africastalking", "safaricom", "airtel", "hubtel", "arkesel", "beem"]);
    let mut walks = Vec::new();
    for (i, dialect) in names.iter().enumerate() {
        let phone = format!("25471100080{i}");
        let mut screens = Vec::new();
        for k in 0..=inputs.len() {
            let (text, end) = step(&server, dialect, &phone, &inputs, k).await;
            assert_eq!(end, k == inputs.len(), "{dialect} step {k}: {text}");
            // References differ per request; everything else must match.
            let masked = match text.find("NJ-") {
                Some(at) => format!("{}NJ-?????{}", &text[..at], &text[at + 8..]),
                None => text,
            };
            screens.push(masked);
        }
        walks.push((dialect.to_string(), screens));
    }
    let (first, reference) = &walks[0];
    assert!(reference[4].starts_with("Request NJ-????? received."), "{reference:?}");
    for (dialect, screens) in &walks[1..] {
        assert_eq!(screens, reference, "{dialect} differs from {first}");
    }
    server.stop().await;
}

mod never_panic {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn json_dialects(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = njia::channel::hubtel::parse(&body, 160);
            let _ = njia::channel::arkesel::parse(&body, 160);
            let _ = njia::channel::africastalking::parse_hop(&body, 160);
            let _ = njia::channel::beem::parse(&body, 160);
        }

        #[test]
        fn json_shaped_requests(kind in "(initiation|response|release|timeout|[a-z]{0,8})", message in ".{0,40}",
                                mobile in "[0-9+]{0,16}", session in ".{0,140}", new_session in any::<bool>()) {
            let hubtel = serde_json::json!({"Type": kind, "Message": message, "Mobile": mobile, "SessionId": session,
                "ServiceCode": "384", "Sequence": 3});
            let _ = njia::channel::hubtel::parse(hubtel.to_string().as_bytes(), 160);
            let arkesel = serde_json::json!({"sessionID": session, "newSession": new_session, "msisdn": mobile,
                "userData": message});
            let _ = njia::channel::arkesel::parse(arkesel.to_string().as_bytes(), 160);
        }

        #[test]
        fn safaricom_queries(query in ".{0,300}") {
            let _ = njia::channel::safaricom::parse_hop(&query, 160);
            let _ = njia::channel::airtel::parse(&query, 160);
        }
    }
}

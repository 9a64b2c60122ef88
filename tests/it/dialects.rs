//! Every dialect against the real server: one table of documented examples per dialect (each
//! row a request and what must come back), and one walk of the same menu path through every
//! dialect that must show the same screens.

use crate::common;

use common::{TestServer, config};
use njia::channel::telco::{Walk, WireReply};

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
        what: "#13: a catalogue code dialled (*384*4021#) opens its service",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000590&DEST=384&SESSION_ID=sf-c1&USSD_PARAMS=4021",
        content_type: FORM,
        body: r#""#,
        status: 200,
        contains: &["CON Weka nambari ya kipande"],
    },
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
        what: "vumi: *384*4*1# arrives as USSD_PARAMS=4*1 and starts where Africa's Talking's text=4*1 does",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000504&DEST=384&SESSION_ID=sf-5&USSD_PARAMS=4*1",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["CON Weka nambari ya kumbukumbu", "NJ-7K2QX"],
    },
    Case {
        what: "a gateway that sends the whole dial string (*384*4*1#) starts at the same screen",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000505&DEST=384&SESSION_ID=sf-6&USSD_PARAMS=*384*4*1%23",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["CON Weka nambari ya kumbukumbu", "NJ-7K2QX"],
    },
    Case {
        what: "the whole dial string without extras asks the language",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000506&DEST=384&SESSION_ID=sf-7&USSD_PARAMS=*384%23",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["CON Chagua lugha / Choose language"],
    },
    Case {
        what: "and its next hop, the dial string then what was typed (2 = English), continues it",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000506&DEST=384&SESSION_ID=sf-7&USSD_PARAMS=*384%23*2",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["CON Welcome to e-Citizen"],
    },
    Case {
        what: "a dial string for another code cannot be this dial",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000507&DEST=384&SESSION_ID=sf-8&USSD_PARAMS=*123*4%23",
        content_type: FORM,
        body: "",
        status: 400,
        contains: &["USSD_PARAMS starts with a dial string that is not *384#"],
    },
    Case {
        what: "a dial string run into what follows it",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000507&DEST=384&SESSION_ID=sf-8&USSD_PARAMS=*384%232",
        content_type: FORM,
        body: "",
        status: 400,
        contains: &["what follows the dial string must start with '*'"],
    },
    Case {
        what: "the input of a session the server no longer has is not a dial: dial again",
        method: "GET",
        path: "/ussd/safaricom?ORIG=254711000508&DEST=384&SESSION_ID=sf-9&USSD_PARAMS=1*kajiado/1234",
        content_type: FORM,
        body: "",
        status: 200,
        contains: &["END ", "Piga *384# tena"],
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
        what: "#13: a catalogue code dialled (384*4021) opens its service",
        method: "GET",
        path: "/ussd/airtel?SessionID=at-c1&MSISDN=254733000990&MSC=airtel&input=384*4021",
        content_type: FORM,
        body: r#""#,
        status: 200,
        contains: &["Weka nambari ya kipande"],
    },
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
        what: "an initiate carrying the dial string (*384*4*1#): Beem's format cannot place the digits, the first screen",
        method: "POST",
        path: "/ussd/beem",
        content_type: JSON,
        body: r#"{"command":"initiate","msisdn":"255712345679","session_id":"4576","operator":"vodacom","payload":{"request_id":0,"response":"*384*4*1#"}}"#,
        status: 200,
        contains: &[r#""command":"continue""#, r#""request_id":1"#, "Chagua lugha"],
    },
    Case {
        what: "an initiate carrying digits alone (4*1): the first screen too",
        method: "POST",
        path: "/ussd/beem",
        content_type: JSON,
        body: r#"{"command":"initiate","msisdn":"255712345680","session_id":"4577","operator":"vodacom","payload":{"request_id":0,"response":"4*1"}}"#,
        status: 200,
        contains: &[r#""command":"continue""#, "Chagua lugha"],
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
        what: "#13: a catalogue code dialled (*384*4021#) opens its service",
        method: "POST",
        path: "/ussd/hubtel",
        content_type: JSON,
        body: r#"{"Mobile":"233244000690","SessionId":"hb-c1","ServiceCode":"384","Type":"initiation","Message":"*384*4021#","Operator":"mtn","Sequence":1}"#,
        status: 200,
        contains: &["Weka nambari ya kipande"],
    },
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
        what: "#13: a catalogue code dialled (*384*4021#) opens its service",
        method: "POST",
        path: "/ussd/arkesel",
        content_type: JSON,
        body: r#"{"sessionID":"ak-c1","userID":"ARK123","newSession":true,"msisdn":"233244000790","userData":"*384*4021#","network":"MTN"}"#,
        status: 200,
        contains: &["Weka nambari ya kipande"],
    },
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

const NALO: &[Case] = &[
    Case {
        what: "#13: a catalogue code dialled (*384*4021#) opens its service",
        method: "POST",
        path: "/ussd/nalo",
        content_type: JSON,
        body: r#"{"USERID":"NALOTest","MSISDN":"233244000190","USERDATA":"*384*4021#","MSGTYPE":true,"NETWORK":"MTN","SESSIONID":"16590115252429790"}"#,
        status: 200,
        contains: &["Weka nambari ya kipande"],
    },
    Case {
        what: "nalo: the first hop (MSGTYPE true) carries the dial string",
        method: "POST",
        path: "/ussd/nalo",
        content_type: JSON,
        body: r#"{"USERID":"NALOTest","MSISDN":"233244000101","USERDATA":"*384#","MSGTYPE":true,"NETWORK":"MTN","SESSIONID":"16590115252429751"}"#,
        status: 200,
        contains: &[r#""MSGTYPE":true"#, r#""USERID":"NALOTest""#, r#""MSISDN":"233244000101""#, "Chagua lugha"],
    },
    Case {
        what: "nalo: the next hop (MSGTYPE false) carries the latest input (1 = Kiswahili)",
        method: "POST",
        path: "/ussd/nalo",
        content_type: JSON,
        body: r#"{"USERID":"NALOTest","MSISDN":"233244000101","USERDATA":"1","MSGTYPE":false,"NETWORK":"MTN","SESSIONID":"16590115252429751"}"#,
        status: 200,
        contains: &[r#""MSGTYPE":true"#, "Karibu e-Citizen"],
    },
    Case {
        what: "nalo: the documented continuing hop, for a session this server does not have, ends (MSGTYPE false)",
        method: "POST",
        path: "/ussd/nalo",
        content_type: JSON,
        body: r#"{"USERID":"NALOTest","MSISDN":"233244000102","USERDATA":"3","MSGTYPE":false,"NETWORK":"MTN","SESSIONID":"16590115252429752"}"#,
        status: 200,
        contains: &[r#""MSGTYPE":false"#, "Piga *384# tena"],
    },
    Case {
        what: "nalo: MSGTYPE as the string \"true\" and a numeric SESSIONID are read the same",
        method: "POST",
        path: "/ussd/nalo",
        content_type: JSON,
        body: r#"{"USERID":"NALOTest","MSISDN":233244000103,"USERDATA":"*384#","MSGTYPE":"true","NETWORK":"MTN","SESSIONID":16590115252429753}"#,
        status: 200,
        contains: &[r#""MSGTYPE":true"#, "Chagua lugha"],
    },
    Case {
        what: "nalo: a request without MSGTYPE",
        method: "POST",
        path: "/ussd/nalo",
        content_type: JSON,
        body: r#"{"USERID":"NALOTest","MSISDN":"233244000104","USERDATA":"1","SESSIONID":"x"}"#,
        status: 400,
        contains: &["MSGTYPE"],
    },
    Case {
        what: "nalo: an MSISDN that is not a phone number",
        method: "POST",
        path: "/ussd/nalo",
        content_type: JSON,
        body: r#"{"USERID":"NALOTest","MSISDN":"233XXXXXXXXX","USERDATA":"1","MSGTYPE":true,"SESSIONID":"x"}"#,
        status: 400,
        contains: &["MSISDN"],
    },
];

const INFOBIP: &[Case] = &[
    Case {
        what: "#13: a catalogue code dialled (*384*4021#) opens its service",
        method: "POST",
        path: "/ussd/infobip/session/c1/start",
        content_type: JSON,
        body: r#"{"msisdn":"385955363490","imsi":"429011234567890","shortCode":"*384*4021#","ussdGwId":"11","language":null,"text":"*384*4021#"}"#,
        status: 200,
        contains: &["Weka nambari ya kipande"],
    },
    Case {
        what: "vumi: a start for a code this server does not serve (*123#) ends with a clear answer",
        method: "POST",
        path: "/ussd/infobip/session/1/start",
        content_type: JSON,
        body: r#"{"msisdn":"385955363443","imsi":"429011234567890","shortCode":"*123#1#","optional":"o=1","ussdGwId":"11","language":null,"text":"hi"}"#,
        status: 200,
        contains: &[r#""shouldClose":true"#, r#""responseExitCode":200"#, "huduma hii haipo"],
    },
    Case {
        what: "infobip: a start on *384# shows the first screen",
        method: "POST",
        path: "/ussd/infobip/session/2/start",
        content_type: JSON,
        body: r#"{"msisdn":"385955363444","imsi":"429011234567890","shortCode":"*384#","ussdGwId":"11","language":null,"text":"*384#"}"#,
        status: 200,
        contains: &[r#""shouldClose":false"#, r#""responseExitCode":200"#, "Chagua lugha"],
    },
    Case {
        what: "infobip: a response carries the latest input (2 = English)",
        method: "POST",
        path: "/ussd/infobip/session/2/response",
        content_type: JSON,
        body: r#"{"msisdn":"385955363444","imsi":"429011234567890","text":"2"}"#,
        status: 200,
        contains: &[r#""shouldClose":false"#, "Welcome to e-Citizen"],
    },
    Case {
        what: "vumi: status of a live session",
        method: "GET",
        path: "/ussd/infobip/session/2/status",
        content_type: JSON,
        body: "",
        status: 200,
        contains: &[r#""sessionActive":true"#, r#""responseExitCode":200"#],
    },
    Case {
        what: "vumi: status of a session this server never saw",
        method: "GET",
        path: "/ussd/infobip/session/99/status",
        content_type: JSON,
        body: "",
        status: 200,
        contains: &[r#""sessionActive":false"#],
    },
    Case {
        what: "vumi: the gateway ends the session",
        method: "PUT",
        path: "/ussd/infobip/session/2/end",
        content_type: JSON,
        body: r#"{"reason":"ok","exitCode":0}"#,
        status: 200,
        contains: &[r#""responseExitCode":200"#],
    },
    Case {
        what: "infobip: a start that is not JSON",
        method: "POST",
        path: "/ussd/infobip/session/3/start",
        content_type: JSON,
        body: "msisdn=385955363445",
        status: 400,
        contains: &["not an Infobip session request"],
    },
    Case {
        what: "infobip: an action the API does not have",
        method: "POST",
        path: "/ussd/infobip/session/3/resume",
        content_type: JSON,
        body: "{}",
        status: 404,
        contains: &["/session/{id}/start"],
    },
    Case {
        what: "infobip: end must be a PUT",
        method: "POST",
        path: "/ussd/infobip/session/3/end",
        content_type: JSON,
        body: "{}",
        status: 404,
        contains: &[],
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

#[tokio::test]
async fn nalo_examples() {
    run(NALO).await;
}

#[tokio::test]
async fn infobip_examples() {
    run(INFOBIP).await;
}

/// Walks `inputs` through `dialect`'s channel with the library's gateway side
/// (`njia::channel::telco`, which `njia dial --dialect` uses too) and returns the screens.
async fn walk(server: &TestServer, dialect: &str, phone: &str, inputs: &[String]) -> Vec<(String, bool)> {
    let d = njia::channel::dialect(dialect).unwrap();
    let session = format!("walk-{dialect}");
    let mut screens = Vec::new();
    for k in 0..=inputs.len() {
        let w = Walk { path: d.default_path, session: &session, phone, code: "*384#", inputs };
        let telco = d.telco.unwrap();
        let r = (telco.request)(&w, k);
        let (status, head, body) =
            common::exchange(server.addr, r.method, &r.target, r.content_type, &r.body).await.unwrap();
        let headers = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let reply = WireReply { status, headers, body };
        let screen = (telco.read)(&reply).unwrap_or_else(|e| panic!("{dialect} step {k}: {e}"));
        screens.push((screen.text, screen.end));
    }
    screens
}

/// The same path (English, land rates, a parcel, pay) through every dialect: the same screens,
/// within each channel's limit, and a stored request at the end.
#[tokio::test]
async fn every_dialect_walks_the_same_menu_to_the_same_screens() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let inputs: Vec<String> = ["2", "1", "kajiado/1234", "1"].map(String::from).to_vec();
    let names: Vec<&str> = njia::channel::DIALECTS.iter().filter(|d| d.telco.is_some()).map(|d| d.name).collect();
    assert_eq!(names, ["africastalking", "safaricom", "airtel", "hubtel", "arkesel", "nalo", "beem", "infobip"]);
    let mut walks = Vec::new();
    for (i, dialect) in names.iter().enumerate() {
        let phone = format!("25471100080{i}");
        let mut screens = Vec::new();
        for (k, (text, end)) in walk(&server, dialect, &phone, &inputs).await.into_iter().enumerate() {
            assert_eq!(end, k == inputs.len(), "{dialect} step {k}: {text}");
            let limit = njia::channel::dialect(dialect).unwrap().max_screen.unwrap_or(160);
            assert!(njia::gsm7::fits(&text, limit), "{dialect} step {k} is over {limit}: {text}");
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
    // A screen that fits a channel's limit is the same on it; one that does not is paged
    // there (same title, "98. More"), never cut.
    let mut paged = 0;
    for (dialect, screens) in &walks[1..] {
        let limit = njia::channel::dialect(dialect).unwrap().max_screen.unwrap_or(160);
        for (k, (screen, want)) in screens.iter().zip(reference).enumerate() {
            if njia::gsm7::fits(want, limit) {
                assert_eq!(screen, want, "{dialect} step {k} differs from {first}");
            } else {
                paged += 1;
                assert_eq!(screen.lines().next(), want.lines().next(), "{dialect} step {k}");
                assert!(screen.ends_with("\n98. More"), "{dialect} step {k} is not paged: {screen}");
            }
        }
    }
    assert_eq!(paged, 1, "only Nalo's 120 characters page the home menu");
    server.stop().await;
}

mod never_panic {
    use njia::channel::{Channel, dialect};
    use proptest::prelude::*;

    fn ch(name: &str) -> Channel {
        Channel::default_for(dialect(name).unwrap(), 160)
    }

    proptest! {
        #[test]
        fn json_dialects(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = njia::channel::hubtel::parse(&body, &ch("hubtel"));
            let _ = njia::channel::arkesel::parse(&body, &ch("arkesel"));
            let _ = njia::channel::africastalking::parse_hop(&body, &ch("africastalking"));
            let _ = njia::channel::africastalking::parse_session_end(&body, &ch("africastalking"));
            let _ = njia::channel::beem::parse(&body, &ch("beem"));
            let _ = njia::channel::nalo::parse(&body, &ch("nalo"));
            let _ = njia::channel::infobip::parse("1", &body, true, &ch("infobip"));
            let _ = njia::channel::infobip::parse_end("1", &body, &ch("infobip"));
        }

        #[test]
        fn json_shaped_requests(kind in "(initiation|response|release|timeout|[a-z]{0,8})", message in ".{0,40}",
                                mobile in "[0-9+]{0,16}", session in ".{0,140}", new_session in any::<bool>()) {
            let hubtel = serde_json::json!({"Type": kind, "Message": message, "Mobile": mobile, "SessionId": session,
                "ServiceCode": "384", "Sequence": 3});
            let _ = njia::channel::hubtel::parse(hubtel.to_string().as_bytes(), &ch("hubtel"));
            let arkesel = serde_json::json!({"sessionID": session, "newSession": new_session, "msisdn": mobile,
                "userData": message});
            let _ = njia::channel::arkesel::parse(arkesel.to_string().as_bytes(), &ch("arkesel"));
            let nalo = serde_json::json!({"SESSIONID": session, "MSGTYPE": new_session, "MSISDN": mobile,
                "USERDATA": message, "USERID": kind});
            let _ = njia::channel::nalo::parse(nalo.to_string().as_bytes(), &ch("nalo"));
            let infobip = serde_json::json!({"msisdn": mobile, "text": message, "shortCode": kind});
            let _ = njia::channel::infobip::parse(&session, infobip.to_string().as_bytes(), new_session, &ch("infobip"));
        }

        #[test]
        fn safaricom_queries(query in ".{0,300}") {
            let _ = njia::channel::safaricom::parse_hop(&query, &ch("safaricom"));
            let _ = njia::channel::airtel::parse(&query, &ch("airtel"));
        }

        #[test]
        fn infobip_paths(rest in "(/session/)?[a-z0-9/]{0,30}") {
            for m in [http::Method::GET, http::Method::POST, http::Method::PUT] {
                let _ = njia::channel::infobip::route(&m, &rest);
            }
        }
    }
}

/// Every channel refuses an oversized request with a 4xx before its parser sees it, and a
/// request its dialect does not serve gets a 404 or 405, never a session.
#[tokio::test]
async fn every_dialect_refuses_oversized_and_unrouted_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let big = "x".repeat(20 * 1024);
    for d in njia::channel::DIALECTS {
        let (status, body) = server.request("POST", d.default_path, JSON, &big).await;
        assert_eq!(status, 413, "{}: {body}", d.name);
        let (status, _) = server.request("DELETE", d.default_path, JSON, "").await;
        assert!(status == 404 || status == 405, "{}: DELETE got {status}", d.name);
        let (status, _) = server.request("POST", &format!("{}/nothing/here", d.default_path), JSON, "{}").await;
        assert_eq!(status, 404, "{}", d.name);
    }
    server.stop().await;
}

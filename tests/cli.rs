//! The `njia` binary as administrators use it: `check` output and exit codes, and `dial`
//! replaying a scripted walk from stdin. Every run clears the operator's `DATABASE_URL` and
//! `NJIA_*` (`common::njia`).

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{njia, repo};

#[test]
fn check_passes_on_the_shipped_menus() {
    let out = njia().arg("check").current_dir(repo()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pass every check"));
}

#[test]
fn check_prints_file_line_column_and_exits_1() {
    let fixture = repo().join("tests/fixtures/check/bad-regex");
    let out = njia()
        .args(["check", "--menus"])
        .arg(fixture.join("menus"))
        .arg("--locales")
        .arg(fixture.join("locales"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("regular expression")).unwrap_or_else(|| panic!("{err}"));
    // file:line:column: error: what — fix
    let mut parts = line.splitn(4, ':');
    assert!(parts.next().unwrap().ends_with("menus/m.toml"), "{line}");
    assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{line}");
    assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{line}");
    assert!(line.contains(" — "), "{line}");
    assert!(err.contains("1 error(s)"), "{err}");
}

/// Runs `njia dial *384# ARGS --data-dir DATA` with `input` on stdin; returns what it printed.
fn dial(args: &[&str], data: &std::path::Path, input: &str) -> String {
    let mut child = njia()
        .args(["dial", "*384#"])
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "njia dial {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `njia dial --dialect` walks the wire format of a channel: every request and reply is
/// printed as the telco sends and reads it, at that channel's screen limit.
#[test]
fn dial_walks_a_dialects_wire_format() {
    for (dialect, request, reply) in [
        ("nalo", "→ POST /ussd/nalo", r#""MSGTYPE":true"#),
        ("airtel", "→ GET /ussd/airtel?SessionID=", "freeflow: FC"),
        ("infobip", "/session/dial-", r#""shouldClose":false"#),
    ] {
        let data = tempfile::tempdir().unwrap();
        let screen = dial(
            &["--phone", "0711223355", "--wait", "0", "--dialect", dialect],
            data.path(),
            "2\n1\nkajiado/1234\n1\n",
        );
        assert!(screen.contains(request), "{dialect}: {screen}");
        assert!(screen.contains(reply), "{dialect}: {screen}");
        assert!(screen.contains("│ Chagua lugha / Choose language"), "{dialect}: {screen}");
        assert!(screen.contains("┌── END"), "{dialect}: {screen}");
        let limit = if dialect == "nalo" { "/120 ──" } else { "/160 ──" };
        assert!(screen.contains(limit), "{dialect}: {screen}");
    }
}

#[test]
fn dial_replays_a_scripted_walk() {
    let data = tempfile::tempdir().unwrap();
    let screen = dial(&["--phone", "0711223344"], data.path(), "2\n1\nkajiado/1234\n1\n");
    assert!(screen.contains("│ Chagua lugha / Choose language"), "{screen}");
    assert!(screen.contains("> kajiado/1234"), "inputs are echoed when stdin is not a terminal: {screen}");
    assert!(screen.contains("┌── END"), "{screen}");
    assert!(screen.contains("You will get an M-Pesa prompt for KES 4,500"), "{screen}");
    // Sandbox mode carried the request through: push, payment, delivery, receipt.
    let sms = screen.lines().find(|l| l.starts_with("SMS to +2547****344: ")).unwrap_or_else(|| panic!("{screen}"));
    assert!(sms.contains("KES 4,500 received for land rates, M-Pesa receipt S"), "{sms}");
    let at = sms.find("NJ-").expect("the receipt carries the reference");
    let reference = sms[at..at + 8].to_owned();

    // What an administrator reads afterwards, from the same store.
    let admin = |args: &[&str]| {
        let out = njia().args(args).arg("--data-dir").arg(data.path()).current_dir(repo()).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = admin(&["requests", "list", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["reference"], reference.as_str());
    assert_eq!(list[0]["status"], "notified");
    assert_eq!(list[0]["msisdn"], "+2547****344", "phone numbers are masked");
    let (code, out, _) = admin(&["requests", "show", &reference]);
    assert_eq!(code, Some(0));
    for step in ["received", "payment_pending", "paid", "fulfilling", "fulfilled", "notified", "#1 mpesa KES 4500 paid"]
    {
        assert!(out.contains(step), "{step:?} missing from:\n{out}");
    }
    let (code, out, _) = admin(&["requests", "show", &reference, "--json"]);
    assert_eq!(code, Some(0));
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    let history: Vec<&str> =
        shown["history"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(history, ["received", "payment_pending", "paid", "fulfilling", "fulfilled", "notified"]);
    assert_eq!(shown["attempts"][0]["status"], "paid");
    let (code, out, _) = admin(&["sms", "list", "--json"]);
    assert_eq!(code, Some(0));
    let sms: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sms[0]["reference"], reference.as_str());
    assert_eq!(sms[0]["sender"], "log");
    assert_eq!(sms[0]["language"], "en");
    assert_eq!(admin(&["requests", "show", "NJ-22222"]).0, Some(1));
    assert_eq!(admin(&["requests", "list", "--status", "lost"]).0, Some(1));
    let (code, _, err) = admin(&["jobs", "retry", "999999"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not a dead job"), "{err}");
    let (code, out, _) = admin(&["jobs", "list", "--state", "done"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().count(), 3, "push, deliver, notify: {out}");
    let (_, out, _) = admin(&["jobs", "list"]);
    assert!(out.lines().any(|l| l.contains("query") && l.contains("ready")), "the safety-net query waits: {out}");
}

//! The `njia` binary as administrators use it: `check` output and exit codes, `dial`
//! replaying a scripted walk from stdin, the administration commands and what they refuse,
//! and `--help`. Every run clears the operator's `DATABASE_URL` and `NJIA_*` (`common::njia`).

use crate::common;

use common::editable::copy_dir;

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
    let mut cmd = njia();
    cmd.args(["dial", "*384#"]).args(args).arg("--data-dir").arg(data);
    let out = common::run_with_stdin(cmd, input);
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
    // A job that does not exist is not called "not a dead job"; one that exists is, with its state.
    let (code, _, err) = admin(&["jobs", "retry", "999999"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("job 999999 does not exist"), "{err}");
    assert!(!err.contains("not a dead job"), "{err}");
    let (code, _, err) = admin(&["jobs", "retry", "1"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("job 1 is not a dead job (it is done)"), "{err}");
    let (code, out, _) = admin(&["jobs", "list", "--state", "done"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().count(), 3, "push, deliver, notify: {out}");
    let (_, out, _) = admin(&["jobs", "list"]);
    assert!(out.lines().any(|l| l.contains("query") && l.contains("ready")), "the safety-net query waits: {out}");
}

/// `--status` and `--state` take only what the lifecycle knows, and the refusal lists every
/// value (held_for_review included), before any store is opened.
#[test]
fn an_unknown_status_or_state_is_refused_with_the_valid_ones() {
    let data = tempfile::tempdir().unwrap();
    let out = njia().args(["requests", "list", "--status", "done", "--data-dir"]).arg(data.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'done'"), "{err}");
    for status in njia::lifecycle::RequestStatus::ALL {
        assert!(err.contains(status.as_str()), "{} missing from: {err}", status.as_str());
    }
    assert!(err.contains("held_for_review"), "{err}");
    let out = njia().args(["jobs", "list", "--state", "failed", "--data-dir"]).arg(data.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for state in njia::lifecycle::JobState::ALL {
        assert!(err.contains(state.as_str()), "{} missing from: {err}", state.as_str());
    }
    assert!(std::fs::read_dir(data.path()).unwrap().next().is_none(), "nothing was created");
}

/// A mistyped data directory is an error naming it, never a new empty store answering
/// "(no requests)": no administration command creates a store, `jobs retry` included.
#[test]
fn administration_commands_never_create_a_store() {
    let parent = tempfile::tempdir().unwrap();
    let empty = parent.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for dir in [parent.path().join("mistyped"), empty.clone()] {
        for args in [
            &["requests", "list"][..],
            &["requests", "show", "NJ-22222"],
            &["jobs", "list"],
            &["jobs", "retry", "1"],
            &["sms", "list"],
            &["sms", "list", "--failed"],
        ] {
            let out = njia().args(args).arg("--data-dir").arg(&dir).current_dir(parent.path()).output().unwrap();
            assert_eq!(out.status.code(), Some(1), "njia {args:?}");
            assert!(out.stdout.is_empty(), "njia {args:?}: {}", String::from_utf8_lossy(&out.stdout));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&format!("no Njia database in {}", dir.display())), "njia {args:?}: {err}");
            assert!(err.contains("Check --data-dir") && err.contains("DATABASE_URL"), "njia {args:?}: {err}");
        }
    }
    assert!(!parent.path().join("mistyped").exists(), "the mistyped directory was not created");
    assert!(std::fs::read_dir(&empty).unwrap().next().is_none(), "no database was created in {}", empty.display());
    assert!(!parent.path().join("data").exists(), "nor the default one");
}

/// The same on PostgreSQL: a database without Njia's tables is reported and left as it was.
#[tokio::test]
async fn administration_commands_never_create_a_postgres_schema() {
    let db = common::create_database().await;
    let out = njia().args(["requests", "list"]).env("DATABASE_URL", &db.url).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no Njia tables") && err.contains("Check DATABASE_URL"), "{err}");
    let client = common::pg_client(&db.url).await;
    let tables: i64 =
        client.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", &[]).await.unwrap().get(0);
    assert_eq!(tables, 0, "nothing was created");
    drop(client);
    common::drop_database(db).await;
}

/// `dial --lang` takes a language the locales directory has, and names those it has.
#[test]
fn dial_refuses_a_language_there_is_no_locale_for() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("data");
    let out = njia()
        .args(["dial", "*384#", "--lang", "fr", "--wait", "0", "--data-dir"])
        .arg(&dir)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--lang fr") && err.contains("(available: en, sw)"), "{err}");
    assert!(!dir.exists(), "nothing was opened or created");
}

/// A copy of the shipped menus and locales answering `*385#` with "Pick language": only read
/// when `--menus` and `--locales` are.
fn edited_menus(root: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (menus, locales) = (root.join("my-menus"), root.join("my-locales"));
    copy_dir(&repo().join("menus"), &menus);
    copy_dir(&repo().join("locales"), &locales);
    let menu = menus.join("ecitizen.toml");
    let text =
        std::fs::read_to_string(&menu).unwrap().replace(r#"service_codes = ["*384#"]"#, r#"service_codes = ["*385#"]"#);
    std::fs::write(&menu, text).unwrap();
    for lang in ["sw", "en"] {
        let ftl = locales.join(lang).join("ecitizen.ftl");
        let text = std::fs::read_to_string(&ftl).unwrap().replace("Choose language", "Pick language");
        std::fs::write(&ftl, text).unwrap();
    }
    (menus, locales)
}

#[test]
fn dial_reads_the_menus_and_locales_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let (menus, locales) = edited_menus(dir.path());
    let mut cmd = njia();
    cmd.args(["dial", "*385#", "--wait", "0", "--menus"])
        .arg(&menus)
        .arg("--locales")
        .arg(&locales)
        .arg("--data-dir")
        .arg(dir.path().join("data"));
    let out = common::run_with_stdin(cmd, "2\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("│ Chagua lugha / Pick language"), "{screen}");
}

/// `serve --menus --locales` serves what it is given, and refuses to start on a broken set,
/// naming its files.
#[tokio::test]
async fn serve_reads_the_menus_and_locales_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let broken = repo().join("tests/fixtures/check/bad-regex");
    let out = njia()
        .arg("serve")
        .arg("--menus")
        .arg(broken.join("menus"))
        .arg("--locales")
        .arg(broken.join("locales"))
        .arg("--data-dir")
        .arg(dir.path().join("refused"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to start") && err.contains("bad-regex/menus/m.toml"), "{err}");

    let (menus, locales) = edited_menus(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut cmd = njia();
    cmd.arg("serve")
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--menus")
        .arg(&menus)
        .arg("--locales")
        .arg(&locales)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut server = tokio::process::Command::from(cmd).kill_on_drop(true).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while common::try_request(addr, "GET", "/healthz", "text/plain", "").await.is_err() {
        assert!(std::time::Instant::now() < deadline, "the server came up on {addr}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = common::try_request(
        addr,
        "POST",
        "/ussd/africastalking",
        "application/x-www-form-urlencoded",
        &common::at_hop("menus1", "+254711000111", "*385#", ""),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert!(body.starts_with("CON Chagua lugha / Pick language"), "{body}");
    server.kill().await.unwrap();
}

/// Every flag of every command says what it does, the defaults an operator needs are shown,
/// and the top-level help lists the environment the configuration reads.
#[test]
fn help_describes_every_flag_and_the_environment() {
    let help = |args: &[&str]| {
        let out = njia().args(args).arg("--help").output().unwrap();
        assert!(out.status.success(), "njia {args:?} --help");
        String::from_utf8(out.stdout).unwrap()
    };
    let top = help(&[]);
    for var in ["DATABASE_URL", "NJIA_LISTEN", "NJIA_DATA_DIR", "NJIA_LOG_FORMAT", "RUST_LOG"] {
        assert!(top.contains(var), "{var} missing from njia --help:\n{top}");
    }
    assert!(!top.contains("TEST_DATABASE_URL"), "{top}");
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["check"],
        &["dial"],
        &["requests"],
        &["requests", "list"],
        &["requests", "show"],
        &["jobs"],
        &["jobs", "list"],
        &["jobs", "retry"],
        &["sms"],
        &["sms", "list"],
    ];
    for args in commands {
        let text = help(args);
        let undescribed = undescribed(&text);
        assert!(undescribed.is_empty(), "njia {args:?} --help: no description for {undescribed:?}:\n{text}");
    }
    let defaults = njia::config::Config::default();
    let serve = help(&["serve"]);
    for shown in [
        defaults.listen.to_string(),
        format!("./{}", defaults.data_dir.display()),
        format!("./{}", defaults.menus_dir.display()),
        format!("./{}", defaults.locales_dir.display()),
        "njia.ftl and sms.ftl".into(),
    ] {
        assert!(serve.contains(&shown), "{shown} missing from njia serve --help:\n{serve}");
    }
    let dial = help(&["dial"]);
    for flag in ["--menus", "--locales", "--data-dir", "--config", "[default: 30]", "[default: +254700000001]"] {
        assert!(dial.contains(flag), "{flag} missing from njia dial --help:\n{dial}");
    }
    assert!(help(&["requests", "list"]).contains("held_for_review"), "--status lists every status");
    assert!(help(&["jobs", "list"]).contains("dead"), "--state lists every state");
}

/// The arguments and flags of a `--help` text that have no description: an entry of the
/// Arguments or Options section (`  -h, --help`, `      --config <FILE>`, `  <CODE>`) with
/// neither text after it on its line nor a more indented line below it.
fn undescribed(help: &str) -> Vec<String> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let lines: Vec<&str> = help.lines().collect();
    let mut missing = Vec::new();
    let mut in_section = false;
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') {
            in_section = matches!(line.trim_end(), "Arguments:" | "Options:");
            continue;
        }
        let entry = line.trim_start();
        if !in_section || indent(line) > 6 || !entry.starts_with(['-', '<', '[']) {
            continue;
        }
        let same_line = entry.split_once("  ").is_some_and(|(_, text)| !text.trim().is_empty());
        let next_line = lines.get(i + 1).is_some_and(|next| indent(next) > 6 && !next.trim().is_empty());
        if !same_line && !next_line {
            missing.push(entry.trim().to_owned());
        }
    }
    missing
}

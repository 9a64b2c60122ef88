//! #11, finding 3: no full phone number and no secret in any log line. The real binary serves
//! a whole flow (a transfer whose payment account is a phone number, a PIN, the sandbox
//! push, payment, delivery and SMS) with every log level on, in text and in JSON; every line
//! it wrote is scanned.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NJIA: &str = env!("CARGO_BIN_EXE_njia");
const PIN: &str = "4321";
const CALLER: &str = "+254711000401";

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Digit runs that are Kenyan mobile numbers, written independently of the scrubber.
fn unmasked_numbers(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for run in line.split(|c: char| !c.is_ascii_digit()).filter(|r| !r.is_empty()) {
        let phone = (run.len() == 12 && (run.starts_with("2547") || run.starts_with("2541")))
            || (run.len() == 10 && (run.starts_with("07") || run.starts_with("01")));
        if phone {
            found.push(run.to_owned());
        }
    }
    found
}

async fn post(addr: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "POST /ussd/africastalking HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
}

fn form(session: &str, text: &str) -> String {
    let enc = |s: &str| s.replace('+', "%2B").replace('*', "%2A");
    format!("sessionId={session}&serviceCode=%2A555%23&phoneNumber={}&text={}", enc(CALLER), enc(text))
}

/// Serves the features menu with `format` logs at debug level, walks a transfer to its SMS,
/// stops the server and returns every line it logged.
async fn logged_lines(format: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let fixture = repo().join("tests/fixtures/features");
    let config = dir.path().join("njia.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nlog_format = \"{format}\"\nmenus_dir = \"{}\"\nlocales_dir = \"{}\"\n\
             [dispatcher]\npush_delay_ms = 100\nsandbox_pin_delay_ms = 100\npoll_ms = 20\n",
            fixture.join("menus").display(),
            fixture.join("locales").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(NJIA)
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "debug")
        .env_remove("DATABASE_URL")
        .env_remove("NJIA_LOG_FORMAT")
        .env_remove("NJIA_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("the server starts");
        lines.push(line.clone());
        if line.contains("njia listening") {
            let at = line.find("127.0.0.1:").unwrap();
            let addr: String =
                line[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
            break addr;
        }
    };
    let walk = [
        "",
        "1",
        "1*0722000000",
        "1*0722000000*100",
        "1*0722000000*100*mpesa",
        &format!("1*0722000000*100*mpesa*{PIN}"),
    ];
    let mut end = String::new();
    for text in walk {
        end = post(&addr, &form("logs-1", text)).await;
    }
    assert!(end.starts_with("END ") && end.contains("NJ-"), "{end}");
    // Until the receipt SMS has been logged (sandbox: pushed, paid, delivered, sent).
    loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("the SMS is logged");
        let done = line.contains("SMS (log sink, not sent)");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    lines
}

#[tokio::test]
async fn no_log_line_holds_a_phone_number_or_a_pin() {
    for format in ["text", "json"] {
        let lines = logged_lines(format).await;
        assert!(lines.len() > 10, "{format}: too few lines to mean anything: {lines:#?}");
        for line in &lines {
            assert!(unmasked_numbers(line).is_empty(), "{format}: a phone number in {line}");
            // The PIN as a value of its own: a port (127.0.0.1:44321) or a timestamp's digits
            // may hold the same four digits inside a longer number.
            let pin = regex::Regex::new(&format!("(^|[^0-9]){PIN}([^0-9]|$)")).unwrap();
            assert!(!pin.is_match(line), "{format}: the PIN in {line}");
            assert!(!line.contains('\u{1b}'), "{format}: ANSI colours when not on a terminal: {line}");
            if format == "json" {
                assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not a JSON line: {line}");
            }
        }
        // The account the push was for is in the log, masked (it is a phone number).
        assert!(lines.iter().any(|l| l.contains("2547*****000")), "{format}: {lines:#?}");
    }
}

/// Under `log_format = "json"` even the line saying why the process stopped is JSON.
#[test]
fn the_last_word_is_json_too() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(NJIA)
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .current_dir(repo())
        .env("NJIA_LISTEN", taken.local_addr().unwrap().to_string())
        .env("NJIA_LOG_FORMAT", "json")
        .env_remove("DATABASE_URL")
        .env_remove("NJIA_DATA_DIR")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(v["fields"]["message"], "njia stopped", "{last}");
    assert!(v["fields"]["error"].as_str().unwrap().contains("binding"), "{last}");
}

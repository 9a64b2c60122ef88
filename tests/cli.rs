//! The `njia` binary as administrators use it: `check` output and exit codes, and `dial`
//! replaying a scripted walk from stdin.

use std::io::Write;
use std::process::{Command, Stdio};

const NJIA: &str = env!("CARGO_BIN_EXE_njia");

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_passes_on_the_shipped_menus() {
    let out = Command::new(NJIA).arg("check").current_dir(repo()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pass every check"));
}

#[test]
fn check_prints_file_line_column_and_exits_1() {
    let fixture = repo().join("tests/fixtures/check/bad-regex");
    let out = Command::new(NJIA)
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

#[test]
fn dial_replays_a_scripted_walk() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(NJIA)
        .args(["dial", "*384#", "--phone", "0711223344", "--data-dir"])
        .arg(data.path())
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"2\n1\nkajiado/1234\n1\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("│ Chagua lugha / Choose language"), "{screen}");
    assert!(screen.contains("> kajiado/1234"), "inputs are echoed when stdin is not a terminal: {screen}");
    assert!(screen.contains("┌── END"), "{screen}");
    assert!(screen.contains("You will receive an M-Pesa prompt for KES 4,500"), "{screen}");
}

//! #14: journey tests. The shipped journeys (`tests/journeys/`: every catalogue service dialled
//! by its code in both languages, and the home screen's flows) pass on the shipped menus; a
//! journey that diverges is reported at its hop's line with a diff; a malformed file at its
//! line; a walk recorded with `njia dial --record` runs as recorded, also over a dialect's
//! wire format.

use crate::common;

use std::path::PathBuf;

use njia::journey::{self, Outcome};

/// Every shipped journey passes, and together they walk every catalogue service in both
/// languages to its END.
#[tokio::test]
async fn the_shipped_journeys_pass_and_cover_every_service() {
    let (journeys, problems) = journey::load(&[common::repo().join("tests/journeys")]);
    assert!(problems.is_empty(), "{problems:#?}");
    let dir = tempfile::tempdir().unwrap();
    let outcomes = journey::run(&common::config(dir.path()), &journeys).await.expect("the runner starts");
    let mut printed = Vec::new();
    let all = journey::report(&journeys, &outcomes, &mut printed).unwrap();
    assert!(all, "{}", String::from_utf8_lossy(&printed));

    let l = common::load(&common::repo());
    let catalogue = l.menus.by_id("ecitizen").unwrap().catalogue.as_deref().unwrap();
    for service in &catalogue.services {
        for lang in ["sw", "en"] {
            let dial = format!("*384*{}#", service.code);
            let walked = journeys.iter().any(|j| {
                j.dial == dial
                    && j.language.as_ref().is_some_and(|(l, _)| l.as_str() == lang)
                    && j.hops.last().is_some_and(|h| h.end == Some(true))
            });
            assert!(walked, "no journey walks {} ({lang}) to its END", service.id);
        }
    }
}

fn written(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("j.toml");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

/// The first divergence is reported with the hop's line, what was sent, and a line diff.
#[tokio::test]
async fn a_divergence_is_reported_at_its_hop_with_a_diff() {
    let (_keep, file) = written(
        r#"[[journey]]
name = "land rates, wrong amount"
dial = "*384*4021#"
language = "en"

[[journey.hop]]
contains = "land parcel"

[[journey.hop]]
send = "KAJIADO/1234"
expect = '''
KAJIADO/1234, Wanjiku Kamau
Rates due: KES 450
1. Pay with M-Pesa
2. Cancel
0. Back
00. Home'''

[[journey.hop]]
send = "1"
end = true
"#,
    );
    let (journeys, problems) = journey::load(std::slice::from_ref(&file));
    assert!(problems.is_empty(), "{problems:#?}");
    let data = tempfile::tempdir().unwrap();
    let outcomes = journey::run(&common::config(data.path()), &journeys).await.unwrap();
    match &outcomes[0] {
        Outcome::Diverged { hop, place, sent, why, got } => {
            assert_eq!((*hop, place.line, sent.as_deref()), (2, 9, Some("KAJIADO/1234")));
            assert!(why.contains("- Rates due: KES 450\n+ Rates due: KES 4,500"), "{why}");
            assert!(why.contains("  KAJIADO/1234, Wanjiku Kamau"), "context kept: {why}");
            assert!(!got.end);
        }
        other => panic!("{other:?}"),
    }
    let mut printed = Vec::new();
    assert!(!journey::report(&journeys, &outcomes, &mut printed).unwrap());
    let printed = String::from_utf8(printed).unwrap();
    assert!(printed.contains(&format!("FAIL  {}:1  land rates, wrong amount", file.display())), "{printed}");
    assert!(printed.ends_with("journeys: 0 passed, 1 failed\n"), "{printed}");
}

/// Every mistake in a file is reported at its line, none stops at the first.
#[test]
fn malformed_journeys_are_reported_at_their_lines() {
    let (_keep, file) = written(
        r#"[[journey]]
name = "sends on the dial"
dial = "*384#"
language = "not a locale!"

[[journey.hop]]
send = "1"

[[journey.hop]]
pattern = "([unclosed"
"#,
    );
    let (journeys, problems) = journey::load(&[file]);
    assert!(journeys.is_empty());
    let lines: Vec<(usize, &str)> = problems.iter().map(|p| (p.line, p.what.as_str())).collect();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert!(lines.iter().any(|(l, w)| *l == 6 && w.contains("hop 1 checks nothing")), "{lines:#?}");
    assert!(lines.iter().any(|(l, w)| *l == 4 && w.contains("is not a locale")), "{lines:#?}");
    assert!(lines.iter().any(|(l, w)| *l == 6 && w.contains("the first hop is the dial itself")), "{lines:#?}");
    assert!(lines.iter().any(|(l, w)| *l == 9 && w.contains("hop 2 sends nothing")), "{lines:#?}");
    assert!(lines.iter().any(|(l, w)| *l == 10 && w.contains("not a regular expression")), "{lines:#?}");

    let (_keep, unknown) = written("[[journey]]\nname = \"x\"\ndial = \"*384#\"\n[[journey.hop]]\nexpext = \"typo\"\n");
    let (_, problems) = journey::load(&[unknown]);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, 5);
    assert!(problems[0].what.contains("unknown field `expext`"), "{}", problems[0].what);
}

/// `njia dial --record` writes the walk as a journey; `njia test` runs it, straight to the hub
/// and over Hubtel's wire format; a paid request's reference (different on every run) is
/// expected by a pattern.
#[test]
fn a_recorded_walk_runs_as_a_journey_over_a_dialect_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recorded.toml");
    for dialect in [None, Some("hubtel")] {
        let mut cmd = common::njia();
        cmd.args(["dial", "*384#", "--phone", "0711223399", "--lang", "sw", "--wait", "0", "--record"])
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.path().join("data"));
        if let Some(d) = dialect {
            cmd.args(["--dialect", d]);
        }
        let out = common::run_with_stdin(cmd, "1\nKAJIADO/1234\n1\n");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let recorded = std::fs::read_to_string(&file).unwrap();
    assert_eq!(recorded.matches("[[journey]]").count(), 2, "{recorded}");
    assert!(recorded.contains("dialect = \"hubtel\""), "{recorded}");
    assert!(recorded.contains("pattern = '^Ombi NJ-[0-9A-Z]{5} limepokelewa"), "{recorded}");
    let out = common::njia().arg("test").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.ends_with("journeys: 2 passed, 0 failed\n"), "{stdout}");
}

/// The README's journey example is a journey file that passes on the shipped menus.
#[tokio::test]
async fn the_readme_journey_example_passes() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let example = readme
        .split("```toml\n")
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.starts_with("# tests/journeys/"))
        .expect("the README shows a journey file");
    let (_keep, file) = written(example);
    let (journeys, problems) = journey::load(&[file]);
    assert!(problems.is_empty(), "{problems:#?}");
    let data = tempfile::tempdir().unwrap();
    let outcomes = journey::run(&common::config(data.path()), &journeys).await.unwrap();
    assert!(matches!(outcomes[..], [Outcome::Passed { hops: 3 }]), "{outcomes:?}");
}

//! The README as a tested transcript (#11), so it cannot drift from what Njia does.
//!
//! Every command the README tells a reader to run (each line of its ```sh blocks, and the
//! commands the walkthrough names inline) must have an entry in [`COMMANDS`] saying how it is
//! covered, and every entry must still be in the README. The commands are run for real, as
//! written, with the built binary in place of `cargo run [--release] [-q] --` (and of an
//! installed `njia`), from a temporary directory holding copies of `menus/` and `locales/`, so
//! `./data` is created there and never in the repository. What they print is compared with the
//! output the README shows, modulo references, times, receipts and M-Pesa ids.
//!
//! The configuration reference is held to the configuration types the same way: its example
//! file must parse, must name every field the types have, and must show each key's default or
//! say what it is.

use crate::common;

use common::editable::copy_dir;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::repo;
use njia::config::Config;

/// One step of the README that a test here runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    ServeDefaults,
    Check,
    Dial,
    ScriptedDial,
    RequestsList,
    RequestsShow,
    SmsList,
    DeadJobs,
    ServeInBackground,
    CurlFirstHop,
    CurlSecondHop,
    DialNalo,
    FirstInstance,
    SecondInstance,
    CatalogueList,
    CatalogueShow,
    CatalogueStats,
    CatalogueExport,
    CatalogueImport,
}

/// How one README command is covered.
enum Cover {
    /// Run by the test function `test` of this file, as written except for what `how` says.
    Run { step: Step, test: &'static str, how: &'static str },
    /// Run outside this file: `file` (in the repository) runs it as `runs`, which the table test
    /// checks is still there.
    Elsewhere { file: &'static str, runs: &'static str, how: &'static str },
    /// Not run by any test, for the reason given; `file` must still contain each of `mentions`
    /// (the target or the options the command names), so the command at least still exists.
    NotRun { why: &'static str, file: &'static str, mentions: &'static [&'static str] },
}

/// Every command the README tells a reader to run, by its exact text (continuation lines
/// joined, comments dropped), and how it is covered. A README command missing here, or an entry
/// the README no longer has, fails `every_readme_command_is_in_the_table`.
const COMMANDS: &[(&str, Cover)] = &[
    (
        "deploy/debian/build.sh",
        Cover::Elsewhere {
            file: "deploy/debian/test.sh",
            runs: "deb=$(deploy/debian/build.sh",
            how: "run by .ci/run (as root): the package it builds is installed, started as the unit does, dialled, \
                  reloaded and purged",
        },
    ),
    (
        "sudo dpkg -i target/debian/njia_0.1.0_amd64.deb",
        Cover::Elsewhere {
            file: "deploy/debian/test.sh",
            runs: "dpkg -i \"$deb\"",
            how: "run by .ci/run as root (no sudo there) on the package build.sh printed; the version is \
                  Cargo.toml's (the_readme_names_the_package_of_this_version holds the README to it)",
        },
    ),
    (
        "njia purge --dry-run --data-dir /var/lib/njia",
        Cover::Elsewhere {
            file: "tests/it/retention.rs",
            runs: "[\"purge\", \"--dry-run\", \"--older-than\", \"1\"]",
            how: "with a temporary data directory for /var/lib/njia and --older-than 1 (the test's retention) while the \
                  real server runs: counts by kind, changes nothing",
        },
    ),
    (
        "njia purge --older-than 730 --data-dir /var/lib/njia",
        Cover::Elsewhere {
            file: "tests/it/retention.rs",
            runs: "[\"purge\", \"--older-than\", \"1\"]",
            how: "with a temporary data directory and 1 day, after the server's own daily purge: nothing is left; \
                  refused with retention_days = 0 and no --older-than, and with --older-than 0",
        },
    ),
    (
        "promtool check rules deploy/prometheus/njia-alerts.yml",
        Cover::Elsewhere {
            file: ".ci/run",
            runs: "promtool check rules deploy/prometheus/njia-alerts.yml",
            how: "as written, from the repository, with Debian's prometheus package installed when promtool is missing",
        },
    ),
    (
        "promtool test rules deploy/prometheus/njia-alerts.test.yml",
        Cover::Elsewhere {
            file: ".ci/run",
            runs: "promtool test rules deploy/prometheus/njia-alerts.test.yml",
            how: "as written, from the repository: the stuck dispatcher, Daraja failing and dead letters rising",
        },
    ),
    (
        "njia backup --to /var/backups/njia/2026-12-05.njia --data-dir /var/lib/njia",
        Cover::Elsewhere {
            file: "tests/it/backup.rs",
            runs: "[\"backup\", \"--to\"",
            how: "with a temporary data directory for /var/lib/njia: while citizens pay on the real server, and \
                  again after it stopped; refused on a missing store, an existing file, and with DATABASE_URL",
        },
    ),
    (
        "njia restore --from /var/backups/njia/2026-12-05.njia --data-dir /var/lib/njia --replace",
        Cover::Elsewhere {
            file: "tests/it/backup.rs",
            runs: "[\"restore\", \"--from\", file.to_str().unwrap(), \"--replace\"]",
            how: "into new data directories (every request acknowledged before the backup began is there; a quiet \
                  backup restores to the same requests, jobs and SMS) and over one with --replace (kept aside)",
        },
    ),
    (
        "njia reconcile --date 2026-12-05 --data-dir /var/lib/njia",
        Cover::Elsewhere {
            file: "tests/it/reconcile.rs",
            runs: "reconcile(&[\"--date\", &date], data, &[])",
            how: "with the day a real server in production mode made against the doubles (paid, failed, unknown, \
                  held, refunded, undelivered) and its temporary data directory: the totals and each exception, exit \
                  3; an empty day exits 0",
        },
    ),
    (
        "njia reconcile --date 2026-12-05 --csv --config /etc/njia/njia.toml > 2026-12-05.csv",
        Cover::Elsewhere {
            file: "tests/it/reconcile.rs",
            runs: "reconcile(&[\"--date\", &date, \"--csv\"], data, &[])",
            how: "on the same day, the store named by --data-dir instead of a configuration file, the CSV read from \
                  standard output: a header row, a row per attempt, the masked phone quoted",
        },
    ),
    (
        "njia reconcile --date 2026-12-05 --check-daraja --config /etc/njia/njia.toml",
        Cover::Elsewhere {
            file: "tests/it/reconcile.rs",
            runs: "\"--check-daraja\", \"--config\", config.to_str().unwrap()",
            how: "with a production configuration pointed at the Daraja double: one STK Push Query per exception, \
                  Daraja's answer beside each; refused in sandbox mode",
        },
    ),
    (
        "pg_dump --format=custom --file=njia-2026-12-05.dump \"$DATABASE_URL\"",
        Cover::NotRun {
            why: "not run in tests: PostgreSQL's own tool, documented as it documents itself; Njia adds nothing to it",
            file: "README.md",
            mentions: &["pg_dump", "pg_restore"],
        },
    ),
    (
        "pg_restore --clean --if-exists --dbname=\"$DATABASE_URL\" njia-2026-12-05.dump",
        Cover::NotRun {
            why: "not run in tests: PostgreSQL's own tool, documented as it documents itself; Njia adds nothing to it",
            file: "README.md",
            mentions: &["pg_restore", "--clean"],
        },
    ),
    (
        "cargo run --release -- serve",
        Cover::Run {
            step: Step::ServeDefaults,
            test: "the_two_commands_serve_on_embedded_defaults",
            how: "in a fresh directory holding menus/ and locales/, with NJIA_LISTEN (the documented override) \
                  naming a free loopback port instead of 8384; answers /healthz and /readyz, creates \
                  ./data/njia.sqlite3, and exits 0 on SIGTERM",
        },
    ),
    (
        "cargo test",
        Cover::Elsewhere {
            file: ".ci/run",
            runs: "cargo test --locked",
            how: "this suite itself: `cargo test` runs this file among the others, and .ci/run runs it",
        },
    ),
    (
        "cargo run -- check",
        Cover::Run {
            step: Step::Check,
            test: "the_walkthrough_as_a_transcript",
            how: "on the shipped menus it prints the ok line the walkthrough quotes; \
                  breaking_something_on_purpose runs it again on a copy with a renamed goto and a removed \
                  Swahili message (walkthrough step 5)",
        },
    ),
    (
        "cargo run -- dial '*384#' --phone 0711223344",
        Cover::Run {
            step: Step::Dial,
            test: "the_walkthrough_as_a_transcript",
            how: "stdin carries the inputs the prose names (1 Kiswahili, 1 Lipa ushuru wa ardhi, KAJIADO/1234, \
                  1 to pay); the README's `> 1 ┌── END` transcript must be in its output",
        },
    ),
    (
        r"printf '1\nkajiado/1234\n1\n' | cargo run -q -- dial '*384#' --phone 0711223344",
        Cover::Run {
            step: Step::ScriptedDial,
            test: "the_walkthrough_as_a_transcript",
            how: "through sh -c, after the interactive dial on the same store (the number has its language)",
        },
    ),
    (
        "cargo run -q -- requests list",
        Cover::Run {
            step: Step::RequestsList,
            test: "the_walkthrough_as_a_transcript",
            how: "lists both walks' references as notified",
        },
    ),
    (
        "cargo run -q -- requests show NJ-WJ7M4",
        Cover::Run {
            step: Step::RequestsShow,
            test: "the_walkthrough_as_a_transcript",
            how: "NJ-WJ7M4 is illustrative: the reference the interactive dial produced replaces it; the output \
                  must equal the README's `requests show` text, modulo references, times, receipts and M-Pesa ids",
        },
    ),
    (
        "cargo run -q -- sms list",
        Cover::Run {
            step: Step::SmsList,
            test: "the_walkthrough_as_a_transcript",
            how: "both receipts, each with its segment count",
        },
    ),
    (
        "cargo run -q -- jobs list --state dead",
        Cover::Run {
            step: Step::DeadJobs,
            test: "the_walkthrough_as_a_transcript",
            how: "no dead letters after a clean walk: `(no jobs)`",
        },
    ),
    (
        "cargo run --release -- serve &",
        Cover::Run {
            step: Step::ServeInBackground,
            test: "the_walkthrough_as_a_transcript",
            how: "started as a background child (what `&` does) on the walkthrough's store, with NJIA_LISTEN \
                  naming a free loopback port; exits 0 on SIGTERM",
        },
    ),
    (
        "curl -s localhost:8384/ussd/africastalking -d sessionId=s1 -d serviceCode='*384#' \
         --data-urlencode phoneNumber=+254711000111 -d text=",
        Cover::Run {
            step: Step::CurlFirstHop,
            test: "the_walkthrough_as_a_transcript",
            how: "through sh -c with the server's port for 8384 (without curl on the machine, the same form \
                  POST, argument for argument); answers CON with the language question",
        },
    ),
    (
        "curl -s localhost:8384/ussd/africastalking -d sessionId=s1 -d serviceCode='*384#' \
         --data-urlencode phoneNumber=+254711000111 -d text=2",
        Cover::Run {
            step: Step::CurlSecondHop,
            test: "the_walkthrough_as_a_transcript",
            how: "as the first hop; answers CON with the English home menu",
        },
    ),
    (
        "njia dial '*384#' --dialect nalo",
        Cover::Run {
            step: Step::DialNalo,
            test: "dial_dialect_nalo_prints_the_traffic_the_readme_shows",
            how: "stdin carries 2 (English), 1 (land rates) and kajiado/1234, the input the README's excerpt \
                  starts at; the excerpt must be in the output, modulo the session id",
        },
    ),
    (
        "DATABASE_URL=postgres://njia@db:5432/njia njia serve --listen 10.0.0.11:8384 --config njia.toml",
        Cover::Run {
            step: Step::FirstInstance,
            test: "several_instances_serve_one_postgres_database",
            how: "with the test database for db's, 127.0.0.1 and a free port for 10.0.0.11:8384, and njia.toml \
                  holding the README's configuration of that section; started at once with the second line, \
                  answers /readyz, and a session started on it continues on the other instance",
        },
    ),
    (
        "DATABASE_URL=postgres://njia@db:5432/njia njia serve --listen 10.0.0.12:8384 --config njia.toml",
        Cover::Run {
            step: Step::SecondInstance,
            test: "several_instances_serve_one_postgres_database",
            how: "as the first instance, on another free port",
        },
    ),
    (
        "cargo bench --bench engine",
        Cover::Elsewhere {
            file: ".ci/run",
            runs: "cargo bench --locked --bench engine -- --test",
            how: "smoke-run once by .ci/run (`-- --test`); a measured run takes minutes on an idle machine",
        },
    ),
    (
        "cargo bench --bench load",
        Cover::NotRun {
            why: "not run in tests: it pins a release server and a client to two cores for minutes, and needs \
                  node and npm for the peer",
            file: "Cargo.toml",
            mentions: &["name = \"load\""],
        },
    ),
    (
        "cargo bench --bench load -- --only peer --seconds 3",
        Cover::NotRun {
            why: "not run in tests, as the whole load bench; its options are checked to exist",
            file: "benches/load.rs",
            mentions: &["\"--only\"", "\"--seconds\"", "\"peer\""],
        },
    ),
    (
        "cargo bench --bench check",
        Cover::Elsewhere {
            file: ".ci/run",
            runs: "cargo bench --locked --bench check -- --test",
            how: "smoke-run once by .ci/run (`-- --test`)",
        },
    ),
    (
        "cargo bench --bench handoff",
        Cover::NotRun {
            why: "not run in tests: a measured release run against SQLite and PostgreSQL, minutes long",
            file: "Cargo.toml",
            mentions: &["name = \"handoff\""],
        },
    ),
    (
        "cargo bench --bench soak",
        Cover::NotRun {
            why: "not run in tests: 30 minutes of a release server under load, killed every 5 minutes, and a \
                  restart of the machine's PostgreSQL (which every other test shares)",
            file: "benches/soak.rs",
            mentions: &["\"--minutes\", 30", "\"--kill-every-secs\", 300", "pg_ctlcluster"],
        },
    ),
    (
        "cargo bench --bench soak -- --own-cluster",
        Cover::NotRun {
            why: "not run in tests: 30 minutes, as the soak run above, on a PostgreSQL cluster it starts itself",
            file: "benches/soak.rs",
            mentions: &["\"--own-cluster\"", "initdb", "\"restart\""],
        },
    ),
    (
        "benches/callgrind/run.sh [agencies|landrates]",
        Cover::NotRun {
            why: "not run in tests: it needs valgrind and a release build, and counts 5,000 hops under callgrind",
            file: "benches/callgrind/run.sh",
            mentions: &["agencies", "landrates"],
        },
    ),
    (
        "njia catalogue list --agency kra",
        Cover::Run {
            step: Step::CatalogueList,
            test: "the_catalogue_commands_as_the_readme_shows_them",
            how: "in a fresh directory holding menus/ and locales/; prints the README's table",
        },
    ),
    (
        "njia catalogue show 3011",
        Cover::Run {
            step: Step::CatalogueShow,
            test: "the_catalogue_commands_as_the_readme_shows_them",
            how: "shows the service's screens in both languages with their sizes",
        },
    ),
    (
        "njia catalogue stats",
        Cover::Run {
            step: Step::CatalogueStats,
            test: "the_catalogue_commands_as_the_readme_shows_them",
            how: "counts by agency, category and template, and missing translations",
        },
    ),
    (
        "njia catalogue export --csv catalogue.csv",
        Cover::Run {
            step: Step::CatalogueExport,
            test: "the_catalogue_commands_as_the_readme_shows_them",
            how: "writes catalogue.csv in the directory; tests/it/catalogue_cli.rs edits and re-imports such sheets",
        },
    ),
    (
        "njia stats --days 7",
        Cover::Elsewhere {
            file: "tests/it/stats.rs",
            runs: "[\"stats\", \"--data-dir\"]",
            how: "after sessions walked on the real server, its first line is the README's (4 started, 2 completed, \
                  1 over the rate limit); --json gives the same figures",
        },
    ),
    (
        "cargo test --test it browser::",
        Cover::Elsewhere {
            file: "tests/it/main.rs",
            runs: "mod browser;",
            how: "the browser test is a module of the `it` test binary, which `cargo test` (and so .ci/run) runs \
                  whole; the filter runs it alone",
        },
    ),
    (
        "NJIA_SCREENSHOTS=docs/console cargo test --test it browser::",
        Cover::Elsewhere {
            file: "tests/it/browser.rs",
            runs: "std::env::var_os(\"NJIA_SCREENSHOTS\")",
            how: "every run of the browser test takes and checks the same pictures (a PNG of the width asked, \
                  under 200 KB) in a scratch folder; the variable only names the folder kept, here the committed \
                  docs/console/, which no test writes over",
        },
    ),
    (
        "njia console --menus menus --locales locales",
        Cover::Elsewhere {
            file: "tests/it/console.rs",
            runs: "args([\"console\", \"--listen\", \"127.0.0.1:0\"])",
            how: "started on a loopback port with the shipped menus (the defaults the flags name), it prints its \
                  address and serves the console there; an address beyond loopback is refused",
        },
    ),
    (
        "njia schema menu",
        Cover::Elsewhere {
            file: "tests/it/graph.rs",
            runs: "[\"schema\", \"menu\"]",
            how: "prints exactly the shipped schemas/menu.json",
        },
    ),
    (
        "njia schema --write schemas",
        Cover::Elsewhere {
            file: "tests/it/graph.rs",
            runs: "[\"schema\", \"--write\"]",
            how: "writes the three schemas into a fresh directory, each the same as the shipped file",
        },
    ),
    (
        "njia graph --service 4021 --format mermaid",
        Cover::Elsewhere {
            file: "tests/it/readme.rs",
            runs: "[\"graph\", \"--service\", \"4021\", \"--format\", \"mermaid\"]",
            how: "its output is the README's Mermaid block, exactly (the_readme_menu_map_is_the_command_output)",
        },
    ),
    (
        "njia graph --format svg > ecitizen.svg",
        Cover::Elsewhere {
            file: "tests/it/graph.rs",
            runs: "[\"graph\", \"--format\", \"svg\"]",
            how: "the whole shipped menu as SVG: a group per screen, nothing highlighted (it passes check)",
        },
    ),
    (
        "njia graph --format dot | dot -Tpdf > ecitizen.pdf",
        Cover::NotRun {
            why: "not run in tests: Graphviz is not installed on the test machines; the DOT it reads is tested \
                  in tests/it/graph.rs",
            file: "tests/it/graph.rs",
            mentions: &["Format::Dot", "digraph"],
        },
    ),
    (
        "njia test",
        Cover::Elsewhere {
            file: "tests/it/journeys.rs",
            runs: "common::njia().arg(\"test\")",
            how: "runs journeys recorded by `njia dial --record` and expects every one to pass; the shipped \
                  tests/journeys/ run through the library the command calls, every service covered",
        },
    ),
    (
        "njia test tests/journeys/lands.toml",
        Cover::Elsewhere {
            file: "tests/it/journeys.rs",
            runs: "journey::load(&[common::repo().join(\"tests/journeys\")])",
            how: "the shipped journeys, lands.toml among them, load without a problem and pass",
        },
    ),
    (
        r"printf '1\nKAJIADO/1234\n1\n' | njia dial '*384#' --lang sw --record tests/journeys/mine.toml",
        Cover::Elsewhere {
            file: "tests/it/journeys.rs",
            runs: "\"--lang\", \"sw\", \"--wait\", \"0\", \"--record\"",
            how: "the same inputs, recorded straight to the hub and over Hubtel's wire format, then run by \
                  `njia test`",
        },
    ),
    (
        "njia catalogue misses --days 7",
        Cover::Elsewhere {
            file: "tests/it/catalogue.rs",
            runs: ".args([\"catalogue\", \"misses\", \"--days\", \"7\"",
            how: "after a server counted searches that found nothing, it lists them per day and word",
        },
    ),
    (
        "njia catalogue import --csv catalogue.csv",
        Cover::Run {
            step: Step::CatalogueImport,
            test: "the_catalogue_commands_as_the_readme_shows_them",
            how: "imports the sheet just exported: nothing changes, and the menus still pass check",
        },
    ),
];

// --- Reading the README ----------------------------------------------------------------------

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// `line` split at its comment: a `#` outside quotes at the start or after a space begins it.
fn split_comment(line: &str) -> (&str, &str) {
    let (mut single, mut double, mut after_space) = (false, false, true);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && after_space => return (line[..i].trim_end(), &line[i..]),
            _ => {}
        }
        after_space = c.is_whitespace();
    }
    (line.trim_end(), "")
}

/// Whitespace runs as one space.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The README's lines outside fenced blocks, from the line starting with `heading` to the next
/// heading of the same level, as one squeezed paragraph (inline code may cross lines).
fn prose(readme: &str, heading: &str) -> String {
    let level = heading.split(' ').next().unwrap_or("##").to_owned() + " ";
    let mut lines = Vec::new();
    let (mut inside, mut fence) = (false, false);
    for line in readme.lines() {
        if line.starts_with(heading) {
            inside = true;
            continue;
        }
        if inside && line.starts_with(&level) {
            break;
        }
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if inside && !fence {
            lines.push(line);
        }
    }
    assert!(inside, "the README has no heading {heading:?}");
    squeeze(&lines.join(" "))
}

/// The inline code spans of a squeezed paragraph.
fn spans(prose: &str) -> Vec<&str> {
    prose.split('`').skip(1).step_by(2).collect()
}

/// Every command the README tells a reader to run: each line of its ```sh blocks (with `\`
/// continuations joined and `# comments` dropped), and the walkthrough's inline commands (code
/// spans starting with `cargo run` or `njia` and giving at least two more words; `njia check`
/// alone names a command, it does not tell the reader to type it).
fn readme_commands(readme: &str) -> BTreeSet<String> {
    let mut commands = BTreeSet::new();
    let (mut fence, mut sh) = (false, false);
    let mut pending = String::new();
    for line in readme.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            sh = !fence && t == "```sh";
            fence = !fence;
            continue;
        }
        if !sh {
            continue;
        }
        let (code, _) = split_comment(t);
        if let Some(head) = code.strip_suffix('\\') {
            pending.push_str(head.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(code);
        let command = squeeze(&pending);
        pending.clear();
        if !command.is_empty() {
            commands.insert(command);
        }
    }
    for span in spans(&prose(readme, "## Five-minute walkthrough")) {
        let words = span.split_whitespace().count();
        if (span.starts_with("cargo run ") || span.starts_with("njia ")) && words >= 3 {
            commands.insert(squeeze(span));
        }
    }
    commands
}

/// The README's text for `step`, which must be both in the table and in the README: tests run
/// the text the README has, never a copy of it.
fn readme_command(step: Step) -> &'static str {
    let text = COMMANDS
        .iter()
        .find_map(|(text, cover)| matches!(cover, Cover::Run { step: s, .. } if *s == step).then_some(*text))
        .unwrap_or_else(|| panic!("{step:?} has no entry in COMMANDS"));
    assert!(readme_commands(&readme()).contains(text), "the README no longer has {text:?} ({step:?})");
    text
}

/// The lines of the first ```text block after the line holding `marker`, without the fence's
/// indentation.
fn text_block_after(readme: &str, marker: &str) -> Vec<String> {
    let lines: Vec<&str> = readme.lines().collect();
    let at = lines.iter().position(|l| l.contains(marker)).unwrap_or_else(|| panic!("README: no {marker:?}"));
    let open = (at..lines.len()).find(|&i| lines[i].trim() == "```text").expect("a text block after the marker");
    let indent = lines[open].len() - lines[open].trim_start().len();
    lines[open + 1..]
        .iter()
        .take_while(|l| l.trim() != "```")
        .map(|l| l.get(indent..).unwrap_or(l.trim_start()).to_owned())
        .collect()
}

/// What varies from run to run, replaced by a placeholder: references, times, M-Pesa receipts
/// and checkout ids, dial session ids.
fn normalise(text: &str) -> String {
    let rules = [
        (r"ws_CO_SIM[0-9A-Z]{10}", "ws_CO_SIM<checkout>"),
        (r"\bS[0-9A-Z]{10}\b", "S<receipt>"),
        (r"\bNJ-[0-9A-Z]{5}\b", "NJ-<ref>"),
        (r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} EAT", "<time> EAT"),
        (r"dial-([0-9]+)-[0-9]+", "dial-$1-<nanos>"),
    ];
    rules.iter().fold(text.to_owned(), |t, (pattern, with)| {
        regex::Regex::new(pattern).unwrap().replace_all(&t, *with).into_owned()
    })
}

/// Asserts the README's `shown` lines appear, in order and one after another, in `output`.
fn assert_shows(output: &str, shown: &[String], what: &str) {
    let out: Vec<String> = normalise(output).lines().map(|l| l.trim_end().to_owned()).collect();
    let want: Vec<String> = shown.iter().map(|l| normalise(l).trim_end().to_owned()).collect();
    assert!(!want.is_empty(), "{what}: the README shows nothing");
    assert!(
        out.windows(want.len()).any(|w| w == want.as_slice()),
        "{what}: the README shows\n{}\nbut the command printed\n{}",
        want.join("\n"),
        out.join("\n")
    );
}

// --- Running commands as the README writes them ---------------------------------------------

/// The command with the built binary in place of `cargo run [--release] [-q] --` and of an
/// installed `njia`.
fn substitute(command: &str) -> String {
    let bin = format!("'{}'", env!("CARGO_BIN_EXE_njia"));
    let mut s = command.to_owned();
    for cargo in ["cargo run --release -- ", "cargo run -q -- ", "cargo run -- "] {
        s = s.replace(cargo, &format!("{bin} "));
    }
    assert!(!s.contains("cargo run"), "a `cargo run` form this test does not know: {command}");
    s.split(' ').map(|w| if w == "njia" { bin.as_str() } else { w }).collect::<Vec<_>>().join(" ")
}

/// `text` with `from` replaced by `to`; `from` must be there (the README changed otherwise).
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{text:?} no longer has {from:?}: update this test with the README");
    text.replace(from, to)
}

/// `sh -c COMMAND` in `dir`, without the operator's `DATABASE_URL` and `NJIA_*` (as
/// `common::njia` runs the binary).
fn sh(dir: &Path, command: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command).current_dir(dir).env_remove("DATABASE_URL");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NJIA_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Runs `command` through the shell with `input` on stdin; returns stdout, after asserting it
/// exited 0.
fn run(dir: &Path, command: &str, input: &str) -> String {
    let mut child =
        sh(dir, command).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{command}: {}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    stdout
}

/// A temporary directory holding copies of the repository's `menus/` and `locales/`, as a
/// reader's checkout would.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["menus", "locales"] {
        copy_dir(&repo().join(sub), &dir.path().join(sub));
    }
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.1 exchange on a fresh connection.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes())?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("a cut-off response"))?;
    let status =
        head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other(head.to_owned()))?;
    Ok((status, body.to_owned()))
}

/// A server started from a README line, stopped (SIGTERM) by `stop` or killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts `command` (already substituted) in the background, as `&` would, with `env`.
    fn start(dir: &Path, command: &str, env: &[(&str, String)], addr: SocketAddr, name: &str) -> Server {
        let log = dir.join(format!("{name}.log"));
        // `exec`, after any variable assignments, so the child is the server itself.
        let bin = format!("'{}'", env!("CARGO_BIN_EXE_njia"));
        let mut cmd = sh(dir, &command.replacen(&bin, &format!("exec {bin}"), 1));
        cmd.envs(env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null()).stdout(Stdio::null());
        let child = cmd.stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
        Server { child, addr, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until it answers `/healthz`.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = http(self.addr, "GET", "/healthz", "") {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the server stopped ({status}) before answering on {}:\n{}", self.addr, self.log());
            }
            assert!(Instant::now() < deadline, "the server did not answer on {}:\n{}", self.addr, self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        http(self.addr, "GET", path, "").unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.log()))
    }

    /// SIGTERM, as the README promises it drains and stops; it must exit 0.
    fn stop(mut self) {
        let killed = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the server did not stop on SIGTERM:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "the server stopped with {status} on SIGTERM:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one of the README's `curl` lines against the server on `port`: with curl if the
/// machine has it, otherwise as the same form POST (each `-d` sent as given, each
/// `--data-urlencode name=value` with its value encoded, joined with `&`, as curl does).
fn curl(dir: &Path, command: &str, port: u16) -> String {
    let command = replaced(command, "localhost:8384", &format!("localhost:{port}"));
    let has_curl = Command::new("curl").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if has_curl {
        return run(dir, &command, "");
    }
    let (path, form) = curl_form(dir, &command);
    let (status, body) = http(SocketAddr::from(([127, 0, 0, 1], port)), "POST", &path, &form).unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The path and form body a `curl -s URL -d … --data-urlencode …` line sends: each `-d` as
/// given, each `--data-urlencode name=value` with its value encoded, joined with `&`.
fn curl_form(dir: &Path, command: &str) -> (String, String) {
    // The shell splits the arguments exactly as it would for curl.
    let args = run(dir, &replaced(command, "curl ", "printf '%s\\n' "), "");
    let mut args = args.lines();
    let (mut url, mut fields) = (None, Vec::new());
    while let Some(arg) = args.next() {
        match arg {
            "-s" => {}
            "-d" => fields.push(args.next().unwrap().to_owned()),
            "--data-urlencode" => {
                let (name, value) = args.next().unwrap().split_once('=').unwrap();
                let value: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
                fields.push(format!("{name}={value}"));
            }
            other if !other.starts_with('-') && url.is_none() => url = Some(other.to_owned()),
            other => panic!("a curl option this test does not know: {other}"),
        }
    }
    let url = url.expect("a URL");
    (url[url.find('/').expect("a path")..].to_owned(), fields.join("&"))
}

/// Without curl on the machine, the README's curl lines are sent as this same form.
#[test]
fn a_curl_line_without_curl_is_the_same_form_post() {
    let dir = tempfile::tempdir().unwrap();
    let (path, form) = curl_form(dir.path(), readme_command(Step::CurlFirstHop));
    assert_eq!(path, "/ussd/africastalking");
    assert_eq!(form, "sessionId=s1&serviceCode=*384#&phoneNumber=%2B254711000111&text=");
}

// --- The table -------------------------------------------------------------------------------

#[test]
fn every_readme_command_is_in_the_table() {
    let in_readme = readme_commands(&readme());
    let in_table: BTreeSet<String> = COMMANDS.iter().map(|(text, _)| (*text).to_owned()).collect();
    assert_eq!(in_table.len(), COMMANDS.len(), "a command is in the table twice");
    let untested: Vec<&String> = in_readme.difference(&in_table).collect();
    assert!(
        untested.is_empty(),
        "the README tells the reader to run commands tests/it/readme.rs does not know: {untested:#?}\n\
         add each to COMMANDS with the test that runs it (or why it cannot run)"
    );
    let gone: Vec<&String> = in_table.difference(&in_readme).collect();
    assert!(gone.is_empty(), "COMMANDS has commands the README no longer has: {gone:#?}");

    let source = include_str!("readme.rs");
    let mut steps = Vec::new();
    for (text, cover) in COMMANDS {
        match cover {
            Cover::Run { step, test, how } => {
                assert!(!how.is_empty());
                assert!(source.contains(&format!("fn {test}(")), "{text}: there is no test {test}");
                let named = regex::Regex::new(&format!(r"Step::{step:?}\b")).unwrap().find_iter(source).count();
                assert!(named >= 2, "{text}: no test runs Step::{step:?} (it is named only here)");
                assert!(!steps.contains(step), "Step::{step:?} covers two commands");
                steps.push(*step);
            }
            Cover::Elsewhere { file, runs, how } => {
                assert!(!how.is_empty());
                let content = std::fs::read_to_string(repo().join(file)).unwrap();
                assert!(content.contains(runs), "{text}: {file} no longer runs {runs:?}");
            }
            Cover::NotRun { why, file, mentions } => {
                assert!(why.starts_with("not run in tests"), "{text}: say plainly that it is not run");
                let content = std::fs::read_to_string(repo().join(file)).unwrap();
                for m in *mentions {
                    assert!(content.contains(m), "{text}: {file} no longer has {m}");
                }
            }
        }
    }
}

/// The extraction itself: continuations joined, comments dropped, `#` inside quotes kept,
/// comment-only lines skipped, inline commands found across line breaks.
#[test]
fn commands_are_extracted_as_a_reader_would_type_them() {
    let text = "Run `cargo run -- check` or `njia\n   dial '*1#' --x` or `njia serve`.\n\n\
                ## Five-minute walkthrough\n\n1. Type `cargo run -- dial\n   '*384#'` now.\n\
                \n```sh\nfoo --a '*384#' \\\n     -d b=c   # a comment\n            # more comment\nbar\n```\n\
                ```toml\nnot = \"a command\"\n```\n## Next\n`njia dial '*2#' --y`\n";
    let got: Vec<String> = readme_commands(text).into_iter().collect();
    assert_eq!(got, ["bar", "cargo run -- dial '*384#'", "foo --a '*384#' -d b=c"]);
}

// --- The two commands ------------------------------------------------------------------------

#[test]
fn the_two_commands_serve_on_embedded_defaults() {
    let dir = workdir();
    let port = free_port();
    let command = substitute(readme_command(Step::ServeDefaults));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server = Server::start(dir.path(), &command, &[("NJIA_LISTEN", addr.to_string())], addr, "serve");
    server.wait_ready();
    assert_eq!(server.get("/healthz"), (200, "ok".to_owned()), "`GET /healthz` answers `ok`");
    let (status, body) = server.get("/readyz");
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((ready["ready"].as_bool(), ready["store"].as_str()), (Some(true), Some("ok")), "{body}");
    assert!(dir.path().join("data/njia.sqlite3").is_file(), "SQLite in ./data, created on the first start");
    server.stop();
}

// --- The walkthrough -------------------------------------------------------------------------

#[test]
fn the_walkthrough_as_a_transcript() {
    let text = readme();
    let walkthrough = prose(&text, "## Five-minute walkthrough");
    let dir = workdir();
    let dir = dir.path();

    // 1. Check the shipped menus: the ok line the walkthrough quotes.
    let promised = walkthrough
        .split("`cargo run -- check` prints `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("step 1 quotes what check prints");
    let check = sh(dir, &substitute(readme_command(Step::Check))).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    assert!(check.status.success(), "{err}");
    assert!(out.starts_with(promised), "check printed {out:?}, the README promises {promised:?}");
    // "with the number of warnings, each listed above it with its file and line".
    let warning = regex::Regex::new(r"^\S+:[0-9]+:[0-9]+: warning: ").unwrap();
    let warnings = err.lines().filter(|l| warning.is_match(l));
    assert_eq!(out, format!("{promised} ({} warning(s))\n", warnings.count()), "{err}");

    // 2. Dial with the inputs the prose names: `1` (Kiswahili), `1` (Lipa ushuru wa ardhi), ...
    let sentence = walkthrough
        .split("Choose `")
        .nth(1)
        .and_then(|rest| rest.split(" to pay").next())
        .map(|rest| format!("`{rest}"))
        .expect("step 2 names the inputs");
    let inputs = spans(&sentence);
    assert_eq!(inputs, ["1", "1", "KAJIADO/1234", "1"], "the inputs the walkthrough names: {sentence}");
    let out = run(dir, &substitute(readme_command(Step::Dial)), &(inputs.join("\n") + "\n"));
    // Each input named with its label chooses that label on its screen.
    for (input, label) in regex::Regex::new(r"`([^`]+)` \(([^)]+)\)")
        .unwrap()
        .captures_iter(&sentence)
        .map(|c| (c[1].to_owned(), c[2].to_owned()))
    {
        assert!(out.contains(&format!("│ {input}. {label}\n")), "no option {input}. {label}:\n{out}");
    }
    assert_shows(&out, &text_block_after(&text, "and the receipt SMS arrives:"), "the interactive dial");
    let first = regex::Regex::new(r"-- request (NJ-[0-9A-Z]{5}) stored").unwrap().captures(&out).expect("a reference")
        [1]
    .to_owned();

    // The scripted dial, on the same store: the number has its language, so no question.
    let out = run(dir, &substitute(readme_command(Step::ScriptedDial)), "");
    assert!(!out.contains("Chagua lugha"), "the language is remembered:\n{out}");
    let size = walkthrough
        .split("Each screen is shown with its size against the limit (`")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("the walkthrough shows a screen size");
    assert!(out.contains(&format!("┌── {size} ──")), "no screen of {size}:\n{out}");
    assert!(out.contains("┌── END · "), "{out}");
    let second = regex::Regex::new(r"SMS to \+2547\*\*\*\*344: .* Ombi (NJ-[0-9A-Z]{5}) limekamilika")
        .unwrap()
        .captures(&out)
        .unwrap_or_else(|| panic!("the receipt SMS:\n{out}"))[1]
        .to_owned();
    assert_ne!(first, second);

    // 3. What an administrator reads.
    let out = run(dir, &substitute(readme_command(Step::RequestsList)), "");
    for reference in [&first, &second] {
        let line = out.lines().find(|l| l.starts_with(reference.as_str())).unwrap_or_else(|| panic!("{out}"));
        assert!(line.contains("land-rates") && line.contains("notified") && line.contains("+2547****344"), "{line}");
    }
    let show = replaced(readme_command(Step::RequestsShow), "NJ-WJ7M4", &first);
    let out = run(dir, &substitute(&show), "");
    let shown = text_block_after(&text, "`requests show` prints the whole history:");
    assert_eq!(
        normalise(&out).lines().collect::<Vec<_>>(),
        shown.iter().map(|l| normalise(l)).collect::<Vec<_>>(),
        "`requests show` printed\n{out}"
    );
    let out = run(dir, &substitute(readme_command(Step::SmsList)), "");
    for reference in [&first, &second] {
        assert!(out.contains(&format!("{reference}  [log logged, 1 segment(s)]")), "{out}");
        assert!(out.contains(&format!("Ombi {reference} limekamilika. Asante.")), "{out}");
    }
    let out = run(dir, &substitute(readme_command(Step::DeadJobs)), "");
    assert_eq!(out, "(no jobs)\n");

    // 4. The server in the background, and Africa's Talking's two hops.
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let command = substitute(readme_command(Step::ServeInBackground));
    let command = command.strip_suffix(" &").expect("started in the background");
    let mut server = Server::start(dir, command, &[("NJIA_LISTEN", addr.to_string())], addr, "serve");
    server.wait_ready();
    let first_hop = curl(dir, readme_command(Step::CurlFirstHop), port);
    assert!(first_hop.starts_with("CON Chagua lugha / Choose language\n1. Kiswahili\n2. English"), "{first_hop}");
    let second_hop = curl(dir, readme_command(Step::CurlSecondHop), port);
    assert!(second_hop.starts_with("CON Welcome to e-Citizen\n1. Pay land rates"), "{second_hop}");
    assert_eq!(server.get("/healthz"), (200, "ok".to_owned()));
    server.stop();
    assert!(dir.join("data/njia.sqlite3").is_file(), "the walk's store is in the reader's ./data");
}

/// Walkthrough step 5: a renamed `goto` and a removed Swahili message are each reported with
/// file, line and what to do, and the server refuses to start.
#[test]
fn breaking_something_on_purpose() {
    let walkthrough = prose(&readme(), "## Five-minute walkthrough");
    assert!(walkthrough.contains("(rename a `goto`, remove a Swahili message) and run `cargo run -- check`"));
    let dir = workdir();
    let menu = dir.path().join("menus/ecitizen.toml");
    let toml = std::fs::read_to_string(&menu).unwrap();
    std::fs::write(&menu, replaced(&toml, r#"goto = "licence-number""#, r#"goto = "licence-numbr""#)).unwrap();
    let ftl = dir.path().join("locales/sw/ecitizen.ftl");
    let sw = std::fs::read_to_string(&ftl).unwrap();
    std::fs::write(&ftl, replaced(&sw, "home-land = Lipa ushuru wa ardhi\n", "")).unwrap();

    let check = sh(dir.path(), &substitute(readme_command(Step::Check))).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    let err = String::from_utf8_lossy(&check.stderr);
    let unknown = regex::Regex::new(
        r#"menus/ecitizen\.toml:[0-9]+:[0-9]+: error: unknown screen "licence-numbr" — did you mean "licence-number"\?"#,
    )
    .unwrap();
    assert!(unknown.is_match(&err), "{err}");
    let missing =
        regex::Regex::new(r#"locales/en/ecitizen\.ftl:[0-9]+:[0-9]+: error: message "home-land" is defined"#).unwrap();
    assert!(missing.is_match(&err) && err.contains("missing in sw — add home-land"), "{err}");

    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let serve = sh(dir.path(), &substitute(readme_command(Step::ServeDefaults)))
        .env("NJIA_LISTEN", addr.to_string())
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(1));
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(err.contains("refusing to start") && err.contains("licence-numbr"), "{err}");
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

/// The wire format walk: the README's excerpt of Nalo's traffic, for the command as written
/// (the default phone number).
#[test]
fn dial_dialect_nalo_prints_the_traffic_the_readme_shows() {
    let dir = workdir();
    let out = run(dir.path(), &substitute(readme_command(Step::DialNalo)), "2\n1\nkajiado/1234\n");
    let shown = text_block_after(&readme(), "a PIN typed on a secret screen is masked in the printed traffic");
    assert_shows(&out, &shown, "njia dial --dialect nalo");
}

// --- Several instances -----------------------------------------------------------------------

#[tokio::test]
async fn several_instances_serve_one_postgres_database() {
    let db = common::create_database().await;
    let dir = workdir();
    let text = readme();
    // njia.toml is the configuration the section shows, as written.
    let section = text.split("### Several instances").nth(1).expect("the section");
    let config = section.split("```toml\n").nth(1).and_then(|b| b.split("```").next()).expect("its toml block");
    std::fs::write(dir.path().join("njia.toml"), config).unwrap();

    let mut servers = Vec::new();
    for (step, host) in [(Step::FirstInstance, "10.0.0.11:8384"), (Step::SecondInstance, "10.0.0.12:8384")] {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let command = replaced(readme_command(step), "postgres://njia@db:5432/njia", &db.url);
        let command = substitute(&replaced(&command, host, &addr.to_string()));
        // Both start at once, on a database no instance has migrated yet.
        servers.push(Server::start(dir.path(), &command, &[], addr, &format!("{step:?}")));
    }
    for server in &mut servers {
        server.wait_ready();
        let (status, body) = server.get("/readyz");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(r#""store":"ok""#), "{body}");
    }
    // A session started on one instance goes on on the other: sessions live in PostgreSQL.
    let hop = |server: &Server, text: &str| {
        let body = common::at_hop("several1", "+254711000111", "*384#", text);
        http(server.addr, "POST", "/ussd/africastalking", &body).unwrap()
    };
    let (status, first) = hop(&servers[0], "");
    assert_eq!(status, 200);
    assert!(first.starts_with("CON Chagua lugha"), "{first}");
    let (status, second) = hop(&servers[1], "2");
    assert_eq!(status, 200);
    assert!(second.starts_with("CON Welcome to e-Citizen"), "{second}");
    for server in servers {
        server.stop();
    }
    common::drop_database(db).await;
}

// --- The configuration reference -------------------------------------------------------------

/// `a.b` from `a` and `b`.
fn join(path: &str, segment: &str) -> String {
    if path.is_empty() { segment.to_owned() } else { format!("{path}.{segment}") }
}

#[derive(Debug, PartialEq)]
enum Tok {
    Open(char),
    Close(char),
    Comma,
    Colon,
    Word,
    Field(String),
    Str,
}

/// The tokens of a `{:?}` rendering: punctuation, quoted strings, words (numbers, enum
/// variants, addresses such as `127.0.0.1:8384`) and field names (a word followed by `: `).
fn lex(debug: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut chars = debug.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '{' | '[' | '(' => {
                chars.next();
                toks.push(Tok::Open(c));
            }
            '}' | ']' | ')' => {
                chars.next();
                toks.push(Tok::Close(c));
            }
            ',' => {
                chars.next();
                toks.push(Tok::Comma);
            }
            ':' => {
                chars.next();
                toks.push(Tok::Colon);
            }
            '"' => {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                toks.push(Tok::Str);
            }
            _ => {
                let mut word = String::new();
                let mut field = false;
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "{}[](),\"".contains(c) {
                        break;
                    }
                    if c == ':' {
                        let mut ahead = chars.clone();
                        ahead.next();
                        if ahead.peek().is_none_or(|n| n.is_whitespace()) {
                            chars.next();
                            field = true;
                            break;
                        }
                    }
                    word.push(c);
                    chars.next();
                }
                toks.push(if field { Tok::Field(word) } else { Tok::Word });
            }
        }
    }
    toks
}

/// The key paths of a `{:?}` rendering of the configuration: `dispatcher.batch`,
/// `channels.*.header.name` (a map's keys are `*`), and the paths that are maps.
struct DebugPaths {
    paths: BTreeSet<String>,
    maps: BTreeSet<String>,
}

fn debug_value(toks: &[Tok], mut i: usize, path: &str, out: &mut DebugPaths) -> usize {
    let close = |toks: &[Tok], i: usize, c: char| toks.get(i) == Some(&Tok::Close(c));
    match &toks[i] {
        Tok::Word if toks.get(i + 1) == Some(&Tok::Open('{')) => {
            // A struct: `Name { field: value, … }`.
            i += 2;
            while !close(toks, i, '}') {
                let Tok::Field(name) = &toks[i] else { panic!("a field name at {i}: {:?}", &toks[i..]) };
                let p = join(path, name);
                out.paths.insert(p.clone());
                i = debug_value(toks, i + 1, &p, out);
                if toks[i] == Tok::Comma {
                    i += 1;
                }
            }
            i + 1
        }
        Tok::Word if toks.get(i + 1) == Some(&Tok::Open('(')) => {
            // `Some(value)` or another tuple variant: the value is at the same path.
            i += 2;
            while !close(toks, i, ')') {
                i = debug_value(toks, i, path, out);
                if toks[i] == Tok::Comma {
                    i += 1;
                }
            }
            i + 1
        }
        Tok::Word | Tok::Str => i + 1,
        Tok::Open('[') => {
            i += 1;
            while !close(toks, i, ']') {
                i = debug_value(toks, i, path, out);
                if toks[i] == Tok::Comma {
                    i += 1;
                }
            }
            i + 1
        }
        Tok::Open('{') => {
            // A map `{key: value, …}` (or a set); its keys are the operator's names.
            out.maps.insert(path.to_owned());
            i += 1;
            while !close(toks, i, '}') {
                i = debug_value(toks, i, path, out);
                if toks[i] == Tok::Colon {
                    let p = join(path, "*");
                    out.paths.insert(p.clone());
                    i = debug_value(toks, i + 1, &p, out);
                }
                if toks[i] == Tok::Comma {
                    i += 1;
                }
            }
            i + 1
        }
        t => panic!("unexpected {t:?} at {i} of {toks:?}"),
    }
}

/// Every key path of a TOML table, a map's keys written `*`, and each literal path.
fn toml_paths(
    table: &toml::Table,
    path: &str,
    literal: &[String],
    maps: &BTreeSet<String>,
    out: &mut Vec<(String, Vec<String>)>,
) {
    for (key, value) in table {
        let p = join(path, if maps.contains(path) { "*" } else { key });
        let mut l = literal.to_vec();
        l.push(key.clone());
        out.push((p.clone(), l.clone()));
        if let toml::Value::Table(t) = value {
            toml_paths(t, &p, &l, maps, out);
        }
    }
}

/// The comment documenting the key at `path` in a TOML block: the comment lines right above its
/// line and the comment on it. A key inside an inline table is documented on its table's line.
fn comment_of(block: &str, path: &[String]) -> Option<String> {
    let lines: Vec<&str> = block.lines().collect();
    let mut table: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let (code, comment) = split_comment(line.trim());
        let here = if let Some(header) = code.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            table = header.split('.').map(str::to_owned).collect();
            table.clone()
        } else if let Some((key, _)) = code.split_once('=') {
            let mut p = table.clone();
            p.push(key.trim().to_owned());
            p
        } else {
            continue;
        };
        if path.starts_with(&here) && (here.len() == path.len() || !code.starts_with('[')) {
            let above: Vec<&str> =
                lines[..i].iter().rev().take_while(|l| l.trim_start().starts_with('#')).map(|l| l.trim()).collect();
            let mut text: Vec<&str> = above.into_iter().rev().collect();
            text.push(comment);
            return Some(text.join(" "));
        }
    }
    None
}

/// The README's configuration reference: one TOML block with every key. It must load as a
/// configuration file (unknown keys are refused), name every field of the configuration types
/// (found in their `Debug` rendering, so a field added to the types fails here until it is
/// documented), and for every key either show its default (removing the key changes nothing),
/// or say in its comment what the default is (`default`) or that the key is `required`.
#[test]
fn the_configuration_reference_names_every_key_with_its_default() {
    let text = readme();
    let section = text.split("\n## Configuration reference\n").nth(1).expect("a Configuration reference section");
    let block = section.split("```toml\n").nth(1).and_then(|b| b.split("\n```").next()).expect("its toml block");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reference.toml");
    std::fs::write(&file, block).unwrap();
    Config::load(Some(&file)).unwrap_or_else(|e| panic!("the reference does not load: {e}"));
    let table: toml::Table = toml::from_str(block).unwrap();
    let parsed: Config = toml::Value::Table(table.clone()).try_into().unwrap();

    let debug = format!("{parsed:?}");
    let toks = lex(&debug);
    let mut fields = DebugPaths { paths: BTreeSet::new(), maps: BTreeSet::new() };
    assert_eq!(debug_value(&toks, 0, "", &mut fields), toks.len(), "the whole rendering was read");
    // Secrets are never read from a file (`#[serde(skip)]`): they come from the environment.
    fields.paths.remove("secrets");
    // What a sandbox simulates is set by `journey::sandboxed`, never read from a file either.
    fields.paths.remove("simulated_backends");
    let mut keys = Vec::new();
    toml_paths(&table, "", &[], &fields.maps, &mut keys);
    let documented: BTreeSet<String> = keys.iter().map(|(p, _)| p.clone()).collect();
    let undocumented: Vec<&String> = fields.paths.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "the configuration has keys the README's reference does not show: {undocumented:#?}\n\
         (an optional section or key must be written out, so its own keys show too)"
    );
    assert_eq!(documented, fields.paths, "the reference shows keys the configuration does not have");

    let shown = format!("{parsed:?}");
    // Deepest keys first, so a wrong default is reported at its key, not at its section.
    keys.sort_by_key(|(_, literal)| std::cmp::Reverse(literal.len()));
    for (path, literal) in &keys {
        let mut without = table.clone();
        let mut at = &mut without;
        for segment in &literal[..literal.len() - 1] {
            at = at.get_mut(segment).and_then(toml::Value::as_table_mut).unwrap();
        }
        let is_table = matches!(at.remove(&literal[literal.len() - 1]), Some(toml::Value::Table(_)));
        let Some(comment) = comment_of(block, literal) else {
            // `channels` and `backends` are written only through their entries' headers.
            assert!(is_table, "{path}: no line in the reference");
            continue;
        };
        if !is_table {
            assert!(comment.trim_start_matches(['#', ' ']).len() > 2, "{path}: say what it does in a comment");
        }
        match toml::Value::Table(without).try_into::<Config>() {
            Err(_) => assert!(comment.contains("required"), "{path} is required: say so in its comment ({comment})"),
            Ok(c) if format!("{c:?}") != shown => assert!(
                comment.contains("default"),
                "{path}: the value shown is not its default; say what the default is in its comment ({comment})"
            ),
            Ok(_) => {}
        }
    }
}

/// Every other configuration example in the README loads too (menu-file fragments aside).
#[test]
fn every_configuration_example_in_the_readme_loads() {
    let text = readme();
    let dir = tempfile::tempdir().unwrap();
    let mut loaded = 0;
    for (i, block) in text.split("```toml\n").skip(1).enumerate() {
        let block = block.split("```").next().unwrap();
        let block: String = block.lines().map(|l| l.trim_start()).collect::<Vec<_>>().join("\n");
        // Menu fragments, and the catalogue's files (held to the checker in catalogue.rs).
        // Journey files are held to `njia test` in journeys.rs.
        if block.starts_with("[menu]")
            || block.contains("help = \"sms-help\"")
            || block.starts_with("# menus/")
            || block.starts_with("# tests/journeys/")
        {
            continue;
        }
        let file = dir.path().join(format!("{i}.toml"));
        std::fs::write(&file, &block).unwrap();
        Config::load(Some(&file))
            .unwrap_or_else(|e| panic!("the README's configuration example does not load: {e}\n{block}"));
        loaded += 1;
    }
    assert!(loaded >= 6, "only {loaded} configuration examples were found");
}

/// The catalogue's administration commands (README "Administering the catalogue"), run as
/// written in a copy of the menus and locales.
#[test]
fn the_catalogue_commands_as_the_readme_shows_them() {
    let dir = workdir();
    let readme = readme();
    let list = run(dir.path(), &substitute(readme_command(Step::CatalogueList)), "");
    assert_shows(&list, &text_block_after(&readme, "`list` prints one line per service"), "catalogue list");
    let show = run(dir.path(), &substitute(readme_command(Step::CatalogueShow)), "");
    assert!(show.contains("service 3011 (kra-pin-check)"), "{show}");
    assert!(show.contains("[sw] Angalia PIN ya KRA") && show.contains("[en] Check a KRA PIN"), "{show}");
    assert!(show.contains("GSM-7 characters, fits"), "{show}");
    let stats = run(dir.path(), &substitute(readme_command(Step::CatalogueStats)), "");
    assert!(stats.contains("by agency:") && stats.contains("missing translations"), "{stats}");
    let export = run(dir.path(), &substitute(readme_command(Step::CatalogueExport)), "");
    assert!(export.contains("to catalogue.csv"), "{export}");
    let sheet = std::fs::read_to_string(dir.path().join("catalogue.csv")).unwrap();
    assert!(sheet.starts_with("agency,code,id,categories,flow,fee,backend,popularity,"), "{sheet}");
    let import = run(dir.path(), &substitute(readme_command(Step::CatalogueImport)), "");
    assert!(import.contains("nothing changed"), "{import}");
}

/// The README's menu map is what `njia graph --service 4021 --format mermaid` prints.
#[test]
fn the_readme_menu_map_is_the_command_output() {
    let out = common::njia()
        .args(["graph", "--service", "4021", "--format", "mermaid"])
        .current_dir(common::repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    let readme = readme();
    let block = readme.split("```mermaid\n").nth(1).and_then(|b| b.split("```").next()).expect("a Mermaid block");
    assert_eq!(block, printed, "regenerate the README's block with the command");
}

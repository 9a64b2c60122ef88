//! The layer order of the crate's modules, checked on the source: imports run one way, from
//! the binary down to the domain types, with no circle between top-level modules.
//!
//! The test reads every `src/**/*.rs`, takes the `crate::…` paths of each top-level module
//! (`njia::…` in `main.rs`, which is its own crate) outside comments, string literals and
//! `#[cfg(test)]` items, and holds them to [`LAYERS`]. A module may import any module in a
//! lower row and none in its own row or above. A new module has to be given its row here,
//! which is the point: where it sits is decided, not found out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The rows, from the top down. Modules in one row do not import each other.
const LAYERS: &[(&str, &[&str])] = &[
    ("the binary: the command line", &["main"]),
    ("the administrators' console: mounted on the server from above, sandboxes from the journey runner", &["console"]),
    ("journey tests: the whole server in sandbox, walked as a telco would", &["journey"]),
    ("wiring and HTTP serving: builds everything, lends each part what it needs", &["server"]),
    ("what the server's serving uses: operations endpoints, reasoned hyper replies", &["ops", "autoreply"]),
    (
        "reload of the live set; what the other commands run",
        &["reload", "dial", "admin", "catalogue_admin", "reconcile", "graph", "stats", "logging"],
    ),
    ("channels and their dialects, down to a HopSink", &["channel"]),
    ("the checker, which serve and reload run first", &["check"]),
    ("the SMS channel's keywords", &["keywords"]),
    ("one hop end to end; the configuration", &["hub", "config"]),
    ("the hand-off: after the END, decisions and runner", &["handoff"]),
    ("agency backends: delivery and HTTP lookups", &["agency"]),
    ("lookups and live sessions", &["lookup", "session"]),
    ("the pure engine and renderer", &["engine"]),
    ("menus as data, payment providers, metrics", &["menu", "payment", "metrics"]),
    ("the store, Fluent words, SMS senders, typed values, rate limits", &["store", "i18n", "sms", "value", "limit"]),
    (
        "domain types and utilities that import nothing of the crate",
        &["types", "money", "diag", "gsm7", "clock", "lifecycle", "webhook", "shared", "search"],
    ),
];

#[test]
fn every_import_goes_down_the_layers() {
    let modules = declared_modules();
    let rows = rows();
    let mut problems = Vec::new();
    for m in modules.iter().filter(|m| !rows.contains_key(m.as_str())) {
        problems.push(format!("module `{m}` has no row in LAYERS: give it the row it belongs to"));
    }
    for m in rows.keys().filter(|m| **m != "main" && !modules.contains(**m)) {
        problems.push(format!("LAYERS names `{m}`, which src/lib.rs does not declare"));
    }
    let imports = imports(&modules);
    for ((from, to), files) in &imports {
        let (Some(&f), Some(&t)) = (rows.get(from.as_str()), rows.get(to.as_str())) else { continue };
        if t <= f {
            problems.push(format!(
                "`{from}` (row {f}: {}) imports `{to}` (row {t}: {}) in {}: imports go to a lower row only",
                LAYERS[f].0,
                LAYERS[t].0,
                files.iter().cloned().collect::<Vec<_>>().join(", "),
            ));
        }
    }
    assert!(problems.is_empty(), "layer order broken:\n  {}", problems.join("\n  "));
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let modules = declared_modules();
    let edges: BTreeMap<String, BTreeSet<String>> =
        imports(&modules).into_keys().fold(BTreeMap::new(), |mut g, (f, t)| {
            g.entry(f).or_default().insert(t);
            g
        });
    if let Some(circle) = find_circle(&edges) {
        panic!("import circle: {}", circle.join(" -> "));
    }
}

/// The scanner on the forms the crate's sources use; each case would put an edge in the
/// graph that is not there, or miss one that is, if the scanner got it wrong.
#[test]
fn the_scanner_reads_only_code_paths() {
    let cases: &[(&str, &[&str])] = &[
        ("use crate::hub::{Hop, Reply};", &["hub"]),
        ("use crate::{hub::Hop, types::{Msisdn, Locale}, BoxFuture};", &["hub", "types", "BoxFuture"]),
        ("let x = crate::metrics::METRICS.denied;", &["metrics"]),
        ("use crate :: store :: Store;", &["store"]),
        ("// use crate::server::AppState;\nuse crate::hub::Hop;", &["hub"]),
        ("/// See [`crate::server`].\n//! and crate::reload\nfn f() {}", &[]),
        (
            "/* crate::server /* nested crate::ops */ still a comment crate::reload */ use crate::types::Msisdn;",
            &["types"],
        ),
        (r#"let s = "crate::server::AppState"; let r = r"crate::ops"; use crate::money::Kes;"#, &["money"]),
        ("let s = r#\"a \"quoted\" crate::server\"#; use crate::gsm7;", &["gsm7"]),
        (
            "let c = '\"'; use crate::diag::Problem; let d = '\\''; fn f<'a>(x: &'a str) {} use crate::clock;",
            &["diag", "clock"],
        ),
        (
            "#[cfg(test)]\nmod tests {\n    use crate::check::load;\n    fn f() { if true { crate::server::run(); } }\n}\nuse crate::menu::Menu;",
            &["menu"],
        ),
        ("#[cfg(test)]\nuse crate::check::load;\nuse crate::value::Value;", &["value"]),
        ("fn f() -> crate::BoxFuture<'static, ()> { todo() }", &["BoxFuture"]),
    ];
    for (source, want) in cases {
        let got = paths(&code_of(source), "crate");
        assert_eq!(got, *want, "in {source:?}");
    }
}

/// The circle finder on graphs with and without one.
#[test]
fn circles_are_found_and_named() {
    let graph = |edges: &[(&str, &str)]| {
        edges.iter().fold(BTreeMap::<String, BTreeSet<String>>::new(), |mut g, (f, t)| {
            g.entry(f.to_string()).or_default().insert(t.to_string());
            g
        })
    };
    assert_eq!(find_circle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert_eq!(
        find_circle(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")])),
        Some(vec!["a".to_string(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(find_circle(&graph(&[("server", "channel"), ("channel", "server")])).map(|c| c.len()), Some(3));
}

/// Each module's row, 0 at the top.
fn rows() -> BTreeMap<&'static str, usize> {
    let mut rows = BTreeMap::new();
    for (i, (_, modules)) in LAYERS.iter().enumerate() {
        for m in *modules {
            assert!(rows.insert(*m, i).is_none(), "LAYERS names `{m}` twice");
        }
    }
    rows
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules `src/lib.rs` declares.
fn declared_modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("src/lib.rs");
    let code = code_of(&lib);
    let words: Vec<&str> = code.split(|c: char| c.is_whitespace() || c == ';').filter(|w| !w.is_empty()).collect();
    words.windows(2).filter(|w| w[0] == "mod").map(|w| w[1].to_owned()).collect()
}

/// Every import between two different top-level modules, with the files that make it.
fn imports(modules: &BTreeSet<String>) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    assert!(files.len() > 20, "the sources were not found under {}", src().display());
    for file in files {
        let rel = file.strip_prefix(src()).expect("under src").to_string_lossy().replace('\\', "/");
        let top = rel.split('/').next().unwrap_or_default();
        let (module, root) = match top {
            "lib.rs" => continue,
            "main.rs" => ("main".to_owned(), "njia"),
            t => (t.trim_end_matches(".rs").to_owned(), "crate"),
        };
        let text = std::fs::read_to_string(&file).expect("readable source");
        for target in paths(&code_of(&text), root) {
            if target != module && modules.contains(&target) {
                out.entry((module.clone(), target)).or_default().insert(format!("src/{rel}"));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first segment after each `root::` in `code`: `crate::hub::Hop` gives `hub`, and a group
/// `crate::{hub::Hop, types}` gives `hub` and `types`.
fn paths(code: &str, root: &str) -> Vec<String> {
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = code[at..].find(root) {
        let start = at + found;
        at = start + root.len();
        if start > 0 && (ident(bytes[start - 1]) || bytes[start - 1] == b'$')
            || bytes.get(at).is_some_and(|&b| ident(b))
        {
            continue;
        }
        let rest = code[at..].trim_start();
        let Some(rest) = rest.strip_prefix("::") else { continue };
        let rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') && depth == 1 => {
                        let name: String =
                            group[i..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        out.push(name);
                        item_start = false;
                    }
                    c if c.is_whitespace() => {}
                    _ => item_start = false,
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// `source` with comments, string and character literals blanked and `#[cfg(test)]` items
/// removed: what is left is the code that is compiled into the library.
fn code_of(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let at = |i: usize, s: &str| s.chars().enumerate().all(|(k, c)| chars.get(i + k) == Some(&c));
    while i < chars.len() {
        let c = chars[i];
        let after_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if at(i, "//") {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            let mut depth = 0;
            while i < chars.len() {
                if at(i, "/*") {
                    depth += 1;
                    i += 2;
                } else if at(i, "*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if !after_ident && (at(i, "r\"") || at(i, "r#") || at(i, "br\"") || at(i, "br#")) {
            // A raw string: `r`, hashes, a quote, and the same quote and hashes to close.
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < chars.len() && !(chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#'))) {
                j += 1;
            }
            i = j + 1 + hashes;
            out.push_str("\"\"");
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            i = j + 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal (`'x'`, `'\''`, `'\u{41}'`), or else a lifetime (`'a`).
            if chars.get(i + 1) == Some(&'\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                if chars.get(i + 2) == Some(&'\'') {
                    j = i + 3;
                    while j < chars.len() && chars[j] != '\'' {
                        j += 1;
                    }
                }
                i = j + 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    without_test_items(&out)
}

/// `code` without the items `#[cfg(test)]` marks: each runs to its first `;` or the end of its
/// first `{…}` block, whichever comes first.
fn without_test_items(code: &str) -> String {
    let mut code = code.to_owned();
    while let Some(start) = code.find("#[cfg(test)]") {
        let body = start + "#[cfg(test)]".len();
        let mut end = code.len();
        let mut depth = 0;
        for (i, c) in code[body..].char_indices() {
            match c {
                ';' if depth == 0 => {
                    end = body + i + 1;
                    break;
                }
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = body + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        code.replace_range(start..end, " ");
    }
    code
}

/// A circle in `graph` as the path that closes it (`a -> b -> a`), if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = path.iter().position(|n| n == node).unwrap_or(0);
                let mut circle = path[from..].to_vec();
                circle.push(node.to_owned());
                return Some(circle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, marks, path) {
                return Some(circle);
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(circle) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(circle);
        }
    }
    None
}

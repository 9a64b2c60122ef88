//! #14: the administrator's tools besides the console: `njia graph` (a menu as DOT, Mermaid or
//! SVG, drawn from the checker's own map, with a screen the start cannot reach and one with no
//! way out highlighted, and one catalogue service's flow on its own) and `njia schema` (the
//! menu files' JSON Schemas, which must match the shipped ones and describe the shipped files).

use crate::common;

use njia::graph::{self, Format};

const DRAFT: &str = r#"
[menu]
id = "draft"
service_codes = ["*500#"]
start = "home"

[screens.home]
kind = "menu"
text = "home-title"
options = [
  { label = "home-ask", goto = "ask" },
  { label = "home-circle", goto = "circle" },
]

[screens.ask]
kind = "input"
text = "ask"
save_as = "id"
next = "done"

[screens.done]
kind = "end"
text = "done"

[screens.circle]
kind = "menu"
text = "circle"
options = [{ label = "again", goto = "circle" }]

[screens.orphan]
kind = "end"
text = "orphan"
"#;

fn draft() -> (tempfile::TempDir, njia::menu::Menu) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("draft.toml"), DRAFT).unwrap();
    let (mut menus, problems) = njia::menu::load_dir(dir.path());
    assert!(problems.iter().all(|p| !p.is_error()), "{problems:#?}");
    (dir, menus.remove(0))
}

#[test]
fn a_draft_with_an_unreachable_screen_and_a_circle_is_drawn_with_both_marked() {
    let (_keep, m) = draft();
    let dot = graph::draw(&m, None, Format::Dot).unwrap();
    assert!(dot.starts_with("digraph \"draft\" {\n"), "{dot}");
    assert!(
        dot.contains(r##"[label="orphan\n(end)\nUNREACHABLE", shape=ellipse, style="filled", fillcolor="#f8c4c4"]"##),
        "{dot}"
    );
    assert!(
        dot.contains(r##"[label="circle\n(menu)\nNO WAY OUT", shape=box, style="filled", fillcolor="#fbe3b0"]"##),
        "{dot}"
    );
    assert!(dot.contains(r#"[label="home\n(menu)\nstart", shape=box, style="bold"]"#), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 4, "home->ask, home->circle, ask->done, circle->circle: {dot}");

    let mermaid = graph::draw(&m, None, Format::Mermaid).unwrap();
    assert!(mermaid.starts_with("flowchart TD\n"), "{mermaid}");
    assert!(mermaid.contains("([\"orphan<br/>(end)<br/>UNREACHABLE\"])"), "{mermaid}");
    assert!(mermaid.contains(" unreachable;") && mermaid.contains(" stuck;"), "{mermaid}");

    let svg = graph::draw(&m, None, Format::Svg).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.ends_with("</svg>\n"), "{svg}");
    assert_eq!(svg.matches("<g class=\"screen").count(), 5, "{svg}");
    assert!(svg.contains("end · UNREACHABLE") && svg.contains("menu · NO WAY OUT"), "{svg}");
    assert_eq!(svg.matches("<path d=").count(), 4 + 1, "four edges and the arrowhead: {svg}");
}

/// One catalogue service's flow: the land-rates template's screens and nothing else; the
/// command line prints the same.
#[test]
fn one_service_is_drawn_alone_and_the_command_prints_it() {
    let l = common::load(&common::repo());
    let m = l.menus.by_id("ecitizen").unwrap();
    let dot = graph::draw(m, Some(4021), Format::Dot).unwrap();
    for screen in [
        "land-rates\\n(input)",
        "land-rates.due\\n(lookup)",
        "land-rates.confirm\\n(menu)",
        "land-rates.pay\\n(submit)",
    ] {
        assert!(dot.contains(screen), "{screen} in {dot}");
    }
    assert_eq!(dot.matches("[label=").count(), 4, "{dot}");
    assert!(graph::draw(m, Some(99_999), Format::Dot).is_err());

    let out = common::njia()
        .args(["graph", "--service", "4021", "--format", "dot"])
        .current_dir(common::repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), dot);
    let whole = common::njia().args(["graph", "--format", "svg"]).current_dir(common::repo()).output().unwrap();
    let svg = String::from_utf8(whole.stdout).unwrap();
    assert_eq!(svg.matches("<g class=\"screen").count(), m.screens.len(), "every screen of the menu");
    assert!(!svg.contains("UNREACHABLE") && !svg.contains("NO WAY OUT"), "the shipped menu passes check");
}

/// The shipped schemas are what `njia schema` derives from the loader's types now: a change to
/// the format that was not followed by `njia schema --write schemas` fails here.
#[test]
fn the_shipped_schemas_are_current() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::njia().args(["schema", "--write"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for kind in ["menu", "template", "agency"] {
        let shipped = std::fs::read_to_string(common::repo().join(format!("schemas/{kind}.json"))).unwrap();
        let now = std::fs::read_to_string(dir.path().join(format!("{kind}.json"))).unwrap();
        assert!(shipped == now, "schemas/{kind}.json is stale: run `njia schema --write schemas`");
    }
    let printed = common::njia().args(["schema", "menu"]).output().unwrap();
    let shipped = std::fs::read_to_string(common::repo().join("schemas/menu.json")).unwrap();
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), shipped);
}

/// What the schemas say holds of the shipped files: every key the menu, templates and agency
/// files use is a property the schema knows (at the top and in each table), and every
/// required one is there. A light walk, not a validator: enough to catch a schema that
/// describes some other format.
#[test]
fn the_schemas_describe_the_shipped_files() {
    use serde_json::Value;
    let schema = |kind: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(common::repo().join(format!("schemas/{kind}.json"))).unwrap())
            .unwrap()
    };
    fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => resolve(root, &root["definitions"][r.trim_start_matches("#/definitions/")]),
            None => s,
        }
    }
    fn walk(root: &Value, s: &Value, v: &toml::Value, at: &str, problems: &mut Vec<String>) {
        let s = resolve(root, s);
        match v {
            toml::Value::Table(t) => {
                if let Some(props) = s.get("properties").and_then(Value::as_object) {
                    for (k, x) in t {
                        match props.get(k) {
                            Some(p) => walk(root, p, x, &format!("{at}.{k}"), problems),
                            None => problems.push(format!("{at}: {k} is not in the schema")),
                        }
                    }
                    for r in s.get("required").and_then(Value::as_array).into_iter().flatten() {
                        if !t.contains_key(r.as_str().unwrap()) {
                            problems.push(format!("{at}: the schema requires {r}"));
                        }
                    }
                } else if let Some(each) = s.get("additionalProperties").filter(|a| a.is_object()) {
                    for (k, x) in t {
                        walk(root, each, x, &format!("{at}.{k}"), problems);
                    }
                }
            }
            toml::Value::Array(items) => {
                if let Some(each) = s.get("items") {
                    for (i, x) in items.iter().enumerate() {
                        walk(root, each, x, &format!("{at}[{i}]"), problems);
                    }
                }
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    let menus = common::repo().join("menus");
    let files = [
        ("menu", menus.join("ecitizen.toml")),
        ("template", menus.join("templates/pay-by-account.toml")),
        ("template", menus.join("templates/information.toml")),
        ("agency", menus.join("catalogue/lands.toml")),
        ("agency", menus.join("catalogue/kra.toml")),
    ];
    for (kind, file) in files {
        let root = schema(kind);
        let v: toml::Value = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        walk(&root, &root, &v, &file.display().to_string(), &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

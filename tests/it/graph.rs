//! #14: `njia graph`: a menu as DOT, Mermaid or SVG, drawn from the checker's own map, with a
//! screen the start cannot reach and one with no way out highlighted, and one catalogue
//! service's flow on its own.

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

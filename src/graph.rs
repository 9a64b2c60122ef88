//! `njia graph`: a menu drawn as a graph of its screens, for an agency's sign-off document or
//! a first look at a menu someone else wrote: Graphviz DOT, Mermaid, or a self-contained SVG.
//!
//! Screens are drawn by kind (menu, input, lookup, submit, end, language); the start screen is
//! marked; a screen the start cannot reach and a screen with no way out (no path to an end or
//! submit) are highlighted, as `njia check` reports them. The graph is `check::Map`, the one
//! the checker's rules read, so the drawing and the check never disagree. A whole catalogue
//! menu is large (every service's screens); `--service CODE` draws one service's flow.

use std::fmt::Write;

use crate::check::Map;
use crate::menu::{Kind, Menu, ScreenId};

/// How the graph is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Dot,
    Mermaid,
    Svg,
}

/// Why a graph cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("menu {0:?} has no catalogue service with code {1}")]
    NoService(String, u32),
}

/// One screen as drawn.
struct Node<'a> {
    name: &'a str,
    /// Where the drawing starts: the menu's start, or the service's entry.
    root: bool,
    kind: &'static str,
    start: bool,
    unreachable: bool,
    stuck: bool,
}

/// The screens to draw, and the edges between them (indices into the screens).
type Drawn<'a> = (Vec<Node<'a>>, Vec<(usize, usize)>);

/// The screens of `m` to draw (one service's flow, or all) and the edges between them.
fn select<'a>(m: &'a Menu, map: &Map, service: Option<u32>) -> Result<Drawn<'a>, GraphError> {
    let (keep, root): (Vec<bool>, ScreenId) = match service {
        None => (vec![true; m.screens.len()], m.start),
        Some(code) => {
            let c = m.catalogue.as_deref();
            let index = c.and_then(|c| c.index_of(code)).ok_or_else(|| GraphError::NoService(m.id.clone(), code))?;
            let entry = c.map_or(m.start, |c| c.service(index).entry);
            (m.screens.iter().map(|s| s.within == Some(index)).collect(), entry)
        }
    };
    let mut at = vec![usize::MAX; m.screens.len()];
    let mut nodes = Vec::new();
    for (i, s) in m.screens.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        at[i] = nodes.len();
        nodes.push(Node {
            name: &s.name,
            root: ScreenId(i as u16) == root,
            kind: kind_name(&s.kind),
            start: ScreenId(i as u16) == m.start,
            unreachable: !map.reachable[i],
            stuck: !map.way_out[i],
        });
    }
    let mut edges = Vec::new();
    for (from, tos) in map.edges.iter().enumerate() {
        for to in tos {
            let (a, b) = (at[from], at[usize::from(to.0)]);
            if a != usize::MAX && b != usize::MAX && !edges.contains(&(a, b)) {
                edges.push((a, b));
            }
        }
    }
    Ok((nodes, edges))
}

/// A screen's kind as drawn: menu, list, search, secret input, input, lookup, submit, end or
/// language.
pub fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Menu { list: Some(_), .. } => "list",
        Kind::Menu { .. } => "menu",
        Kind::Input(i) if i.search.is_some() => "search",
        Kind::Input(i) if i.secret => "secret input",
        Kind::Input(_) => "input",
        Kind::Lookup(_) => "lookup",
        Kind::Submit(_) => "submit",
        Kind::End => "end",
        Kind::Language { .. } => "language",
    }
}

/// Draws menu `m` (or one catalogue service's flow) in `format`.
pub fn draw(m: &Menu, service: Option<u32>, format: Format) -> Result<String, GraphError> {
    let map = Map::of(m);
    let (nodes, edges) = select(m, &map, service)?;
    Ok(match format {
        Format::Dot => dot(m, &nodes, &edges),
        Format::Mermaid => mermaid(&nodes, &edges),
        Format::Svg => svg(m, &nodes, &edges, None),
    })
}

/// Draws menu `m` (or one catalogue service's flow) as SVG whose every screen is a link to
/// `href(screen name)`: the console's map, where a click (or Enter) opens the screen's texts.
pub fn svg_linked(m: &Menu, service: Option<u32>, href: &dyn Fn(&str) -> String) -> Result<String, GraphError> {
    let map = Map::of(m);
    let (nodes, edges) = select(m, &map, service)?;
    Ok(svg(m, &nodes, &edges, Some(href)))
}

fn dot(m: &Menu, nodes: &[Node<'_>], edges: &[(usize, usize)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quoted(&m.id));
    let _ = writeln!(out, "  rankdir=TB;\n  node [fontname=\"sans-serif\", fontsize=10];");
    for (i, n) in nodes.iter().enumerate() {
        let shape = match n.kind {
            "menu" | "list" | "language" => "box",
            "input" | "secret input" | "search" => "parallelogram",
            "lookup" => "hexagon",
            "submit" => "doubleoctagon",
            _ => "ellipse",
        };
        let mut style = vec![];
        let mut fill = None;
        if n.unreachable {
            fill = Some("#f8c4c4");
        } else if n.stuck {
            fill = Some("#fbe3b0");
        } else if n.kind == "end" || n.kind == "submit" {
            fill = Some("#d6ecd2");
        }
        if fill.is_some() {
            style.push("filled");
        }
        if n.start {
            style.push("bold");
        }
        let _ = write!(out, "  n{i} [label={}, shape={shape}", quoted(&label(n)));
        if !style.is_empty() {
            let _ = write!(out, ", style=\"{}\"", style.join(","));
        }
        if let Some(f) = fill {
            let _ = write!(out, ", fillcolor=\"{f}\"");
        }
        let _ = writeln!(out, "];");
    }
    for (a, b) in edges {
        let _ = writeln!(out, "  n{a} -> n{b};");
    }
    out.push_str("}\n");
    out
}

/// A screen's label: its name, its kind, and what is wrong with it.
fn label(n: &Node<'_>) -> String {
    let mut l = format!("{}\n({})", n.name, n.kind);
    if n.start {
        l.push_str("\nstart");
    }
    if n.unreachable {
        l.push_str("\nUNREACHABLE");
    } else if n.stuck {
        l.push_str("\nNO WAY OUT");
    }
    l
}

fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn mermaid(nodes: &[Node<'_>], edges: &[(usize, usize)]) -> String {
    let mut out = String::from("flowchart TD\n");
    for (i, n) in nodes.iter().enumerate() {
        // Mermaid labels in quotes take any text but a double quote, and <br/> breaks a line.
        let text = label(n).replace('"', "'").replace('\n', "<br/>");
        let (open, close) = match n.kind {
            "menu" | "list" | "language" => ("[", "]"),
            "input" | "secret input" | "search" => ("[/", "/]"),
            "lookup" => ("{{", "}}"),
            "submit" => ("[[", "]]"),
            _ => ("([", "])"),
        };
        let _ = writeln!(out, "  n{i}{open}\"{text}\"{close}");
    }
    for (a, b) in edges {
        let _ = writeln!(out, "  n{a} --> n{b}");
    }
    let _ = writeln!(out, "  classDef unreachable fill:#f8c4c4,stroke:#b00;");
    let _ = writeln!(out, "  classDef stuck fill:#fbe3b0,stroke:#b60;");
    let _ = writeln!(out, "  classDef done fill:#d6ecd2;");
    for (class, pick) in [
        ("unreachable", &(|n: &Node<'_>| n.unreachable) as &dyn Fn(&Node<'_>) -> bool),
        ("stuck", &|n: &Node<'_>| !n.unreachable && n.stuck),
        ("done", &|n: &Node<'_>| !n.unreachable && !n.stuck && (n.kind == "end" || n.kind == "submit")),
    ] {
        let ids: Vec<String> =
            nodes.iter().enumerate().filter(|(_, n)| pick(n)).map(|(i, _)| format!("n{i}")).collect();
        if !ids.is_empty() {
            let _ = writeln!(out, "  class {} {class};", ids.join(","));
        }
    }
    out
}

const NODE_H: f64 = 40.0;
const LAYER_GAP: f64 = 70.0;
const NODE_GAP: f64 = 24.0;
const MARGIN: f64 = 20.0;
/// Width of one character of the labels, at 11px sans-serif, rounded up.
const CHAR_W: f64 = 6.6;

/// A self-contained SVG: screens in layers by their distance from the start (those it cannot
/// reach in a last layer), each layer ordered by where its screens' first parents are, edges
/// as curves with arrowheads. No layout engine: a menu is mostly a tree, which this draws well.
fn svg(m: &Menu, nodes: &[Node<'_>], edges: &[(usize, usize)], href: Option<&dyn Fn(&str) -> String>) -> String {
    let n = nodes.len();
    let mut children = vec![Vec::new(); n];
    for &(a, b) in edges {
        children[a].push(b);
    }
    // Layers by breadth-first distance from the start (or from the first node of a service).
    let mut layer = vec![usize::MAX; n];
    let root = nodes.iter().position(|x| x.root).or_else(|| (n > 0).then_some(0));
    let mut queue = std::collections::VecDeque::new();
    if let Some(r) = root {
        layer[r] = 0;
        queue.push_back(r);
    }
    let mut parent = vec![usize::MAX; n];
    while let Some(a) = queue.pop_front() {
        for &b in &children[a] {
            if layer[b] == usize::MAX {
                layer[b] = layer[a] + 1;
                parent[b] = a;
                queue.push_back(b);
            }
        }
    }
    let deepest = layer.iter().filter(|&&l| l != usize::MAX).max().copied().unwrap_or(0);
    for l in layer.iter_mut().filter(|l| **l == usize::MAX) {
        *l = deepest + 1;
    }
    let layers = layer.iter().max().map_or(0, |&d| d + 1);
    // Within a layer, by the position of the parent that found it, then by screen order.
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    let mut pos = vec![0usize; n];
    for (d, row) in rows.iter_mut().enumerate() {
        let mut members: Vec<usize> = (0..n).filter(|&i| layer[i] == d).collect();
        members.sort_by_key(|&i| (if parent[i] == usize::MAX { usize::MAX } else { pos[parent[i]] }, i));
        for (p, &i) in members.iter().enumerate() {
            pos[i] = p;
        }
        *row = members;
    }
    // As wide as the two lines drawn in the box: the name, and the kind with what is wrong
    // (`end · UNREACHABLE` is longer than any line of the DOT label).
    let width_of = |i: usize| -> f64 {
        let longest = nodes[i].name.chars().count().max(svg_status(&nodes[i]).chars().count()).max(1);
        (longest as f64 * CHAR_W + 16.0).max(60.0)
    };
    let mut x = vec![0f64; n];
    let mut total_w: f64 = 0.0;
    for row in &rows {
        let mut cx = MARGIN;
        for &i in row {
            x[i] = cx;
            cx += width_of(i) + NODE_GAP;
        }
        total_w = total_w.max(cx);
    }
    let y = |i: usize| MARGIN + layer[i] as f64 * (NODE_H + LAYER_GAP);
    let total_h = MARGIN * 2.0 + layers as f64 * (NODE_H + LAYER_GAP);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total_w:.0}\" height=\"{total_h:.0}\" viewBox=\"0 0 {total_w:.0} {total_h:.0}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(out, "<title>{}</title>", xml(&m.id));
    out.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n",
    );
    for &(a, b) in edges {
        let (x1, y1) = (x[a] + width_of(a) / 2.0, y(a) + NODE_H);
        let (x2, y2) = (x[b] + width_of(b) / 2.0, y(b));
        let path = if layer[b] > layer[a] {
            let mid = (y1 + y2) / 2.0;
            format!("M{x1:.1},{y1:.1} C{x1:.1},{mid:.1} {x2:.1},{mid:.1} {x2:.1},{y2:.1}")
        } else {
            // Back to an earlier layer (Back, Try again): around the side.
            let side = x[a].max(x[b]) + width_of(a).max(width_of(b)) + 30.0;
            format!("M{x1:.1},{y1:.1} C{side:.1},{:.1} {side:.1},{:.1} {x2:.1},{y2:.1}", y1 + 40.0, y2 - 40.0)
        };
        let _ = writeln!(out, "<path d=\"{path}\" fill=\"none\" stroke=\"#777\" marker-end=\"url(#arrow)\"/>");
    }
    for (i, node) in nodes.iter().enumerate() {
        let fill = if node.unreachable {
            "#f8c4c4"
        } else if node.stuck {
            "#fbe3b0"
        } else if node.kind == "end" || node.kind == "submit" {
            "#d6ecd2"
        } else {
            "#ffffff"
        };
        let stroke_w = if node.start { 2.5 } else { 1.0 };
        let rx = match node.kind {
            "end" | "submit" => 18,
            "lookup" => 2,
            _ => 6,
        };
        if let Some(href) = href {
            let _ = write!(out, "<a href=\"{}\">", xml(&href(node.name)));
        }
        let _ = writeln!(
            out,
            "<g class=\"screen {}\" data-screen=\"{}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{NODE_H}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"#333\" stroke-width=\"{stroke_w}\"/>",
            node.kind.replace(' ', "-"),
            xml(node.name),
            x[i],
            y(i),
            width_of(i)
        );
        let cx = x[i] + width_of(i) / 2.0;
        let status = svg_status(node);
        let _ = writeln!(
            out,
            "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text><text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444\">{}</text></g>",
            y(i) + 16.0,
            xml(node.name),
            y(i) + 31.0,
            xml(&status)
        );
        if href.is_some() {
            out.push_str("</a>\n");
        }
    }
    out.push_str("</svg>\n");
    out
}

/// The second line of a screen's box in the SVG: its kind, and what is wrong with it.
fn svg_status(n: &Node<'_>) -> String {
    let mut status = String::from(n.kind);
    if n.unreachable {
        status.push_str(" · UNREACHABLE");
    } else if n.stuck {
        status.push_str(" · NO WAY OUT");
    }
    status
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

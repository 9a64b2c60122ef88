//! The administrators' catalogue commands: list, show, stats, and the spreadsheet round trip.
//!
//! Everything reads the catalogue as `njia check` loads it (the same rules, the same limits), so
//! what these commands show is what serving would serve. `import` writes nothing until the whole
//! catalogue, rewritten from the spreadsheet, passes those rules in a temporary copy of the menus
//! and locales; every problem is then reported at the spreadsheet row an administrator fixes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::check::{self, Loaded, Options};
use crate::diag::Problem;
use crate::gsm7;
use crate::i18n::Catalog;
use crate::menu::catalogue::{CODE_VAR, Catalogue, FEE_VAR, NAME_VAR, Paid, Service, name_id};
use crate::menu::{Kind, Menu};
use crate::types::Locale;

/// Width assumed for a variable with no declared maximum (the checker reports it as an error).
const UNKNOWN_WIDTH: usize = 20;

/// Why a catalogue command could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The menus or locales do not pass `njia check`; these are its problems.
    #[error("the menus or locales have problems (`njia check` lists them)")]
    Check(Vec<Problem>),
    #[error("no menu has a [catalogue] table: add one to a menu file (see the README's \"The catalogue\")")]
    NoCatalogue,
    #[error("menus {0} and {1} both have a [catalogue] table: keep one catalogue per menus folder")]
    TwoCatalogues(String, String),
    #[error("there is no service with code {0}: `njia catalogue list` shows the codes")]
    NoSuchCode(u32),
    #[error("{0}")]
    Refused(String),
    /// The spreadsheet has bad rows; nothing was written.
    #[error("nothing was written: {} problem(s) in the spreadsheet", .0.len())]
    Rows(Vec<RowProblem>),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CatalogueError {
    let what = what.into();
    move |source| CatalogueError::Io { what, source }
}

/// One problem of an import, at the spreadsheet row to fix (`None`: not any one row's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The spreadsheet's row number: the header is row 1.
    pub row: Option<usize>,
    /// The row's code and id as the spreadsheet gives them, to find it by.
    pub service: String,
    pub what: String,
    pub fix: String,
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.row {
            Some(r) => write!(f, "row {r} ({}): {} — {}", self.service, self.what, self.fix),
            None => write!(f, "{} — {}", self.what, self.fix),
        }
    }
}

/// The loaded menus and locales with the menu that holds the catalogue.
pub struct Admin {
    pub loaded: Loaded,
    menu: usize,
    /// Locales in the order the columns and `show` give them: the fallback chain first.
    pub locales: Vec<Locale>,
    /// The smallest screen limit the catalogue's menu is served at.
    pub limit: usize,
    locales_dir: PathBuf,
}

impl Admin {
    /// Loads the menus and locales as `njia check` does; refuses with every problem when any
    /// is an error.
    pub fn open(opts: &Options<'_>) -> Result<Admin, CatalogueError> {
        let loaded = check::load(opts).map_err(CatalogueError::Check)?;
        let with: Vec<usize> =
            loaded.menus.menus.iter().enumerate().filter(|(_, m)| m.catalogue.is_some()).map(|(i, _)| i).collect();
        let menu = match with.as_slice() {
            [] => return Err(CatalogueError::NoCatalogue),
            [one] => *one,
            [a, b, ..] => {
                return Err(CatalogueError::TwoCatalogues(
                    loaded.menus.menus[*a].id.clone(),
                    loaded.menus.menus[*b].id.clone(),
                ));
            }
        };
        let mut locales: Vec<Locale> = opts.fallback.iter().filter(|l| loaded.catalog.has_locale(l)).cloned().collect();
        for l in loaded.catalog.locales() {
            if !locales.contains(l) {
                locales.push(l.clone());
            }
        }
        let id = loaded.menus.menus[menu].id.clone();
        let limit = opts.limits_serving(&id).into_iter().min().unwrap_or(opts.limit);
        Ok(Admin { loaded, menu, locales, limit, locales_dir: opts.locales_dir.to_path_buf() })
    }

    pub fn menu(&self) -> &Menu {
        &self.loaded.menus.menus[self.menu]
    }

    pub fn catalogue(&self) -> &Catalogue {
        // `open` chose a menu that has one.
        self.menu().catalogue.as_deref().map_or(&EMPTY, |c| c)
    }

    fn words(&self) -> &Catalog {
        &self.loaded.catalog
    }

    /// A service's name in `locale`, formatted as citizens read it.
    fn name(&self, locale: &Locale, s: &Service) -> String {
        self.words().format(locale, &s.name, None).into_owned()
    }

    fn flow(&self, s: &Service) -> String {
        if s.flow.is_empty() { format!("screen:{}", self.menu().screen(s.entry).name) } else { s.flow.clone() }
    }

    /// The rows as the spreadsheet has them, in the catalogue's order.
    pub fn rows(&self) -> Result<Vec<Row>, CatalogueError> {
        let cat = self.catalogue();
        let mut sources = Sources::default();
        let mut rows = Vec::new();
        for s in &cat.services {
            let agency = &cat.agencies[usize::from(s.agency)];
            // A row's backend is written only when it is not its agency's (own-screen rows
            // never inherit one).
            let backend = match &s.backend {
                Some(b) if s.flow.is_empty() || agency.backend.as_ref() != Some(b) => b.clone(),
                _ => String::new(),
            };
            let mut words = BTreeMap::new();
            for l in &self.locales {
                let (name, keywords) = match self.words().message(l, &s.name) {
                    Some(info) => sources.name_and_keywords(&info.file, info.line)?,
                    None => (String::new(), String::new()),
                };
                words.insert(l.as_str().to_owned(), (name, keywords));
            }
            rows.push(Row {
                agency: agency.id.clone(),
                code: s.code.to_string(),
                id: s.id.clone(),
                categories: s
                    .categories
                    .iter()
                    .map(|&c| cat.categories[usize::from(c)].clone())
                    .collect::<Vec<_>>()
                    .join(" "),
                flow: self.flow(s),
                fee: match s.paid {
                    Paid::Fixed(k) => k.get().to_string(),
                    Paid::Free | Paid::LookedUp => String::new(),
                },
                backend,
                popularity: if s.popularity == 0 { String::new() } else { s.popularity.to_string() },
                params: s.params.iter().filter(|(_, v)| !v.is_empty()).cloned().collect(),
                words,
            });
        }
        Ok(rows)
    }
}

static EMPTY: std::sync::LazyLock<Catalogue> = std::sync::LazyLock::new(Catalogue::default);

/// One service as a spreadsheet row: every field as text, as written in the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub agency: String,
    pub code: String,
    pub id: String,
    /// Category ids, space separated.
    pub categories: String,
    /// A template id, or `screen:NAME` for a service with its own screens.
    pub flow: String,
    pub fee: String,
    pub backend: String,
    pub popularity: String,
    /// The template parameters the row sets.
    pub params: BTreeMap<String, String>,
    /// Per locale: the name and the search words (the Fluent source of `svc-<id>` and its
    /// `.keywords`).
    pub words: BTreeMap<String, (String, String)>,
}

// --- list, show, stats ------------------------------------------------------------------------

/// `njia catalogue list`: one line per service, optionally of one agency and/or category.
pub fn list(admin: &Admin, agency: Option<&str>, category: Option<&str>) -> Result<String, CatalogueError> {
    let cat = admin.catalogue();
    if let Some(a) = agency
        && !cat.agencies.iter().any(|x| x.id == a)
    {
        let known: Vec<&str> = cat.agencies.iter().map(|x| x.id.as_str()).collect();
        return Err(CatalogueError::Refused(format!("--agency {a}: no such agency (there are: {})", known.join(", "))));
    }
    if let Some(c) = category
        && !cat.categories.iter().any(|x| x == c)
    {
        return Err(CatalogueError::Refused(format!(
            "--category {c}: no such category (there are: {})",
            cat.categories.join(", ")
        )));
    }
    let locale = admin.locales.first().cloned();
    let mut table: Vec<[String; 6]> = vec![[
        "CODE".into(),
        "AGENCY".into(),
        "ID".into(),
        "FLOW".into(),
        "PAYMENT".into(),
        format!("NAME ({})", locale.as_ref().map_or("-", |l| l.as_str())),
    ]];
    for s in &cat.services {
        let a = &cat.agencies[usize::from(s.agency)];
        if agency.is_some_and(|x| x != a.id) {
            continue;
        }
        if category.is_some_and(|c| !s.categories.iter().any(|&i| cat.categories[usize::from(i)] == c)) {
            continue;
        }
        table.push([
            s.code.to_string(),
            a.id.clone(),
            s.id.clone(),
            admin.flow(s),
            payment(s.paid),
            locale.as_ref().map(|l| admin.name(l, s)).unwrap_or_default(),
        ]);
    }
    let n = table.len() - 1;
    let mut out = aligned(&table);
    let _ = writeln!(out, "{n} service(s)");
    Ok(out)
}

fn payment(p: Paid) -> String {
    match p {
        Paid::Free => "free".into(),
        Paid::Fixed(k) => format!("KES {}", k.formatted()),
        Paid::LookedUp => "looked up".into(),
    }
}

/// Columns padded to their widest cell (the last column is not padded).
fn aligned<const N: usize>(table: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < N {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `njia catalogue show CODE`: the service's row and its screens in every locale, each at its
/// worst case (every variable at its declared maximum width) with its size against the limit.
pub fn show(admin: &Admin, code: u32) -> Result<String, CatalogueError> {
    let cat = admin.catalogue();
    let s = cat.by_code(code).ok_or(CatalogueError::NoSuchCode(code))?;
    let m = admin.menu();
    let agency = &cat.agencies[usize::from(s.agency)];
    let mut out = String::new();
    let _ = writeln!(out, "service {} ({})  dial *{}*{}#", s.code, s.id, menu_code(m), s.code);
    let _ = writeln!(out, "  agency      {}", agency.id);
    let cats: Vec<&str> = s.categories.iter().map(|&c| cat.categories[usize::from(c)].as_str()).collect();
    let _ = writeln!(out, "  categories  {}", cats.join(" "));
    let _ = writeln!(out, "  flow        {}", admin.flow(s));
    let _ = writeln!(out, "  payment     {}", payment(s.paid));
    let _ = writeln!(out, "  backend     {}", s.backend.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "  popularity  {}", s.popularity);
    for (k, v) in &s.params {
        let _ = writeln!(out, "  param       {k} = {v}");
    }
    let _ = writeln!(out, "  defined at  {}:{}", s.place.file.display(), s.place.line);
    let screens = service_screens(m, s);
    for l in &admin.locales {
        let words = admin.words();
        // What entering the service sets is known here: its own name, code and fee, at their
        // real widths rather than the widest any service may have.
        let name_width = admin.name(l, s).chars().count();
        let code_width = s.code.to_string().len();
        let fee_width = match s.paid {
            Paid::Fixed(k) => Some(k.formatted().chars().count()),
            Paid::Free | Paid::LookedUp => None,
        };
        let declared = |v: &str| m.var_widths.get(v).copied().unwrap_or(UNKNOWN_WIDTH);
        let widths = |v: &str| match v {
            NAME_VAR => name_width,
            CODE_VAR => code_width,
            FEE_VAR => fee_width.unwrap_or_else(|| declared(v)),
            _ => declared(v),
        };
        let _ = writeln!(out, "\n[{l}] {}", admin.name(l, s));
        if let Some(k) = words.attribute(l, &s.name, "keywords") {
            let _ = writeln!(out, "  search words: {k}");
        }
        for &i in &screens {
            let screen = &m.screens[i];
            if let (Kind::Lookup(lk), None) = (&screen.kind, &screen.text) {
                let _ = writeln!(
                    out,
                    "  -- {} (lookup): asks {} for {}, shows nothing",
                    screen.name, lk.backend, lk.operation
                );
                continue;
            }
            let text = render_worst(screen, words, l, &widths);
            let (cost, room) = gsm7::measure(&text, admin.limit);
            let enc = cost.encoding.name();
            let verdict = if cost.units <= room {
                "fits"
            } else if matches!(screen.kind, Kind::Menu { .. }) {
                "over: shown on several pages"
            } else {
                "OVER THE LIMIT"
            };
            let _ = writeln!(
                out,
                "  -- {} ({}): {} of {room} {enc} characters, {verdict}",
                screen.name,
                kind_name(&screen.kind),
                cost.units
            );
            for line in text.lines() {
                let _ = writeln!(out, "  | {line}");
            }
        }
    }
    let _ = writeln!(
        out,
        "\nWorst case: every variable at its declared maximum width, shown as X (the service's own name, \
         code and fee at their widths); navigation and error lines come on top (`njia check` counts them)."
    );
    Ok(out)
}

/// The code the menu answers on, without `*` and `#` (`384`).
fn menu_code(m: &Menu) -> String {
    m.service_codes.first().map(|c| crate::menu::normalize_code(c)).unwrap_or_default()
}

/// The screens a service's flow instantiated (its start screen is named after it, the others
/// `<id>.<screen>`); a service with its own screens shows the one it starts on.
fn service_screens(m: &Menu, s: &Service) -> Vec<usize> {
    let entry = usize::from(s.entry.0);
    if s.flow.is_empty() {
        return vec![entry];
    }
    let prefix = format!("{}.", s.id);
    let mut v = vec![entry];
    v.extend((0..m.screens.len()).filter(|&i| i != entry && m.screens[i].name.starts_with(&prefix)));
    v
}

fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Menu { .. } => "menu",
        Kind::Input(_) => "input",
        Kind::Lookup(_) => "lookup",
        Kind::Submit(_) => "submit",
        Kind::End => "end",
        Kind::Language { .. } => "language",
    }
}

/// A screen's text and options at their widest.
fn render_worst(screen: &crate::menu::Screen, words: &Catalog, l: &Locale, widths: &dyn Fn(&str) -> usize) -> String {
    let worst = |id: &str| words.worst_case(l, id, &widths).unwrap_or_default();
    let mut lines: Vec<String> = Vec::new();
    if let Some(t) = &screen.text {
        lines.push(worst(&t.id));
    }
    match &screen.kind {
        Kind::Menu { options, list } => {
            let mut n = 1;
            if let Some(list) = list {
                lines.push(format!("1. {} (one line per item of ${})", "X".repeat(widths(&list.var)), list.var));
                n = crate::engine::MAX_LIST_ITEMS + 1;
            }
            for (k, o) in options.iter().enumerate() {
                lines.push(format!("{}. {}", n + k, worst(&o.label.id)));
            }
        }
        Kind::Language { options, .. } => {
            for (k, o) in options.iter().enumerate() {
                lines.push(format!("{}. {}", k + 1, worst(&o.label.id)));
            }
        }
        Kind::Lookup(_) | Kind::Input(_) | Kind::Submit(_) | Kind::End => {}
    }
    lines.join("\n")
}

/// `njia catalogue stats`: counts by agency, category and template; paid and free; missing
/// translations per locale.
pub fn stats(admin: &Admin) -> Result<String, CatalogueError> {
    let cat = admin.catalogue();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} services, {} agencies, {} categories, {} templates",
        cat.services.len(),
        cat.agencies.len(),
        cat.categories.len(),
        cat.templates.len()
    );
    let count = |f: &dyn Fn(&Service) -> bool| cat.services.iter().filter(|s| f(s)).count();
    let mut table: Vec<[String; 2]> = Vec::new();
    let _ = writeln!(out, "\nby agency:");
    for (i, a) in cat.agencies.iter().enumerate() {
        table.push([a.id.clone(), count(&|s| usize::from(s.agency) == i).to_string()]);
    }
    out.push_str(&indent(&aligned(&table)));
    table.clear();
    let _ = writeln!(out, "\nby category (a service may be in several):");
    for (i, c) in cat.categories.iter().enumerate() {
        table.push([c.clone(), count(&|s| s.categories.iter().any(|&x| usize::from(x) == i)).to_string()]);
    }
    out.push_str(&indent(&aligned(&table)));
    table.clear();
    let _ = writeln!(out, "\nby template:");
    for t in &cat.templates {
        table.push([t.id.clone(), count(&|s| s.flow == t.id).to_string()]);
    }
    table.push(["(own screens)".into(), count(&|s| s.flow.is_empty()).to_string()]);
    out.push_str(&indent(&aligned(&table)));
    table.clear();
    let _ = writeln!(out, "\npayment:");
    table.push(["fixed fee".into(), count(&|s| matches!(s.paid, Paid::Fixed(_))).to_string()]);
    table.push(["looked up".into(), count(&|s| s.paid == Paid::LookedUp).to_string()]);
    table.push(["free".into(), count(&|s| s.paid == Paid::Free).to_string()]);
    out.push_str(&indent(&aligned(&table)));
    table.clear();
    let _ = writeln!(out, "\nmissing translations (service names and search words):");
    let words = admin.words();
    for l in &admin.locales {
        let names = count(&|s| words.message(l, &s.name).is_none());
        let keywords = count(&|s| words.attribute(l, &s.name, "keywords").is_none_or(|k| k.trim().is_empty()));
        table.push([l.as_str().to_owned(), format!("{names} name(s), {keywords} without search words")]);
    }
    out.push_str(&indent(&aligned(&table)));
    Ok(out)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

// --- export ------------------------------------------------------------------------------------

/// The fixed columns, before the parameters and the words.
const FIXED: [&str; 8] = ["agency", "code", "id", "categories", "flow", "fee", "backend", "popularity"];

/// The columns of the spreadsheet for these rows: the fixed ones, one per parameter any
/// template declares (or any row sets), then name and keywords per locale.
fn header(admin: &Admin, rows: &[Row]) -> Vec<String> {
    let mut params: BTreeSet<String> = BTreeSet::new();
    for t in &admin.catalogue().templates {
        params.extend(t.params.iter().map(|(n, _, _)| n.clone()));
    }
    for r in rows {
        params.extend(r.params.keys().cloned());
    }
    let mut h: Vec<String> = FIXED.iter().map(|s| (*s).to_owned()).collect();
    h.extend(params.iter().map(|p| format!("param_{p}")));
    for l in &admin.locales {
        h.push(format!("name_{l}"));
        h.push(format!("keywords_{l}"));
    }
    h
}

/// `njia catalogue export --csv`: one row per service.
pub fn export_csv(admin: &Admin) -> Result<String, CatalogueError> {
    let rows = admin.rows()?;
    let header = header(admin, &rows);
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| CatalogueError::Refused(format!("writing CSV: {e}"));
    w.write_record(&header).map_err(csv_err)?;
    for r in &rows {
        let record: Vec<&str> = header.iter().map(|h| r.cell(h)).collect();
        w.write_record(&record).map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| CatalogueError::Refused(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| CatalogueError::Refused(format!("writing CSV: {e}")))
}

impl Row {
    fn cell(&self, column: &str) -> &str {
        match column {
            "agency" => &self.agency,
            "code" => &self.code,
            "id" => &self.id,
            "categories" => &self.categories,
            "flow" => &self.flow,
            "fee" => &self.fee,
            "backend" => &self.backend,
            "popularity" => &self.popularity,
            _ => {
                if let Some(p) = column.strip_prefix("param_") {
                    return self.params.get(p).map_or("", String::as_str);
                }
                if let Some(l) = column.strip_prefix("name_") {
                    return self.words.get(l).map_or("", |w| w.0.as_str());
                }
                if let Some(l) = column.strip_prefix("keywords_") {
                    return self.words.get(l).map_or("", |w| w.1.as_str());
                }
                ""
            }
        }
    }

    fn label(&self) -> String {
        match (self.code.is_empty(), self.id.is_empty()) {
            (false, false) => format!("code {}, id {}", self.code, self.id),
            (false, true) => format!("code {}", self.code),
            (true, false) => format!("id {}", self.id),
            (true, true) => "no code, no id".into(),
        }
    }
}

// --- Fluent sources ---------------------------------------------------------------------------

/// Fluent files read for their raw text.
#[derive(Default)]
struct Sources {
    files: HashMap<PathBuf, String>,
}

impl Sources {
    fn text(&mut self, file: &Path) -> Result<&str, CatalogueError> {
        if !self.files.contains_key(file) {
            let text = std::fs::read_to_string(file).map_err(io(format!("reading {}", file.display())))?;
            self.files.insert(file.to_path_buf(), text);
        }
        Ok(self.files.get(file).map_or("", String::as_str))
    }

    /// The name (the message's value) and search words (its `.keywords`) of the message that
    /// starts on `line` (1-based), as written.
    fn name_and_keywords(&mut self, file: &Path, line: usize) -> Result<(String, String), CatalogueError> {
        let text = self.text(file)?;
        let lines: Vec<&str> = text.lines().collect();
        let Some(first) = lines.get(line.saturating_sub(1)) else { return Ok(Default::default()) };
        let mut name = first.split_once('=').map_or("", |(_, v)| v).trim().to_owned();
        let mut keywords = String::new();
        for l in lines.iter().skip(line).take_while(|l| l.starts_with([' ', '\t'])) {
            let t = l.trim();
            if let Some(rest) = t.strip_prefix(".keywords") {
                keywords = rest.trim_start().strip_prefix('=').unwrap_or(rest).trim().to_owned();
            } else if !t.starts_with('.') {
                // A name continued on the next line reads as one line with a space.
                if !name.is_empty() {
                    name.push(' ');
                }
                name.push_str(t);
            }
        }
        Ok((name, keywords))
    }
}

/// The blocks of a Fluent file: each message (its first line and the indented lines after it)
/// as `(id, first line, end line)` (0-based, end exclusive).
fn message_blocks(lines: &[&str]) -> Vec<(String, usize, usize)> {
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let id: String = l.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        if !id.is_empty() && l[id.len()..].trim_start().starts_with('=') && !l.starts_with('-') {
            let mut end = i + 1;
            while end < lines.len() && lines[end].starts_with([' ', '\t']) && !lines[end].trim().is_empty() {
                end += 1;
            }
            blocks.push((id, i, end));
            i = end;
        } else {
            i += 1;
        }
    }
    blocks
}

/// The Fluent source of a service's name and search words.
fn message_source(id: &str, name: &str, keywords: &str) -> Vec<String> {
    let mut v = vec![format!("{} = {name}", name_id(id))];
    if !keywords.is_empty() {
        v.push(format!("    .keywords = {keywords}"));
    }
    v
}

// --- import -----------------------------------------------------------------------------------

/// What an import changed.
#[derive(Debug, Default)]
pub struct Imported {
    pub services: usize,
    /// The files rewritten, as the menus and locales folders name them.
    pub written: Vec<PathBuf>,
}

/// A row read from the spreadsheet with its row number.
struct Numbered {
    number: usize,
    row: Row,
}

/// `njia catalogue import --csv`: replaces the catalogue with the spreadsheet's rows, if the
/// whole result passes every check; otherwise reports every problem at its row and writes
/// nothing.
pub fn import_csv(opts: &Options<'_>, csv_text: &str) -> Result<Imported, CatalogueError> {
    let admin = Admin::open(opts)?;
    let (rows, mut problems) = read_csv(&admin, csv_text)?;
    let plan = plan(&admin, &rows, &mut problems)?;
    // Rows with a problem of their own went into the copy mended (see `read_csv`), so the check
    // still finds every other row's problems; what it says of those rows is not repeated.
    let bad: BTreeSet<usize> = problems.iter().filter_map(|p| p.row).collect();
    // Check the rewritten catalogue in a copy: the real files are untouched until it passes.
    let tmp = TempDir::new()?;
    let menus_copy = tmp.path.join("menus");
    let locales_copy = tmp.path.join("locales");
    copy_dir(opts.menus_dir, &menus_copy)?;
    copy_dir(opts.locales_dir, &locales_copy)?;
    let to_copy = |p: &Path| -> Option<PathBuf> {
        p.strip_prefix(opts.menus_dir)
            .map(|r| menus_copy.join(r))
            .or_else(|_| p.strip_prefix(opts.locales_dir).map(|r| locales_copy.join(r)))
            .ok()
    };
    for (path, text) in &plan.files {
        let copy = to_copy(path).ok_or_else(|| {
            CatalogueError::Refused(format!(
                "{} is outside the menus and locales folders: keep the catalogue's files inside them",
                path.display()
            ))
        })?;
        if let Some(dir) = copy.parent() {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        std::fs::write(&copy, text).map_err(io(format!("writing {}", copy.display())))?;
    }
    let copy_opts = Options { menus_dir: &menus_copy, locales_dir: &locales_copy, ..opts.clone() };
    let found = check::load(&copy_opts).err().unwrap_or_default();
    if !found.is_empty() || !problems.is_empty() {
        // Where each row landed in the copy, to report a problem at the row it came from.
        let mut places: Vec<(PathBuf, usize, usize, usize)> = Vec::new();
        for (path, spans) in &plan.spans {
            if let Some(copy) = to_copy(path) {
                places.extend(spans.iter().map(|&(row, from, to)| (copy.clone(), row, from, to)));
            }
        }
        let by_number: HashMap<usize, &Row> = rows.iter().map(|n| (n.number, &n.row)).collect();
        let ids: Vec<(usize, String)> = rows.iter().map(|n| (n.number, n.row.id.clone())).collect();
        for p in found.into_iter().filter(Problem::is_error) {
            let row = places
                .iter()
                .find(|(f, _, from, to)| *f == p.file && (*from..=*to).contains(&p.line))
                .map(|(_, row, _, _)| *row)
                .or_else(|| {
                    // A message missing in a locale names it: svc-<id>.
                    ids.iter().find(|(_, id)| p.what.contains(&format!("\"{}\"", name_id(id)))).map(|(r, _)| *r)
                })
                .or_else(|| {
                    // A new agency's name (agency-<id>): the first row of that agency.
                    rows.iter().find(|n| p.what.contains(&format!("\"agency-{}\"", n.row.agency))).map(|n| n.number)
                });
            if row.is_some_and(|r| bad.contains(&r)) {
                continue;
            }
            let real = |f: &Path| {
                f.strip_prefix(&menus_copy)
                    .map(|r| opts.menus_dir.join(r))
                    .or_else(|_| f.strip_prefix(&locales_copy).map(|r| opts.locales_dir.join(r)))
                    .unwrap_or_else(|_| f.to_path_buf())
            };
            // A problem may point at another place of the copy ("also used at FILE:LINE"):
            // name the row there, or the real file.
            let mend = |text: &str| {
                let mut t = text.to_owned();
                for (f, r, from, to) in &places {
                    for line in *from..=*to {
                        t = t.replace(&format!("{}:{line}", f.display()), &format!("row {r}"));
                    }
                }
                t.replace(&menus_copy.display().to_string(), &opts.menus_dir.display().to_string())
                    .replace(&locales_copy.display().to_string(), &opts.locales_dir.display().to_string())
            };
            problems.push(RowProblem {
                row,
                service: row.and_then(|r| by_number.get(&r)).map(|r| r.label()).unwrap_or_default(),
                what: if row.is_some() {
                    mend(&p.what)
                } else {
                    format!("{}:{}: {}", real(&p.file).display(), p.line, mend(&p.what))
                },
                fix: mend(&p.fix),
            });
        }
        problems.sort_by_key(|p| p.row.unwrap_or(usize::MAX));
        let mut seen = BTreeSet::new();
        problems.retain(|p| seen.insert((p.row, p.what.clone())));
        return Err(CatalogueError::Rows(problems));
    }
    drop(tmp);
    let mut written = Vec::new();
    for (path, text) in &plan.files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        std::fs::write(path, text).map_err(io(format!("writing {}", path.display())))?;
        written.push(path.clone());
    }
    Ok(Imported { services: rows.len(), written })
}

/// The spreadsheet's rows, and the problems of each row that need no loading to see.
fn read_csv(admin: &Admin, text: &str) -> Result<(Vec<Numbered>, Vec<RowProblem>), CatalogueError> {
    let mut problems = Vec::new();
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| CatalogueError::Refused(format!("reading the header row: {e}")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let locales: Vec<String> = admin.locales.iter().map(|l| l.as_str().to_owned()).collect();
    let header_problem =
        |what: String, fix: &str| RowProblem { row: Some(1), service: "header".into(), what, fix: fix.into() };
    for required in FIXED
        .iter()
        .copied()
        .chain(locales.iter().map(|l| format!("name_{l}")).collect::<Vec<_>>().iter().map(String::as_str))
    {
        if !header.iter().any(|h| h == required) {
            problems.push(header_problem(
                format!("there is no column {required:?}"),
                "keep the header row `njia catalogue export --csv` writes",
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for h in &header {
        let known = FIXED.contains(&h.as_str())
            || h.strip_prefix("param_").is_some_and(|p| !p.is_empty())
            || h.strip_prefix("name_")
                .or_else(|| h.strip_prefix("keywords_"))
                .is_some_and(|l| locales.iter().any(|x| x == l));
        if !known {
            problems.push(header_problem(
                format!("unknown column {h:?}"),
                &format!(
                    "columns are {}, param_<parameter>, and name_<locale> and keywords_<locale> for {}",
                    FIXED.join(", "),
                    locales.join(", ")
                ),
            ));
        }
        if !seen.insert(h.clone()) {
            problems.push(header_problem(format!("column {h:?} is there twice"), "keep one"));
        }
    }
    if !problems.is_empty() {
        return Err(CatalogueError::Rows(problems));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let number = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(RowProblem {
                    row: Some(number),
                    service: String::new(),
                    what: format!("unreadable: {e}"),
                    fix: "save the sheet as CSV (UTF-8) again".into(),
                });
                continue;
            }
        };
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            problems.push(RowProblem {
                row: Some(number),
                service: String::new(),
                what: format!("it has {} cells, the header {}", record.len(), header.len()),
                fix: "give every row the header's columns".into(),
            });
            continue;
        }
        let get =
            |c: &str| header.iter().position(|h| h == c).and_then(|i| record.get(i)).unwrap_or("").trim().to_owned();
        let mut row = Row {
            agency: get("agency"),
            code: get("code"),
            id: get("id"),
            categories: get("categories").split_whitespace().collect::<Vec<_>>().join(" "),
            flow: get("flow"),
            fee: get("fee"),
            backend: get("backend"),
            popularity: get("popularity"),
            params: BTreeMap::new(),
            words: BTreeMap::new(),
        };
        for h in &header {
            if let Some(p) = h.strip_prefix("param_") {
                let v = get(h);
                if !v.is_empty() {
                    row.params.insert(p.to_owned(), v);
                }
            }
        }
        for l in &locales {
            row.words.insert(l.clone(), (get(&format!("name_{l}")), get(&format!("keywords_{l}"))));
        }
        let mut bad = |what: String, fix: &str| {
            problems.push(RowProblem { row: Some(number), service: row.label(), what, fix: fix.into() });
        };
        for (column, value) in [("agency", &row.agency), ("id", &row.id), ("code", &row.code), ("flow", &row.flow)] {
            if value.is_empty() {
                bad(format!("{column} is empty"), "fill it in (every row needs agency, code, id and flow)");
            }
        }
        if !row.agency.is_empty() && !is_id(&row.agency) {
            bad(
                format!("agency {:?} is not a plain id", row.agency),
                "use lowercase letters, digits and dashes, e.g. kra",
            );
        }
        if !row.id.is_empty() && !is_id(&row.id) {
            bad(
                format!("id {:?} is not a plain id", row.id),
                "use lowercase letters, digits and dashes, e.g. kra-pin-check",
            );
        }
        if !row.code.is_empty() && row.code.parse::<i64>().is_err() {
            bad(
                format!("code {:?} is not a number", row.code),
                "give the number dialled after the menu's code, e.g. 4021",
            );
        }
        if !row.popularity.is_empty() && row.popularity.parse::<u32>().is_err() {
            bad(
                format!("popularity {:?} is not a whole number", row.popularity),
                "write a whole number such as 50, or leave it empty",
            );
        }
        if let Some(screen) = row.flow.strip_prefix("screen:")
            && !row.params.is_empty()
        {
            bad(
                format!("a service with its own screens ({screen}) takes no template parameters"),
                "empty the param_ cells, or give a template in flow",
            );
        }
        for l in &locales {
            let (name, keywords) = &row.words[l];
            if name.is_empty() {
                bad(format!("name_{l} is empty"), &format!("give the service's name in {l}"));
            }
            if name.contains(['\n', '\r']) || keywords.contains(['\n', '\r']) {
                bad(
                    format!("name_{l} or keywords_{l} spans several lines"),
                    "write names and search words on one line",
                );
            }
        }
        if problems.iter().any(|p| p.row == Some(number)) {
            // Never written for real: mended only so the rest of the sheet can be checked.
            if !is_id(&row.agency) {
                continue;
            }
            if row.code.parse::<i64>().is_err() {
                row.code = "0".into();
            }
            if row.popularity.parse::<u32>().is_err() {
                row.popularity.clear();
            }
            if row.flow.starts_with("screen:") {
                row.params.clear();
            }
            for (name, keywords) in row.words.values_mut() {
                *name = name.replace(['\n', '\r'], " ");
                *keywords = keywords.replace(['\n', '\r'], " ");
                if name.is_empty() {
                    name.clone_from(&row.id);
                }
            }
        }
        rows.push(Numbered { number, row });
    }
    Ok((rows, problems))
}

/// Lowercase letters, digits and dashes, starting with a letter or digit.
fn is_id(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('-') && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The files an import writes, and where each row's lines are in them.
struct Plan {
    /// Full new text per file (only the files that change).
    files: BTreeMap<PathBuf, String>,
    /// Per file: (row number, first line, last line), 1-based.
    spans: BTreeMap<PathBuf, Vec<(usize, usize, usize)>>,
}

fn plan(admin: &Admin, rows: &[Numbered], problems: &mut Vec<RowProblem>) -> Result<Plan, CatalogueError> {
    let cat = admin.catalogue();
    let mut files = BTreeMap::new();
    let mut spans: BTreeMap<PathBuf, Vec<(usize, usize, usize)>> = BTreeMap::new();

    // Two rows with one id would write one message twice: say so here, where the rows are known.
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    for n in rows {
        if n.row.id.is_empty() {
            continue;
        }
        if let Some(first) = first_of.get(n.row.id.as_str()) {
            problems.push(RowProblem {
                row: Some(n.number),
                service: n.row.label(),
                what: format!("id {:?} is also the id of row {first}", n.row.id),
                fix: "give every service its own id".into(),
            });
        } else {
            first_of.insert(&n.row.id, n.number);
        }
    }

    // Agency files: the existing ones keep their header comments and [agency] table.
    let current = admin.rows()?;
    let mut agencies: Vec<&str> = Vec::new();
    for n in rows {
        if !agencies.contains(&n.row.agency.as_str()) {
            agencies.push(&n.row.agency);
        }
    }
    for a in &agencies {
        let mine: Vec<&Numbered> = rows.iter().filter(|n| n.row.agency == *a).collect();
        let existing = cat.agencies.iter().find(|x| x.id == *a);
        let file = existing.map_or_else(|| cat.dir.join(format!("{a}.toml")), |x| x.file.clone());
        let before: Vec<&Row> = current.iter().filter(|r| r.agency == *a).collect();
        let old = match existing {
            Some(_) => std::fs::read_to_string(&file).map_err(io(format!("reading {}", file.display())))?,
            None => String::new(),
        };
        let (text, row_spans) = agency_file(a, &old, existing.and_then(|x| x.backend.as_deref()), &mine);
        spans.insert(file.clone(), row_spans);
        // An agency whose rows are unchanged keeps its file as written, comments and all.
        let same = before.len() == mine.len() && before.iter().zip(&mine).all(|(b, n)| **b == n.row);
        if !same {
            files.insert(file, text);
        }
    }
    // Agencies with no row left keep their [agency] table and lose their services.
    for x in &cat.agencies {
        if !agencies.contains(&x.id.as_str()) {
            let old = std::fs::read_to_string(&x.file).map_err(io(format!("reading {}", x.file.display())))?;
            let (text, _) = agency_file(&x.id, &old, x.backend.as_deref(), &[]);
            if current.iter().any(|r| r.agency == x.id) {
                files.insert(x.file.clone(), text);
            }
        }
    }

    // Fluent files: every svc-<id> message of an old or new service is replaced in place, or
    // moved to its agency's file; every other line stays.
    let old_ids: BTreeSet<&str> = cat.services.iter().map(|s| s.id.as_str()).collect();
    for l in &admin.locales {
        let mut texts: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
        let load = |p: &Path, texts: &mut BTreeMap<PathBuf, Vec<String>>| -> Result<(), CatalogueError> {
            if !texts.contains_key(p) {
                let lines = if p.exists() {
                    std::fs::read_to_string(p)
                        .map_err(io(format!("reading {}", p.display())))?
                        .lines()
                        .map(str::to_owned)
                        .collect()
                } else {
                    Vec::new()
                };
                texts.insert(p.to_path_buf(), lines);
            }
            Ok(())
        };
        // Where each old message is.
        let mut at: HashMap<String, PathBuf> = HashMap::new();
        for id in old_ids.iter().copied().chain(rows.iter().map(|n| n.row.id.as_str())) {
            if let Some(info) = admin.words().message(l, &name_id(id)) {
                at.insert(id.to_owned(), info.file.to_path_buf());
            }
        }
        let target = |agency: &str| admin.loaded_locales_dir(l).join("catalogue").join(format!("{agency}.ftl"));
        // Replace in place where the message stays in its file; mark the others for removal.
        let mut placed: BTreeSet<String> = BTreeSet::new();
        for file in at.values() {
            load(file, &mut texts)?;
        }
        let new_rows: HashMap<&str, &Numbered> = rows.iter().map(|n| (n.row.id.as_str(), n)).collect();
        for (file, lines) in &mut texts {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let blocks = message_blocks(&refs);
            let mut out: Vec<String> = Vec::new();
            let mut next = 0;
            for (mid, from, to) in blocks {
                let Some(id) = mid.strip_prefix("svc-") else { continue };
                if !at.contains_key(id) || at.get(id) != Some(file) {
                    continue;
                }
                out.extend(lines[next..from].iter().cloned());
                next = to;
                if let Some(n) = new_rows.get(id)
                    && target(&n.row.agency) == *file
                    && placed.insert(id.to_owned())
                {
                    let (name, kw) = &n.row.words[l.as_str()];
                    out.extend(message_source(id, name, kw));
                }
            }
            out.extend(lines[next..].iter().cloned());
            *lines = out;
        }
        // Messages that are new, or move to another agency's file, go at the end of it.
        for n in rows {
            if n.row.id.is_empty() || placed.contains(&n.row.id) || first_of.get(n.row.id.as_str()) != Some(&n.number) {
                continue;
            }
            let file = target(&n.row.agency);
            load(&file, &mut texts)?;
            let lines = texts.entry(file).or_default();
            if lines.is_empty() {
                lines.push(format!("# {}: service names and search words.", n.row.agency));
                lines.push(String::new());
            }
            let (name, kw) = &n.row.words[l.as_str()];
            lines.extend(message_source(&n.row.id, name, kw));
            placed.insert(n.row.id.clone());
        }
        for (file, lines) in texts {
            let mut text = lines.join("\n");
            text.push('\n');
            let refs: Vec<&str> = text.lines().collect();
            let row_of: HashMap<String, usize> = rows.iter().map(|n| (name_id(&n.row.id), n.number)).collect();
            let s = spans.entry(file.clone()).or_default();
            for (mid, from, to) in message_blocks(&refs) {
                if let Some(&r) = row_of.get(&mid) {
                    s.push((r, from + 1, to));
                }
            }
            let old = std::fs::read_to_string(&file).unwrap_or_default();
            if old != text {
                files.insert(file, text);
            }
        }
    }
    Ok(Plan { files, spans })
}

impl Admin {
    /// The folder of `locale`'s files, found from where the catalogue's shared words are.
    fn loaded_locales_dir(&self, l: &Locale) -> PathBuf {
        self.locales_dir.join(l.as_str())
    }
}

/// An agency file: the old file's header comments, its `[agency]` table, then the rows.
/// Returns the text and each row's lines (row number, first, last; 1-based).
fn agency_file(
    agency: &str,
    old: &str,
    backend: Option<&str>,
    rows: &[&Numbered],
) -> (String, Vec<(usize, usize, usize)>) {
    let mut out = String::new();
    let header: Vec<&str> =
        old.lines().take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#')).collect();
    if header.iter().all(|l| l.trim().is_empty()) {
        let _ = writeln!(out, "# {agency}: written by `njia catalogue import`.");
        out.push('\n');
    } else {
        for l in &header {
            out.push_str(l);
            out.push('\n');
        }
    }
    out.push_str("[agency]\n");
    let _ = writeln!(out, "id = {}", quote(agency));
    if let Some(b) = backend {
        let _ = writeln!(out, "backend = {}", quote(b));
    }
    let mut spans = Vec::new();
    for n in rows {
        let r = &n.row;
        out.push('\n');
        let first = out.lines().count() + 1;
        out.push_str("[[service]]\n");
        // A code that is no number was reported already; it is written as text so the rest
        // of the file can still be checked.
        let _ = writeln!(out, "code = {}", if r.code.parse::<i64>().is_ok() { r.code.clone() } else { quote(&r.code) });
        let _ = writeln!(out, "id = {}", quote(&r.id));
        let cats: Vec<String> = r.categories.split_whitespace().map(quote).collect();
        let _ = writeln!(out, "categories = [{}]", cats.join(", "));
        match r.flow.strip_prefix("screen:") {
            Some(s) => {
                let _ = writeln!(out, "screen = {}", quote(s.trim()));
            }
            None => {
                let _ = writeln!(out, "flow = {}", quote(&r.flow));
            }
        }
        if !r.fee.is_empty() {
            let digits = r.fee.bytes().all(|b| b.is_ascii_digit()) && r.fee.parse::<i64>().is_ok();
            let _ = writeln!(out, "fee = {}", if digits { r.fee.clone() } else { quote(&r.fee) });
        }
        if !r.backend.is_empty() {
            let _ = writeln!(out, "backend = {}", quote(&r.backend));
        }
        if !r.popularity.is_empty() {
            let _ = writeln!(out, "popularity = {}", r.popularity);
        }
        if !r.params.is_empty() {
            let ps: Vec<String> = r.params.iter().map(|(k, v)| format!("{} = {}", key(k), quote(v))).collect();
            let _ = writeln!(out, "params = {{ {} }}", ps.join(", "));
        }
        spans.push((n.number, first, out.lines().count()));
    }
    (out, spans)
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A TOML key: bare when it can be.
fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_owned()
    } else {
        quote(k)
    }
}

/// A folder under the system's temporary directory, removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new() -> Result<TempDir, CatalogueError> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("njia-import-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(io(format!("creating {}", path.display())))?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), CatalogueError> {
    std::fs::create_dir_all(to).map_err(io(format!("creating {}", to.display())))?;
    for entry in std::fs::read_dir(from).map_err(io(format!("reading {}", from.display())))? {
        let entry = entry.map_err(io(format!("reading {}", from.display())))?;
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &dest)?;
        } else {
            std::fs::copy(&path, &dest).map_err(io(format!("copying {}", path.display())))?;
        }
    }
    Ok(())
}

/// `njia catalogue misses`: one line per day and search word that found nothing, most searched
/// first.
pub fn misses_table(misses: &[crate::store::Miss]) -> String {
    use std::fmt::Write as _;
    if misses.is_empty() {
        return "no search found nothing in these days\n".to_owned();
    }
    let mut out = String::from("DAY         COUNT  WORDS\n");
    for m in misses {
        let _ = writeln!(out, "{}  {:>5}  {}", crate::clock::format_day(m.day), m.count, m.term);
    }
    let total: i64 = misses.iter().map(|m| m.count).sum();
    let _ = writeln!(out, "{} word(s), {total} search(es)", misses.len());
    out
}

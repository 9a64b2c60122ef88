//! Catalogue rows and templates into screen definitions, before the menu compiles.
//!
//! Each instantiated field gets a synthetic span ([`Synth`]) that the compiler maps back to a
//! real place: the catalogue row's parameter when the field holds one (a bad pattern is the
//! row's mistake), else the template line (a bad `next` is the template's). So the compiler,
//! which knows nothing of catalogues, reports every mistake where an administrator fixes it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::model::{AgencyFile, CatalogueDef, Fee, ServiceDef, TemplateFile};
use super::{
    Agency, BROWSE, CODE_VAR, CODES, Catalogue, DIAL_VAR, NAME_VAR, NAME_WIDTH, NONE, Paid, Payment, QUERY_VAR,
    QUERY_WIDTH, RESULTS, RESULTS_VAR, Recent, SEARCH, Service, Template,
};
use crate::diag::{LineIndex, Place, Problem};
use crate::menu::ScreenId;
use crate::menu::closest;
use crate::menu::model::{MenuFile, OptionDef, PaymentDef, ScreenDef, ValidateDef, VariableDef};
use crate::money::Kes;

/// Places for spans that point into no single source: a span at or above `BASE` is an index
/// into the list.
#[derive(Default)]
pub struct Synth(Vec<Place>);

const BASE: usize = usize::MAX / 2;

impl Synth {
    /// A span that stands for `place`.
    pub fn span(&mut self, place: Place) -> Range<usize> {
        let at = BASE + self.0.len();
        self.0.push(place);
        at..at
    }

    /// The place a synthetic span stands for; `None` for a span into the menu file itself.
    pub fn place(&self, span: &Range<usize>) -> Option<&Place> {
        span.start.checked_sub(BASE).and_then(|i| self.0.get(i))
    }
}

/// A file read for the catalogue, kept for placing its spans.
struct Source {
    file: std::sync::Arc<Path>,
    text: String,
    lines: LineIndex,
}

impl Source {
    fn place(&self, span: Range<usize>) -> Place {
        Place::at_indexed(&self.file, &self.text, &self.lines, span.start)
    }
}

/// The catalogue, its services' entry screens by name (resolved once the menu compiles), and
/// a hash of every file read (a menu's version changes with any of them).
pub struct Expanded {
    pub catalogue: Catalogue,
    pub entries: Vec<String>,
    pub hash: u64,
    /// The template files: problems placed in them are reported once, not once per service.
    pub template_files: HashSet<PathBuf>,
}

struct LoadedTemplate {
    info: Template,
    src: Source,
    def: TemplateFile,
    /// Declared parameters and their defaults.
    params: BTreeMap<String, Option<String>>,
}

/// The catalogue's own screens under `catalogue.`, which no category may be named.
const RESERVED_SCREENS: &[&str] = &["search", "results", "none"];

/// Parameters every row provides without writing them.
const RESERVED: &[&str] = &["service", "code", "agency", "backend", "fee", "name"];

/// Reads the catalogue a menu's `[catalogue]` table names, and adds its screens and variables
/// to `raw`. Problems are pushed with their places; `None` when nothing could be read.
pub fn expand(
    menu_file: &Path,
    def: &CatalogueDef,
    menu_place: &dyn Fn(Range<usize>) -> Place,
    raw: &mut MenuFile,
    synth: &mut Synth,
    problems: &mut Vec<Problem>,
) -> Option<Expanded> {
    let start = problems.len();
    let base = menu_file.parent().unwrap_or(Path::new("."));
    let folder = |f: &Option<Spanned<String>>, default: &str| base.join(f.as_ref().map_or(default, |s| s.get_ref()));
    let dir = folder(&def.services, "catalogue");
    let templates_dir = folder(&def.templates, "templates");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();

    // Categories, in the order written.
    let mut categories: Vec<String> = Vec::new();
    let mut category_places = Vec::new();
    for c in def.categories.get_ref() {
        let id = c.get_ref();
        if !is_id(id) {
            problems.push(Problem::error(
                menu_place(c.span()),
                format!("category id {id:?} is not a plain id"),
                "use lowercase letters, digits and dashes, e.g. land",
            ));
        } else if categories.contains(id) {
            problems.push(Problem::error(
                menu_place(c.span()),
                format!("category {id:?} is listed twice"),
                "list it once",
            ));
        } else if RESERVED_SCREENS.contains(&id.as_str()) {
            // Its browse screen would be the search's (`catalogue.search`).
            problems.push(Problem::error(
                menu_place(c.span()),
                format!("category id {id:?} is the name of one of the catalogue's own screens"),
                format!("use another id: {} are taken", RESERVED_SCREENS.join(", ")),
            ));
        } else {
            categories.push(id.clone());
            category_places.push(menu_place(c.span()));
        }
    }

    let (templates, broken_templates) = load_templates(&templates_dir, &mut hasher, problems);
    let files = read_toml_dir(&dir, "agency", problems);
    let mut agencies: Vec<Agency> = Vec::new();
    let mut rows: Vec<(u16, Spanned<ServiceDef>, usize)> = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    let mut agency_places: Vec<Place> = Vec::new();
    let mut backend_places: Vec<Option<Place>> = Vec::new();
    for (file, text) in files {
        (file.file_name(), &text).hash(&mut hasher);
        let Some(parsed) = parse::<AgencyFile>(&file, &text, "agency file", problems) else { continue };
        let src = Source { lines: LineIndex::new(&text), file: file.as_path().into(), text };
        let id = parsed.agency.id.get_ref().clone();
        let place = src.place(parsed.agency.id.span());
        if !is_id(&id) {
            problems.push(Problem::error(
                place,
                format!("agency id {id:?} is not a plain id"),
                "use lowercase letters, digits and dashes, e.g. kra",
            ));
            continue;
        }
        if let Some(i) = agencies.iter().position(|a| a.id == id) {
            let first = &agency_places[i];
            problems.push(Problem::error(
                place,
                format!("agency {id:?} is also defined in {}:{}", first.file.display(), first.line),
                "give each agency one file",
            ));
            continue;
        }
        let Ok(agency) = u16::try_from(agencies.len()) else {
            problems.push(Problem::error(
                Place::whole_file(&src.file),
                "more than 65,535 agencies in one catalogue",
                "split the catalogue over several menus",
            ));
            break;
        };
        agencies.push(Agency {
            id,
            file: src.file.to_path_buf(),
            backend: parsed.agency.backend.as_ref().map(|b| b.get_ref().clone()),
        });
        agency_places.push(place);
        backend_places.push(parsed.agency.backend.as_ref().map(|b| src.place(b.span())));
        for row in parsed.service {
            rows.push((agency, row, sources.len()));
        }
        sources.push(src);
    }

    // The screens written by hand: a service or generated screen may not take their names.
    let taken: HashSet<String> = raw.screens.keys().map(|k| k.get_ref().clone()).collect();
    let mut services: Vec<Service> = Vec::new();
    let mut entries: Vec<String> = Vec::new();
    let mut codes: HashMap<u32, Place> = HashMap::new();
    let mut ids: HashMap<String, Place> = HashMap::new();
    let mut unknown_params: BTreeMap<(PathBuf, usize, usize, String), (Place, String)> = BTreeMap::new();
    let template_ids: Vec<&str> = templates.iter().map(|t| t.info.id.as_str()).collect();
    let mut row_vars: BTreeMap<String, (Place, VariableDef)> = BTreeMap::new();
    for (agency, row, s) in &rows {
        let src = &sources[*s];
        let r = row.get_ref();
        let row_place = src.place(row.span());
        if services.len() >= usize::from(u16::MAX) {
            problems.push(Problem::error(
                row_place,
                "more than 65,534 services in one catalogue",
                "split the catalogue over several menus",
            ));
            break;
        }
        let before = problems.len();
        let code = *r.code.get_ref();
        if !CODES.contains(&code) {
            problems.push(Problem::error(
                src.place(r.code.span()),
                format!("code {code} cannot be dialled as *384*{code}#"),
                format!("use a number from {} to {}", CODES.start(), CODES.end()),
            ));
        }
        let code = u32::try_from(code).unwrap_or(0);
        if let Some(first) = codes.get(&code) {
            problems.push(Problem::error(
                src.place(r.code.span()),
                format!("code {code} is also used at {}:{}", first.file.display(), first.line),
                "give every service its own code",
            ));
        }
        let id = r.id.get_ref().clone();
        if !is_id(&id) {
            problems.push(Problem::error(
                src.place(r.id.span()),
                format!("service id {id:?} is not a plain id"),
                "use lowercase letters, digits and dashes, e.g. land-rates",
            ));
        } else if let Some(first) = ids.get(&id) {
            problems.push(Problem::error(
                src.place(r.id.span()),
                format!("service id {id:?} is also used at {}:{}", first.file.display(), first.line),
                "give every service its own id",
            ));
        } else if r.screen.is_none() && (taken.contains(&id) || id == BROWSE) {
            // A template's screens are named after the service: they would take the menu's.
            problems.push(Problem::error(
                src.place(r.id.span()),
                format!("service id {id:?} is the name of a screen of the menu"),
                "rename the service or the screen",
            ));
        }
        let mut cats = Vec::new();
        if r.categories.get_ref().is_empty() {
            problems.push(Problem::error(
                src.place(r.categories.span()),
                format!("service {id:?} is in no category"),
                "list at least one, e.g. categories = [\"land\"]",
            ));
        }
        for c in r.categories.get_ref() {
            match categories.iter().position(|k| k == c.get_ref()) {
                Some(i) => cats.push(u16::try_from(i).unwrap_or(u16::MAX)),
                None => {
                    let known: Vec<&str> = categories.iter().map(String::as_str).collect();
                    problems.push(Problem::error(
                        src.place(c.span()),
                        format!("unknown category {:?}", c.get_ref()),
                        did_you_mean(c.get_ref(), &known, "use one of the menu's categories"),
                    ));
                }
            }
        }
        let flow = match (&r.flow, &r.screen) {
            (Some(flow), None) => flow,
            (None, Some(screen)) => {
                // Its own screens: the menu must have the one it starts on, no other service
                // may start there (its code would open the other), and what only a template
                // reads would be silently ignored.
                if let Some(other) = entries.iter().position(|e| e == screen.get_ref()) {
                    problems.push(Problem::error(
                        src.place(screen.span()),
                        format!("service {:?} already starts on screen {:?}", services[other].id, screen.get_ref()),
                        "give each service its own screen",
                    ));
                }
                for (field, span) in
                    [("fee", r.fee.as_ref().map(Spanned::span)), ("params", r.params.keys().next().map(Spanned::span))]
                {
                    if let Some(span) = span {
                        problems.push(Problem::error(
                            src.place(span),
                            format!("service {id:?} has its own screens, which do not read {field}"),
                            format!("remove {field}, or use a template (flow = \"…\")"),
                        ));
                    }
                }
                if !taken.contains(screen.get_ref()) {
                    let known: Vec<&str> = taken.iter().map(String::as_str).collect();
                    problems.push(Problem::error(
                        src.place(screen.span()),
                        format!("unknown screen {:?}", screen.get_ref()),
                        closest(screen.get_ref(), &known)
                            .map_or_else(|| "name a screen of the menu".to_owned(), |k| format!("did you mean {k:?}?")),
                    ));
                }
                if problems.len() > before {
                    continue;
                }
                codes.insert(code, src.place(r.code.span()));
                ids.insert(id.clone(), src.place(r.id.span()));
                entries.push(screen.get_ref().clone());
                let backend = r.backend.as_ref().map(|b| b.get_ref().clone());
                let backend = backend.or_else(|| agencies[usize::from(*agency)].backend.clone());
                services.push(Service::of_row(code, id, *agency, cats, backend, r, row_place));
                continue;
            }
            _ => {
                problems.push(Problem::error(
                    row_place,
                    format!("service {id:?} needs either flow (a template) or screen (its own screens)"),
                    "write flow = \"<template>\", or screen = \"<the menu's screen it starts on>\"",
                ));
                continue;
            }
        };
        let Some(t) = templates.iter().find(|t| t.info.id == *flow.get_ref()) else {
            if broken_templates.contains(flow.get_ref()) {
                // Its template's own mistake was reported where it is.
                continue;
            }
            problems.push(Problem::error(
                src.place(flow.span()),
                format!("unknown template {:?}", flow.get_ref()),
                did_you_mean(flow.get_ref(), &template_ids, "use one of"),
            ));
            continue;
        };
        let paid = match (t.info.payment, &r.fee) {
            (Payment::Fixed, Some(fee)) => match parse_fee(fee.get_ref()) {
                Ok(kes) => Paid::Fixed(kes),
                Err(why) => {
                    problems.push(Problem::error(
                        src.place(fee.span()),
                        format!("fee {} is not an amount: {why}", show_fee(fee.get_ref())),
                        "write whole shillings: fee = 1050 or fee = \"1,050\"",
                    ));
                    Paid::Free
                }
            },
            (Payment::Fixed, None) => {
                problems.push(Problem::error(
                    row_place.clone(),
                    format!("service {id:?} uses template {:?}, which charges a fixed fee, but has none", t.info.id),
                    "add fee = <whole shillings>",
                ));
                Paid::Free
            }
            (_, Some(fee)) => {
                problems.push(Problem::error(
                    src.place(fee.span()),
                    format!("template {:?} charges no fixed fee", t.info.id),
                    "remove fee, or use a template with payment = \"fixed\"",
                ));
                Paid::Free
            }
            (Payment::Lookup, None) => Paid::LookedUp,
            (Payment::None, None) => Paid::Free,
        };
        let agency_def = &agencies[usize::from(*agency)];
        let backend = r.backend.as_ref().map(|b| (b.get_ref().clone(), src.place(b.span()))).or_else(|| {
            let at = backend_places[usize::from(*agency)].clone();
            agency_def.backend.clone().zip(at)
        });
        // The values a template's `{param}` takes, with the place to blame for each.
        let mut values: Vec<(String, String, Place)> = vec![
            ("service".into(), id.clone(), src.place(r.id.span())),
            ("code".into(), code.to_string(), src.place(r.code.span())),
            ("agency".into(), agency_def.id.clone(), agency_places[usize::from(*agency)].clone()),
            ("name".into(), super::name_id(&id), src.place(r.id.span())),
        ];
        if let Some((b, at)) = &backend {
            values.push(("backend".into(), b.clone(), at.clone()));
        }
        if let (Paid::Fixed(kes), Some(fee)) = (paid, &r.fee) {
            values.push(("fee".into(), kes.get().to_string(), src.place(fee.span())));
        }
        let declared: Vec<&str> = t.params.keys().map(String::as_str).collect();
        for (k, v) in &r.params {
            if !t.params.contains_key(k.get_ref()) {
                problems.push(Problem::error(
                    src.place(k.span()),
                    format!("template {:?} has no parameter {:?}", t.info.id, k.get_ref()),
                    did_you_mean(k.get_ref(), &declared, "its parameters are"),
                ));
            } else {
                values.push((k.get_ref().clone(), v.get_ref().clone(), src.place(v.span())));
            }
        }
        for (p, default) in &t.params {
            if r.params.keys().any(|k| k.get_ref() == p) {
                continue;
            }
            match default {
                // A default may use the row's own values: `svc-{service}-info`.
                Some(d) => {
                    let (text, _) = substitute(d, &values, &mut |_| {});
                    values.push((p.clone(), text, row_place.clone()));
                }
                None => problems.push(Problem::error(
                    row_place.clone(),
                    format!("service {id:?} does not give template {:?} its parameter {p:?}", t.info.id),
                    format!("add params.{p} = \"…\" ({})", t.info.params_about(p)),
                )),
            }
        }
        if problems.len() > before {
            continue;
        }
        codes.insert(code, src.place(r.code.span()));
        ids.insert(id.clone(), src.place(r.id.span()));
        let mut filler = Filler { id: &id, template: t, values: &values, synth, missing: BTreeSet::new() };
        let start = filler.local_name(t.def.template.start.get_ref());
        let mut screens = Vec::with_capacity(t.def.screens.len());
        for (name, screen) in &t.def.screens {
            let at = t.src.place(name.span());
            let name = Spanned::new(filler.synth.span(at.clone()), filler.local_name(name.get_ref()));
            let screen = Spanned::new(filler.synth.span(at), filler.screen(screen.get_ref()));
            screens.push((name, screen));
        }
        // Variables named by a parameter take the row's name for them.
        for (name, def) in t.def.variables.iter().filter(|(k, _)| k.get_ref().contains('{')) {
            let var = filler.string(name);
            let at = t.src.place(name.span());
            row_vars.entry(var.get_ref().clone()).or_insert_with(|| (at, def.get_ref().clone()));
        }
        // A `{name}` with no value leaves a broken field: the service is left out, and the
        // mistake reported once, where it is.
        let mut broken = false;
        for (file, line, col, name) in std::mem::take(&mut filler.missing) {
            broken = true;
            let at = Place::new(&file, line, col);
            if RESERVED.contains(&name.as_str()) {
                // `backend` is the only reserved value a row can lack.
                problems.push(Problem::error(
                    row_place.clone(),
                    format!("template {:?} needs a backend, and service {id:?} has none", t.info.id),
                    "set backend = \"…\" on the row, or on its agency",
                ));
            } else {
                unknown_params.entry((file, line, col, name.clone())).or_insert((at, t.info.id.clone()));
            }
        }
        if broken {
            continue;
        }
        if let Some((name, _)) = screens.iter().find(|(n, _)| taken.contains(n.get_ref())) {
            problems.push(Problem::error(
                row_place.clone(),
                format!("service {id:?} would write screen {:?}, which the menu has", name.get_ref()),
                "rename the service or the menu's screen",
            ));
            continue;
        }
        raw.screens.extend(screens);
        entries.push(start);
        services.push(Service {
            flow: t.info.id.clone(),
            paid,
            params: r.params.iter().map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone())).collect(),
            ..Service::of_row(code, id, *agency, cats, backend.map(|(b, _)| b), r, row_place)
        });
    }
    for ((_, _, _, name), (at, template)) in unknown_params {
        problems.push(Problem::error(
            at,
            format!("{{{name}}} is not a parameter of template {template:?}"),
            "declare it under [params], or use one every row has: {service}, {code}, {agency}, {backend}, {fee}, {name}",
        ));
    }
    // Template variables join the menu's.
    let fixed = templates.iter().flat_map(|t| {
        t.def
            .variables
            .iter()
            .filter(|(k, _)| !k.get_ref().contains('{'))
            .map(move |(k, d)| (k.get_ref().clone(), t.src.place(k.span()), d.get_ref().clone(), t.info.id.clone()))
    });
    let named = row_vars.into_iter().map(|(k, (at, d))| (k, at.clone(), d, at.file.display().to_string()));
    let all: Vec<(String, Place, VariableDef, String)> = fixed.chain(named).collect();
    {
        // The menu's own declarations, which win without a word: a deployment may narrow what
        // a template allows. Two templates that disagree are a mistake.
        let own: HashSet<String> = raw.variables.keys().map(|k| k.get_ref().clone()).collect();
        for (name, at, def, template) in all {
            if own.contains(&name) {
                continue;
            }
            if let Some((_, mine)) = raw.variables.iter().find(|(k, _)| *k.get_ref() == name) {
                let (a, b) = (mine.get_ref(), &def);
                let same = a.max_width == b.max_width
                    && a.ty.as_ref().map(|t| t.get_ref().clone()) == b.ty.as_ref().map(|t| t.get_ref().clone());
                if !same {
                    problems.push(Problem::error(
                        at,
                        format!("template {template:?} declares {name:?} unlike another declaration"),
                        "declare the variable the same way everywhere, or rename it in the template",
                    ));
                }
                continue;
            }
            let var = VariableDef {
                max_width: def.max_width,
                ty: def.ty.as_ref().map(|t| Spanned::new(synth.span(at.clone()), t.get_ref().clone())),
                truncate: def.truncate,
                values: def.values.clone(),
            };
            let span = synth.span(at);
            raw.variables.insert(Spanned::new(span.clone(), name), Spanned::new(span, var));
        }
    }
    let here = menu_place(def.categories.span());
    if services.is_empty() && problems.len() == start {
        problems.push(Problem::error(
            here.clone(),
            format!("the catalogue has no services: no row in {}", dir.display()),
            "add an agency file with [[service]] rows, or remove the [catalogue] table",
        ));
    }
    let declare = |raw: &mut MenuFile, synth: &mut Synth, name: &str, width: usize| {
        if raw.variables.keys().any(|k| k.get_ref() == name) {
            return;
        }
        let span = synth.span(here.clone());
        let var = VariableDef { max_width: Some(width), ty: None, truncate: false, values: None };
        raw.variables.insert(Spanned::new(span.clone(), name.to_owned()), Spanned::new(span, var));
    };
    let widest_code = services.iter().map(|s| s.code.to_string().len()).max().unwrap_or(3);
    declare(raw, synth, CODE_VAR, widest_code);
    let widest_menu_code = raw.menu.service_codes.get_ref().iter().map(|c| c.get_ref().len()).max().unwrap_or(5);
    declare(raw, synth, DIAL_VAR, widest_menu_code + 1 + widest_code);
    let recent = recent(def, menu_place, problems);

    declare(raw, synth, NAME_VAR, NAME_WIDTH);
    declare(raw, synth, QUERY_VAR, QUERY_WIDTH);
    declare(raw, synth, RESULTS_VAR, NAME_WIDTH);

    let g = Generated { synth, here: here.clone() };
    let g = g.browse(raw, &categories, &category_places, &agencies, &services, &entries, &taken, problems);
    g.search(raw, &taken, problems);

    let mut by_code = HashMap::new();
    for (i, s) in services.iter().enumerate() {
        by_code.insert(s.code, u16::try_from(i).unwrap_or(u16::MAX));
    }
    let template_files = templates.iter().map(|t| t.info.file.clone()).collect();
    let hash = hasher.finish();
    Some(Expanded {
        catalogue: Catalogue {
            dir,
            templates_dir,
            categories,
            agencies,
            services,
            templates: templates.into_iter().map(|t| t.info).collect(),
            recent,
            recent_place: def.recent.as_ref().map(|r| menu_place(r.span())),
            version: hash,
            by_code,
        },
        entries,
        hash,
        template_files,
    })
}

/// The `recent` and `recent_days` of the `[catalogue]` table, each held to its range.
fn recent(def: &CatalogueDef, menu_place: &dyn Fn(Range<usize>) -> Place, problems: &mut Vec<Problem>) -> Recent {
    let mut out = Recent::default();
    if let Some(n) = &def.recent {
        match u8::try_from(*n.get_ref()).ok().filter(|n| *n <= Recent::MAX_COUNT) {
            Some(n) => out.count = n,
            None => problems.push(Problem::error(
                menu_place(n.span()),
                format!("recent = {} is not a number of services from 0 to {}", n.get_ref(), Recent::MAX_COUNT),
                format!("offer at most {}: each recent service takes a line of the start screen", Recent::MAX_COUNT),
            )),
        }
    }
    if let Some(d) = &def.recent_days {
        match u16::try_from(*d.get_ref()).ok().filter(|d| (1..=Recent::MAX_DAYS).contains(d)) {
            Some(d) => out.days = d,
            None => problems.push(Problem::error(
                menu_place(d.span()),
                format!("recent_days = {} is not a number of days from 1 to {}", d.get_ref(), Recent::MAX_DAYS),
                "a number's services are remembered for at most a year; 90 is the default",
            )),
        }
    }
    out
}

impl Service {
    /// The service of a row, free and on no template until the caller says otherwise; its
    /// entry screen and dial string are set once the menu compiles.
    fn of_row(
        code: u32,
        id: String,
        agency: u16,
        categories: Vec<u16>,
        backend: Option<String>,
        r: &ServiceDef,
        place: Place,
    ) -> Service {
        Service {
            code,
            name: super::name_id(&id),
            id,
            agency,
            categories,
            flow: String::new(),
            paid: Paid::Free,
            backend,
            popularity: r.popularity.as_ref().map_or(0, |p| *p.get_ref()),
            params: Vec::new(),
            place,
            entry: ScreenId(0),
            code_text: code.to_string().into(),
            dial: Box::default(),
        }
    }
}

impl Template {
    fn params_about(&self, p: &str) -> String {
        self.params
            .iter()
            .find(|(k, _, _)| k == p)
            .and_then(|(_, about, _)| about.clone())
            .unwrap_or_else(|| "see the template".to_owned())
    }
}

/// The templates that load, and the ids of those that do not (their rows are left out
/// quietly: the template's mistake is reported once, where it is).
fn load_templates(
    dir: &Path,
    hasher: &mut impl Hasher,
    problems: &mut Vec<Problem>,
) -> (Vec<LoadedTemplate>, HashSet<String>) {
    let mut out = Vec::new();
    let mut broken = HashSet::new();
    for (file, text) in read_toml_dir(dir, "template", problems) {
        (file.file_name(), &text).hash(hasher);
        let id = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let before = problems.len();
        let Some(def) = parse::<TemplateFile>(&file, &text, "template file", problems) else {
            broken.insert(id);
            continue;
        };
        let src = Source { lines: LineIndex::new(&text), file: file.as_path().into(), text };
        let payment = match def.template.payment.as_ref().map(|p| p.get_ref().as_str()) {
            None | Some("none") => Payment::None,
            Some("fixed") => Payment::Fixed,
            Some("lookup") => Payment::Lookup,
            Some(other) => {
                let at = def.template.payment.as_ref().map_or(0..0, |p| p.span());
                problems.push(Problem::error(
                    src.place(at),
                    format!("unknown payment {other:?}"),
                    "use none, fixed (the row's fee) or lookup (a backend answers the amount)",
                ));
                Payment::None
            }
        };
        if !def.screens.keys().any(|k| k.get_ref() == def.template.start.get_ref()) {
            problems.push(Problem::error(
                src.place(def.template.start.span()),
                format!("template {id:?} starts on {:?}, which it does not define", def.template.start.get_ref()),
                "name one of its [screens.…]",
            ));
        }
        let mut params = BTreeMap::new();
        let mut listed = Vec::new();
        for (k, v) in &def.params {
            if RESERVED.contains(&k.get_ref().as_str()) {
                problems.push(Problem::error(
                    src.place(k.span()),
                    format!("{:?} is given by every row", k.get_ref()),
                    "use {service}, {code}, {agency}, {backend}, {fee} or {name} without declaring it",
                ));
                continue;
            }
            params.insert(k.get_ref().clone(), v.get_ref().default.clone());
            listed.push((k.get_ref().clone(), v.get_ref().about.clone(), v.get_ref().default.clone()));
        }
        if problems.len() > before {
            broken.insert(id);
            continue;
        }
        out.push(LoadedTemplate {
            info: Template { id, file, payment, about: def.template.about.clone(), params: listed },
            src,
            def,
            params,
        });
    }
    (out, broken)
}

/// `text` read as a `what` (an agency or template file), or the TOML error at its place.
fn parse<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
    what: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    toml::from_str(text)
        .map_err(|e| {
            let at = e.span().map_or_else(|| Place::whole_file(file), |s| Place::at_offset(file, text, s.start));
            problems.push(Problem::error(
                at,
                format!("invalid {what}: {}", e.message().trim().replace('\n', " ")),
                "fix the TOML (see \"The national catalogue\" in README.md)",
            ));
        })
        .ok()
}

/// Every `*.toml` in `dir`, sorted, with its text. A missing folder is a problem.
fn read_toml_dir(dir: &Path, what: &str, problems: &mut Vec<Problem>) -> Vec<(PathBuf, String)> {
    let files = match crate::menu::compiler::toml_files(dir) {
        Ok(files) => files,
        Err(e) => {
            problems.push(Problem::error(
                Place::whole_file(dir),
                format!("cannot read the {what} folder: {e}"),
                format!("create it with one .toml file per {what}"),
            ));
            return Vec::new();
        }
    };
    files
        .into_iter()
        .filter_map(|f| match std::fs::read_to_string(&f) {
            Ok(t) => Some((f, t)),
            Err(e) => {
                problems.push(Problem::error(Place::whole_file(&f), format!("cannot read: {e}"), "save it as UTF-8"));
                None
            }
        })
        .collect()
}

/// "did you mean …?" when `name` is close to a known one, else `otherwise: a, b, c`.
fn did_you_mean(name: &str, known: &[&str], otherwise: &str) -> String {
    closest(name, known)
        .map_or_else(|| format!("{otherwise}: {}", known.join(", ")), |k| format!("did you mean {k:?}?"))
}

fn is_id(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn parse_fee(fee: &Fee) -> Result<Kes, String> {
    match fee {
        Fee::Number(n) => {
            u64::try_from(*n).map_err(|e| e.to_string()).and_then(|n| Kes::new(n).map_err(|e| e.to_string()))
        }
        Fee::Text(t) => Kes::parse(t).map_err(|e| e.to_string()),
    }
}

fn show_fee(fee: &Fee) -> String {
    match fee {
        Fee::Number(n) => n.to_string(),
        Fee::Text(t) => format!("{t:?}"),
    }
}

/// `text` with every `{param}` replaced by its value, and the place of the first value that
/// came from somewhere other than the template (to blame the row for what it filled in).
/// A `{name}` with no value is left as written and handed to `missing`; braces that do not
/// hold a name (`[0-9]{4}` in a pattern) are text.
fn substitute(
    text: &str,
    values: &[(String, String, Place)],
    missing: &mut dyn FnMut(&str),
) -> (String, Option<Place>) {
    if !text.contains('{') {
        return (text.to_owned(), None);
    }
    let mut out = String::with_capacity(text.len());
    let mut blame = None;
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after.find('}').filter(|&n| n > 0 && is_param(&after[..n]));
        match name_len {
            Some(n) => {
                let name = &after[..n];
                match values.iter().find(|(k, _, _)| k == name) {
                    Some((_, v, at)) => {
                        out.push_str(v);
                        blame.get_or_insert_with(|| at.clone());
                    }
                    None => {
                        missing(name);
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[n + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, blame)
}

fn is_param(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Fills one template in for one row.
struct Filler<'a> {
    id: &'a str,
    template: &'a LoadedTemplate,
    values: &'a [(String, String, Place)],
    synth: &'a mut Synth,
    /// Names used in braces that have no value: (file, line, col, name).
    missing: BTreeSet<(PathBuf, usize, usize, String)>,
}

impl Filler<'_> {
    /// A template screen's name in the menu: the start screen is the service's id, so a menu
    /// can `goto = "land-rates"`; the others are `<id>.<screen>`.
    fn local_name(&self, name: &str) -> String {
        if name == self.template.def.template.start.get_ref() {
            self.id.to_owned()
        } else {
            format!("{}.{name}", self.id)
        }
    }

    fn string(&mut self, v: &Spanned<String>) -> Spanned<String> {
        let tpl = self.template.src.place(v.span());
        let mut missing = Vec::new();
        let (text, blame) = substitute(v.get_ref(), self.values, &mut |n| missing.push(n.to_owned()));
        for n in missing {
            self.missing.insert((tpl.file.to_path_buf(), tpl.line, tpl.col, n));
        }
        let at = blame.unwrap_or(tpl);
        Spanned::new(self.synth.span(at), text)
    }

    /// A screen reference: a screen of the template becomes this service's; any other name is
    /// a screen of the menu (`cancelled`, `home`).
    fn target(&mut self, v: &Spanned<String>) -> Spanned<String> {
        let s = self.string(v);
        if self.template.def.screens.keys().any(|k| k.get_ref() == s.get_ref()) {
            let name = self.local_name(s.get_ref());
            Spanned::new(s.span(), name)
        } else {
            s
        }
    }

    fn flag(&mut self, v: &Spanned<bool>) -> Spanned<bool> {
        let at = self.template.src.place(v.span());
        Spanned::new(self.synth.span(at), *v.get_ref())
    }

    /// A list; an element that is one `{param}` alone takes as many elements as its value has
    /// words (`provides = ["{provides}"]` with `provides = "taxpayer pin_status"`).
    fn strings(&mut self, v: &Option<Vec<Spanned<String>>>) -> Option<Vec<Spanned<String>>> {
        v.as_ref().map(|l| {
            let mut out = Vec::with_capacity(l.len());
            for s in l {
                let whole = s.get_ref().starts_with('{') && s.get_ref().ends_with('}');
                let filled = self.string(s);
                if whole && filled.get_ref().contains([' ', ',']) {
                    let span = filled.span();
                    out.extend(
                        filled
                            .get_ref()
                            .split([' ', ','])
                            .filter(|w| !w.is_empty())
                            .map(|w| Spanned::new(span.clone(), w.to_owned())),
                    );
                } else {
                    out.push(filled);
                }
            }
            out
        })
    }

    fn screen(&mut self, d: &ScreenDef) -> ScreenDef {
        let opt = |f: &mut Self, v: &Option<Spanned<String>>| v.as_ref().map(|s| f.string(s));
        let to = |f: &mut Self, v: &Option<Spanned<String>>| v.as_ref().map(|s| f.target(s));
        ScreenDef {
            kind: opt(self, &d.kind),
            text: opt(self, &d.text),
            next: to(self, &d.next),
            options: d.options.as_ref().map(|os| os.iter().map(|o| self.option(o)).collect()),
            options_from: opt(self, &d.options_from),
            save_as: opt(self, &d.save_as),
            validate: d.validate.as_ref().map(|v| {
                let at = self.template.src.place(v.span());
                let x = v.get_ref();
                let validate = ValidateDef {
                    pattern: opt(self, &x.pattern),
                    min_length: x.min_length,
                    max_length: x.max_length,
                    min: x.min,
                    max: x.max,
                    phone: x.phone,
                    one_of: x.one_of.clone(),
                    error: opt(self, &x.error),
                };
                Spanned::new(self.synth.span(at), validate)
            }),
            secret: d.secret.as_ref().map(|b| self.flag(b)),
            navigation: d.navigation.as_ref().map(|b| self.flag(b)),
            normalize: opt(self, &d.normalize),
            backend: opt(self, &d.backend),
            operation: opt(self, &d.operation),
            args: self.strings(&d.args),
            provides: self.strings(&d.provides),
            not_found: opt(self, &d.not_found),
            service: opt(self, &d.service),
            payment: d.payment.as_ref().map(|p| {
                let at = self.template.src.place(p.span());
                let x = p.get_ref();
                let payment = PaymentDef { amount: self.string(&x.amount), account: self.string(&x.account) };
                Spanned::new(self.synth.span(at), payment)
            }),
            fields: self.strings(&d.fields),
            empty: to(self, &d.empty),
            list: opt(self, &d.list),
        }
    }

    fn option(&mut self, o: &Spanned<OptionDef>) -> Spanned<OptionDef> {
        let at = self.template.src.place(o.span());
        let x = o.get_ref();
        let mut blame = None;
        let set = x
            .set
            .iter()
            .map(|(k, v)| {
                let (v, b) = substitute(v, self.values, &mut |_| {});
                if blame.is_none() {
                    blame = b;
                }
                (k.clone(), v)
            })
            .collect();
        let option = OptionDef {
            label: self.string(&x.label),
            goto: x.goto.as_ref().map(|g| self.target(g)),
            when: x.when.as_ref().map(|w| self.string(w)),
            set,
            locale: x.locale.as_ref().map(|l| self.string(l)),
        };
        Spanned::new(self.synth.span(blame.unwrap_or(at)), option)
    }
}

/// The browse and search screens.
struct Generated<'a> {
    synth: &'a mut Synth,
    here: Place,
}

impl Generated<'_> {
    fn s(&mut self, text: &str, at: &Place) -> Spanned<String> {
        Spanned::new(self.synth.span(at.clone()), text.to_owned())
    }

    fn option(&mut self, label: &str, goto: &str, at: &Place) -> Spanned<OptionDef> {
        let option = OptionDef {
            label: self.s(label, at),
            goto: Some(self.s(goto, at)),
            when: None,
            set: BTreeMap::new(),
            locale: None,
        };
        Spanned::new(self.synth.span(at.clone()), option)
    }

    fn add(
        &mut self,
        raw: &mut MenuFile,
        taken: &HashSet<String>,
        name: &str,
        def: ScreenDef,
        problems: &mut Vec<Problem>,
    ) {
        if taken.contains(name) || raw.screens.contains_key(&Spanned::new(0..0, name.to_owned())) {
            problems.push(Problem::error(
                self.here.clone(),
                format!("the catalogue's screen {name:?} is also written in the menu"),
                "rename the menu's screen: the catalogue names its own",
            ));
            return;
        }
        let here = self.here.clone();
        let span = self.synth.span(here);
        raw.screens.insert(Spanned::new(span.clone(), name.to_owned()), Spanned::new(span, def));
    }

    fn menu(&mut self, text: &str, options: Vec<Spanned<OptionDef>>) -> ScreenDef {
        let here = self.here.clone();
        ScreenDef {
            kind: Some(self.s("menu", &here)),
            text: Some(self.s(text, &here)),
            options: Some(options),
            ..ScreenDef::default()
        }
    }

    /// Categories, then the agencies with services in the chosen one, then their services.
    #[allow(clippy::too_many_arguments)]
    fn browse(
        mut self,
        raw: &mut MenuFile,
        categories: &[String],
        category_places: &[Place],
        agencies: &[Agency],
        services: &[Service],
        entries: &[String],
        taken: &HashSet<String>,
        problems: &mut Vec<Problem>,
    ) -> Self {
        let mut listed = Vec::new();
        for (c, cat) in categories.iter().enumerate() {
            let in_cat: Vec<usize> = (0..services.len())
                .filter(|&i| services[i].categories.contains(&u16::try_from(c).unwrap_or(u16::MAX)))
                .collect();
            if in_cat.is_empty() {
                continue;
            }
            let mut agency_options = Vec::new();
            for (a, agency) in agencies.iter().enumerate() {
                let mut here: Vec<usize> =
                    in_cat.iter().copied().filter(|&i| usize::from(services[i].agency) == a).collect();
                if here.is_empty() {
                    continue;
                }
                here.sort_by_key(|&i| services[i].code);
                let options =
                    here.iter().map(|&i| self.option(&services[i].name, &entries[i], &services[i].place)).collect();
                let screen = format!("{BROWSE}.{cat}.{}", agency.id);
                let def = self.menu(&format!("agency-{}", agency.id), options);
                self.add(raw, taken, &screen, def, problems);
                agency_options.push(self.option(&format!("agency-{}", agency.id), &screen, &category_places[c]));
            }
            let screen = format!("{BROWSE}.{cat}");
            let def = self.menu(&format!("cat-{cat}"), agency_options);
            self.add(raw, taken, &screen, def, problems);
            listed.push(self.option(&format!("cat-{cat}"), &screen, &category_places[c]));
        }
        let def = self.menu("catalogue-categories", listed);
        self.add(raw, taken, BROWSE, def, problems);
        self
    }

    /// A word to search for, what it found, and what to do when it found nothing.
    fn search(mut self, raw: &mut MenuFile, taken: &HashSet<String>, problems: &mut Vec<Problem>) {
        let here = self.here.clone();
        let search = ScreenDef {
            kind: Some(self.s("search", &here)),
            text: Some(self.s("catalogue-search", &here)),
            save_as: Some(self.s(QUERY_VAR, &here)),
            validate: Some(Spanned::new(
                self.synth.span(here.clone()),
                // No pattern: 0 and 00 are Back and Home on any search screen.
                ValidateDef { max_length: Some(QUERY_WIDTH), ..ValidateDef::default() },
            )),
            next: Some(self.s(RESULTS, &here)),
            empty: Some(self.s(NONE, &here)),
            ..ScreenDef::default()
        };
        self.add(raw, taken, SEARCH, search, problems);
        let results = ScreenDef {
            kind: Some(self.s("menu", &here)),
            text: Some(self.s("catalogue-results", &here)),
            options_from: Some(self.s(RESULTS_VAR, &here)),
            list: Some(self.s("services", &here)),
            ..ScreenDef::default()
        };
        self.add(raw, taken, RESULTS, results, problems);
        let options =
            vec![self.option("catalogue-search-again", SEARCH, &here), self.option("catalogue-browse", BROWSE, &here)];
        let none = self.menu("catalogue-none", options);
        self.add(raw, taken, NONE, none, problems);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_filled_in_and_patterns_kept() {
        let at = Place::new(Path::new("kra.toml"), 3, 1);
        let values = vec![("prompt".to_owned(), "kra-enter-pin".to_owned(), at.clone())];
        let mut missing = Vec::new();
        let cases: &[(&str, &str, bool)] = &[
            ("{prompt}", "kra-enter-pin", true),
            ("[A-Z]{3}[0-9]{4}", "[A-Z]{3}[0-9]{4}", false),
            ("x{prompt}y{1,3}", "xkra-enter-piny{1,3}", true),
            ("{unknown}", "{unknown}", false),
            ("{", "{", false),
            ("}{}", "}{}", false),
        ];
        for (text, want, blamed) in cases {
            let (got, blame) = substitute(text, &values, &mut |n| missing.push(n.to_owned()));
            assert_eq!(&got, want, "{text}");
            assert_eq!(blame.is_some(), *blamed, "{text}");
        }
        assert_eq!(missing, ["unknown"]);
    }

    #[test]
    fn synthetic_spans_map_back() {
        let mut s = Synth::default();
        let a = s.span(Place::new(Path::new("a"), 1, 2));
        let b = s.span(Place::new(Path::new("b"), 3, 4));
        assert_eq!(s.place(&a).map(|p| p.line), Some(1));
        assert_eq!(s.place(&b).map(|p| p.col), Some(4));
        assert!(s.place(&(10..12)).is_none());
    }
}

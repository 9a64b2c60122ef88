//! The menu compiler: `menus/*.toml` into [`Menu`]s. Every screen reference is resolved to an
//! index once, regexes are compiled once per pattern, widths are inferred from validators, and
//! every structural problem is collected with its file and line (never only the first).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::catalogue::{Expanded, RESULTS_VAR, Synth, expand};
use super::model::{MenuFile, OptionDef, ScreenDef, ValidateDef};
use super::types::Rules;
use super::{
    Condition, Input, Kind, LanguageOption, ListNext, ListOptions, Lookup, MAX_WIDTH, Menu, MenuOption, Message,
    Navigation, Normalize, Payment, Screen, ScreenId, Search, Sms, SmsLanguage, SmsStatus, Submit, Validation,
    normalize_code,
};
use crate::diag::{Place, Problem};
use crate::types::Locale;
use crate::value::VarType;

/// Loads every `*.toml` directly inside `dir` (sub-folders such as `lookups/` are data, not
/// menus). Returns the menus that compiled and every problem found.
pub fn load_dir(dir: &Path) -> (Vec<Menu>, Vec<Problem>) {
    let mut problems = Vec::new();
    let files = match toml_files(dir) {
        Ok(files) => files,
        Err(e) => {
            problems.push(Problem::error(
                Place::whole_file(dir),
                format!("cannot read the menus directory: {e}"),
                "create it and put one .toml file per menu in it",
            ));
            return (Vec::new(), problems);
        }
    };
    if files.is_empty() {
        problems.push(Problem::error(Place::whole_file(dir), "no menu files (*.toml) found", "add a menu file"));
    }
    let mut menus = Vec::new();
    let mut regexes = Regexes::default();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(src) => {
                if let Some(m) = load_str_with(&file, &src, &mut problems, &mut regexes) {
                    menus.push(m);
                }
            }
            Err(e) => {
                problems.push(Problem::error(Place::whole_file(&file), format!("cannot read: {e}"), "save it as UTF-8"))
            }
        }
    }
    // A service code may be claimed by one menu only.
    let mut claimed: BTreeMap<String, (String, Place)> = BTreeMap::new();
    for m in &menus {
        for (c, at) in m.service_codes.iter().zip(&m.service_code_places) {
            let key = normalize_code(c);
            if let Some((other, place)) = claimed.get(&key) {
                problems.push(Problem::error(
                    at.clone(),
                    format!(
                        "service code {c} is claimed by menu {:?} and by menu {other:?} ({}:{})",
                        m.id,
                        place.file.display(),
                        place.line
                    ),
                    "bind each service code to one menu only",
                ));
            } else {
                claimed.insert(key, (m.id.clone(), at.clone()));
            }
        }
    }
    (menus, problems)
}

/// The `*.toml` files directly inside `dir`, sorted (menus, agency files, templates).
pub(super) fn toml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Compiles one menu file. Structural problems are pushed to `problems`; `None` when the file
/// is too broken to compile at all.
pub fn load_str(file: &Path, src: &str, problems: &mut Vec<Problem>) -> Option<Menu> {
    load_str_with(file, src, problems, &mut Regexes::default())
}

/// Validators compiled so far, by pattern as written: a catalogue repeats a few patterns (ID
/// numbers, parcels, PINs) over thousands of inputs, and compiling one costs about 100 µs, so
/// compiling each once took most of the time `njia check` needed for 5,000 services. Each
/// input holds the one `Arc`: a `Regex` clone shares the program but not its cache pool.
/// `Err` is the compile error to report.
#[derive(Default)]
struct Regexes(HashMap<String, Result<std::sync::Arc<regex::Regex>, String>>);

impl Regexes {
    /// The pattern anchored to the whole input, or why it does not compile.
    fn anchored(&mut self, pattern: &str) -> Result<std::sync::Arc<regex::Regex>, String> {
        if let Some(r) = self.0.get(pattern) {
            return r.clone();
        }
        // Compile the pattern as written first: wrapped in a group, an unbalanced `)|(` would
        // turn into a different, valid regex and slip through. Then anchor it to the whole
        // input: administrators write `[0-9]{4}` meaning "four digits".
        let r = regex::Regex::new(pattern)
            .and_then(|_| regex::Regex::new(&format!("^(?:{pattern})$")))
            .map(std::sync::Arc::new)
            .map_err(|e| {
                e.to_string().lines().last().unwrap_or("invalid").trim().trim_start_matches("error:").trim().to_owned()
            });
        self.0.insert(pattern.to_owned(), r.clone());
        r
    }
}

fn load_str_with(file: &Path, src: &str, problems: &mut Vec<Problem>, regexes: &mut Regexes) -> Option<Menu> {
    let raw: MenuFile = match toml::from_str(src) {
        Ok(r) => r,
        Err(e) => {
            let at = e.span().map_or_else(|| Place::whole_file(file), |s| Place::at_offset(file, src, s.start));
            let msg = e.message().trim().replace('\n', " ");
            problems.push(Problem::error(
                at,
                format!("invalid menu file: {msg}"),
                "fix the TOML (see the menu format in README.md)",
            ));
            return None;
        }
    };
    let mut raw = raw;
    let lines = crate::diag::LineIndex::new(src);
    // One shared path for the thousands of places of one file.
    let shared: std::sync::Arc<Path> = std::sync::Arc::from(file);
    let mut synth = Synth::default();
    let expanded = match raw.catalogue.take() {
        Some(def) => {
            let place = |span: Range<usize>| Place::at_indexed(&shared, src, &lines, span.start);
            let before = problems.len();
            let e = expand(file, def.get_ref(), &place, &mut raw, &mut synth, problems);
            if problems.len() > before {
                return None;
            }
            e
        }
        None => None,
    };
    let before = problems.len();
    let templates = expanded.as_ref().map(|e| e.template_files.clone()).unwrap_or_default();
    let menu = Compiler { file, shared, src, lines, problems, regexes, synth }.compile(raw, expanded);
    once_per_template_line(problems, before, &templates);
    menu
}

/// A mistake in a template line shows in every service of the template; it is reported once,
/// saying how many services it touches.
fn once_per_template_line(problems: &mut Vec<Problem>, from: usize, templates: &HashSet<PathBuf>) {
    let mut seen: HashMap<(PathBuf, usize, usize, String), usize> = HashMap::new();
    let mut kept: Vec<(Problem, usize)> = Vec::with_capacity(problems.len() - from);
    for p in problems.drain(from..) {
        if !templates.contains(&p.file) {
            kept.push((p, 0));
            continue;
        }
        let key = (p.file.clone(), p.line, p.col, p.fix.clone());
        match seen.get(&key) {
            Some(&i) => kept[i].1 += 1,
            None => {
                seen.insert(key, kept.len());
                kept.push((p, 0));
            }
        }
    }
    problems.extend(kept.into_iter().map(|(mut p, more)| {
        if more > 0 {
            p.what = format!("{} (and in {more} more services of this template)", p.what);
        }
        p
    }));
}

struct Compiler<'a> {
    file: &'a Path,
    shared: std::sync::Arc<Path>,
    src: &'a str,
    lines: crate::diag::LineIndex,
    problems: &'a mut Vec<Problem>,
    regexes: &'a mut Regexes,
    /// Places of the catalogue's screens, which come from other files.
    synth: Synth,
}

impl Compiler<'_> {
    fn place(&self, span: Range<usize>) -> Place {
        match self.synth.place(&span) {
            Some(p) => p.clone(),
            None => Place::at_indexed(&self.shared, self.src, &self.lines, span.start),
        }
    }

    fn error(&mut self, span: Range<usize>, what: impl Into<String>, fix: impl Into<String>) {
        let at = self.place(span);
        self.problems.push(Problem::error(at, what, fix));
    }

    fn message(&self, s: &Spanned<String>) -> Message {
        Message { id: s.get_ref().clone(), place: self.place(s.span()) }
    }

    fn compile(mut self, raw: MenuFile, expanded: Option<Expanded>) -> Option<Menu> {
        let mut index = HashMap::new();
        for (i, (name, _)) in raw.screens.iter().enumerate() {
            let Ok(idx) = u16::try_from(i) else {
                self.error(name.span(), "too many screens", "split the menu: at most 65535 screens");
                return None;
            };
            index.insert(name.get_ref().clone(), ScreenId(idx));
        }
        let before = self.problems.len();
        let resolve = |c: &mut Self, target: &Spanned<String>| -> Option<ScreenId> {
            let found = index.get(target.get_ref()).copied();
            if found.is_none() {
                let known: Vec<&str> = index.keys().map(String::as_str).collect();
                let hint = closest(target.get_ref(), &known).map_or_else(
                    || "name a screen defined in this file".to_owned(),
                    |s| format!("did you mean {s:?}?"),
                );
                c.error(target.span(), format!("unknown screen {:?}", target.get_ref()), hint);
            }
            found
        };

        let h = &raw.menu;
        let start = resolve(&mut self, &h.start);
        let language_screen = h.language_screen.as_ref().and_then(|s| resolve(&mut self, s));
        let default_locale = match &h.default_locale {
            Some(l) => match Locale::parse(l.get_ref()) {
                Ok(l) => Some(l),
                Err(e) => {
                    self.error(l.span(), e.to_string(), "use a locale folder name such as sw or en");
                    None
                }
            },
            None => None,
        };
        if h.service_codes.get_ref().is_empty() {
            self.error(
                h.service_codes.span(),
                "the menu is bound to no service code",
                "add e.g. service_codes = [\"*384#\"]",
            );
        }
        for c in h.service_codes.get_ref() {
            let n = normalize_code(c.get_ref());
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit() || b == b'*') || n.contains("**") {
                self.error(
                    c.span(),
                    format!("{:?} is not a USSD service code", c.get_ref()),
                    "write it as dialled, e.g. *384# or *384*12#",
                );
            }
        }
        let sms_sender = h.sms_sender.as_ref().and_then(|s| {
            let v = s.get_ref();
            // Africa's Talking takes an alphanumeric sender id of at most 11 characters, or a
            // short code (digits).
            let ok = !v.is_empty()
                && v.bytes().all(|b| b.is_ascii_alphanumeric())
                && (v.len() <= 11 || v.bytes().all(|b| b.is_ascii_digit()) && v.len() <= 15);
            if !ok {
                self.error(
                    s.span(),
                    format!("sms_sender {v:?} is not a sender id"),
                    "use the alphanumeric sender id you registered (at most 11 letters and digits) or your short code",
                );
            }
            ok.then(|| v.clone())
        });
        let nav = Navigation {
            back: h.navigation.back.clone().unwrap_or_else(|| "0".into()).into(),
            home: h.navigation.home.clone().unwrap_or_else(|| "00".into()).into(),
            more: h.navigation.more.clone().unwrap_or_else(|| "98".into()).into(),
        };
        if nav.back == nav.home || nav.back == nav.more || nav.home == nav.more {
            self.error(
                h.id.span(),
                "navigation keys must differ from each other",
                "set distinct back, home and more keys",
            );
        }

        let mut var_widths = HashMap::new();
        let mut var_places = HashMap::new();
        let mut var_types = HashMap::new();
        let mut var_truncate = HashSet::new();
        let mut var_values = HashMap::new();
        // A submit's payment amount is an amount whatever its declaration says; a declaration
        // that says otherwise is a mistake worth naming.
        let paid: HashSet<&str> = raw
            .screens
            .values()
            .filter_map(|d| d.get_ref().payment.as_ref().map(|p| p.get_ref().amount.get_ref().as_str()))
            .collect();
        for (name, def) in &raw.variables {
            let d = def.get_ref();
            let var = name.get_ref();
            let ty = match &d.ty {
                None if paid.contains(var.as_str()) => VarType::Amount,
                None => VarType::Text,
                Some(t) => match VarType::parse(t.get_ref()) {
                    Some(VarType::Text) if paid.contains(var.as_str()) => {
                        self.error(
                            t.span(),
                            format!("{var:?} is a payment amount, so it cannot be text"),
                            "write type = \"amount\" (whole shillings), or leave type out",
                        );
                        VarType::Amount
                    }
                    Some(ty) => ty,
                    None => {
                        self.error(
                            t.span(),
                            format!("unknown variable type {:?}", t.get_ref()),
                            "use text, amount (whole shillings) or date (YYYY-MM-DD)",
                        );
                        VarType::Text
                    }
                },
            };
            let width = match (d.max_width, ty.natural_width()) {
                (Some(w), _) => w,
                (None, Some(w)) => w,
                (None, None) => {
                    self.error(
                        def.span(),
                        format!("variable {var:?} has no max_width"),
                        format!("declare the widest value it can take: {var} = {{ max_width = N }}"),
                    );
                    MAX_WIDTH
                }
            };
            if width > MAX_WIDTH {
                self.error(
                    def.span(),
                    format!("max_width {width} of {var:?} is wider than any screen"),
                    format!("use at most {MAX_WIDTH} (a USSD screen holds 182 characters)"),
                );
            }
            if d.truncate && ty != VarType::Text {
                self.error(
                    def.span(),
                    format!("{var:?} is an {}: it can never be shortened", ty.name()),
                    "remove truncate = true (a value that does not fit is refused)",
                );
            }
            if ty != VarType::Text {
                var_types.insert(var.clone(), ty);
            }
            if d.truncate {
                var_truncate.insert(var.clone());
            }
            if let Some(v) = &d.values {
                var_values.insert(var.clone(), v.clone());
            }
            var_widths.insert(var.clone(), width.min(MAX_WIDTH));
            var_places.insert(var.clone(), self.place(name.span()));
        }
        // A payment amount is an amount even where no declaration says so.
        for var in &paid {
            var_types.entry((*var).to_owned()).or_insert(VarType::Amount);
        }
        // The reference of a submitted request is always available to the END screen.
        var_widths.entry("reference".to_owned()).or_insert(8);

        // Input widths first, so a lookup's `provides` check does not depend on screen order.
        for def in raw.screens.values() {
            let d = def.get_ref();
            let is_input = d.kind.as_ref().is_some_and(|k| k.get_ref() == "input");
            if let (true, Some(var), Some(v)) = (is_input, &d.save_as, &d.validate)
                && let Some(w) = inferred_width(v.get_ref())
            {
                var_widths.entry(var.get_ref().clone()).or_insert(w);
            }
        }
        let rules = Rules { nav: &nav, widths: &var_widths, types: &var_types, truncate: &var_truncate };
        let mut screens = Vec::with_capacity(raw.screens.len());
        for (name, def) in &raw.screens {
            let place = self.place(name.span());
            let d = def.get_ref();
            let text = d.text.as_ref().map(|t| self.message(t));
            let kind = self.compile_kind(name, d, &resolve, &rules, &mut var_places);
            screens.push(Screen {
                name: name.get_ref().clone(),
                place,
                text,
                kind: kind.unwrap_or(Kind::End),
                service: None,
                within: None,
            });
        }
        let sms = raw.sms.as_ref().map(|d| {
            let def = d.get_ref();
            Sms {
                place: self.place(d.span()),
                help: self.message(&def.help),
                status: def.status.as_ref().map(|st| {
                    let st = st.get_ref();
                    SmsStatus {
                        keyword: self.message(&st.keyword),
                        reply: self.message(&st.reply),
                        not_found: self.message(&st.not_found),
                    }
                }),
                language: def.language.as_ref().map(|l| {
                    let l = l.get_ref();
                    SmsLanguage {
                        keyword: self.message(&l.keyword),
                        reply: self.message(&l.reply),
                        unknown: self.message(&l.unknown),
                    }
                }),
            }
        });
        // Searching and listing services need the catalogue they search and list.
        if expanded.is_none() {
            for sc in &screens {
                let what = match &sc.kind {
                    Kind::Input(i) if i.search.is_some() => "a search screen",
                    Kind::Menu { list: Some(l), .. } if l.next == ListNext::Service => "a list of services",
                    _ => continue,
                };
                self.problems.push(Problem::error(
                    sc.place.clone(),
                    format!("screen {:?} is {what}, and the menu has no catalogue", sc.name),
                    "add a [catalogue] table to the menu, or use another kind of screen",
                ));
            }
        }
        if self.problems.len() > before {
            return None;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.src.hash(&mut hasher);
        let catalogue = expanded.map(|e| {
            e.hash.hash(&mut hasher);
            let mut c = e.catalogue;
            let menu_code = h.service_codes.get_ref().first().map(|c| c.get_ref().as_str());
            for (i, (service, entry)) in c.services.iter_mut().zip(&e.entries).enumerate() {
                service.dial = super::catalogue::Service::dial_for(menu_code, service.code);
                if let (Some(&id), Ok(i)) = (index.get(entry), u16::try_from(i)) {
                    service.entry = id;
                    screens[usize::from(id.0)].service = Some(i);
                }
            }
            within(&mut screens, start, &c);
            Box::new(c)
        });
        let mut menu = Menu {
            id: h.id.get_ref().clone(),
            file: self.file.to_path_buf(),
            version: hasher.finish(),
            service_codes: h.service_codes.get_ref().iter().map(|c| c.get_ref().clone()).collect(),
            service_code_places: h.service_codes.get_ref().iter().map(|c| self.place(c.span())).collect(),
            start: start?,
            language_screen,
            default_locale,
            nav,
            screens,
            var_widths,
            var_places,
            var_types,
            var_truncate,
            var_values,
            sms,
            sms_sender,
            catalogue,
            index,
            home_services: 0,
        };
        menu.home_services = menu
            .catalogue
            .as_deref()
            .map_or(0, |c| c.services.iter().filter(|service| menu.home_leads_to(service.entry)).count());
        Some(menu)
    }

    fn compile_kind(
        &mut self,
        name: &Spanned<String>,
        d: &ScreenDef,
        resolve: &dyn Fn(&mut Self, &Spanned<String>) -> Option<ScreenId>,
        rules: &Rules<'_>,
        var_places: &mut HashMap<String, Place>,
    ) -> Option<Kind> {
        let Some(kind) = &d.kind else {
            self.error(
                name.span(),
                format!("screen {:?} has no kind", name.get_ref()),
                "add kind = \"menu\", \"input\", \"lookup\", \"submit\", \"end\" or \"language\"",
            );
            return None;
        };
        let k = kind.get_ref().as_str();
        // Fields each kind allows; anything else is a mistake worth naming.
        let allowed: &[&str] = match k {
            "menu" => &["text", "options", "options_from", "save_as", "next", "list"],
            "input" => &["text", "save_as", "validate", "secret", "navigation", "normalize", "next"],
            "search" => &["text", "save_as", "validate", "navigation", "normalize", "next", "empty"],
            "lookup" => &["backend", "operation", "args", "provides", "next", "not_found", "text"],
            "submit" => &["text", "service", "payment", "fields"],
            "end" => &["text"],
            "language" => &["text", "options", "next"],
            other => {
                self.error(
                    kind.span(),
                    format!("unknown screen kind {other:?}"),
                    "use menu, input, search, lookup, submit, end or language",
                );
                return None;
            }
        };
        for (field, span) in present_fields(d) {
            if !allowed.contains(&field) {
                self.error(
                    span,
                    format!("field {field:?} does not belong on a {k} screen"),
                    format!("{k} screens take: {}", allowed.join(", ")),
                );
            }
        }
        let need_text = matches!(k, "menu" | "input" | "search" | "end" | "language" | "submit");
        if need_text && d.text.is_none() {
            self.error(
                kind.span(),
                format!("{k} screen {:?} has no text", name.get_ref()),
                "add text = \"<message id>\" naming a Fluent message",
            );
        }
        let required = |c: &mut Self, f: &Option<Spanned<String>>, field: &str| -> Option<String> {
            match f {
                Some(v) => Some(v.get_ref().clone()),
                None => {
                    c.error(
                        kind.span(),
                        format!("{k} screen {:?} needs {field}", name.get_ref()),
                        format!("add {field} = …"),
                    );
                    None
                }
            }
        };
        match k {
            "menu" => {
                let options = d
                    .options
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|o| self.menu_option(o, resolve, rules))
                    .collect::<Vec<_>>();
                let services = match d.list.as_ref().map(|l| (l.get_ref().as_str(), l.span())) {
                    None => false,
                    Some(("services", _)) => true,
                    Some((other, span)) => {
                        self.error(
                            span,
                            format!("unknown list {other:?}"),
                            "use list = \"services\" (catalogue codes)",
                        );
                        false
                    }
                };
                if let (Some(l), None) = (&d.list, &d.options_from) {
                    self.error(l.span(), "list says what options_from holds, and there is none", "add options_from");
                }
                let list = match &d.options_from {
                    Some(var) if services => Some(ListOptions {
                        var: var.get_ref().clone(),
                        save_as: d.save_as.as_ref().map(|v| v.get_ref().clone()),
                        next: ListNext::Service,
                    }),
                    Some(var) => {
                        let save_as = required(self, &d.save_as, "save_as");
                        let next = match &d.next {
                            Some(n) => resolve(self, n),
                            None => {
                                self.error(
                                    var.span(),
                                    "a menu with options_from needs next",
                                    "add next = \"<screen>\" for after the choice",
                                );
                                None
                            }
                        };
                        Some(ListOptions {
                            var: var.get_ref().clone(),
                            save_as: Some(save_as?),
                            next: ListNext::Screen(next?),
                        })
                    }
                    None => None,
                };
                if d.options.is_none() && list.is_none() {
                    self.error(
                        kind.span(),
                        format!("menu screen {:?} has no options", name.get_ref()),
                        "add options = [ { label = \"…\", goto = \"…\" } ] or options_from",
                    );
                }
                Some(Kind::Menu { options, list })
            }
            "input" | "search" => {
                let save_as = required(self, &d.save_as, "save_as");
                let search = match (k, &d.empty) {
                    ("search", Some(e)) => {
                        resolve(self, e).map(|empty| Search { results: RESULTS_VAR.to_owned(), empty })
                    }
                    ("search", None) => required(self, &None, "empty").and(None),
                    _ => None,
                };
                let next = match &d.next {
                    Some(n) => resolve(self, n),
                    None => required(self, &None, "next").and(None),
                };
                let validate = match &d.validate {
                    Some(v) => self.validation(v),
                    None => Validation::default(),
                };
                let normalize = match d.normalize.as_ref().map(|n| (n.get_ref().as_str(), n.span())) {
                    None | Some(("trim", _)) => Normalize::Trim,
                    Some(("upper", _)) => Normalize::Upper,
                    Some(("lower", _)) => Normalize::Lower,
                    Some((other, span)) => {
                        self.error(span, format!("unknown normalize {other:?}"), "use trim, upper or lower");
                        Normalize::Trim
                    }
                };
                if let (Some(var), Some(s)) = (&save_as, &d.save_as) {
                    var_places.entry(var.clone()).or_insert_with(|| self.place(s.span()));
                }
                // A search screen's Back and Home always work: nobody searches for `0`, and a
                // pattern only to exclude it would cost every search a regex.
                let navigation = d.navigation.as_ref().map(|s| *s.get_ref()).unwrap_or_else(|| {
                    search.is_some() || (!validate.admits(&rules.nav.back) && !validate.admits(&rules.nav.home))
                });
                Some(Kind::Input(Input {
                    save_as: save_as?,
                    validate,
                    secret: d.secret.as_ref().is_some_and(|s| *s.get_ref()),
                    navigation,
                    navigation_declared: d.navigation.as_ref().map(|s| *s.get_ref()),
                    normalize,
                    next: next?,
                    search,
                }))
            }
            "lookup" => {
                let backend = required(self, &d.backend, "backend");
                let operation = required(self, &d.operation, "operation");
                let next = match &d.next {
                    Some(n) => resolve(self, n),
                    None => required(self, &None, "next").and(None),
                };
                let provides: Vec<String> =
                    d.provides.as_deref().unwrap_or_default().iter().map(|p| p.get_ref().clone()).collect();
                for p in d.provides.as_deref().unwrap_or_default() {
                    if !rules.widths.contains_key(p.get_ref()) {
                        self.error(
                            p.span(),
                            format!("variable {:?} set by this lookup has no declared width", p.get_ref()),
                            format!("declare it: [variables] {} = {{ max_width = N }}", p.get_ref()),
                        );
                    }
                }
                let at = |c: &Self, f: &Option<Spanned<String>>| c.place(f.as_ref().map_or(kind.span(), |f| f.span()));
                Some(Kind::Lookup(Lookup {
                    backend_place: at(self, &d.backend),
                    operation_place: at(self, &d.operation),
                    backend: backend?,
                    operation: operation?,
                    args: d.args.as_deref().unwrap_or_default().iter().map(|a| a.get_ref().clone()).collect(),
                    provides,
                    next: next?,
                    not_found: d.not_found.as_ref().map(|m| self.message(m)),
                }))
            }
            "submit" => {
                let service = required(self, &d.service, "service");
                let payment = d.payment.as_ref().map(|p| Payment {
                    amount: p.get_ref().amount.get_ref().clone(),
                    account: p.get_ref().account.get_ref().clone(),
                });
                Some(Kind::Submit(Submit {
                    service: service?,
                    payment,
                    fields: d.fields.as_ref().map(|f| f.iter().map(|x| x.get_ref().clone()).collect()),
                }))
            }
            "end" => Some(Kind::End),
            "language" => {
                let mut options = Vec::new();
                for o in d.options.as_deref().unwrap_or_default() {
                    let od = o.get_ref();
                    match &od.locale {
                        Some(l) => match Locale::parse(l.get_ref()) {
                            Ok(locale) => options.push(LanguageOption { label: self.message(&od.label), locale }),
                            Err(e) => self.error(l.span(), e.to_string(), "use a locale folder name such as sw or en"),
                        },
                        None => self.error(
                            o.span(),
                            "a language option needs locale",
                            "add locale = \"sw\" (or another locale folder)",
                        ),
                    }
                }
                if options.is_empty() {
                    self.error(
                        kind.span(),
                        "language screen has no options",
                        "add options = [ { label = \"…\", locale = \"sw\" }, … ]",
                    );
                }
                let next = d.next.as_ref().and_then(|n| resolve(self, n));
                Some(Kind::Language { options, next })
            }
            _ => None,
        }
    }

    fn menu_option(
        &mut self,
        o: &Spanned<OptionDef>,
        resolve: &dyn Fn(&mut Self, &Spanned<String>) -> Option<ScreenId>,
        rules: &Rules<'_>,
    ) -> Option<MenuOption> {
        let od = o.get_ref();
        let when = match &od.when {
            Some(w) => match Condition::parse(w.get_ref()) {
                Some(c) => Some(c),
                None => {
                    self.error(
                        w.span(),
                        format!("cannot read condition {:?}", w.get_ref()),
                        "write var, !var, var == value or var != value",
                    );
                    None
                }
            },
            None => None,
        };
        let Some(goto) = &od.goto else {
            self.error(o.span(), "menu option has no goto", "add goto = \"<screen>\"");
            return None;
        };
        let goto = resolve(self, goto)?;
        let mut set = Vec::with_capacity(od.set.len());
        for (k, v) in &od.set {
            match crate::value::admit(rules.rule(k), v) {
                Ok(value) => set.push((k.clone(), value)),
                Err(why) => self.error(
                    o.span(),
                    format!("set {k} = {v:?}: {why}"),
                    match rules.rule(k).ty {
                        VarType::Amount => "write whole shillings: 4500 or 4,500".to_owned(),
                        VarType::Date => "write the date as YYYY-MM-DD".to_owned(),
                        VarType::Text => format!("shorten it, or raise {k}'s max_width"),
                    },
                ),
            }
        }
        Some(MenuOption { label: self.message(&od.label), goto, when, set })
    }

    fn validation(&mut self, v: &Spanned<ValidateDef>) -> Validation {
        let d = v.get_ref();
        let pattern = d.pattern.as_ref().and_then(|p| match self.regexes.anchored(p.get_ref()) {
            Ok(r) => Some(r),
            Err(msg) => {
                self.error(
                    p.span(),
                    format!("regular expression does not compile: {msg}"),
                    "fix the pattern (Rust regex syntax, no look-around)",
                );
                None
            }
        });
        let length = match (d.min_length, d.max_length) {
            (None, None) => None,
            (lo, hi) => Some((lo.unwrap_or(0), hi.unwrap_or(182))),
        };
        let range = match (d.min, d.max) {
            (None, None) => None,
            (lo, hi) => Some((lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX))),
        };
        if let Some((lo, hi)) = length
            && lo > hi
        {
            self.error(v.span(), "min_length is greater than max_length", "swap them");
        }
        if let Some((lo, hi)) = range
            && lo > hi
        {
            self.error(v.span(), "min is greater than max", "swap them");
        }
        Validation {
            pattern,
            length,
            range,
            phone: d.phone,
            one_of: d.one_of.clone(),
            error: d.error.as_ref().map(|m| self.message(m)),
        }
    }
}

/// The widest value an input's validators allow, if they bound it (at most [`MAX_WIDTH`]).
fn inferred_width(v: &ValidateDef) -> Option<usize> {
    inferred_width_unclamped(v).map(|w| w.min(MAX_WIDTH))
}

fn inferred_width_unclamped(v: &ValidateDef) -> Option<usize> {
    if v.phone {
        // Saved normalised: 2547XXXXXXXX, whatever length was typed.
        return Some(12);
    }
    v.max_length
        .or(match (v.min, v.max) {
            (Some(lo), Some(hi)) => Some(lo.to_string().len().max(hi.to_string().len())),
            _ => None,
        })
        .or(v.phone.then_some(12))
        .or(v.one_of.as_ref().map(|o| o.iter().map(|s| s.chars().count()).max().unwrap_or(0)))
}

/// The optional fields a screen sets, with their spans.
fn present_fields(d: &ScreenDef) -> Vec<(&'static str, Range<usize>)> {
    let mut out = Vec::new();
    macro_rules! field {
        ($($f:ident),*) => { $( if let Some(v) = &d.$f { out.push((stringify!($f), v.span())); } )* };
    }
    field!(
        text,
        next,
        options_from,
        save_as,
        validate,
        secret,
        navigation,
        normalize,
        backend,
        operation,
        not_found,
        service,
        payment,
        empty,
        list
    );
    macro_rules! list {
        ($($f:ident),*) => { $( if let Some(v) = &d.$f { out.push((stringify!($f), v.first().map_or(0..0, |x| x.span()))); } )* };
    }
    list!(options, args, provides, fields);
    out
}

/// The known name nearest to `name`, if it is close enough to be a likely typo: within two
/// edits, or a quarter of its length for a long name (Levenshtein distance over characters;
/// ties go to the name that sorts first).
pub fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(name, k), *k))
        .filter(|(d, _)| *d <= 2.max(name.len() / 4))
        .min()
        .map(|(_, k)| k)
}

/// Marks each screen with the catalogue service whose flow it is part of (see
/// [`Screen::within`]): a flood from each service's entry that stops at the start screen, at
/// other services' entries and at lists of services (where the citizen chooses anew). A screen
/// two services reach belongs to neither.
fn within(screens: &mut [Screen], start: Option<ScreenId>, c: &super::catalogue::Catalogue) {
    const SHARED: u16 = u16::MAX;
    let entries: std::collections::HashSet<ScreenId> = c.services.iter().map(|s| s.entry).collect();
    let mut owner: Vec<Option<u16>> = vec![None; screens.len()];
    for (i, service) in c.services.iter().enumerate() {
        let Ok(i) = u16::try_from(i) else { continue };
        let mut seen = std::collections::HashSet::new();
        let mut queue = vec![service.entry];
        while let Some(at) = queue.pop() {
            if !seen.insert(at) || Some(at) == start || (at != service.entry && entries.contains(&at)) {
                continue;
            }
            let Some(screen) = screens.get(usize::from(at.0)) else { continue };
            if matches!(&screen.kind, Kind::Menu { list: Some(l), .. } if l.next == ListNext::Service) {
                continue;
            }
            let slot = &mut owner[usize::from(at.0)];
            *slot = match *slot {
                None => Some(i),
                Some(o) if o == i => Some(i),
                Some(_) => Some(SHARED),
            };
            queue.extend(screen.kind.successors());
        }
    }
    for (screen, o) in screens.iter_mut().zip(owner) {
        screen.within = o.filter(|&o| o != SHARED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse() {
        assert_eq!(Condition::parse("paid"), Some(Condition::Set("paid".into())));
        assert_eq!(Condition::parse("!paid"), Some(Condition::Unset("paid".into())));
        assert_eq!(Condition::parse("years == '3'"), Some(Condition::Equals("years".into(), "3".into())));
        assert_eq!(Condition::parse("years != 1"), Some(Condition::NotEquals("years".into(), "1".into())));
        assert_eq!(Condition::parse("a b"), None);
        assert_eq!(Condition::parse(""), None);
    }

    #[test]
    fn codes_normalise_and_route_longest_first() {
        assert_eq!(normalize_code("*384#"), "384");
        assert_eq!(normalize_code("*384*1#"), "384*1");
        assert_eq!(closest("parcle", &["parcel", "home"]), Some("parcel"));
        assert_eq!(closest("zzzzzz", &["parcel", "home"]), None);
    }

    /// "Did you mean": the nearest known name within two edits (a quarter of a long name's
    /// length), edits counted in characters, the first in order on a tie; none when nothing is
    /// that close.
    #[test]
    fn closest_names_are_likely_typos() {
        let known = ["parcel", "home", "hot", "land-rates-confirm", "ee"];
        let cases: &[(&str, Option<&str>)] = &[
            ("parcel", Some("parcel")),
            ("parcle", Some("parcel")),
            ("hom", Some("home")),
            ("hotel", Some("home")),
            ("zzzzzz", None),
            ("lnd-rates-cnfrm", Some("land-rates-confirm")),
            ("land-rts-cnfrm", None),
            ("\u{113}\u{113}", Some("ee")),
            ("", Some("ee")),
        ];
        for (name, want) in cases {
            assert_eq!(closest(name, &known), *want, "{name:?}");
        }
        assert_eq!(closest("home", &[]), None);
    }

    /// Patterns are compiled once per load, but every input that uses a broken one is still
    /// reported at its own line, and a good one still anchors.
    #[test]
    fn compiled_patterns_are_shared_and_errors_reported_everywhere() {
        let input = |name: &str, next: &str, pattern: &str| {
            format!(
                "[screens.{name}]\nkind = \"input\"\ntext = \"t\"\nsave_as = \"{name}\"\n\
                 validate = {{ pattern = \"{pattern}\" }}\nnext = \"{next}\"\n\n"
            )
        };
        let menu = |inputs: &[(&str, &str, &str)]| {
            let screens: String = inputs.iter().map(|(n, next, p)| input(n, next, p)).collect();
            format!(
                "[menu]\nid = \"m\"\nservice_codes = [\"*1#\"]\nstart = \"a\"\n\n{screens}[screens.end]\nkind = \"end\"\ntext = \"t\"\n"
            )
        };
        let mut regexes = Regexes::default();
        let (mut problems, file) = (Vec::new(), Path::new("m.toml"));
        let broken = menu(&[("a", "b", "[0-9"), ("b", "end", "[0-9")]);
        let _ = load_str_with(file, &broken, &mut problems, &mut regexes);
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [10, 17], "{problems:#?}");
        let good = menu(&[("a", "b", "[0-9]{4}"), ("b", "end", "[0-9]{4}")]);
        let menu = load_str_with(file, &good, &mut problems, &mut regexes).expect("compiles");
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert_eq!(regexes.0.len(), 2, "each pattern compiled once");
        let Kind::Input(b) = &menu.screen(ScreenId(1)).kind else { panic!("input") };
        let re = b.validate.pattern.as_ref().expect("pattern");
        assert!(re.is_match("1234") && !re.is_match("12345"), "anchored to the whole input");
    }
}

//! The words users see: Fluent catalogs per locale, loaded from `locales/<lang>/*.ftl`.
//!
//! Owns loading (collecting every syntax error and cross-locale mismatch as a [`Problem`]),
//! formatting with a fallback chain, and the static analysis the checker needs: which variables
//! a message uses and the widest text it can produce given each variable's maximum width.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fluent::concurrent::FluentBundle;
use fluent::{FluentArgs, FluentResource};
use fluent_syntax::ast;
use hashbrown::HashTable;

use crate::diag::{Place, Problem};
use crate::gsm7;
use crate::types::Locale;

/// Where a message is defined and what it needs.
#[derive(Clone, Debug)]
pub struct MessageInfo {
    /// Shared by the file's messages (a catalogue has thousands per file).
    pub file: Arc<Path>,
    pub line: usize,
    /// Variables the message's own pattern uses (not those of messages it references).
    pub vars: Box<[Box<str>]>,
    /// Messages this one references with `{ other-message }`.
    pub refs: Box<[Box<str>]>,
}

/// One locale's messages, kept as small as serving allows: a catalogue has thousands of
/// messages per locale, nearly all plain text (names, search words, information texts), and
/// Fluent's syntax tree of a one-line text is several times its size (about a kilobyte a
/// message). So only what Fluent must format, a message with a placeable, is kept in Fluent's
/// form; a plain message is kept as its text.
struct LocaleCatalog {
    locale: Locale,
    /// A hash of the locale's files (names and text), as loaded.
    fingerprint: u64,
    /// Every message, its first definition only, in the order the files define them.
    messages: Vec<Message>,
    /// Indices into `messages` by id.
    index: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    /// What Fluent formats: the messages with a placeable, the messages those reference, and
    /// every term, from `resource`.
    bundle: FluentBundle<Arc<FluentResource>>,
    resource: Arc<FluentResource>,
}

/// A message of one locale: where it is, what the checker knows of it, and its words.
struct Message {
    id: Box<str>,
    info: MessageInfo,
    words: Words,
}

/// How a message's words are kept.
enum Words {
    /// Text only, in its value and every attribute: the texts as Fluent would format them.
    Plain { value: Option<Box<str>>, attributes: Box<[(Box<str>, Box<str>)]> },
    /// A placeable somewhere: the locale's bundle has it, and formats it.
    Fluent,
}

impl LocaleCatalog {
    fn find(&self, id: &str) -> Option<&Message> {
        let hash = self.hasher.hash_one(id);
        let at = self.index.find(hash, |&i| self.messages.get(i as usize).is_some_and(|m| &*m.id == id))?;
        self.messages.get(*at as usize)
    }

    /// The pattern of message `id` in the bundle, when Fluent formats it (or a message it
    /// references).
    fn pattern(&self, id: &str) -> Option<&ast::Pattern<&str>> {
        self.bundle.get_message(id)?.value()
    }
}

/// Every locale's messages. Immutable once loaded; shared behind an `Arc`.
pub struct Catalog {
    locales: Vec<LocaleCatalog>,
    fallback: Vec<Locale>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.locales.iter().map(|l| l.locale.as_str()).collect();
        f.debug_struct("Catalog").field("locales", &names).field("fallback", &self.fallback).finish()
    }
}

/// A source of maximum widths for variables, used to compute worst-case renderings.
pub trait Widths {
    /// The widest value `var` can take, in characters.
    fn max_width(&self, var: &str) -> usize;
}

impl<F: Fn(&str) -> usize> Widths for F {
    fn max_width(&self, var: &str) -> usize {
        self(var)
    }
}

impl Catalog {
    /// Loads every `locales/<lang>/*.ftl`. The catalog is returned even when there are
    /// problems, so the checker can go on to find more; callers refuse to serve on any error.
    ///
    /// `fallback` is the chain tried when a message is missing in the user's locale.
    pub fn load(dir: &Path, fallback: &[Locale]) -> (Catalog, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut locales = Vec::new();
        let mut entries = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect::<Vec<_>>(),
            Err(e) => {
                problems.push(Problem::error(
                    Place::whole_file(dir),
                    format!("cannot read the locales directory: {e}"),
                    "create it with one folder per language, e.g. locales/sw and locales/en",
                ));
                Vec::new()
            }
        };
        entries.sort();
        for sub in entries {
            let name = sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            match Locale::parse(&name) {
                Ok(locale) => locales.push(load_locale(&sub, locale, &mut problems)),
                Err(_) => problems.push(Problem::error(
                    Place::whole_file(&sub),
                    format!("folder name {name:?} is not a language tag"),
                    "name locale folders by language, e.g. sw or en",
                )),
            }
        }
        if locales.is_empty() && problems.is_empty() {
            problems.push(Problem::error(
                Place::whole_file(dir),
                "no locale folders found",
                "add at least locales/sw and locales/en with .ftl files",
            ));
        }
        let catalog = Catalog { locales, fallback: fallback.to_vec() };
        catalog.cross_check(&mut problems);
        (catalog, problems)
    }

    /// A hash of every locale's files as loaded: a change of any word changes it.
    pub fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for l in &self.locales {
            std::hash::Hash::hash(&(l.locale.as_str(), l.fingerprint), &mut h);
        }
        std::hash::Hasher::finish(&h)
    }

    /// Locales in the order they were loaded.
    pub fn locales(&self) -> impl Iterator<Item = &Locale> {
        self.locales.iter().map(|l| &l.locale)
    }

    pub fn has_locale(&self, locale: &Locale) -> bool {
        self.locales.iter().any(|l| &l.locale == locale)
    }

    /// Every message id `locale` defines, in the order its files define them.
    pub fn ids(&self, locale: &Locale) -> Vec<&str> {
        self.get(locale).map_or_else(Vec::new, |l| l.messages.iter().map(|m| &*m.id).collect())
    }

    /// Information about `id` in `locale`, if it is defined there.
    pub fn message(&self, locale: &Locale, id: &str) -> Option<&MessageInfo> {
        self.get(locale).and_then(|l| l.find(id)).map(|m| &m.info)
    }

    /// Variables `id` uses in `locale`, following references to other messages.
    pub fn vars_used(&self, locale: &Locale, id: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        if let Some(l) = self.get(locale) {
            collect_vars(l, id, &mut out, &mut seen);
        }
        out
    }

    /// Formats `id` in `locale`, trying the fallback chain when it is missing there.
    ///
    /// A message missing everywhere renders as its id: the checker makes that impossible for
    /// shipped menus, and showing the id beats showing nothing to a citizen mid-session.
    ///
    /// Returns borrowed text for messages without placeables (Fluent's fast path), so static
    /// labels cost no allocation on the hot path.
    pub fn format<'a>(&'a self, locale: &Locale, id: &'a str, args: Option<&FluentArgs>) -> Cow<'a, str> {
        // Errors here are missing variables; the text still renders with the variable's name
        // in braces, and the checker reports the flow that leaves it unset. Screens use
        // `format_strict`, which refuses such a text.
        self.format_checked(locale, id, args).map_or(Cow::Borrowed(id), |(text, _)| text)
    }

    /// The text of `id` in the first locale of the chain that has it, and whether Fluent
    /// formatted it without error.
    fn format_checked<'a>(
        &'a self,
        locale: &Locale,
        id: &str,
        args: Option<&FluentArgs>,
    ) -> Option<(Cow<'a, str>, bool)> {
        let chain = std::iter::once(locale).chain(self.fallback.iter());
        for loc in chain {
            let Some(l) = self.get(loc) else { continue };
            // The bundle first: a message with placeables (the ones a hop formats with its
            // variables) costs one lookup, as it did when the bundle held every message.
            if let Some(pattern) = l.pattern(id) {
                let mut errors = Vec::new();
                let text = l.bundle.format_pattern(pattern, args, &mut errors);
                return Some((text, errors.is_empty()));
            }
            // Fluent formats a text-only pattern to its text, whatever the arguments.
            if let Some(Message { words: Words::Plain { value: Some(text), .. }, .. }) = l.find(id) {
                return Some((Cow::Borrowed(&**text), true));
            }
        }
        None
    }

    /// The select expressions on a variable in `id`'s own pattern (nested ones included), with
    /// their variant keys: what the checker compares across locales and against the values the
    /// variable can take.
    pub fn selectors(&self, locale: &Locale, id: &str) -> Vec<Selector> {
        let mut out = Vec::new();
        if let Some(p) = self.get(locale).and_then(|l| l.pattern(id)) {
            collect_selectors(p, &mut out, 0);
        }
        out
    }

    /// The text of attribute `attr` of message `id` in `locale` itself (no fallback: the
    /// checker asks each locale for its own words), formatted without arguments. The catalogue
    /// keeps a service's search words there: `svc-land-rates` and its `.keywords`.
    pub fn attribute(&self, locale: &Locale, id: &str, attr: &str) -> Option<String> {
        let l = self.get(locale)?;
        match &l.find(id)?.words {
            Words::Plain { attributes, .. } => {
                attributes.iter().find(|(a, _)| &**a == attr).map(|(_, t)| t.to_string())
            }
            Words::Fluent => {
                let pattern = l.bundle.get_message(id)?.get_attribute(attr)?.value();
                let mut errors = Vec::new();
                Some(l.bundle.format_pattern(pattern, None, &mut errors).into_owned())
            }
        }
    }

    /// Like [`Catalog::format`], but `None` when Fluent reported an error (a variable the
    /// message uses was not given): what a citizen would see then holds a raw `{$…}`.
    pub fn format_strict<'a>(
        &'a self,
        locale: &Locale,
        id: &'a str,
        args: Option<&FluentArgs>,
    ) -> Option<Cow<'a, str>> {
        self.format_checked(locale, id, args).and_then(|(text, clean)| clean.then_some(text))
    }

    /// The widest text `id` can render to in `locale`: every variable at its maximum width
    /// (as `X`s, one GSM-7 septet each) and every select expression at its widest variant.
    pub fn worst_case(&self, locale: &Locale, id: &str, widths: &dyn Widths) -> Option<String> {
        let l = self.get(locale)?;
        // A plain text is its own worst case: no variable, no variant.
        if let Words::Plain { value, .. } = &l.find(id)?.words {
            return value.as_deref().map(str::to_owned);
        }
        let pattern = l.pattern(id)?;
        let mut out = String::new();
        worst_pattern(l, pattern, widths, &mut out, 0);
        Some(out)
    }

    fn get(&self, locale: &Locale) -> Option<&LocaleCatalog> {
        self.locales.iter().find(|l| &l.locale == locale)
    }

    /// Every message must exist in every locale; variable sets should agree.
    fn cross_check(&self, problems: &mut Vec<Problem>) {
        let all: BTreeSet<&str> = self.locales.iter().flat_map(|l| l.messages.iter().map(|m| &*m.id)).collect();
        for id in all {
            let have: Vec<(&LocaleCatalog, &MessageInfo)> =
                self.locales.iter().filter_map(|l| l.find(id).map(|m| (l, &m.info))).collect();
            for l in &self.locales {
                if l.find(id).is_some() {
                    continue;
                }
                let Some((first, info)) = have.first() else { continue };
                let only = if have.len() == 1 { " only" } else { "" };
                problems.push(Problem::error(
                    Place::new(&info.file, info.line, 1),
                    format!("message {id:?} is defined in {}{only} but missing in {}", first.locale, l.locale),
                    format!("add {id} to a file in locales/{}/, or remove it here", l.locale),
                ));
            }
            if let Some(((reference, _), rest)) = have.split_first() {
                let want = self.vars_used(&reference.locale, id);
                for (other, info) in rest {
                    let got = self.vars_used(&other.locale, id);
                    let extra: Vec<_> = got.difference(&want).map(|v| format!("${v}")).collect();
                    if !extra.is_empty() {
                        problems.push(Problem::warning(
                            Place::new(&info.file, info.line, 1),
                            format!(
                                "message {id:?} uses {} in {} but not in {}",
                                extra.join(", "),
                                other.locale,
                                reference.locale
                            ),
                            "check the variable names: translations should use the same variables",
                        ));
                    }
                }
            }
        }
    }
}

fn load_locale(dir: &Path, locale: Locale, problems: &mut Vec<Problem>) -> LocaleCatalog {
    let mut fingerprint = std::collections::hash_map::DefaultHasher::new();
    // The locale's own files, and those one folder down: the catalogue keeps one file per
    // agency in `locales/<lang>/catalogue/`, so each agency edits its own words only.
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(e) => {
            problems.push(Problem::error(Place::whole_file(dir), format!("cannot read: {e}"), "check permissions"));
            Vec::new()
        }
    };
    let folders: Vec<PathBuf> = files.iter().filter(|p| p.is_dir()).cloned().collect();
    for folder in folders {
        if let Ok(rd) = std::fs::read_dir(&folder) {
            files.extend(rd.filter_map(Result::ok).map(|e| e.path()));
        }
    }
    files.retain(|p| p.is_file() && p.extension().is_some_and(|x| x == "ftl"));
    files.sort();
    let hasher = hashbrown::DefaultHashBuilder::default();
    let mut messages: Vec<Message> = Vec::new();
    let mut index: HashTable<u32> = HashTable::new();
    // Every file's syntax tree, until the bundle's entries are cut from their sources.
    let mut parsed: Vec<FluentResource> = Vec::new();
    // Where each message (by its index) and each term is written: file and byte.
    let mut written: Vec<(usize, usize)> = Vec::new();
    let mut terms: Vec<(usize, usize)> = Vec::new();
    // Messages that a message Fluent formats, or a term, references: the bundle needs them.
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    for file in files {
        let source = match std::fs::read_to_string(&file) {
            Ok(s) => s,
            Err(e) => {
                problems.push(Problem::error(
                    Place::whole_file(&file),
                    format!("cannot read: {e}"),
                    "save it as UTF-8",
                ));
                continue;
            }
        };
        std::hash::Hash::hash(&(file.file_name(), &source), &mut fingerprint);
        let res = match FluentResource::try_new(source) {
            Ok(r) => r,
            Err((r, errors)) => {
                for e in errors {
                    problems.push(Problem::error(
                        Place::at_offset(&file, r.source(), e.pos.start),
                        format!("Fluent syntax error: {}", e.kind),
                        "fix the message syntax (see https://projectfluent.org/fluent/guide/)",
                    ));
                }
                r
            }
        };
        let source = res.source();
        let lines = definition_lines(source);
        let shared: Arc<Path> = file.as_path().into();
        let at = parsed.len();
        for entry in res.entries() {
            let m = match entry {
                ast::Entry::Message(m) => m,
                ast::Entry::Term(t) => {
                    scan_refs(Some(&t.value), &t.attributes, &mut referenced);
                    // A term's identifier is written after its `-`.
                    if let Some(start) = offset_in(source, t.id.name).and_then(|o| o.checked_sub(1)) {
                        terms.push((at, start));
                    }
                    continue;
                }
                _ => continue,
            };
            let id = m.id.name;
            let line = lines.get(id).copied().unwrap_or(1);
            let hash = hasher.hash_one(id);
            if let Some(&prev) = index.find(hash, |&i| messages.get(i as usize).is_some_and(|p| &*p.id == id)) {
                if let Some(prev) = messages.get(prev as usize) {
                    problems.push(Problem::error(
                        Place::new(&file, line, 1),
                        format!(
                            "message {id:?} is defined twice (first at {}:{})",
                            prev.info.file.display(),
                            prev.info.line
                        ),
                        "keep one definition",
                    ));
                }
                continue;
            }
            if m.value.is_none() {
                problems.push(Problem::error(
                    Place::new(&file, line, 1),
                    format!("message {id:?} has no value"),
                    "give it text: users see the value, not attributes",
                ));
            }
            let mut vars = BTreeSet::new();
            let mut refs = BTreeSet::new();
            if let Some(p) = &m.value {
                scan_pattern(p, &mut vars, &mut refs);
            }
            let plain = m.value.as_ref().is_none_or(is_text) && m.attributes.iter().all(|a| is_text(&a.value));
            let words = if plain {
                Words::Plain {
                    value: m.value.as_ref().map(text_of),
                    attributes: m.attributes.iter().map(|a| (Box::from(a.id.name), text_of(&a.value))).collect(),
                }
            } else {
                scan_refs(m.value.as_ref(), &m.attributes, &mut referenced);
                Words::Fluent
            };
            let Ok(i) = u32::try_from(messages.len()) else { continue };
            index.insert_unique(hash, i, |&i| messages.get(i as usize).map_or(0, |m| hasher.hash_one(&*m.id)));
            written.push((at, offset_in(source, id).unwrap_or(usize::MAX)));
            let boxed = |set: BTreeSet<String>| set.into_iter().map(String::into_boxed_str).collect();
            let info = MessageInfo { file: Arc::clone(&shared), line, vars: boxed(vars), refs: boxed(refs) };
            messages.push(Message { id: id.into(), info, words });
        }
        warn_non_gsm7(&file, source, problems);
        parsed.push(res);
    }
    // The bundle's source: the entries it needs, cut from their files in the files' order (so
    // a term defined twice keeps its first definition, as a bundle of the whole files would).
    let mut wanted = terms;
    for (m, &at) in messages.iter().zip(&written) {
        if matches!(m.words, Words::Fluent) || referenced.contains(&*m.id) {
            wanted.push(at);
        }
    }
    wanted.sort_unstable();
    let mut text = String::new();
    for (at, start) in wanted {
        if let Some(res) = parsed.get(at) {
            text.push_str(entry_text(res.source(), start));
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
    }
    drop(parsed);
    // Syntax errors were reported against the files above; entries cut from valid files parse
    // again to the same trees.
    let resource = Arc::new(FluentResource::try_new(text).unwrap_or_else(|(r, _)| r));
    let mut bundle = FluentBundle::new_concurrent(vec![lang_id(&locale)]);
    // Isolation marks (U+2068/U+2069) are not GSM-7: one placeable would force a whole USSD
    // screen into UCS-2 and halve its room.
    bundle.set_use_isolating(false);
    // Duplicate ids were reported above with both places, so the bundle's own overriding
    // errors add nothing.
    let _ = bundle.add_resource(Arc::clone(&resource));
    messages.shrink_to_fit();
    index.shrink_to_fit(|&i| messages.get(i as usize).map_or(0, |m| hasher.hash_one(&*m.id)));
    LocaleCatalog {
        locale,
        fingerprint: std::hash::Hasher::finish(&fingerprint),
        messages,
        index,
        hasher,
        bundle,
        resource,
    }
}

/// True when a pattern is text only: Fluent formats it to its text elements, joined.
fn is_text(p: &ast::Pattern<&str>) -> bool {
    p.elements.iter().all(|e| matches!(e, ast::PatternElement::TextElement { .. }))
}

/// The text of a text-only pattern, as Fluent formats it.
fn text_of(p: &ast::Pattern<&str>) -> Box<str> {
    let mut out = String::new();
    for e in &p.elements {
        if let ast::PatternElement::TextElement { value } = e {
            out.push_str(value);
        }
    }
    out.into_boxed_str()
}

/// Where `part`, a slice of `source`, starts in it.
fn offset_in(source: &str, part: &str) -> Option<usize> {
    let at = (part.as_ptr() as usize).checked_sub(source.as_ptr() as usize)?;
    (at + part.len() <= source.len()).then_some(at)
}

/// The text of the entry that starts at byte `start` of `source`: up to the next line that
/// starts an entry, a letter, `-` or `#` in its first column (where Fluent's parser looks for
/// the next entry; everything else, indented or blank, continues this one).
fn entry_text(source: &str, start: usize) -> &str {
    let Some(rest) = source.get(start..) else { return "" };
    let mut end = 0;
    for line in rest.split_inclusive('\n') {
        if end > 0 && line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '-' || c == '#') {
            break;
        }
        end += line.len();
    }
    &rest[..end]
}

/// Adds the messages a value and attributes reference to `out`.
fn scan_refs(value: Option<&ast::Pattern<&str>>, attributes: &[ast::Attribute<&str>], out: &mut BTreeSet<String>) {
    let mut vars = BTreeSet::new();
    for p in value.into_iter().chain(attributes.iter().map(|a| &a.value)) {
        scan_pattern(p, &mut vars, out);
    }
}

fn lang_id(locale: &Locale) -> unic_langid::LanguageIdentifier {
    locale.as_str().parse().unwrap_or_default()
}

/// Line numbers of `id = …` definitions; the Fluent AST carries no positions.
fn definition_lines(source: &str) -> HashMap<&str, usize> {
    let mut out = HashMap::new();
    for (i, line) in source.lines().enumerate() {
        let Some(eq) = line.find('=') else { continue };
        let id = line[..eq].trim_end();
        let starts_ok = id.as_bytes().first().is_some_and(|b| b.is_ascii_alphabetic());
        if starts_ok && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            out.entry(id).or_insert(i + 1);
        }
    }
    out
}

/// Non-GSM-7 characters force UCS-2 and halve a screen; warn with the exact place.
fn warn_non_gsm7(file: &Path, source: &str, problems: &mut Vec<Problem>) {
    for (i, line) in source.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let bad: String = gsm7::non_gsm7_chars(line).filter(|c| *c != '\t').collect();
        if let Some(first) = bad.chars().next() {
            let col = line.chars().position(|c| c == first).unwrap_or(0) + 1;
            problems.push(Problem::warning(
                Place::new(file, i + 1, col),
                format!("non-GSM-7 characters {bad:?} force the whole screen into UCS-2 (half the room)"),
                "use plain characters: straight quotes ' and \", no emoji or curly quotes",
            ));
        }
    }
}

fn scan_pattern(p: &ast::Pattern<&str>, vars: &mut BTreeSet<String>, refs: &mut BTreeSet<String>) {
    for el in &p.elements {
        if let ast::PatternElement::Placeable { expression } = el {
            scan_expression(expression, vars, refs);
        }
    }
}

fn scan_expression(e: &ast::Expression<&str>, vars: &mut BTreeSet<String>, refs: &mut BTreeSet<String>) {
    match e {
        ast::Expression::Inline(i) => scan_inline(i, vars, refs),
        ast::Expression::Select { selector, variants } => {
            scan_inline(selector, vars, refs);
            for v in variants {
                scan_pattern(&v.value, vars, refs);
            }
        }
    }
}

fn scan_inline(i: &ast::InlineExpression<&str>, vars: &mut BTreeSet<String>, refs: &mut BTreeSet<String>) {
    match i {
        ast::InlineExpression::VariableReference { id } => {
            vars.insert(id.name.to_owned());
        }
        ast::InlineExpression::MessageReference { id, .. } => {
            refs.insert(id.name.to_owned());
        }
        ast::InlineExpression::FunctionReference { arguments, .. } => {
            for a in &arguments.positional {
                scan_inline(a, vars, refs);
            }
            for a in &arguments.named {
                scan_inline(&a.value, vars, refs);
            }
        }
        ast::InlineExpression::TermReference { arguments: Some(arguments), .. } => {
            for a in &arguments.positional {
                scan_inline(a, vars, refs);
            }
            for a in &arguments.named {
                scan_inline(&a.value, vars, refs);
            }
        }
        ast::InlineExpression::Placeable { expression } => scan_expression(expression, vars, refs),
        _ => {}
    }
}

fn collect_vars(l: &LocaleCatalog, id: &str, out: &mut BTreeSet<String>, seen: &mut BTreeSet<String>) {
    if !seen.insert(id.to_owned()) {
        return;
    }
    if let Some(m) = l.find(id) {
        out.extend(m.info.vars.iter().map(|v| v.to_string()));
        for r in &m.info.refs {
            collect_vars(l, r, out, seen);
        }
    }
}

/// A select expression on a variable: `{ $status -> [paid] … *[other] … }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub var: String,
    /// Every variant key as written (identifiers and numbers), the default's included.
    pub keys: Vec<String>,
    pub default: String,
}

/// The plural categories of CLDR: keys a number selects by, whatever the variable's values.
pub const PLURAL_CATEGORIES: &[&str] = &["zero", "one", "two", "few", "many", "other"];

fn collect_selectors(p: &ast::Pattern<&str>, out: &mut Vec<Selector>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    for el in &p.elements {
        let ast::PatternElement::Placeable { expression } = el else { continue };
        let ast::Expression::Select { selector, variants } = expression else { continue };
        if let ast::InlineExpression::VariableReference { id } = selector {
            let key = |k: &ast::VariantKey<&str>| match k {
                ast::VariantKey::Identifier { name } => (*name).to_owned(),
                ast::VariantKey::NumberLiteral { value } => (*value).to_owned(),
            };
            out.push(Selector {
                var: id.name.to_owned(),
                keys: variants.iter().map(|v| key(&v.key)).collect(),
                default: variants.iter().find(|v| v.default).map(|v| key(&v.key)).unwrap_or_default(),
            });
        }
        for v in variants {
            collect_selectors(&v.value, out, depth + 1);
        }
    }
}

/// Recursion bound for message references, so a reference cycle cannot hang the checker.
const MAX_DEPTH: usize = 16;

/// Longest worst-case rendering built; far past any screen, so a message that references
/// itself many times over cannot make the checker allocate without bound.
const MAX_WORST_CASE: usize = 4096;

fn worst_pattern(l: &LocaleCatalog, p: &ast::Pattern<&str>, w: &dyn Widths, out: &mut String, depth: usize) {
    for el in &p.elements {
        if out.len() > MAX_WORST_CASE {
            return;
        }
        match el {
            ast::PatternElement::TextElement { value } => out.push_str(value),
            ast::PatternElement::Placeable { expression } => worst_expression(l, expression, w, out, depth),
        }
    }
}

fn worst_expression(l: &LocaleCatalog, e: &ast::Expression<&str>, w: &dyn Widths, out: &mut String, depth: usize) {
    match e {
        ast::Expression::Inline(i) => worst_inline(l, i, w, out, depth),
        ast::Expression::Select { variants, .. } => {
            let mut best = String::new();
            let mut best_units = 0;
            for v in variants {
                let mut s = String::new();
                worst_pattern(l, &v.value, w, &mut s, depth);
                let units = gsm7::cost(&s).units;
                if units >= best_units {
                    best_units = units;
                    best = s;
                }
            }
            out.push_str(&best);
        }
    }
}

fn worst_inline(l: &LocaleCatalog, i: &ast::InlineExpression<&str>, w: &dyn Widths, out: &mut String, depth: usize) {
    match i {
        ast::InlineExpression::StringLiteral { value } => out.push_str(value),
        ast::InlineExpression::NumberLiteral { value } => out.push_str(value),
        ast::InlineExpression::VariableReference { id } => {
            out.extend(std::iter::repeat_n('X', w.max_width(id.name).min(MAX_WORST_CASE)));
        }
        ast::InlineExpression::FunctionReference { arguments, .. } => {
            if let Some(first) = arguments.positional.first() {
                worst_inline(l, first, w, out, depth);
            }
        }
        ast::InlineExpression::MessageReference { id, .. } => {
            if depth < MAX_DEPTH
                && let Some(p) = l.pattern(id.name)
            {
                worst_pattern(l, p, w, out, depth + 1);
            }
        }
        ast::InlineExpression::TermReference { id, .. } => {
            if depth >= MAX_DEPTH {
                return;
            }
            for entry in l.resource.entries() {
                if let ast::Entry::Term(t) = entry
                    && t.id.name == id.name
                {
                    worst_pattern(l, &t.value, w, out, depth + 1);
                    return;
                }
            }
        }
        ast::InlineExpression::Placeable { expression } => worst_expression(l, expression, w, out, depth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of every message and attribute of `dir`'s locales, formatted by one Fluent
    /// bundle over each locale's whole files (what the catalog held before it kept plain texts
    /// as text), with and without an argument: what the catalog must still give.
    fn reference(dir: &Path, locale: &str, args: Option<&FluentArgs>) -> Vec<(String, Option<String>, bool)> {
        let mut bundle = FluentBundle::new_concurrent(vec![locale.parse().unwrap()]);
        bundle.set_use_isolating(false);
        let mut files: Vec<PathBuf> = Vec::new();
        let mut dirs = vec![dir.join(locale)];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "ftl") {
                    files.push(p);
                }
            }
        }
        files.sort();
        let mut ids = Vec::new();
        for f in files {
            let res = FluentResource::try_new(std::fs::read_to_string(f).unwrap()).unwrap_or_else(|(r, _)| r);
            for e in res.entries() {
                if let ast::Entry::Message(m) = e {
                    ids.push((
                        m.id.name.to_owned(),
                        m.attributes.iter().map(|a| a.id.name.to_owned()).collect::<Vec<_>>(),
                    ));
                }
            }
            let _ = bundle.add_resource(res);
        }
        let mut out = Vec::new();
        for (id, attrs) in ids {
            let Some(m) = bundle.get_message(&id) else { continue };
            let mut errors = Vec::new();
            let value = m.value().map(|p| bundle.format_pattern(p, args, &mut errors).into_owned());
            out.push((id.clone(), value, errors.is_empty()));
            for a in attrs {
                let mut errors = Vec::new();
                let text =
                    m.get_attribute(&a).map(|at| bundle.format_pattern(at.value(), None, &mut errors).into_owned());
                out.push((format!("{id}.{a}"), text, true));
            }
        }
        out
    }

    fn same_words(dir: &Path, locales: &[&str]) -> usize {
        let fallback: Vec<Locale> = locales.iter().map(|l| Locale::parse(l).unwrap()).collect();
        let (catalog, _) = Catalog::load(dir, &fallback);
        let mut args = FluentArgs::new();
        args.set("name", "Wanjiku");
        let mut compared = 0;
        for l in locales {
            let locale = Locale::parse(l).unwrap();
            for args in [None, Some(&args)] {
                for (id, want, clean) in reference(dir, l, args) {
                    let got = match id.split_once('.') {
                        Some((m, a)) => catalog.attribute(&locale, m, a),
                        None => {
                            let strict = catalog.format_strict(&locale, &id, args).map(Cow::into_owned);
                            assert_eq!(strict.is_some(), want.is_some() && clean, "{l} {id} clean");
                            want.as_ref().map(|_| catalog.format(&locale, &id, args).into_owned())
                        }
                    };
                    assert_eq!(got, want, "{l} {id}");
                    compared += 1;
                }
            }
        }
        compared
    }

    /// Plain texts kept as text, and the rest kept for Fluent, format exactly as one bundle over
    /// the whole files does: multi-line texts, attributes, placeables, references to plain
    /// messages and terms, selects, a term defined twice, entries between comments.
    #[test]
    fn the_words_are_what_fluent_formats() {
        let dir = tempfile::tempdir().unwrap();
        let sw = dir.path().join("sw");
        std::fs::create_dir_all(sw.join("catalogue")).unwrap();
        std::fs::write(
            sw.join("a.ftl"),
            "# A comment\nplain = Habari\nmulti =\n    Mstari wa kwanza\n    mstari wa pili\n\n    baada ya mstari tupu\n\
             -brand = Njia { plain }\n-brand = Nyingine\nwith-var = Jambo { $name }\n\
             ## Group\nrefs = { plain }, { -brand }: { $name }\n\
             words = Leseni ya biashara\n    .keywords = leseni biashara duka\n\
             mixed = Ada\n    .hint = Lipa { $name }\n\
             select = { $name ->\n    [Wanjiku] Karibu\n   *[other] Jambo { named }\n}\n\
             named = Rafiki\n.attr-at-col-0 = juu\ntrailing = Mwisho",
        )
        .unwrap();
        std::fs::write(sw.join("catalogue").join("b.ftl"), "plain = Imefafanuliwa tena\nlater = { multi }\n").unwrap();
        let compared = same_words(dir.path(), &["sw"]);
        assert!(compared >= 24, "{compared}");

        let (catalog, _) = Catalog::load(dir.path(), &[Locale::parse("sw").unwrap()]);
        let sw = Locale::parse("sw").unwrap();
        let widths = |_: &str| 5;
        assert_eq!(catalog.worst_case(&sw, "plain", &widths).as_deref(), Some("Habari"));
        assert_eq!(catalog.worst_case(&sw, "refs", &widths).as_deref(), Some("Habari, Njia Habari: XXXXX"));
        assert_eq!(catalog.worst_case(&sw, "select", &widths).as_deref(), Some("Jambo Rafiki"));
        assert_eq!(catalog.vars_used(&sw, "refs").into_iter().collect::<Vec<_>>(), ["name"]);
        assert_eq!(catalog.selectors(&sw, "select").len(), 1);
        assert!(catalog.selectors(&sw, "plain").is_empty());
        assert_eq!(catalog.message(&sw, "plain").map(|m| m.line), Some(2));
    }

    /// The shipped words, every message and attribute in both languages.
    #[test]
    fn the_shipped_words_are_what_fluent_formats() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("locales");
        let compared = same_words(&root, &["sw", "en"]);
        assert!(compared > 500, "{compared}");
    }
}

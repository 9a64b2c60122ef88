//! Lookups: the one IO inside a USSD session ("what rates are due on this parcel?").
//!
//! The hub calls a [`Lookup`] with a hard deadline and feeds the answer back to the engine.
//! The embedded implementation answers from data files (`menus/lookups/<backend>.toml`) so the
//! demo works offline; HTTP lookups to agency backends implement the same trait.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

use crate::BoxFuture;
use crate::diag::{Place, Problem};
use crate::engine::{LookupAnswer, LookupCall, Value};
use crate::store::Store;
use crate::types::{Msisdn, Reference};

/// Why a lookup failed (the user sees an apology; the session goes on).
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("no lookup backend named {0:?}")]
    UnknownBackend(String),
    #[error("backend failed: {0}")]
    Backend(String),
}

pub trait Lookup: Send + Sync + 'static {
    /// Answers `call` for the citizen on `caller` (backends may answer only about the
    /// caller's own records).
    fn call<'a>(&'a self, caller: Msisdn, call: &'a LookupCall) -> BoxFuture<'a, Result<LookupAnswer, LookupError>>;
}

/// Answers from TOML data files: `[<operation>."<arg1>|<arg2>"]` tables of result variables.
///
/// ```toml
/// [rates_due."NAIROBI/BLOCK82/1234"]
/// amount = "12,500"
/// ```
///
/// Every entry and value keeps the place it was written, so `njia check` can point at the
/// line of a value that does not fit or does not parse, and the server answers from exactly
/// the data the checker passed.
#[derive(Debug, Default)]
pub struct DataFiles {
    backends: HashMap<String, DataFile>,
    /// A hash of the files (names and text), as loaded.
    fingerprint: u64,
}

/// One backend's data file.
#[derive(Debug)]
pub struct DataFile {
    pub file: PathBuf,
    pub operations: HashMap<String, Operation>,
}

/// One operation's table of entries, by key (the lookup's arguments joined with `|`).
#[derive(Debug)]
pub struct Operation {
    pub place: Place,
    pub entries: HashMap<String, Entry>,
}

/// One entry: its result variables.
#[derive(Debug)]
pub struct Entry {
    pub place: Place,
    pub values: Vec<(String, Value, Place)>,
}

/// The shape of a data file as written, with places.
type RawFile = BTreeMap<Spanned<String>, Spanned<BTreeMap<Spanned<String>, Spanned<RawEntry>>>>;
type RawEntry = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

impl DataFiles {
    /// Loads every `*.toml` in `dir`; the file stem names the backend. A missing directory is
    /// an empty set of backends. Problems (unreadable files, TOML errors, values that are not
    /// text, whole numbers or lists of text) come back with their places.
    pub fn load(dir: &Path) -> (DataFiles, Vec<Problem>) {
        let mut backends = HashMap::new();
        let mut problems = Vec::new();
        let mut fingerprint = std::collections::hash_map::DefaultHasher::new();
        let Ok(rd) = std::fs::read_dir(dir) else { return (DataFiles::default(), problems) };
        let mut paths: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            if path.extension().is_none_or(|x| x != "toml") {
                continue;
            }
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let src = match std::fs::read_to_string(&path) {
                Ok(src) => src,
                Err(e) => {
                    problems.push(Problem::error(
                        Place::whole_file(&path),
                        format!("cannot read: {e}"),
                        "save it as UTF-8",
                    ));
                    continue;
                }
            };
            std::hash::Hash::hash(&(&stem, &src), &mut fingerprint);
            let raw: RawFile = match toml::from_str(&src) {
                Ok(raw) => raw,
                Err(e) => {
                    let at =
                        e.span().map_or_else(|| Place::whole_file(&path), |s| Place::at_offset(&path, &src, s.start));
                    problems.push(Problem::error(
                        at,
                        format!("invalid lookup data: {}", e.message().trim().replace('\n', " ")),
                        "write [<operation>.\"<key>\"] tables of variable = \"value\" (see README.md, lookups)",
                    ));
                    continue;
                }
            };
            let lines = crate::diag::LineIndex::new(&src);
            let shared: std::sync::Arc<Path> = std::sync::Arc::from(path.as_path());
            let place = |offset: usize| Place::at_indexed(&shared, &src, &lines, offset);
            let mut operations = HashMap::new();
            for (op, table) in raw {
                let mut entries = HashMap::new();
                for (key, entry) in table.into_inner() {
                    let mut values = Vec::new();
                    let entry_place = place(key.span().start);
                    for (var, v) in entry.into_inner() {
                        let at = place(v.span().start);
                        let value = match v.into_inner() {
                            toml::Value::String(s) => Value::Text(s.into()),
                            toml::Value::Integer(i) => Value::Text(i.to_string().into()),
                            toml::Value::Array(a) if a.iter().all(toml::Value::is_str) => {
                                Value::List(a.iter().filter_map(|x| x.as_str().map(Into::into)).collect())
                            }
                            other => {
                                problems.push(Problem::error(
                                    at,
                                    format!(
                                        "{} = {other}: a lookup value is text, a whole number or a list of text",
                                        var.get_ref()
                                    ),
                                    "quote it: dates as \"2026-12-31\", amounts as \"4,500\" or 4500",
                                ));
                                continue;
                            }
                        };
                        values.push((var.into_inner(), value, at));
                    }
                    entries.insert(key.into_inner(), Entry { place: entry_place, values });
                }
                operations.insert(op.get_ref().clone(), Operation { place: place(op.span().start), entries });
            }
            backends.insert(stem, DataFile { file: path.clone(), operations });
        }
        (DataFiles { backends, fingerprint: std::hash::Hasher::finish(&fingerprint) }, problems)
    }

    /// A hash of the data files as loaded: a change of any value changes it.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub fn backend(&self, name: &str) -> Option<&DataFile> {
        self.backends.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.backends.keys().map(String::as_str)
    }

    pub fn answer(&self, call: &LookupCall) -> Result<LookupAnswer, LookupError> {
        let file = self.backends.get(&call.backend).ok_or_else(|| LookupError::UnknownBackend(call.backend.clone()))?;
        let Some(op) = file.operations.get(&call.operation) else {
            return Err(LookupError::Backend(format!("no operation {:?}", call.operation)));
        };
        let key = call.args.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join("|");
        let Some(entry) = op.entries.get(&key).or_else(|| op.entries.get(&key.to_uppercase())) else {
            return Ok(LookupAnswer::NotFound);
        };
        Ok(LookupAnswer::Found(entry.values.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect()))
    }
}

/// Routes calls: backend `njia` answers from Njia's own store, every other backend from the
/// data files.
///
/// `njia` operations: `request_status` (args: a reference) gives `reference`, `status` and
/// `service` of one of the caller's own requests (another number's reference is "not found":
/// a reference is not a password); `my_requests` gives `requests`, the references of the
/// caller's five newest requests.
pub struct Lookups {
    /// The data files the menus were checked with; a reload swaps them with the menus.
    pub files: Arc<crate::shared::Shared<DataFiles>>,
    pub store: Arc<dyn Store>,
    /// Agency backends answering over HTTP (`docs/agency-api.md`), by backend name; they take
    /// precedence over a data file of the same name. Held as the trait the agency side
    /// implements, so lookups never import the agency module that imports their error.
    pub http: HashMap<String, Arc<dyn Lookup>>,
}

/// The status a citizen asking about a request is shown (on the USSD status screen and in the
/// SMS status reply): `notified` only says they were told, so the outcome they were told about
/// is shown instead.
pub async fn citizen_status(
    store: &dyn Store,
    r: &crate::store::RequestRow,
) -> Result<String, crate::store::StoreError> {
    if r.status != crate::lifecycle::RequestStatus::Notified.as_str() {
        return Ok(r.status.clone());
    }
    let events = store.events(r.id).await?;
    Ok(events.into_iter().rev().map(|e| e.status).find(|s| s != "notified").unwrap_or_else(|| r.status.clone()))
}

impl Lookup for Lookups {
    fn call<'a>(&'a self, caller: Msisdn, call: &'a LookupCall) -> BoxFuture<'a, Result<LookupAnswer, LookupError>> {
        Box::pin(async move {
            if let Some(backend) = self.http.get(&call.backend) {
                return backend.call(caller, call).await;
            }
            if call.backend != "njia" {
                return self.files.load().answer(call);
            }
            let backend = |e: crate::store::StoreError| LookupError::Backend(e.to_string());
            match call.operation.as_str() {
                "request_status" => {
                    let raw = call.args.first().map(|(_, v)| v.as_str()).unwrap_or_default();
                    let Some(reference) = Reference::parse(raw) else { return Ok(LookupAnswer::NotFound) };
                    match self.store.request(&reference).await.map_err(backend)? {
                        // A purged request has no number: it is nobody's any more.
                        Some(r) if r.msisdn == Some(caller) => Ok(LookupAnswer::Found(vec![
                            ("reference".into(), Value::Text(r.reference.as_str().into())),
                            (
                                "status".into(),
                                Value::Text(citizen_status(self.store.as_ref(), &r).await.map_err(backend)?.into()),
                            ),
                            ("service".into(), Value::Text(r.service.into())),
                        ])),
                        _ => Ok(LookupAnswer::NotFound),
                    }
                }
                "my_requests" => {
                    let rows = self.store.recent_requests(Some(caller), 5).await.map_err(backend)?;
                    let refs = rows.into_iter().map(|r| r.reference.as_str().into()).collect();
                    Ok(LookupAnswer::Found(vec![("requests".into(), Value::List(refs))]))
                }
                other => Err(LookupError::Backend(format!("njia has no operation {other:?}"))),
            }
        })
    }
}

//! Lookups: the one IO inside a USSD session ("what rates are due on this parcel?").
//!
//! The hub calls a [`Lookup`] with a hard deadline and feeds the answer back to the engine.
//! The embedded implementation answers from data files (`menus/lookups/<backend>.toml`) so the
//! demo works offline; HTTP lookups to agency backends implement the same trait.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::BoxFuture;
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
#[derive(Debug, Default)]
pub struct DataFiles {
    backends: HashMap<String, toml::Table>,
}

impl DataFiles {
    /// Loads every `*.toml` in `dir`; the file stem names the backend. A missing directory is
    /// an empty set of backends.
    pub fn load(dir: &Path) -> Result<DataFiles, String> {
        let mut backends = HashMap::new();
        let Ok(rd) = std::fs::read_dir(dir) else { return Ok(DataFiles::default()) };
        for entry in rd.filter_map(Result::ok) {
            let path = entry.path();
            if path.extension().is_none_or(|x| x != "toml") {
                continue;
            }
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let src = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let table: toml::Table =
                toml::from_str(&src).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
            backends.insert(stem, table);
        }
        Ok(DataFiles { backends })
    }

    pub fn answer(&self, call: &LookupCall) -> Result<LookupAnswer, LookupError> {
        let table =
            self.backends.get(&call.backend).ok_or_else(|| LookupError::UnknownBackend(call.backend.clone()))?;
        let Some(op) = table.get(&call.operation).and_then(toml::Value::as_table) else {
            return Err(LookupError::Backend(format!("no operation {:?}", call.operation)));
        };
        let key = call.args.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join("|");
        let Some(row) = op.get(&key).or_else(|| op.get(&key.to_uppercase())).and_then(toml::Value::as_table) else {
            return Ok(LookupAnswer::NotFound);
        };
        let values = row
            .iter()
            .filter_map(|(k, v)| {
                let v = match v {
                    toml::Value::String(s) => Value::Text(s.as_str().into()),
                    toml::Value::Integer(i) => Value::Text(i.to_string().into()),
                    toml::Value::Array(a) => Value::List(a.iter().filter_map(|x| x.as_str().map(Into::into)).collect()),
                    _ => return None,
                };
                Some((k.clone(), v))
            })
            .collect();
        Ok(LookupAnswer::Found(values))
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
    pub files: DataFiles,
    pub store: Arc<dyn Store>,
    /// Agency backends answering over HTTP (`docs/agency-api.md`), by backend name; they take
    /// precedence over a data file of the same name.
    pub http: HashMap<String, Arc<crate::agency::HttpBackend>>,
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
                return backend.lookup(caller, call).await;
            }
            if call.backend != "njia" {
                return self.files.answer(call);
            }
            let backend = |e: crate::store::StoreError| LookupError::Backend(e.to_string());
            match call.operation.as_str() {
                "request_status" => {
                    let raw = call.args.first().map(|(_, v)| v.as_str()).unwrap_or_default();
                    let Some(reference) = Reference::parse(raw) else { return Ok(LookupAnswer::NotFound) };
                    match self.store.request(&reference).await.map_err(backend)? {
                        Some(r) if r.msisdn == caller => Ok(LookupAnswer::Found(vec![
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

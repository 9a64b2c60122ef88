//! Configuration: one optional TOML file, then environment overrides; every field has a
//! default so `njia serve` runs on a fresh machine with no file at all.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::types::Locale;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on; loopback by default so nothing is exposed by accident.
    pub listen: SocketAddr,
    /// Where the SQLite database lives (the embedded default store).
    pub data_dir: PathBuf,
    /// PostgreSQL instead of SQLite, e.g. `postgres://njia@db:5432/njia`. Several instances
    /// share one database. Also read from `DATABASE_URL`.
    pub database_url: Option<String>,
    pub menus_dir: PathBuf,
    pub locales_dir: PathBuf,
    /// Data files answering lookups offline (`<backend>.toml`); unset, `lookups/` inside
    /// `menus_dir`, so a menu directory carries its own data wherever it is.
    pub lookups_dir: Option<PathBuf>,
    /// Locale for users with no remembered language, when a menu names none.
    pub default_locale: Locale,
    /// Tried in order when a message is missing in the user's locale.
    pub fallback_locales: Vec<Locale>,
    /// Screen limit in GSM-7 characters for the Africa's Talking channel.
    pub screen_limit: usize,
    /// Idle time after which a session is forgotten.
    pub session_idle_secs: u64,
    /// Bound on live sessions held in memory.
    pub max_sessions: usize,
    /// Where live sessions are kept: `memory` (one instance) or `postgres` (shared by every
    /// instance on `database_url`). Unset: `postgres` when a database URL is configured.
    pub sessions: Option<SessionsBackend>,
    /// How long after its last hop a session the network dropped (no END) can be continued by
    /// the next dial from the same number ("1. Continue 2. Start again"); 0 turns it off.
    pub resume_window_secs: u64,
    /// Hard deadline of a lookup.
    pub lookup_timeout_ms: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Time allowed to send request headers (slow-loris protection).
    pub header_read_timeout_ms: u64,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Simulated M-Pesa and agencies, SMS to the log. Unset means "sandbox unless Daraja is
    /// configured"; production sets `sandbox = false`, and then every service needs a backend.
    pub sandbox: Option<bool>,
    /// The public HTTPS base URL telcos and Daraja reach this server on (callback URLs).
    pub public_url: Option<String>,
    /// The hand-off's dispatcher and timing (`[dispatcher]`).
    pub dispatcher: crate::handoff::Policy,
    pub daraja: Option<DarajaSection>,
    pub sms: SmsSection,
    /// Agency backends by name (`[backends.lands]`); see `docs/agency-api.md`.
    pub backends: BTreeMap<String, BackendSection>,
    /// Channels by name (`[channels.safaricom-ke]`): a dialect at a path, its screen limit,
    /// the menus it may reach and how it is authenticated. With none configured every dialect
    /// is served at `/ussd/<dialect>` (the embedded default, on loopback); with some, only those.
    pub channels: BTreeMap<String, ChannelSection>,
    /// Who may call `/admin/*` (menu reload) and scrape `/metrics` (`[admin]`): the same rules
    /// as a channel's. With none, `/admin/*` is refused and `/metrics` answers loopback only.
    pub admin: Option<AdminSection>,
    /// Hops per phone number and per channel (`[rate_limit]`).
    pub rate_limit: crate::limit::Limits,
    /// Days personal data is kept (Kenya's Data Protection Act, 2019, s. 25(e) and s. 39: no
    /// longer than necessary for its purpose). Older finished requests lose their phone number,
    /// fields and account, SMS their number and text; languages and recent services of numbers
    /// not seen since are deleted. References, amounts, receipts, statuses and times stay for
    /// reconciliation. The server purges daily; `njia purge` on demand. 0 keeps everything.
    pub retention_days: u32,
    /// Secrets handed in by an embedder (tests), consulted before the process environment.
    /// Never read from a file: secrets do not belong in configuration files.
    #[serde(skip)]
    pub secrets: HandedSecrets,
    /// Lookup backends a sandbox simulates (`journey::sandboxed` moves `[backends.*]` here):
    /// the menus naming them still pass the check, and their lookups are answered as
    /// unavailable without reaching the agency. Never read from a file.
    #[serde(skip)]
    pub simulated_backends: Vec<String>,
}

/// Secrets handed in by an embedder, by environment variable name. Its `Debug` shows only the
/// names, so a printed configuration never carries a secret.
#[derive(Clone, Default)]
pub struct HandedSecrets(BTreeMap<String, String>);

impl HandedSecrets {
    pub fn insert(&mut self, name: String, value: String) {
        self.0.insert(name, value);
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    fn get(&self, name: &str) -> Option<&String> {
        self.0.get(name)
    }
}

impl std::fmt::Debug for HandedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys().map(|k| format!("{k}=<redacted>"))).finish()
    }
}

/// M-Pesa Daraja. Secrets are read from the environment variables named here.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DarajaSection {
    /// `https://sandbox.safaricom.co.ke` or `https://api.safaricom.co.ke`.
    pub base_url: String,
    pub shortcode: String,
    /// The receiving paybill or till; the shortcode when unset.
    pub party_b: Option<String>,
    #[serde(default = "default_transaction_type")]
    pub transaction_type: crate::payment::daraja::TransactionType,
    #[serde(default = "default_consumer_key_env")]
    pub consumer_key_env: String,
    #[serde(default = "default_consumer_secret_env")]
    pub consumer_secret_env: String,
    #[serde(default = "default_passkey_env")]
    pub passkey_env: String,
    #[serde(default = "default_daraja_timeout")]
    pub timeout_ms: u64,
}

fn default_transaction_type() -> crate::payment::daraja::TransactionType {
    crate::payment::daraja::TransactionType::CustomerPayBillOnline
}
fn default_consumer_key_env() -> String {
    "DARAJA_CONSUMER_KEY".into()
}
fn default_consumer_secret_env() -> String {
    "DARAJA_CONSUMER_SECRET".into()
}
fn default_passkey_env() -> String {
    "DARAJA_PASSKEY".into()
}
fn default_daraja_timeout() -> u64 {
    10_000
}

/// Where SMS go.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSection {
    /// `log` (the embedded sink) or `africastalking`; `log` when unset in sandbox mode.
    pub sender: Option<String>,
    pub africastalking: Option<AfricasTalkingSection>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfricasTalkingSection {
    #[serde(default = "default_at_base")]
    pub base_url: String,
    pub username: String,
    #[serde(default = "default_at_key_env")]
    pub api_key_env: String,
    pub from: Option<String>,
    #[serde(default = "default_daraja_timeout")]
    pub timeout_ms: u64,
}

fn default_at_base() -> String {
    "https://api.africastalking.com".into()
}
fn default_at_key_env() -> String {
    "AT_API_KEY".into()
}

/// One agency backend.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    pub base_url: String,
    /// Environment variable holding the `whsec_…` secret.
    pub secret_env: String,
    /// Services whose requests are delivered here.
    #[serde(default)]
    pub services: Vec<String>,
    /// Catalogue agencies every service of which is delivered here (`agencies = ["kra"]`):
    /// one line for an agency's hundred services, and a new row needs no configuration.
    #[serde(default)]
    pub agencies: Vec<String>,
}

/// One channel. Every authentication rule given must pass.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelSection {
    /// The dialect it speaks; defaults to the section name (`[channels.hubtel]`).
    pub dialect: Option<String>,
    /// Where the telco sends requests; defaults to the dialect's own path for a section named
    /// after the dialect, otherwise `/ussd/<section name>` (`/sms/<section name>` for SMS).
    pub path: Option<String>,
    /// Screen limit in GSM-7 characters; defaults to `screen_limit`, or the dialect's own
    /// when smaller (Nalo: 120).
    pub screen_limit: Option<usize>,
    /// Ids of the menus this channel may reach; defaults to every menu.
    pub menus: Option<Vec<String>>,
    /// A shared secret the aggregator sends in a header.
    pub header: Option<HeaderAuthSection>,
    /// HTTP basic auth.
    pub basic: Option<BasicAuthSection>,
    /// Addresses or CIDR blocks the requests may come from.
    pub allow: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
}

/// Who may call the administration endpoints; every rule given must pass.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    pub header: Option<HeaderAuthSection>,
    pub basic: Option<BasicAuthSection>,
    pub allow: Vec<String>,
    pub trusted_proxies: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderAuthSection {
    pub name: String,
    pub secret_env: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthSection {
    pub user: String,
    pub password_env: String,
}

impl Config {
    /// The secret in the environment variable `name` (or handed in by an embedder).
    pub fn secret(&self, name: &str) -> Result<String, ConfigError> {
        let value = self.secrets.get(name).cloned().or_else(|| std::env::var(name).ok());
        match value {
            Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
            _ => Err(ConfigError::Missing(name.to_owned())),
        }
    }
}

/// Where live sessions are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionsBackend {
    /// In this process: fastest, but every hop of a session must reach this instance.
    Memory,
    /// In PostgreSQL: several instances behind a load balancer serve any hop.
    Postgres,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8384)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            menus_dir: PathBuf::from("menus"),
            locales_dir: PathBuf::from("locales"),
            lookups_dir: None,
            default_locale: Locale::parse("sw").unwrap_or_else(|_| unreachable_locale()),
            fallback_locales: ["sw", "en"].iter().filter_map(|l| Locale::parse(l).ok()).collect(),
            screen_limit: 160,
            session_idle_secs: 180,
            max_sessions: 1_000_000,
            sessions: None,
            resume_window_secs: 300,
            lookup_timeout_ms: 2_000,
            max_body_bytes: 16 * 1024,
            header_read_timeout_ms: 5_000,
            log_format: LogFormat::Text,
            sandbox: None,
            public_url: None,
            dispatcher: crate::handoff::Policy::default(),
            daraja: None,
            sms: SmsSection::default(),
            backends: BTreeMap::new(),
            channels: BTreeMap::new(),
            admin: None,
            rate_limit: crate::limit::Limits::default(),
            retention_days: DEFAULT_RETENTION_DAYS,
            secrets: HandedSecrets::default(),
            simulated_backends: Vec::new(),
        }
    }
}

/// A year: a citizen may still ask about a request (`HALI NJ-…`) or dispute a payment for
/// months after it, and nothing Njia does with a finished request needs the number longer. The
/// accounting record (reference, amount, receipt) is kept whatever this is.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

/// `sw` is a valid tag; this exists only so the default needs no `unwrap`.
fn unreachable_locale() -> Locale {
    Locale::parse("en").unwrap_or_else(|_| unreachable_locale())
}

/// The longest time, in milliseconds, that any setting may name: a year (366 days). See
/// [`Config::check_times`].
pub const MAX_TIME_MS: u64 = 366 * 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parse(PathBuf, String),
    #[error("environment variable {0}: {1}")]
    Env(&'static str, String),
    #[error("environment variable {0} must hold a secret the configuration refers to")]
    Missing(String),
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads `file` if given, then applies `NJIA_LISTEN`, `DATABASE_URL`, `NJIA_DATA_DIR` and
    /// `NJIA_LOG_FORMAT`.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut c = match file {
            Some(p) => {
                let src = std::fs::read_to_string(p).map_err(|e| ConfigError::Read(p.to_path_buf(), e))?;
                toml::from_str(&src).map_err(|e| ConfigError::Parse(p.to_path_buf(), e.to_string()))?
            }
            None => Config::default(),
        };
        if let Ok(v) = std::env::var("NJIA_LISTEN") {
            c.listen =
                v.parse().map_err(|e: std::net::AddrParseError| ConfigError::Env("NJIA_LISTEN", e.to_string()))?;
        }
        if let Ok(v) = std::env::var("DATABASE_URL")
            && !v.is_empty()
        {
            c.database_url = Some(v);
        }
        if let Ok(v) = std::env::var("NJIA_DATA_DIR") {
            c.data_dir = PathBuf::from(v);
        }
        c.sessions_backend()?;
        let d = &c.dispatcher;
        if d.batch == 0 || d.poll_ms == 0 || d.max_failures == 0 || d.max_payment_attempts == 0 || d.lease_ms <= 0 {
            return Err(ConfigError::Invalid(
                "[dispatcher] batch, poll_ms, max_failures, max_payment_attempts and lease_ms must be above 0".into(),
            ));
        }
        c.check_times()?;
        if let Ok(v) = std::env::var("NJIA_LOG_FORMAT") {
            c.log_format = match v.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => return Err(ConfigError::Env("NJIA_LOG_FORMAT", format!("{other:?} is not text or json"))),
            };
        }
        Ok(c)
    }

    /// Refuses every time the configuration names that is longer than [`MAX_TIME_MS`], naming
    /// each. Pure: it reads only `self`.
    ///
    /// These times are added to clocks: the session stores add the idle time and the resume
    /// window to an `Instant` (which panics past its range), the hand-off adds its delays and
    /// the lease to the current unix milliseconds (which overflows near `i64::MAX`, and in a
    /// release build wraps into the past, so a job "delayed" by such a value runs at once).
    /// A bound far above any sensible setting keeps all of that arithmetic in range.
    pub fn check_times(&self) -> Result<(), ConfigError> {
        let d = &self.dispatcher;
        // (name, value as written, milliseconds); i128 holds every u64 and i64 setting, and a
        // u64 of seconds times 1000, exactly.
        let secs = |name: &str, v: u64| (name.to_owned(), i128::from(v), i128::from(v) * 1000);
        let ms = |name: &str, v: i128| (name.to_owned(), v, v);
        let mut times = vec![
            secs("session_idle_secs", self.session_idle_secs),
            secs("resume_window_secs", self.resume_window_secs),
            ms("lookup_timeout_ms", self.lookup_timeout_ms.into()),
            ms("header_read_timeout_ms", self.header_read_timeout_ms.into()),
            ms("[dispatcher] push_delay_ms", d.push_delay_ms.into()),
            ms("[dispatcher] busy_retry_ms", d.busy_retry_ms.into()),
            ms("[dispatcher] backoff_base_ms", d.backoff_base_ms.into()),
            ms("[dispatcher] backoff_cap_ms", d.backoff_cap_ms.into()),
            ms("[dispatcher] lease_ms", d.lease_ms.into()),
            ms("[dispatcher] poll_ms", d.poll_ms.into()),
            ms("[dispatcher] sandbox_pin_delay_ms", d.sandbox_pin_delay_ms.into()),
            ms("[dispatcher] sms_resend_delay_ms", d.sms_resend_delay_ms.into()),
            ms("[dispatcher] unknown_notice_ms", d.unknown_notice_ms.into()),
        ];
        for (i, delay) in d.query_delays_ms.iter().enumerate() {
            times.push(ms(&format!("[dispatcher] query_delays_ms[{i}]"), (*delay).into()));
        }
        if let Some(daraja) = &self.daraja {
            times.push(ms("[daraja] timeout_ms", daraja.timeout_ms.into()));
        }
        if let Some(at) = &self.sms.africastalking {
            times.push(ms("[sms.africastalking] timeout_ms", at.timeout_ms.into()));
        }
        let over: Vec<String> = times
            .into_iter()
            .filter(|(_, _, ms)| *ms > i128::from(MAX_TIME_MS))
            .map(|(name, written, _)| format!("{name} = {written}"))
            .collect();
        if over.is_empty() {
            return Ok(());
        }
        Err(ConfigError::Invalid(format!(
            "{}: longer than a year ({MAX_TIME_MS} ms), the longest time a setting may name",
            over.join(", ")
        )))
    }

    /// Sandbox unless said otherwise, or unless Daraja is configured.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox.unwrap_or(self.daraja.is_none())
    }

    /// Where sessions go: as configured, else PostgreSQL when there is a database (several
    /// instances need it) and memory otherwise. PostgreSQL without a database is refused.
    pub fn sessions_backend(&self) -> Result<SessionsBackend, ConfigError> {
        match (self.sessions, &self.database_url) {
            (Some(SessionsBackend::Postgres), None) => Err(ConfigError::Invalid(
                "sessions = \"postgres\" needs database_url (or DATABASE_URL): the sessions live in that database"
                    .into(),
            )),
            (Some(b), _) => Ok(b),
            (None, Some(_)) => Ok(SessionsBackend::Postgres),
            (None, None) => Ok(SessionsBackend::Memory),
        }
    }

    pub fn resume_window(&self) -> Duration {
        Duration::from_secs(self.resume_window_secs)
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs)
    }

    /// Backends configured as agencies over HTTP, by name.
    pub fn http_backends(&self) -> Vec<String> {
        self.backends.keys().chain(&self.simulated_backends).cloned().collect()
    }

    pub fn lookup_timeout(&self) -> Duration {
        Duration::from_millis(self.lookup_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_printed_configuration_carries_no_secret() {
        let mut c = Config::default();
        c.secrets.insert("DARAJA_PASSKEY".into(), "bfb279f9aa9bdbcf158e97dd71a467cd".into());
        let printed = format!("{c:?}");
        assert!(printed.contains("DARAJA_PASSKEY=<redacted>"), "{printed}");
        assert!(!printed.contains("bfb279f9"), "{printed}");
        assert_eq!(c.secret("DARAJA_PASSKEY").unwrap(), "bfb279f9aa9bdbcf158e97dd71a467cd");
    }

    #[test]
    fn times_are_bounded_by_a_year() {
        let year = MAX_TIME_MS;
        // (configuration, the names refused): the bound itself passes, one past it does not,
        // in every unit, and the largest integer TOML can carry is refused, never added to a
        // clock.
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            (&format!("session_idle_secs = {}", year / 1000), &[]),
            (&format!("session_idle_secs = {}", year / 1000 + 1), &["session_idle_secs"]),
            ("session_idle_secs = 9223372036854775807", &["session_idle_secs"]),
            ("resume_window_secs = 9223372036854775807", &["resume_window_secs"]),
            (&format!("lookup_timeout_ms = {year}"), &[]),
            (&format!("lookup_timeout_ms = {}", year + 1), &["lookup_timeout_ms"]),
            ("header_read_timeout_ms = 9223372036854775807", &["header_read_timeout_ms"]),
            ("[dispatcher]\npush_delay_ms = 9223372036854775807", &["[dispatcher] push_delay_ms"]),
            ("[dispatcher]\nbusy_retry_ms = 9223372036854775807", &["[dispatcher] busy_retry_ms"]),
            ("[dispatcher]\nbackoff_base_ms = 9223372036854775807", &["[dispatcher] backoff_base_ms"]),
            ("[dispatcher]\nbackoff_cap_ms = 9223372036854775807", &["[dispatcher] backoff_cap_ms"]),
            ("[dispatcher]\nlease_ms = 9223372036854775807", &["[dispatcher] lease_ms"]),
            ("[dispatcher]\npoll_ms = 9223372036854775807", &["[dispatcher] poll_ms"]),
            ("[dispatcher]\nsandbox_pin_delay_ms = 9223372036854775807", &["[dispatcher] sandbox_pin_delay_ms"]),
            ("[dispatcher]\nsms_resend_delay_ms = 9223372036854775807", &["[dispatcher] sms_resend_delay_ms"]),
            ("[dispatcher]\nunknown_notice_ms = 9223372036854775807", &["[dispatcher] unknown_notice_ms"]),
            (
                "[dispatcher]\nquery_delays_ms = [45000, 9223372036854775807, 31622400001]",
                &["[dispatcher] query_delays_ms[1]", "[dispatcher] query_delays_ms[2]"],
            ),
            // A negative delay means "at once"; it cannot overflow, and is left as it was.
            ("[dispatcher]\npush_delay_ms = -9223372036854775808", &[]),
            (
                "[daraja]\nbase_url = \"https://sandbox.safaricom.co.ke\"\nshortcode = \"174379\"\n\
                 timeout_ms = 9223372036854775807",
                &["[daraja] timeout_ms"],
            ),
            (
                "[sms.africastalking]\nusername = \"sandbox\"\ntimeout_ms = 9223372036854775807",
                &["[sms.africastalking] timeout_ms"],
            ),
            (
                "session_idle_secs = 9223372036854775807\n[dispatcher]\nlease_ms = 9223372036854775807",
                &["session_idle_secs", "[dispatcher] lease_ms"],
            ),
        ];
        for (toml_text, refused) in cases {
            let c: Config = toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text:?}: {e}"));
            match c.check_times() {
                Ok(()) => assert!(refused.is_empty(), "{toml_text:?} passed, wanted {refused:?} refused"),
                Err(e) => {
                    let e = e.to_string();
                    let named: Vec<&str> = refused.iter().copied().filter(|n| e.contains(&format!("{n} = "))).collect();
                    assert_eq!(&named, refused, "{toml_text:?}: {e}");
                    assert_eq!(e.matches(" = ").count(), refused.len(), "{toml_text:?} names only these: {e}");
                }
            }
        }
        assert!(Config::default().check_times().is_ok(), "the defaults are within the bound");
    }

    #[test]
    fn load_refuses_a_time_past_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("njia.toml");
        std::fs::write(&file, "session_idle_secs = 9223372036854775807\n").unwrap();
        let e = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(e.contains("session_idle_secs = 9223372036854775807: longer than a year"), "{e}");
    }

    #[test]
    fn sessions_follow_the_database_unless_told() {
        let mut c = Config::default();
        assert_eq!(c.sessions_backend().unwrap(), SessionsBackend::Memory);
        c.sessions = Some(SessionsBackend::Postgres);
        assert!(c.sessions_backend().unwrap_err().to_string().contains("needs database_url"));
        c.database_url = Some("postgres://njia@db/njia".into());
        assert_eq!(c.sessions_backend().unwrap(), SessionsBackend::Postgres);
        c.sessions = Some(SessionsBackend::Memory);
        assert_eq!(c.sessions_backend().unwrap(), SessionsBackend::Memory);
        c.sessions = None;
        assert_eq!(c.sessions_backend().unwrap(), SessionsBackend::Postgres);
        let parsed: Config = toml::from_str("sessions = \"memory\"\nresume_window_secs = 60").unwrap();
        assert_eq!((parsed.sessions, parsed.resume_window_secs), (Some(SessionsBackend::Memory), 60));
    }
}

//! Configuration: one optional TOML file, then environment overrides; every field has a
//! default so `njia serve` runs on a fresh machine with no file at all.

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
    /// Data files answering lookups offline (`<backend>.toml`).
    pub lookups_dir: PathBuf,
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
    /// Hard deadline of a lookup.
    pub lookup_timeout_ms: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Time allowed to send request headers (slow-loris protection).
    pub header_read_timeout_ms: u64,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
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
            lookups_dir: PathBuf::from("menus/lookups"),
            default_locale: Locale::parse("sw").unwrap_or_else(|_| unreachable_locale()),
            fallback_locales: ["sw", "en"].iter().filter_map(|l| Locale::parse(l).ok()).collect(),
            screen_limit: 160,
            session_idle_secs: 180,
            max_sessions: 1_000_000,
            lookup_timeout_ms: 2_000,
            max_body_bytes: 16 * 1024,
            header_read_timeout_ms: 5_000,
            log_format: LogFormat::Text,
        }
    }
}

/// `sw` is a valid tag; this exists only so the default needs no `unwrap`.
fn unreachable_locale() -> Locale {
    Locale::parse("en").unwrap_or_else(|_| unreachable_locale())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parse(PathBuf, String),
    #[error("environment variable {0}: {1}")]
    Env(&'static str, String),
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
        if let Ok(v) = std::env::var("NJIA_LOG_FORMAT") {
            c.log_format = match v.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => return Err(ConfigError::Env("NJIA_LOG_FORMAT", format!("{other:?} is not text or json"))),
            };
        }
        Ok(c)
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs)
    }

    pub fn lookup_timeout(&self) -> Duration {
        Duration::from_millis(self.lookup_timeout_ms)
    }
}

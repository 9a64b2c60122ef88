//! Online backup and restore of the embedded store: `njia backup --to FILE` copies
//! `njia.sqlite3` while the server runs, `njia restore --from FILE` puts a copy back while it
//! does not.
//!
//! The copy is SQLite's `VACUUM INTO` on a connection of its own: one read transaction, so the
//! copy is the database as of one commit (WAL mode lets the server go on writing meanwhile),
//! written compact and whole into a file of its own. It is written under a temporary name,
//! checked (`PRAGMA integrity_check`, its schema version) and only then renamed to the name
//! asked for, so a copy that exists under that name is a complete one.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{FILE, MIGRATIONS};

/// What a backup or restore holds, as its summary line prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    pub path: PathBuf,
    pub bytes: u64,
    /// The schema version (migrations applied).
    pub schema: i64,
    pub requests: i64,
    pub jobs: i64,
    pub sms: i64,
}

impl std::fmt::Display for Copied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} bytes, schema {}, {} requests, {} jobs, {} SMS",
            self.path.display(),
            self.bytes,
            self.schema,
            self.requests,
            self.jobs,
            self.sms
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no Njia database in {0} (there is no {FILE} in it); give the data directory the server uses")]
    NoDatabase(PathBuf),
    #[error("{0} already exists; a backup never overwrites a file: choose a new name")]
    TargetExists(PathBuf),
    #[error(
        "{0} already holds a database; stop the server, then restore with --replace (the database there is kept \
         beside it as {FILE}.before-restore-<time>)"
    )]
    DataExists(PathBuf),
    #[error("{path} is not a usable Njia backup: {reason}")]
    NotABackup { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_path_buf(), source }
}

/// Copies the store of `data_dir` into the new file `to`, consistent as of one commit, while
/// the server may be writing.
pub fn backup(data_dir: &Path, to: &Path) -> Result<Copied, BackupError> {
    let db = data_dir.join(FILE);
    if !db.is_file() {
        return Err(BackupError::NoDatabase(data_dir.to_path_buf()));
    }
    if to.exists() {
        return Err(BackupError::TargetExists(to.to_path_buf()));
    }
    // Beside the target, so the rename below stays on one file system.
    let partial = with_suffix(to, ".partial");
    let _ = std::fs::remove_file(&partial);
    let source = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    // The server's writes hold the lock for a moment at a time: wait for them, never fail on them.
    source.busy_timeout(std::time::Duration::from_secs(30))?;
    let copied = source.execute("VACUUM INTO ?1", [partial.to_string_lossy()]).map(|_| ());
    drop(source);
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(e.into());
    }
    let checked = verify(&partial).and_then(|c| {
        std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(io(&partial))?;
        Ok(c)
    });
    let summary = match checked {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, to).map_err(io(to))?;
    sync_dir(to);
    Ok(Copied { path: to.to_path_buf(), ..summary })
}

/// Puts the backup `from` in place as the store of `data_dir`. The server must not be running
/// on it. A data directory that already has a database is refused unless `replace`, and then
/// its database is moved aside, never deleted.
pub fn restore(from: &Path, data_dir: &Path, replace: bool, now_ms: i64) -> Result<Copied, BackupError> {
    verify(from)?;
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let db = data_dir.join(FILE);
    if db.exists() {
        if !replace {
            return Err(BackupError::DataExists(data_dir.to_path_buf()));
        }
        let aside = data_dir.join(format!("{FILE}.before-restore-{now_ms}"));
        // The live file's -wal and -shm belong to it: a copy put back without them would be
        // read with the old one's log.
        std::fs::rename(&db, &aside).map_err(io(&db))?;
        for suffix in ["-wal", "-shm"] {
            let side = with_suffix(&db, suffix);
            if side.exists() {
                std::fs::rename(&side, with_suffix(&aside, suffix)).map_err(io(&side))?;
            }
        }
    }
    let partial = with_suffix(&db, ".restoring");
    std::fs::copy(from, &partial).map_err(io(&partial))?;
    std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(io(&partial))?;
    std::fs::rename(&partial, &db).map_err(io(&db))?;
    sync_dir(&db);
    let restored = verify(&db)?;
    Ok(Copied { path: db, ..restored })
}

/// Checks that `path` is a whole SQLite database of a schema this binary can open, and counts
/// what it holds.
pub fn verify(path: &Path) -> Result<Copied, BackupError> {
    let not = |reason: String| BackupError::NotABackup { path: path.to_path_buf(), reason };
    if !path.is_file() {
        return Err(not("there is no such file".into()));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let integrity: String =
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| not(format!("not a database ({e})")))?;
    if integrity != "ok" {
        return Err(not(format!("integrity check failed: {integrity}")));
    }
    let schema: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if schema == 0 {
        return Err(not("it holds no Njia schema".into()));
    }
    if schema > known {
        return Err(not(format!(
            "its schema version {schema} is newer than this binary knows ({known}); upgrade njia"
        )));
    }
    let count = |table: &str| -> Result<i64, BackupError> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .map_err(|e| not(format!("table {table}: {e}")))
    };
    let bytes = std::fs::metadata(path).map_err(io(path))?.len();
    Ok(Copied {
        path: path.to_path_buf(),
        bytes,
        schema,
        requests: count("requests")?,
        jobs: count("jobs")?,
        sms: count("sms")?,
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Makes a rename in `path`'s directory durable; a file system that cannot sync a directory
/// still has the renamed file, so a failure here is not an error.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
}

//! SQLite's [`JobQueue`]: claims under a lease (one writer thread, so no two claims
//! interleave), finishes fenced by the claim, and the administrators' reads.

use rusqlite::{Connection, params};

use super::writes::write_effects;
use super::{SqliteStore, all, invalid, one};
use crate::BoxFuture;
use crate::lifecycle::{JobKind, JobState};
use crate::store::columns::job_columns;
use crate::store::plan::{self, JobEnd};
use crate::store::{ClaimedJob, Effects, Finished, JobFinish, JobQueue, JobRow, StoreError};
use crate::types::Reference;

impl JobQueue for SqliteStore {
    fn claim_jobs<'a>(
        &'a self,
        worker: &'a str,
        limit: u32,
        lease_ms: i64,
    ) -> BoxFuture<'a, Result<Vec<ClaimedJob>, StoreError>> {
        let (worker, clock) = (worker.to_owned(), self.clock.clone());
        // Now is read on the store thread, when the claim runs, as it always was.
        self.exec(move |t| claim_tx(t, &worker, limit, lease_ms, clock.now_ms()))
    }

    fn finish_job<'a>(
        &'a self,
        job: &'a ClaimedJob,
        finish: JobFinish,
        effects: Option<Effects>,
    ) -> BoxFuture<'a, Result<Finished, StoreError>> {
        let (job, clock) = (job.clone(), self.clock.clone());
        self.exec(move |t| finish_tx(t, &job, &finish, effects.as_ref(), clock.now_ms()))
    }

    fn jobs(
        &self,
        state: Option<JobState>,
        request_id: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<JobRow>, StoreError>> {
        self.exec(move |t| {
            all(
                t,
                concat!(
                    "SELECT ",
                    job_columns!(),
                    " FROM jobs j LEFT JOIN requests r ON r.id = j.request_id \
                     WHERE (?1 IS NULL OR j.state = ?1) AND (?2 IS NULL OR j.request_id = ?2) ORDER BY j.id DESC LIMIT ?3"
                ),
                params![state.map(|s| s.as_str()), request_id, limit],
                row_to_job,
            )
        })
    }

    fn job(&self, id: i64) -> BoxFuture<'_, Result<Option<JobRow>, StoreError>> {
        self.exec(move |t| {
            one(
                t,
                concat!(
                    "SELECT ",
                    job_columns!(),
                    " FROM jobs j LEFT JOIN requests r ON r.id = j.request_id WHERE j.id = ?1"
                ),
                [id],
                row_to_job,
            )
        })
    }

    fn retry_job(&self, id: i64) -> BoxFuture<'_, Result<bool, StoreError>> {
        let clock = self.clock.clone();
        self.exec(move |t| {
            let n = t
                .prepare_cached(
                    "UPDATE jobs SET state = 'ready', failures = 0, run_at = ?2, updated_at = ?2 \
                     WHERE id = ?1 AND state = 'dead'",
                )?
                .execute(params![id, clock.now_ms()])?;
            Ok(n == 1)
        })
    }
}

/// Claims due jobs, and jobs whose runner died (lease expired). One writer thread: no two
/// claims can interleave, so no job is handed out twice.
///
/// The limit is `CAST(?4 AS INTEGER)`, not a bare `?4`: SQLite marks a bare parameter in
/// `LIMIT` as one whose new value may change the plan, so the statement is compiled again
/// after every new binding, and rusqlite clears the bindings each time a statement goes back
/// to its cache. With a bare `?4` every claim (the dispatcher polls several times a second)
/// parsed and planned this statement again: a third of a paid request's instructions.
///
/// Each kind of due job is read in its partial index's order and cut at the limit before the
/// two are merged, so a claim reads at most twice what it takes. Merging first and then
/// ordering (as this did) read and sorted every due job on each claim: 17 ms a claim of 32
/// from a backlog of 100,000, which slowed the dispatcher when it had most to do.
pub const CLAIM: &str = "UPDATE jobs SET state = 'running', tries = tries + 1, locked_by = ?1, lease_until = ?2, \
     updated_at = ?3 \
     WHERE id IN (SELECT id FROM (\
     SELECT * FROM (SELECT id, run_at AS due FROM jobs WHERE state = 'ready' AND run_at <= ?3 \
     ORDER BY run_at LIMIT CAST(?4 AS INTEGER)) \
     UNION ALL SELECT * FROM (SELECT id, lease_until AS due FROM jobs WHERE state = 'running' AND lease_until < ?3 \
     ORDER BY lease_until LIMIT CAST(?4 AS INTEGER))) \
     ORDER BY due LIMIT CAST(?4 AS INTEGER)) \
     RETURNING id, kind, request_id, attempt_id, data, tries, failures, max_failures, sms_id";

fn claim_tx(t: &Connection, worker: &str, limit: u32, lease_ms: i64, now: i64) -> Result<Vec<ClaimedJob>, StoreError> {
    all(t, CLAIM, params![worker, now + lease_ms, now, limit], |r| {
        let kind: String = r.get(1)?;
        Ok(ClaimedJob {
            id: r.get(0)?,
            kind: JobKind::parse(&kind).ok_or_else(|| invalid("kind"))?,
            request_id: r.get(2)?,
            attempt_id: r.get(3)?,
            data: r.get(4)?,
            tries: r.get(5)?,
            failures: r.get(6)?,
            max_failures: r.get(7)?,
            sms_id: r.get(8)?,
            worker: worker.to_owned(),
        })
    })
}

fn finish_tx(
    t: &Connection,
    job: &ClaimedJob,
    finish: &JobFinish,
    effects: Option<&Effects>,
    now: i64,
) -> Result<Finished, StoreError> {
    let fenced = one(
        t,
        "SELECT id FROM jobs WHERE id = ?1 AND state = 'running' AND locked_by = ?2 AND tries = ?3",
        params![job.id, job.worker, job.tries],
        |r| r.get::<_, i64>(0),
    )?
    .is_some();
    if !fenced {
        return Ok(plan::finished(false, false));
    }
    let written = match effects {
        Some(e) => write_effects(t, e, now)?,
        None => true,
    };
    let JobEnd { state, run_at_ms, failures, error } = plan::job_end(finish, job);
    t.prepare_cached(
        "UPDATE jobs SET state = ?2, run_at = coalesce(?3, run_at), failures = ?4, \
         last_error = coalesce(?5, last_error), locked_by = NULL, lease_until = NULL, updated_at = ?6 WHERE id = ?1",
    )?
    .execute(params![job.id, state.as_str(), run_at_ms, failures, error, now])?;
    Ok(plan::finished(true, written))
}

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    let kind: String = r.get("kind")?;
    let state: String = r.get("state")?;
    let reference: Option<String> = r.get("reference")?;
    Ok(JobRow {
        id: r.get("id")?,
        key: r.get("key")?,
        kind: JobKind::parse(&kind).ok_or_else(|| invalid("kind"))?,
        reference: match reference {
            Some(s) => Some(Reference::parse(&s).ok_or_else(|| invalid("reference"))?),
            None => None,
        },
        sms_id: r.get("sms_id")?,
        state: JobState::parse(&state).ok_or_else(|| invalid("state"))?,
        run_at_ms: r.get("run_at")?,
        tries: r.get("tries")?,
        failures: r.get("failures")?,
        max_failures: r.get("max_failures")?,
        last_error: r.get("last_error")?,
        updated_at_ms: r.get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, StatementStatus};

    use super::{CLAIM, claim_tx};

    /// The claim runs from the statement cache as it was prepared: a binding never sends it
    /// back through SQLite's parser and planner.
    #[test]
    fn a_claim_is_never_prepared_again() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate(&mut conn).unwrap();
        for (now, limit) in [(1_000, 32), (2_000, 32), (3_000, 8)] {
            assert!(claim_tx(&conn, "w", limit, 60_000, now).unwrap().is_empty());
        }
        let st = conn.prepare_cached(CLAIM).unwrap();
        assert_eq!(st.get_status(StatementStatus::RePrepare), 0);
    }
}

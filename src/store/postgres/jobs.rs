//! PostgreSQL's [`JobQueue`]: claims under a lease that concurrent dispatchers (other
//! instances) pass over (`SKIP LOCKED`), finishes fenced by the claim, and the administrators'
//! reads.

use tokio_postgres::types::ToSql;

use super::writes::write_effects;
use super::{PostgresStore, all, bad, count, one};
use crate::BoxFuture;
use crate::lifecycle::{JobKind, JobState};
use crate::store::columns::job_columns;
use crate::store::plan::{self, JobEnd};
use crate::store::{ClaimedJob, Effects, Finished, JobFinish, JobQueue, JobRow, StoreError};
use crate::types::Reference;

/// The claim: the `$4` jobs due longest, ready ones by `run_at` and those whose lease ran out
/// by `lease_until`, leased to worker `$1` until `$2` (`$3` is now).
///
/// Each kind is read in its partial index's order and cut at `$4` before the two are merged,
/// so a claim reads at most twice what it takes, however long the backlog. A single scan of
/// both kinds ordered by either time (as this was) sorted every due job on each claim: with a
/// backlog of 60,000 jobs after a database restart, 38 ms a claim of 32 (a sort spilled to
/// disk), which slowed the dispatcher exactly when it had most to do, and the backlog grew.
/// The rows a branch locks but the merge leaves out are released when the statement ends.
pub const CLAIM: &str = "WITH due AS (SELECT id, run_at AS at FROM jobs WHERE state = 'ready' AND run_at <= $3 \
     ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED), \
     expired AS (SELECT id, lease_until AS at FROM jobs WHERE state = 'running' AND lease_until < $3 \
     ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED), \
     c AS (SELECT id FROM (SELECT id, at FROM due UNION ALL SELECT id, at FROM expired) d ORDER BY at LIMIT $4) \
     UPDATE jobs j SET state = 'running', tries = j.tries + 1, locked_by = $1, lease_until = $2, updated_at = $3 \
     FROM c WHERE j.id = c.id \
     RETURNING j.id, j.kind, j.request_id, j.attempt_id, j.data, j.tries, j.failures, j.max_failures, j.sms_id";

impl JobQueue for PostgresStore {
    fn claim_jobs<'a>(
        &'a self,
        worker: &'a str,
        limit: u32,
        lease_ms: i64,
    ) -> BoxFuture<'a, Result<Vec<ClaimedJob>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            // SKIP LOCKED: concurrent dispatchers (other instances) pass over rows another
            // claim holds instead of waiting for them, and never get the same job.
            let stmt = client.prepare_cached(CLAIM).await?;
            let now = self.clock.now_ms();
            let rows = client.query(&stmt, &[&worker, &(now + lease_ms), &now, &i64::from(limit)]).await?;
            rows.iter()
                .map(|r| {
                    Ok(ClaimedJob {
                        id: r.get(0),
                        kind: JobKind::parse(r.get(1)).ok_or_else(|| bad("job kind"))?,
                        request_id: r.get(2),
                        attempt_id: r.get(3),
                        data: r.get(4),
                        tries: count(r.get(5)),
                        failures: count(r.get(6)),
                        max_failures: count(r.get(7)),
                        sms_id: r.get(8),
                        worker: worker.to_owned(),
                    })
                })
                .collect()
        })
    }

    fn finish_job<'a>(
        &'a self,
        job: &'a ClaimedJob,
        finish: JobFinish,
        effects: Option<Effects>,
    ) -> BoxFuture<'a, Result<Finished, StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await?;
            let now = self.clock.now_ms();
            let JobEnd { state, run_at_ms, failures, error } = plan::job_end(&finish, job);
            // The job's end is written only under its own claim; a runner whose lease was
            // taken over writes nothing at all.
            let update = tx
                .prepare_cached(
                    "UPDATE jobs SET state = $2, run_at = coalesce($3, run_at), failures = $4, \
                     last_error = coalesce($5, last_error), locked_by = NULL, lease_until = NULL, updated_at = $6 \
                     WHERE id = $1 AND state = 'running' AND locked_by = $7 AND tries = $8 RETURNING id",
                )
                .await?;
            let (state, failures, tries) = (state.as_str(), i64::from(failures), i64::from(job.tries));
            let args: [&(dyn ToSql + Sync); 8] =
                [&job.id, &state, &run_at_ms, &failures, &error, &now, &job.worker, &tries];
            let fenced = tx.query_opt(&update, &args).await?.is_some();
            if !fenced {
                return Ok(plan::finished(false, false));
            }
            // A stale effect is detected before it writes anything; the job is finished anyway.
            let written = match &effects {
                Some(e) => write_effects(&tx, e, now).await?,
                None => true,
            };
            tx.commit().await?;
            Ok(plan::finished(true, written))
        })
    }

    fn jobs(
        &self,
        state: Option<JobState>,
        request_id: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<JobRow>, StoreError>> {
        let sql = concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs j LEFT JOIN requests r ON r.id = j.request_id \
             WHERE ($1::text IS NULL OR j.state = $1) AND ($2::bigint IS NULL OR j.request_id = $2) \
             ORDER BY j.id DESC LIMIT $3"
        );
        Box::pin(async move {
            let args: [&(dyn ToSql + Sync); 3] = [&state.map(|s| s.as_str()), &request_id, &i64::from(limit)];
            all(&self.background, sql, &args, row_to_job).await
        })
    }

    fn job(&self, id: i64) -> BoxFuture<'_, Result<Option<JobRow>, StoreError>> {
        let sql = concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs j LEFT JOIN requests r ON r.id = j.request_id WHERE j.id = $1"
        );
        Box::pin(async move { one(&self.background, sql, &[&id], row_to_job).await })
    }

    fn retry_job(&self, id: i64) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let stmt = client
                .prepare_cached(
                    "UPDATE jobs SET state = 'ready', failures = 0, run_at = $2, updated_at = $2 \
                     WHERE id = $1 AND state = 'dead'",
                )
                .await?;
            Ok(client.execute(&stmt, &[&id, &self.clock.now_ms()]).await? == 1)
        })
    }
}

fn row_to_job(r: &tokio_postgres::Row) -> Result<JobRow, StoreError> {
    let reference: Option<&str> = r.get("reference");
    Ok(JobRow {
        id: r.get("id"),
        key: r.get("key"),
        kind: JobKind::parse(r.get("kind")).ok_or_else(|| bad("job kind"))?,
        reference: match reference {
            Some(s) => Some(Reference::parse(s).ok_or_else(|| bad("reference"))?),
            None => None,
        },
        sms_id: r.get("sms_id"),
        state: JobState::parse(r.get("state")).ok_or_else(|| bad("job state"))?,
        run_at_ms: r.get("run_at"),
        tries: count(r.get("tries")),
        failures: count(r.get("failures")),
        max_failures: count(r.get("max_failures")),
        last_error: r.get("last_error"),
        updated_at_ms: r.get("updated_at"),
    })
}

-- Session rows are rewritten on every hop. PostgreSQL can update a row in place (a HOT
-- update: no new index entries, and the old version is pruned without a vacuum) only when no
-- indexed column changes and the row's page has room. 0005's indexes held `expires_at` and
-- `touched_at`, which change on every hop, so every hop added an entry to all three indexes.
--
-- Now: the sweeper finds rows through `sweep_after`, `expires_at` rounded up to the minute,
-- which changes about once a minute in a session's life; the resume lookup goes through the
-- number alone (a number has a handful of rows; the newest is picked from those); and pages
-- are left 30 % free for the new versions.
ALTER TABLE sessions SET (fillfactor = 70);
ALTER TABLE sessions ADD COLUMN sweep_after BIGINT NOT NULL DEFAULT 0;
DROP INDEX sessions_expires;
CREATE INDEX sessions_sweep ON sessions (sweep_after);
DROP INDEX sessions_msisdn;
CREATE INDEX sessions_msisdn ON sessions (msisdn);

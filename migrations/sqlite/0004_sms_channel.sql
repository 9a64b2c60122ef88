-- The SMS channel: inbound SMS (recorded once per provider message id), delivery reports on
-- the SMS Njia sent, re-sends after a failed delivery, and jobs that carry no request (the
-- `send` job of a reply to an inbound SMS).

-- One row per inbound SMS. The text is not kept (citizens write ID numbers and names in it);
-- what Njia understood of it is.
CREATE TABLE inbound_sms (
    id          INTEGER PRIMARY KEY,
    provider    TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    msisdn      INTEGER NOT NULL,
    short_code  TEXT NOT NULL,
    link_id     TEXT,
    sent_at     INTEGER,                -- the provider's `date`, unix milliseconds
    text_chars  INTEGER NOT NULL,
    understood  TEXT NOT NULL,          -- e.g. "status NJ-7K2QX", "language en", "help"
    received_at INTEGER NOT NULL,
    UNIQUE (provider, provider_id)
);

ALTER TABLE sms ADD COLUMN inbound_id INTEGER REFERENCES inbound_sms (id);
ALTER TABLE sms ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE sms ADD COLUMN resend_of INTEGER REFERENCES sms (id);
ALTER TABLE sms ADD COLUMN delivery TEXT;           -- sent | submitted | buffered | success | rejected | failed
ALTER TABLE sms ADD COLUMN failure_reason TEXT;
ALTER TABLE sms ADD COLUMN network_code TEXT;
ALTER TABLE sms ADD COLUMN delivery_at INTEGER;
CREATE UNIQUE INDEX sms_provider_id ON sms (sender, provider_id);
CREATE INDEX sms_resend_of ON sms (resend_of);
CREATE INDEX sms_delivery ON sms (delivery);

-- SQLite cannot drop a NOT NULL constraint in place: the jobs table is rebuilt with a nullable
-- request_id and the SMS a `send` job sends. Nothing references jobs, so the rebuild is safe
-- with foreign keys on.
CREATE TABLE jobs_0004 (
    id           INTEGER PRIMARY KEY,
    key          TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    request_id   INTEGER REFERENCES requests (id),
    attempt_id   INTEGER REFERENCES payment_attempts (id),
    sms_id       INTEGER REFERENCES sms (id),
    data         TEXT NOT NULL,
    state        TEXT NOT NULL,                 -- ready | running | done | dead
    run_at       INTEGER NOT NULL,
    tries        INTEGER NOT NULL DEFAULT 0,    -- times claimed
    failures     INTEGER NOT NULL DEFAULT 0,
    max_failures INTEGER NOT NULL,
    locked_by    TEXT,
    lease_until  INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    CHECK (request_id IS NOT NULL OR sms_id IS NOT NULL)
);
INSERT INTO jobs_0004 (id, key, kind, request_id, attempt_id, data, state, run_at, tries, failures, max_failures,
                       locked_by, lease_until, last_error, created_at, updated_at)
SELECT id, key, kind, request_id, attempt_id, data, state, run_at, tries, failures, max_failures,
       locked_by, lease_until, last_error, created_at, updated_at FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_0004 RENAME TO jobs;
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'ready';
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_request ON jobs (request_id);
CREATE INDEX jobs_sms ON jobs (sms_id);

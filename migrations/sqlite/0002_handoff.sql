-- The durable hand-off: payment attempts, the job outbox and sent SMS.

ALTER TABLE requests ADD COLUMN refund_review INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_events ADD COLUMN detail TEXT;
CREATE INDEX requests_status ON requests (status, id);
CREATE INDEX request_events_request ON request_events (request_id, id);

-- One STK push each; a request may have a second attempt when the first found the phone busy.
CREATE TABLE payment_attempts (
    id                  INTEGER PRIMARY KEY,
    request_id          INTEGER NOT NULL REFERENCES requests (id),
    seq                 INTEGER NOT NULL,
    token               TEXT NOT NULL UNIQUE,   -- in the callback URL; unguessable
    provider            TEXT NOT NULL,
    msisdn              INTEGER NOT NULL,
    amount_kes          INTEGER NOT NULL,
    status              TEXT NOT NULL,
    checkout_request_id TEXT UNIQUE,
    merchant_request_id TEXT,
    receipt             TEXT UNIQUE,
    result_code         INTEGER,
    result_desc         TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (request_id, seq)
);

-- The outbox: work to do after a commit, claimed under a lease.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    key          TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    request_id   INTEGER NOT NULL REFERENCES requests (id),
    attempt_id   INTEGER REFERENCES payment_attempts (id),
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
    updated_at   INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'ready';
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_request ON jobs (request_id);

-- Every SMS sent to a citizen, with the sender that took it.
CREATE TABLE sms (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER REFERENCES requests (id),
    msisdn      INTEGER NOT NULL,
    locale      TEXT NOT NULL,
    text        TEXT NOT NULL,
    segments    INTEGER NOT NULL,
    sender      TEXT NOT NULL,
    status      TEXT NOT NULL,
    provider_id TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX sms_request ON sms (request_id);

-- The durable hand-off: payment attempts, the job outbox and sent SMS.

ALTER TABLE requests ADD COLUMN refund_review BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE request_events ADD COLUMN detail TEXT;
CREATE INDEX requests_status ON requests (status, id);
CREATE INDEX request_events_request ON request_events (request_id, id);

-- One STK push each; a request may have a second attempt when the first found the phone busy.
CREATE TABLE payment_attempts (
    id                  BIGSERIAL PRIMARY KEY,
    request_id          BIGINT NOT NULL REFERENCES requests (id),
    seq                 BIGINT NOT NULL,
    token               TEXT NOT NULL UNIQUE,   -- in the callback URL; unguessable
    provider            TEXT NOT NULL,
    msisdn              BIGINT NOT NULL,
    amount_kes          BIGINT NOT NULL,
    status              TEXT NOT NULL,
    checkout_request_id TEXT UNIQUE,
    merchant_request_id TEXT,
    receipt             TEXT UNIQUE,
    result_code         BIGINT,
    result_desc         TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (request_id, seq)
);

-- The outbox: work to do after a commit, claimed under a lease.
CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    key          TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    request_id   BIGINT NOT NULL REFERENCES requests (id),
    attempt_id   BIGINT REFERENCES payment_attempts (id),
    data         TEXT NOT NULL,
    state        TEXT NOT NULL,                 -- ready | running | done | dead
    run_at       BIGINT NOT NULL,
    tries        BIGINT NOT NULL DEFAULT 0,    -- times claimed
    failures     BIGINT NOT NULL DEFAULT 0,
    max_failures BIGINT NOT NULL,
    locked_by    TEXT,
    lease_until  BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'ready';
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_request ON jobs (request_id);

-- Every SMS sent to a citizen, with the sender that took it.
CREATE TABLE sms (
    id          BIGSERIAL PRIMARY KEY,
    request_id  BIGINT REFERENCES requests (id),
    msisdn      BIGINT NOT NULL,
    locale      TEXT NOT NULL,
    text        TEXT NOT NULL,
    segments    BIGINT NOT NULL,
    sender      TEXT NOT NULL,
    status      TEXT NOT NULL,
    provider_id TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX sms_request ON sms (request_id);

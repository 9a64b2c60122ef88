-- Requests citizens submitted, each with a short reference they can read out.
CREATE TABLE requests (
    id              BIGSERIAL PRIMARY KEY,
    reference       TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    menu            TEXT NOT NULL,
    service         TEXT NOT NULL,
    msisdn          BIGINT NOT NULL,
    locale          TEXT NOT NULL,
    fields          TEXT NOT NULL,          -- JSON object of the request's fields (never secrets)
    payment_amount  TEXT,
    payment_account TEXT,
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL         -- unix milliseconds
);
CREATE INDEX requests_msisdn ON requests (msisdn, created_at);

-- Every status a request went through, with its time.
CREATE TABLE request_events (
    id         BIGSERIAL PRIMARY KEY,
    request_id BIGINT NOT NULL REFERENCES requests (id),
    status     TEXT NOT NULL,
    at         BIGINT NOT NULL
);

-- A citizen's remembered preferences, keyed by phone number.
CREATE TABLE profiles (
    msisdn     BIGINT PRIMARY KEY,
    locale     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- End-of-session notifications from telcos (Africa's Talking sends status, hops, duration).
CREATE TABLE session_ends (
    id            BIGSERIAL PRIMARY KEY,
    channel       TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    msisdn        BIGINT,
    status        TEXT NOT NULL,
    hops          BIGINT,
    duration_ms   BIGINT,
    error_message TEXT,
    received_at   BIGINT NOT NULL,
    UNIQUE (channel, session_id)
);

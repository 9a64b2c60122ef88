-- Live USSD sessions shared by every instance behind a load balancer without sticky routing.
--
-- UNLOGGED: a session lives for minutes and a crash loses only the dialogues that were live,
-- which the telco drops anyway when the server stops answering; the citizen dials again. In
-- exchange every write skips the WAL (no log record, no fsync at commit), which is what makes
-- a write on every hop affordable, and session rows never reach a replica or a WAL archive.
-- Requests are never here: a submit is durable in `requests` before its END leaves.
CREATE UNLOGGED TABLE sessions (
    channel    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    msisdn     BIGINT NOT NULL,
    menu       TEXT NOT NULL,
    -- Not ended and not resumed by a later dial: a later dial may resume it.
    open       BOOLEAN NOT NULL,
    touched_at BIGINT NOT NULL,   -- unix milliseconds of the last hop
    live_until BIGINT NOT NULL,   -- hops after this find no session (idle TTL)
    expires_at BIGINT NOT NULL,   -- the sweeper deletes it after this (open: the resume window)
    record     BYTEA NOT NULL,    -- the SessionRecord as JSON; never a raw input, never a secret
    PRIMARY KEY (channel, session_id)
);
-- The sweeper deletes expired rows in batches through this index, never by a full scan.
CREATE INDEX sessions_expires ON sessions (expires_at);
-- A dial without extra digits looks up the number's newest session (first hop only).
CREATE INDEX sessions_msisdn ON sessions (msisdn, touched_at);

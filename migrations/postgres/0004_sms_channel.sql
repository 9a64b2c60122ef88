-- The SMS channel: inbound SMS (recorded once per provider message id), delivery reports on
-- the SMS Njia sent, re-sends after a failed delivery, and jobs that carry no request (the
-- `send` job of a reply to an inbound SMS).

-- One row per inbound SMS. The text is not kept (citizens write ID numbers and names in it);
-- what Njia understood of it is.
CREATE TABLE inbound_sms (
    id          BIGSERIAL PRIMARY KEY,
    provider    TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    msisdn      BIGINT NOT NULL,
    short_code  TEXT NOT NULL,
    link_id     TEXT,
    sent_at     BIGINT,                 -- the provider's `date`, unix milliseconds
    text_chars  BIGINT NOT NULL,
    understood  TEXT NOT NULL,          -- e.g. "status NJ-7K2QX", "language en", "help"
    received_at BIGINT NOT NULL,
    UNIQUE (provider, provider_id)
);

ALTER TABLE sms ADD COLUMN inbound_id BIGINT REFERENCES inbound_sms (id);
ALTER TABLE sms ADD COLUMN attempt BIGINT NOT NULL DEFAULT 1;
ALTER TABLE sms ADD COLUMN resend_of BIGINT REFERENCES sms (id);
ALTER TABLE sms ADD COLUMN delivery TEXT;           -- sent | submitted | buffered | success | rejected | failed
ALTER TABLE sms ADD COLUMN failure_reason TEXT;
ALTER TABLE sms ADD COLUMN network_code TEXT;
ALTER TABLE sms ADD COLUMN delivery_at BIGINT;
CREATE UNIQUE INDEX sms_provider_id ON sms (sender, provider_id);
CREATE INDEX sms_resend_of ON sms (resend_of);
CREATE INDEX sms_delivery ON sms (delivery);

-- A `send` job carries an SMS, not necessarily a request.
ALTER TABLE jobs ALTER COLUMN request_id DROP NOT NULL;
ALTER TABLE jobs ADD COLUMN sms_id BIGINT REFERENCES sms (id);
ALTER TABLE jobs ADD CONSTRAINT jobs_owner CHECK (request_id IS NOT NULL OR sms_id IS NOT NULL);
CREATE INDEX jobs_sms ON jobs (sms_id);

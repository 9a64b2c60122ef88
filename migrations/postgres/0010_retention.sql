-- Personal data retention: a finished request older than `retention_days` keeps its reference,
-- service, amount, receipt, statuses and times, and loses its number, fields and account
-- (`purged_at` says when). A purged phone number is stored as 0, as in SQLite (which cannot
-- drop the columns' NOT NULL in place), so both stores read it the same way: as "purged". The
-- partial indexes let each purge batch find the next rows without scanning those already purged.
ALTER TABLE requests ADD COLUMN purged_at BIGINT;
CREATE INDEX requests_unpurged ON requests (created_at) WHERE purged_at IS NULL;
CREATE INDEX sms_unpurged ON sms (created_at) WHERE msisdn <> 0 AND request_id IS NULL;
CREATE INDEX inbound_sms_unpurged ON inbound_sms (received_at) WHERE msisdn <> 0;
CREATE INDEX inbound_sms_msisdn ON inbound_sms (msisdn, received_at);
CREATE INDEX session_ends_unpurged ON session_ends (received_at) WHERE msisdn IS NOT NULL;
CREATE INDEX profiles_updated ON profiles (updated_at);
CREATE INDEX recent_services_used ON recent_services (used_at);

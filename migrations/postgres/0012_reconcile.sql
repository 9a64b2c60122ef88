-- Reconciliation reads one Kenyan day's payment attempts by their creation time
-- (`njia reconcile --date D`); without this index that read would scan every attempt ever made.
CREATE INDEX payment_attempts_created ON payment_attempts (created_at);

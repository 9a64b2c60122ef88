-- Dead letters by kind, for /metrics: every scrape counts them, and without an index of their
-- own that count would read every job ever run (done jobs are never deleted). Ready and running
-- jobs have theirs already (jobs_due, jobs_leased).
CREATE INDEX jobs_dead ON jobs (kind) WHERE state = 'dead';

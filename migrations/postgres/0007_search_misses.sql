-- Search words that found no catalogue service, counted per day (Kenyan time, days since
-- 1970-01-01) and term. No phone number is kept: administrators learn what citizens look for,
-- not who looked.
CREATE TABLE search_misses (
    day   BIGINT NOT NULL,
    term  TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, term)
);

-- Catalogue services each number used recently, so its start screen offers them first. One
-- row per number, menu and service; rows older than the menu's `recent_days` are forgotten.
CREATE TABLE recent_services (
    msisdn  INTEGER NOT NULL,
    menu    TEXT NOT NULL,
    code    INTEGER NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (msisdn, menu, code)
);
CREATE INDEX recent_services_used_at ON recent_services (menu, used_at);

-- How often each service was used per day (Kenyan time, days since 1970-01-01): search
-- ranks equal matches by it. No phone number is kept here.
CREATE TABLE service_uses (
    menu  TEXT NOT NULL,
    day   INTEGER NOT NULL,
    code  INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (menu, day, code)
);

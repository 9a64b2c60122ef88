-- Where citizens drop off: per menu, day (Kenyan time, days since 1970-01-01) and screen, how
-- often it was shown, left by an input, ended on, and how often its lookup failed; the row with
-- an empty screen holds the menu's sessions started and hops over the rate limit. No phone
-- number is kept.
CREATE TABLE screen_stats (
    menu    TEXT NOT NULL,
    day     BIGINT NOT NULL,
    screen  TEXT NOT NULL,
    shown   BIGINT NOT NULL DEFAULT 0,
    left_by BIGINT NOT NULL DEFAULT 0,
    ended   BIGINT NOT NULL DEFAULT 0,
    failed  BIGINT NOT NULL DEFAULT 0,
    started BIGINT NOT NULL DEFAULT 0,
    limited BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (menu, day, screen)
);

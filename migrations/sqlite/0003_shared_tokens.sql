-- Provider access tokens shared by every instance: Daraja invalidates a token when a new one
-- is issued, so instances must use one token between them, not fetch one each.
CREATE TABLE shared_tokens (
    key        TEXT PRIMARY KEY,
    token      TEXT NOT NULL,
    use_until  INTEGER NOT NULL,   -- unix milliseconds
    updated_at INTEGER NOT NULL
);

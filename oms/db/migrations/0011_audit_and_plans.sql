-- The audit log, the collective's plans (per-role quotas), password-reset links, and invite
-- codes that make artists.

-- Every admin, moderation, payout and settings action: who (a DID, or `cli` for the operator
-- at the command line, `setup` for the first-run page), when, what, on whom, and the state
-- before and after (JSON). Append-only: the triggers refuse any change or deletion.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL DEFAULT '',
    before  TEXT,
    after   TEXT,
    address TEXT
) STRICT;

CREATE INDEX audit_log_by_action ON audit_log (action, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor, id);

CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- What each role may store and upload; 0 means no limit of the plan's own (the node-wide
-- `pds.blob_max_mb` still bounds one file).
CREATE TABLE plans (
    role              TEXT PRIMARY KEY CHECK (role IN ('admin', 'artist', 'fan')),
    storage_mb        INTEGER NOT NULL CHECK (storage_mb >= 0),
    uploads_per_month INTEGER NOT NULL CHECK (uploads_per_month >= 0),
    max_file_mb       INTEGER NOT NULL CHECK (max_file_mb >= 0),
    updated_at        INTEGER NOT NULL
) STRICT;

-- Artists get room for a catalog of lossless masters; fans for avatars and playlist covers.
INSERT INTO plans (role, storage_mb, uploads_per_month, max_file_mb, updated_at) VALUES
    ('admin', 0, 0, 0, 0),
    ('artist', 51200, 1000, 0, 0),
    ('fan', 200, 200, 20, 0);

-- Password-reset links an admin issues (SHA-256 of the token; the link is shown once).
CREATE TABLE password_resets (
    token_sha256 TEXT PRIMARY KEY,
    did          TEXT NOT NULL REFERENCES accounts (did),
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
) STRICT;

CREATE INDEX password_resets_by_did ON password_resets (did);

-- The role an invite code gives the accounts created with it.
ALTER TABLE invite_codes ADD COLUMN role TEXT NOT NULL DEFAULT 'fan'
    CHECK (role IN ('admin', 'artist', 'fan'));

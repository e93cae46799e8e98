-- Sessions, app passwords, invite codes, account-deletion tokens and sign-in throttling.

-- Named passwords for third-party apps, argon2id-hashed. `lookup` is a keyed digest (HMAC with
-- a node secret) that finds the one row to verify, so signing in costs one argon2 check, not
-- one per app password the account has.
CREATE TABLE app_passwords (
    id            INTEGER PRIMARY KEY,
    did           TEXT NOT NULL REFERENCES accounts (did),
    name          TEXT NOT NULL,
    lookup        TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    privileged    INTEGER NOT NULL DEFAULT 0 CHECK (privileged IN (0, 1)),
    created_at    INTEGER NOT NULL,
    UNIQUE (did, name)
) STRICT;

-- One sign-in. It outlives refresh-token rotation; access tokens name it (`sid`), so ending
-- it (sign-out, app password revoked, account deleted) ends its access tokens at once.
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    did             TEXT NOT NULL REFERENCES accounts (did),
    scope           TEXT NOT NULL,
    app_password_id INTEGER REFERENCES app_passwords (id) ON DELETE SET NULL,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER
) STRICT;

CREATE INDEX sessions_by_did ON sessions (did);
CREATE INDEX sessions_by_app_password ON sessions (app_password_id)
    WHERE app_password_id IS NOT NULL;

-- Every refresh token issued, by its `jti`. A rotated token is revoked, never deleted before it
-- expires, so presenting it again is recognised as reuse.
CREATE TABLE refresh_tokens (
    jti        TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    did        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

-- Invite codes for createAccount when sign-up is not open; `use_count` accounts may use each.
CREATE TABLE invite_codes (
    code       TEXT PRIMARY KEY,
    use_count  INTEGER NOT NULL CHECK (use_count >= 1),
    for_did    TEXT NOT NULL,
    created_by TEXT NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at INTEGER NOT NULL
) STRICT;

-- No foreign key on `used_by`: a use is reserved before its account exists.
CREATE TABLE invite_code_uses (
    code    TEXT NOT NULL REFERENCES invite_codes (code),
    used_by TEXT NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (code, used_by)
) STRICT;

-- Confirmation tokens from requestAccountDelete (SHA-256 of the token; one per account).
CREATE TABLE account_deletion_tokens (
    did        TEXT PRIMARY KEY REFERENCES accounts (did),
    token_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- Failed sign-ins, kept in the database so a restart does not reset the throttle. `did` is
-- NULL when the identifier named no account (those count against the address only).
CREATE TABLE sign_in_failures (
    id        INTEGER PRIMARY KEY,
    did       TEXT,
    address   TEXT NOT NULL,
    failed_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sign_in_failures_by_did ON sign_in_failures (did, failed_at) WHERE did IS NOT NULL;
CREATE INDEX sign_in_failures_by_address ON sign_in_failures (address, failed_at);

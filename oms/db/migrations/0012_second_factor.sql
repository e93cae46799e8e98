-- Two-factor sign-in: an account's authenticator (TOTP) secret, its recovery codes, and the
-- sign-ins waiting for their second factor.

-- The TOTP secret is sealed (AES-GCM under a key derived from a node secret in keys/, the DID
-- as associated data): a copy of the database alone does not give the seeds. `enabled_at` is
-- NULL while the account is still setting it up; `last_step` is the time step of the last
-- code accepted, so a code is never accepted twice (RFC 6238 §5.2).
CREATE TABLE totp_secrets (
    did           TEXT PRIMARY KEY REFERENCES accounts (did),
    sealed_secret BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    enabled_at    INTEGER,
    last_step     INTEGER
) STRICT;

-- SHA-256 digests of the recovery codes shown once at enrolment; each works once.
CREATE TABLE recovery_codes (
    did        TEXT NOT NULL REFERENCES accounts (did),
    digest     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (did, digest)
) STRICT;

-- A browser sign-in whose password was right and that waits for its code: the SHA-256 of the
-- token its second form carries (the token itself is never stored), single-use, short-lived.
CREATE TABLE pending_sign_ins (
    token_sha256 TEXT PRIMARY KEY,
    did          TEXT NOT NULL REFERENCES accounts (did),
    next         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX pending_sign_ins_by_expiry ON pending_sign_ins (expires_at);

-- The node's accounts. The repository, identity and sessions of each are the PDS's tables.
CREATE TABLE accounts (
    did           TEXT PRIMARY KEY,
    handle        TEXT NOT NULL UNIQUE,
    email         TEXT UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'artist', 'fan')),
    status        TEXT NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'disabled', 'deactivated', 'deleted')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

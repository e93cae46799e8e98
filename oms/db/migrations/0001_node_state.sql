-- Node-wide state that is not a setting: e.g. the hash of the one-time first-admin setup token.
CREATE TABLE node_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

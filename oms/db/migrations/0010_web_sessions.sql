-- People signed in with a browser (portal, player). Each web session is one row of `sessions`
-- (so revoking it, signing out everywhere or deleting the account ends it like any other
-- sign-in) plus what only a browser needs: the cookie's digest (the cookie itself is never
-- stored), the CSRF token its forms carry, and what the session list shows.
CREATE TABLE web_sessions (
    token_sha256 TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    seen_at      INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);

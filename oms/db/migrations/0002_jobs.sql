-- Durable background work. A job is enqueued in the same transaction as the write that
-- needs it, claimed by a worker, and survives restarts: 'running' rows are requeued at start.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    dedupe_key   TEXT,
    payload      TEXT NOT NULL DEFAULT '{}',
    state        TEXT NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 5,
    run_after    INTEGER NOT NULL,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (kind, dedupe_key)
) STRICT;

CREATE INDEX jobs_ready ON jobs (state, run_after) WHERE state IN ('queued', 'running');

-- Blobs: uploaded files, their owners, and the records that reference them.
-- One row per (account, CID); the bytes live once per CID under blobs/ whoever uploaded them.
-- `state`: 'temp' from upload until a record references it (collected after a grace period),
-- 'referenced' while a record does, 'released' once the last such record went away
-- (collected at the next sweep). `updated_at` is when the state last changed, or the last
-- upload of the same bytes by the same account, which restarts the grace period.
CREATE TABLE blobs (
    did        TEXT NOT NULL,
    cid        TEXT NOT NULL,
    mime_type  TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size > 0),
    state      TEXT NOT NULL DEFAULT 'temp'
               CHECK (state IN ('temp', 'referenced', 'released')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (did, cid)
) STRICT, WITHOUT ROWID;

-- "Does any account still hold this CID?" before its file is deleted.
CREATE INDEX blobs_by_cid ON blobs (cid);
CREATE INDEX blobs_collectable ON blobs (state, updated_at) WHERE state <> 'referenced';

-- Which record references which blob: written in the repository's write transaction. The
-- foreign key makes it impossible to collect a blob row that a record still references.
CREATE TABLE record_blobs (
    did        TEXT NOT NULL,
    collection TEXT NOT NULL,
    rkey       TEXT NOT NULL,
    cid        TEXT NOT NULL,
    PRIMARY KEY (did, collection, rkey, cid),
    FOREIGN KEY (did, cid) REFERENCES blobs (did, cid)
) STRICT, WITHOUT ROWID;

CREATE INDEX record_blobs_by_blob ON record_blobs (did, cid);

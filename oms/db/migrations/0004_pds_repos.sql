-- Signed repositories: the current root of each, its blocks (MST nodes, records, commits),
-- the record index, and the firehose sequence.
CREATE TABLE repo_roots (
    did        TEXT PRIMARY KEY REFERENCES accounts (did),
    commit_cid TEXT NOT NULL,
    rev        TEXT NOT NULL,
    data_cid   TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Blocks reachable from a repository's current commit; `rev` is the revision that added
-- each, so `getRepo?since=` can send only what is newer.
CREATE TABLE repo_blocks (
    did   TEXT NOT NULL,
    cid   TEXT NOT NULL,
    rev   TEXT NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (did, cid)
) STRICT, WITHOUT ROWID;

CREATE INDEX repo_blocks_by_rev ON repo_blocks (did, rev);

CREATE TABLE records (
    did        TEXT NOT NULL,
    collection TEXT NOT NULL,
    rkey       TEXT NOT NULL,
    cid        TEXT NOT NULL,
    rev        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (did, collection, rkey)
) STRICT, WITHOUT ROWID;

-- The firehose. AUTOINCREMENT: a sequence number is never reused, even after deletes.
-- `frame` is the event's DAG-CBOR body, written in the same transaction as the change.
CREATE TABLE repo_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    did          TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('commit', 'sync', 'identity', 'account')),
    frame        BLOB NOT NULL,
    sequenced_at INTEGER NOT NULL
) STRICT;

CREATE INDEX repo_events_by_time ON repo_events (sequenced_at);

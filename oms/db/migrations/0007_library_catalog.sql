-- The catalog index (library room): fm.oms.* records of local and, later, remote repositories,
-- flattened for browsing and search. Everything here can be rebuilt from the repositories
-- (`oms reindex`). `origin` is 'local' or the node/PDS a remote record came from.

-- fm.oms.artist.profile, one per DID (record key `self`).
CREATE TABLE artists (
    did           TEXT PRIMARY KEY,
    rkey          TEXT NOT NULL,
    cid           TEXT NOT NULL,
    uri           TEXT NOT NULL UNIQUE,
    origin        TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    bio           TEXT,
    avatar_cid    TEXT,
    banner_cid    TEXT,
    location      TEXT,
    genres        TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
    links         TEXT NOT NULL DEFAULT '[]',  -- JSON, as in the record
    support_links TEXT NOT NULL DEFAULT '[]',  -- JSON, as in the record
    indexed_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE releases (
    uri          TEXT PRIMARY KEY,
    did          TEXT NOT NULL,
    rkey         TEXT NOT NULL,
    cid          TEXT NOT NULL,
    origin       TEXT NOT NULL,
    title        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    artists      TEXT NOT NULL DEFAULT '[]',  -- JSON array of credits
    artwork_cid  TEXT,
    release_date INTEGER,
    label        TEXT,
    upc          TEXT,
    genres       TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
    created_at   INTEGER NOT NULL,
    indexed_at   INTEGER NOT NULL,
    UNIQUE (did, rkey)
) STRICT;

CREATE INDEX releases_by_created ON releases (created_at);

-- The ordered track references of a release.
CREATE TABLE release_tracks (
    release_uri TEXT NOT NULL,
    position    INTEGER NOT NULL,
    track_uri   TEXT NOT NULL,
    track_cid   TEXT NOT NULL,
    PRIMARY KEY (release_uri, position)
) STRICT, WITHOUT ROWID;

CREATE INDEX release_tracks_by_track ON release_tracks (track_uri);

-- `id` is the rowid of the track's rows in the search tables.
CREATE TABLE tracks (
    id            INTEGER PRIMARY KEY,
    uri           TEXT NOT NULL UNIQUE,
    did           TEXT NOT NULL,
    rkey          TEXT NOT NULL,
    cid           TEXT NOT NULL,
    origin        TEXT NOT NULL,
    title         TEXT NOT NULL,
    release_uri   TEXT,
    release_cid   TEXT,
    track_number  INTEGER,
    disc_number   INTEGER,
    duration_ms   INTEGER,
    license       TEXT NOT NULL,
    isrc          TEXT,
    release_date  INTEGER,
    explicit      INTEGER NOT NULL DEFAULT 0 CHECK (explicit IN (0, 1)),
    visibility    TEXT NOT NULL CHECK (visibility IN ('public', 'unlisted')),
    downloadable  INTEGER NOT NULL DEFAULT 0 CHECK (downloadable IN (0, 1)),
    audio_cid     TEXT NOT NULL,
    audio_mime    TEXT NOT NULL,
    audio_size    INTEGER NOT NULL,
    artwork_cid   TEXT,
    lyrics_plain  TEXT,
    lyrics_synced TEXT,  -- JSON array of {timeMs, text}
    created_at    INTEGER NOT NULL,
    indexed_at    INTEGER NOT NULL,
    UNIQUE (did, rkey)
) STRICT;

CREATE INDEX tracks_by_created ON tracks (created_at, uri);
CREATE INDEX tracks_by_release ON tracks (release_uri) WHERE release_uri IS NOT NULL;
CREATE INDEX tracks_by_license ON tracks (license);

CREATE TABLE track_credits (
    track_uri TEXT NOT NULL,
    position  INTEGER NOT NULL,
    name      TEXT NOT NULL,
    name_key  TEXT NOT NULL,  -- lower case, without diacritics: what artist filters compare
    did       TEXT,
    role      TEXT NOT NULL,
    PRIMARY KEY (track_uri, position)
) STRICT, WITHOUT ROWID;

CREATE INDEX track_credits_by_did ON track_credits (did) WHERE did IS NOT NULL;
CREATE INDEX track_credits_by_name ON track_credits (name_key);

CREATE TABLE track_genres (
    track_uri TEXT NOT NULL,
    position  INTEGER NOT NULL,
    genre     TEXT NOT NULL,
    genre_key TEXT NOT NULL,
    PRIMARY KEY (track_uri, position)
) STRICT, WITHOUT ROWID;

CREATE INDEX track_genres_by_key ON track_genres (genre_key);

CREATE TABLE track_tags (
    track_uri TEXT NOT NULL,
    position  INTEGER NOT NULL,
    tag       TEXT NOT NULL,
    tag_key   TEXT NOT NULL,
    PRIMARY KEY (track_uri, position)
) STRICT, WITHOUT ROWID;

CREATE INDEX track_tags_by_key ON track_tags (tag_key);

-- Royalty splits as the record states them (basis points).
CREATE TABLE track_splits (
    track_uri TEXT NOT NULL,
    position  INTEGER NOT NULL,
    did       TEXT NOT NULL,
    share_bps INTEGER NOT NULL,
    role      TEXT NOT NULL,
    PRIMARY KEY (track_uri, position)
) STRICT, WITHOUT ROWID;

-- fm.oms.like: what "popular" and "trending" count until the analytics store lands.
CREATE TABLE likes (
    uri         TEXT PRIMARY KEY,
    did         TEXT NOT NULL,
    rkey        TEXT NOT NULL,
    cid         TEXT NOT NULL,
    origin      TEXT NOT NULL,
    subject_uri TEXT NOT NULL,
    subject_cid TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    indexed_at  INTEGER NOT NULL,
    UNIQUE (did, rkey)
) STRICT;

CREATE INDEX likes_by_subject ON likes (subject_uri, created_at);

-- Full-text search over tracks (rowid = tracks.id). remove_diacritics 2: Beyonce finds
-- Beyoncé; the prefix indexes keep search-as-you-type fast.
CREATE VIRTUAL TABLE track_search USING fts5 (
    title, artists, release, tags, lyrics,
    tokenize = "unicode61 remove_diacritics 2",
    prefix = '2 3 4'
);

-- The typo fallback (rowid = tracks.id): trigrams of the folded (lower case, no diacritics)
-- title and artist names, so `radiohaed` still reaches `Radiohead`.
CREATE VIRTUAL TABLE track_fuzzy USING fts5 (
    title, artists,
    tokenize = "trigram"
);

-- Where the index stands: the last `repo_events.seq` whose changes are in the tables above.
CREATE TABLE catalog_state (
    name       TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

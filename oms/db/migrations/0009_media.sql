-- The media pipeline's state per audio blob (library room, `ingest`): one row per
-- (repository, audio blob CID) that a track record of this node references. The HLS ladder
-- lives in <data>/hls/<did>/<cid>/ and exists exactly when status is 'ready'.
CREATE TABLE media (
    did            TEXT NOT NULL,
    audio_cid      TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
    progress       REAL NOT NULL DEFAULT 0,   -- percent of the ladder pass
    error          TEXT,                      -- why it failed, for the artist
    codec          TEXT,
    lossless       INTEGER CHECK (lossless IN (0, 1)),
    sample_rate    INTEGER,
    channels       INTEGER,
    duration_ms    INTEGER,                   -- measured from the decoded audio
    loudness_lufs  REAL,                      -- EBU R128 integrated loudness
    true_peak_dbtp REAL,
    gain_db        REAL,                      -- to the node's loudness target
    renditions     TEXT NOT NULL DEFAULT '[]', -- JSON: name, codec, bandwidth, ...
    has_cover      INTEGER NOT NULL DEFAULT 0 CHECK (has_cover IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    ready_at       INTEGER,
    PRIMARY KEY (did, audio_cid)
) STRICT, WITHOUT ROWID;

CREATE INDEX media_by_status ON media (status, updated_at);

-- Which tracks still use an audio blob (a removed track may orphan its media).
CREATE INDEX tracks_by_audio ON tracks (did, audio_cid);

-- Audio of the tracks indexed so far: to process, as the indexer would have queued it.
INSERT INTO media (did, audio_cid, status, created_at, updated_at)
    SELECT DISTINCT did, audio_cid, 'queued', indexed_at, indexed_at FROM tracks
    WHERE origin = 'local';
INSERT INTO jobs (kind, dedupe_key, payload, max_attempts, run_after, created_at, updated_at)
    SELECT 'media.process', did || ' ' || audio_cid,
        json_object('did', did, 'cid', audio_cid), 5, created_at, created_at, created_at
    FROM media;

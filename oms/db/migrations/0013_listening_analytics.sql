-- Listening analytics: the players' reports (raw, append-only), the per-track daily rollups
-- derived from them by the rollup job, the fraud rules' decisions, and the
-- daily salts of address hashes. No table holds a raw IP address.

-- Every report accepted, as received (after normalization): committed before the report is
-- acknowledged, never updated. Kept for `analytics.raw_days`, then deleted; the rollups stay.
CREATE TABLE listening_reports (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,            -- ms, by the node's clock
    session     TEXT NOT NULL,               -- the player's session id (one play of one track)
    track_uri   TEXT NOT NULL,
    track_cid   TEXT NOT NULL,
    length_s    INTEGER,                     -- the track's length then (NULL: not known)
    listener    TEXT NOT NULL,               -- an account's DID, or 'dev:' + hash of a device id
    ranges      BLOB NOT NULL,               -- seconds heard: [start, end) uint32 LE pairs, merged
    beyond_s    INTEGER NOT NULL DEFAULT 0,  -- seconds claimed past the track's end (cut off)
    position_s  INTEGER,                     -- the player's position when it reported
    events      TEXT NOT NULL DEFAULT '',    -- state changes: 'kind@second' joined by ','
    sent_at     INTEGER NOT NULL,            -- ms, by the player's clock
    client      TEXT NOT NULL,               -- web, embed, app, subsonic, remote
    source      TEXT NOT NULL DEFAULT '',    -- page kind playback started from, or the surface
    referrer    TEXT NOT NULL DEFAULT '',    -- domain of the linking or embedding site
    rendition   TEXT NOT NULL DEFAULT '',
    country     TEXT NOT NULL DEFAULT '',    -- ISO 3166 code told from time zone or language
    address     TEXT NOT NULL DEFAULT ''     -- daily-salted hash of the client's address
) STRICT;

CREATE INDEX listening_reports_by_time ON listening_reports (received_at);
-- A listener's own listening: the history page, their export, their deletion.
CREATE INDEX listening_reports_by_listener ON listening_reports (listener, received_at);

-- The fraud rules' decisions: each session set aside, by the rule and why. Rebuilt for a day
-- whenever that day is rolled up; kept as long as the raw reports.
CREATE TABLE listening_flags (
    day       INTEGER NOT NULL,              -- UTC day number (days since 1970-01-01) it began
    session   TEXT NOT NULL,
    track_uri TEXT NOT NULL,
    started_at INTEGER NOT NULL,             -- ms, its first report
    listener  TEXT NOT NULL,
    rule      TEXT NOT NULL,
    detail    TEXT NOT NULL,
    PRIMARY KEY (day, session, track_uri, started_at)
) STRICT, WITHOUT ROWID;

-- Per track per day, over the day's unflagged sessions (flagged ones only in `flagged`).
-- Kept when the raw reports are gone.
CREATE TABLE listening_daily (
    track_uri    TEXT NOT NULL,
    day          INTEGER NOT NULL,
    sessions     INTEGER NOT NULL,
    listeners    INTEGER NOT NULL,
    seconds      INTEGER NOT NULL,
    plays_oms    INTEGER NOT NULL,
    plays_lastfm INTEGER NOT NULL,
    plays_teal   INTEGER NOT NULL,
    completions  INTEGER NOT NULL,
    skips        INTEGER NOT NULL,
    flagged      INTEGER NOT NULL,
    retention    BLOB NOT NULL,              -- per second of the track: sessions that heard it
    listener_sketch BLOB NOT NULL,           -- HyperLogLog registers of the day's listeners
    PRIMARY KEY (track_uri, day)
) STRICT, WITHOUT ROWID;

CREATE INDEX listening_daily_by_day ON listening_daily (day);

-- The same sessions by source, referrer, client, rendition and country.
CREATE TABLE listening_daily_mix (
    track_uri TEXT NOT NULL,
    day       INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    value     TEXT NOT NULL,
    sessions  INTEGER NOT NULL,
    plays     INTEGER NOT NULL,
    PRIMARY KEY (track_uri, day, dimension, value)
) STRICT, WITHOUT ROWID;

-- Reports refused, counted by day and reason (an unknown track, a time in the future...).
CREATE TABLE listening_rejections (
    day    INTEGER NOT NULL,
    reason TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (day, reason)
) STRICT, WITHOUT ROWID;

-- How far the rollup job has read the raw reports.
CREATE TABLE listening_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    rolled_up_to INTEGER NOT NULL            -- the last listening_reports.id rolled up
) STRICT;

INSERT INTO listening_state (id, rolled_up_to) VALUES (1, 0);

-- One random salt per day for hashing client addresses; a salt is deleted after two days,
-- after which nobody (the node included) can tell which address a hash was.
CREATE TABLE listening_salts (
    day  INTEGER PRIMARY KEY,
    salt BLOB NOT NULL
) STRICT;

-- Public figures of each track, kept by the rollup job: plays under the OMS rule, all time and
-- over the last 30 days ("popular" sorts by the latter), and distinct listeners (estimated).
ALTER TABLE track_stats ADD COLUMN recent_plays INTEGER NOT NULL DEFAULT 0;
ALTER TABLE track_stats ADD COLUMN listener_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX track_stats_by_recent_plays ON track_stats (recent_plays DESC);

-- Search over artists and releases, per-track engagement figures, and "more like this".

-- Full-text search over artist profiles (rowid = artists.rowid) and releases
-- (rowid = releases.rowid), with the same diacritic-insensitive tokenizer as track_search.
CREATE VIRTUAL TABLE artist_search USING fts5 (
    name, about,
    tokenize = "unicode61 remove_diacritics 2",
    prefix = '2 3 4'
);

CREATE VIRTUAL TABLE release_search USING fts5 (
    title, artists, about,
    tokenize = "unicode61 remove_diacritics 2",
    prefix = '2 3 4'
);

-- The typo pass works on words, not rows: every word of a title, name, release, genre or tag
-- the catalog has indexed, once, folded (lower case, no diacritics), with the trigrams of
-- the word padded by spaces (" love ") so a word's edges survive a typo in its middle. A
-- misspelt query word is replaced by its close words, then searched as usual. Words of
-- deleted records stay; they only ever lead to no match.
DROP TABLE track_fuzzy;

CREATE TABLE search_words (
    id   INTEGER PRIMARY KEY,
    word TEXT NOT NULL UNIQUE
) STRICT;

CREATE VIRTUAL TABLE search_word_trigrams USING fts5 (word, tokenize = "trigram");

-- Engagement per track URI (the track may be indexed later than its likes). like_count is
-- kept by the triggers below, so it is exact at every commit; play_count (plays in the last
-- 30 days) and trend (time-decayed growth) are refreshed by the discovery job.
CREATE TABLE track_stats (
    track_uri  TEXT PRIMARY KEY,
    like_count INTEGER NOT NULL DEFAULT 0,
    play_count INTEGER NOT NULL DEFAULT 0,
    trend      REAL NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

CREATE INDEX track_stats_by_likes ON track_stats (like_count DESC);
CREATE INDEX track_stats_by_trend ON track_stats (trend DESC);

INSERT INTO track_stats (track_uri, like_count)
    SELECT subject_uri, count(*) FROM likes GROUP BY subject_uri;

CREATE TRIGGER likes_count_insert AFTER INSERT ON likes BEGIN
    INSERT INTO track_stats (track_uri, like_count) VALUES (new.subject_uri, 1)
        ON CONFLICT (track_uri) DO UPDATE SET like_count = like_count + 1;
END;

CREATE TRIGGER likes_count_delete AFTER DELETE ON likes BEGIN
    UPDATE track_stats SET like_count = max(0, like_count - 1)
        WHERE track_uri = old.subject_uri;
END;

-- "More like this": for each track, its neighbours by item-to-item co-engagement (cosine
-- over the listeners who liked, and once analytics lands played, both), computed by the
-- discovery job. Rows are replaced whole on every run.
CREATE TABLE track_similarity (
    track_uri   TEXT NOT NULL,
    similar_uri TEXT NOT NULL,
    score       REAL NOT NULL,
    PRIMARY KEY (track_uri, similar_uri)
) STRICT, WITHOUT ROWID;

CREATE INDEX releases_by_date ON releases (coalesce(release_date, created_at) DESC);
CREATE INDEX releases_by_did ON releases (did);
CREATE INDEX tracks_by_did ON tracks (did);

-- The new search tables (and the typo pass's words) are filled as records
-- are indexed: start the index over, so the indexer replays the events, or rebuilds from the
-- repositories when the events are gone.
DELETE FROM catalog_state;

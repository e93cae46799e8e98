"""Catalog rows, written on the writer's thread (`Transaction.run`): records in, search rows
and engagement kept in step, and where the index stands in the event sequence."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from oms.db.database import Database
from oms.library.fuzzy import words_of
from oms.library.records import ArtistProfile, CatalogRecord, Like, Release, Track, fold

__all__ = [
    "LOCAL",
    "Change",
    "DropAccount",
    "MediaChanges",
    "Remove",
    "Upsert",
    "apply_changes",
    "catalog_position",
    "local_records",
    "orphaned_media",
    "replace_local_catalog",
    "saved_position",
]

LOCAL = "local"
_POSITION = "repo_events"


@dataclass(frozen=True)
class Upsert:
    record: CatalogRecord


@dataclass(frozen=True)
class Remove:
    collection: str
    uri: str


@dataclass(frozen=True)
class DropAccount:
    did: str


Change = Upsert | Remove | DropAccount


# --- writing (sync, on the writer's thread) ---------------------------------------------------


@dataclass(frozen=True)
class MediaChanges:
    """What the changes mean for the media pipeline: audio (did, blob CID) that a local track
    now references and that has no media row yet (to process), and audio no track
    references any more (its media row is gone; its files are to remove)."""

    queued: tuple[tuple[str, str], ...] = ()
    orphaned: tuple[tuple[str, str], ...] = ()


def apply_changes(
    connection: sqlite3.Connection,
    changes: Iterable[Change],
    *,
    origin: str,
    position: int | None,
    now_ms: int,
) -> MediaChanges:
    """Apply changes in order and, with `position`, save it as where the index stands."""
    audio: set[tuple[str, str]] = set()
    for change in changes:
        if isinstance(change, Upsert):
            if origin == LOCAL and isinstance(change.record, Track):
                audio |= _audio_of(connection, "uri", change.record.uri)
                audio.add((change.record.did, change.record.audio_cid))
            _upsert(connection, change.record, origin, now_ms)
        elif isinstance(change, Remove):
            audio |= _audio_of(connection, "uri", change.uri)
            _remove(connection, change.collection, change.uri)
        else:
            audio |= _audio_of(connection, "did", change.did)
            _drop_account(connection, change.did)
    if position is not None:
        _save_position(connection, position, now_ms)
    return _settle_media(connection, sorted(audio), now_ms)


def _audio_of(connection: sqlite3.Connection, column: str, value: str) -> set[tuple[str, str]]:
    rows = connection.execute(
        f"SELECT did, audio_cid FROM tracks WHERE {column} = ? AND origin = 'local'",  # noqa: S608
        (value,),
    ).fetchall()
    return {(str(did), str(cid)) for did, cid in rows}


def _settle_media(
    connection: sqlite3.Connection, audio: Iterable[tuple[str, str]], now: int
) -> MediaChanges:
    queued, orphaned = [], []
    for did, cid in audio:
        used = connection.execute(
            "SELECT 1 FROM tracks WHERE did = ? AND audio_cid = ? AND origin = 'local' LIMIT 1",
            (did, cid),
        ).fetchone()
        if used:
            added = connection.execute(
                "INSERT INTO media (did, audio_cid, status, created_at, updated_at)"
                " VALUES (?, ?, 'queued', ?, ?) ON CONFLICT DO NOTHING RETURNING did",
                (did, cid, now, now),
            ).fetchone()
            if added:
                queued.append((did, cid))
        elif connection.execute(
            "DELETE FROM media WHERE did = ? AND audio_cid = ? RETURNING did", (did, cid)
        ).fetchone():
            orphaned.append((did, cid))
    return MediaChanges(tuple(queued), tuple(orphaned))


def orphaned_media(connection: sqlite3.Connection) -> MediaChanges:
    """After a rebuild: media rows no local track references, deleted and reported."""
    rows = connection.execute(
        "DELETE FROM media WHERE NOT EXISTS (SELECT 1 FROM tracks t WHERE t.did = media.did"
        " AND t.audio_cid = media.audio_cid AND t.origin = 'local') RETURNING did, audio_cid"
    ).fetchall()
    return MediaChanges(orphaned=tuple((str(d), str(c)) for d, c in rows))


def _upsert(connection: sqlite3.Connection, record: CatalogRecord, origin: str, now: int) -> None:
    if isinstance(record, Track):
        _upsert_track(connection, record, origin, now)
    elif isinstance(record, Release):
        _upsert_release(connection, record, origin, now)
    elif isinstance(record, ArtistProfile):
        _upsert_artist(connection, record, origin, now)
    else:
        _upsert_like(connection, record, origin, now)


def _remove(connection: sqlite3.Connection, collection: str, uri: str) -> None:
    if collection == "fm.oms.track":
        _remove_track(connection, uri)
    elif collection == "fm.oms.release":
        _remove_release(connection, uri)
    elif collection == "fm.oms.artist.profile":
        _remove_artist(connection, "uri", uri)
    elif collection == "fm.oms.like":
        connection.execute("DELETE FROM likes WHERE uri = ?", (uri,))


_TRACK_COLUMNS = (
    "uri, did, rkey, cid, origin, title, release_uri, release_cid, track_number, disc_number,"
    " duration_ms, license, isrc, release_date, explicit, visibility, downloadable, audio_cid,"
    " audio_mime, audio_size, artwork_cid, lyrics_plain, lyrics_synced, created_at, indexed_at"
)
_UPSERT_TRACK = (
    f"INSERT INTO tracks ({_TRACK_COLUMNS}) VALUES ({', '.join('?' * 25)})"  # noqa: S608
    " ON CONFLICT (uri) DO UPDATE SET "
    + ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in _TRACK_COLUMNS.split(",")[1:])
    + " RETURNING id"
)


def _upsert_track(connection: sqlite3.Connection, t: Track, origin: str, now: int) -> None:
    row = connection.execute(
        _UPSERT_TRACK,
        (
            t.uri,
            t.did,
            t.rkey,
            t.cid,
            origin,
            t.title,
            t.release_uri,
            t.release_cid,
            t.track_number,
            t.disc_number,
            t.duration_ms,
            t.license,
            t.isrc,
            t.release_date,
            int(t.explicit),
            t.visibility,
            int(t.downloadable),
            t.audio_cid,
            t.audio_mime,
            t.audio_size,
            t.artwork_cid,
            t.lyrics_plain,
            t.lyrics_synced,
            t.created_at,
            now,
        ),
    ).fetchone()
    track_id = int(row[0])
    for table in ("track_credits", "track_genres", "track_tags", "track_splits"):
        connection.execute(f"DELETE FROM {table} WHERE track_uri = ?", (t.uri,))  # noqa: S608
    connection.executemany(
        "INSERT INTO track_credits (track_uri, position, name, name_key, did, role)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(t.uri, i, c.name, fold(c.name), c.did, c.role) for i, c in enumerate(t.artists)],
    )
    connection.executemany(
        "INSERT INTO track_genres (track_uri, position, genre, genre_key) VALUES (?, ?, ?, ?)",
        [(t.uri, i, g, fold(g)) for i, g in enumerate(t.genres)],
    )
    connection.executemany(
        "INSERT INTO track_tags (track_uri, position, tag, tag_key) VALUES (?, ?, ?, ?)",
        [(t.uri, i, tag, fold(tag)) for i, tag in enumerate(t.tags)],
    )
    connection.executemany(
        "INSERT INTO track_splits (track_uri, position, did, share_bps, role)"
        " VALUES (?, ?, ?, ?, ?)",
        [(t.uri, i, s.did, s.share_bps, s.role) for i, s in enumerate(t.splits)],
    )
    if t.release_uri is not None:
        found = connection.execute(
            "SELECT title FROM releases WHERE uri = ?", (t.release_uri,)
        ).fetchone()
    else:  # a release of the same artist that lists the track
        found = connection.execute(
            "SELECT r.title FROM release_tracks rt JOIN releases r ON r.uri = rt.release_uri"
            " AND r.did = ? WHERE rt.track_uri = ? ORDER BY r.created_at, r.uri LIMIT 1",
            (t.did, t.uri),
        ).fetchone()
    release_title = "" if found is None else str(found[0])
    artists = " ".join(c.name for c in t.artists)
    lyrics = " ".join(
        [t.lyrics_plain or ""]
        + [str(line.get("text", "")) for line in json.loads(t.lyrics_synced or "[]")]
    ).strip()
    _delete_search_rows(connection, track_id)
    connection.execute(
        "INSERT INTO track_search (rowid, title, artists, release, tags, lyrics)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (track_id, t.title, artists, release_title, " ".join(t.genres + t.tags), lyrics),
    )
    _remember_words(connection, [t.title, artists, release_title, *t.genres, *t.tags])


def _remember_words(connection: sqlite3.Connection, texts: Iterable[str]) -> None:
    """Add the words of `texts` the typo pass does not know yet (with their trigrams)."""
    for word in {w for text in texts for w in words_of(text)}:
        row = connection.execute(
            "INSERT INTO search_words (word) VALUES (?) ON CONFLICT DO NOTHING RETURNING id",
            (word,),
        ).fetchone()
        if row is not None:
            connection.execute(
                "INSERT INTO search_word_trigrams (rowid, word) VALUES (?, ?)",
                (row[0], f" {word} "),
            )


def _delete_search_rows(connection: sqlite3.Connection, track_id: int) -> None:
    connection.execute("DELETE FROM track_search WHERE rowid = ?", (track_id,))


def _remove_track(connection: sqlite3.Connection, uri: str) -> None:
    row = connection.execute("SELECT id FROM tracks WHERE uri = ?", (uri,)).fetchone()
    if row is None:
        return
    _delete_search_rows(connection, int(row[0]))
    for table in ("track_credits", "track_genres", "track_tags", "track_splits"):
        connection.execute(f"DELETE FROM {table} WHERE track_uri = ?", (uri,))  # noqa: S608
    connection.execute("DELETE FROM tracks WHERE id = ?", (row[0],))


def _set_release_title(connection: sqlite3.Connection, release_uri: str, title: str) -> None:
    """Search rows of the release's tracks: those naming it, and those of its artist it lists
    that name no release."""
    connection.execute(
        "UPDATE track_search SET release = ? WHERE release <> ? AND rowid IN"
        " (SELECT t.id FROM tracks t WHERE t.release_uri = ?"
        " UNION SELECT t.id FROM release_tracks rt JOIN releases r ON r.uri = rt.release_uri"
        " JOIN tracks t ON t.uri = rt.track_uri AND t.did = r.did AND t.release_uri IS NULL"
        " WHERE rt.release_uri = ?)",
        (title, title, release_uri, release_uri),
    )


def _credits_json(record: Release) -> str:
    return json.dumps(
        [{"name": c.name, "did": c.did, "role": c.role} for c in record.artists],
        sort_keys=True,
        separators=(",", ":"),
    )


def _upsert_release(connection: sqlite3.Connection, r: Release, origin: str, now: int) -> None:
    row = connection.execute(
        "INSERT INTO releases (uri, did, rkey, cid, origin, title, kind, artists, artwork_cid,"
        " release_date, label, upc, genres, created_at, indexed_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid, origin = excluded.origin,"
        " title = excluded.title, kind = excluded.kind, artists = excluded.artists,"
        " artwork_cid = excluded.artwork_cid, release_date = excluded.release_date,"
        " label = excluded.label, upc = excluded.upc, genres = excluded.genres,"
        " created_at = excluded.created_at, indexed_at = excluded.indexed_at"
        " RETURNING rowid",
        (
            r.uri,
            r.did,
            r.rkey,
            r.cid,
            origin,
            r.title,
            r.kind,
            _credits_json(r),
            r.artwork_cid,
            r.release_date,
            r.label,
            r.upc,
            json.dumps(list(r.genres)),
            r.created_at,
            now,
        ),
    ).fetchone()
    rowid = int(row[0])
    _delete_release_search(connection, rowid)
    artists = " ".join(c.name for c in r.artists)
    about = " ".join([r.label or "", *r.genres]).strip()
    connection.execute(
        "INSERT INTO release_search (rowid, title, artists, about) VALUES (?, ?, ?, ?)",
        (rowid, r.title, artists, about),
    )
    _remember_words(connection, [r.title, artists, about])
    _set_release_title(connection, r.uri, "")  # tracks it no longer lists lose its title
    connection.execute("DELETE FROM release_tracks WHERE release_uri = ?", (r.uri,))
    connection.executemany(
        "INSERT INTO release_tracks (release_uri, position, track_uri, track_cid)"
        " VALUES (?, ?, ?, ?)",
        [(r.uri, i, uri, cid) for i, (uri, cid) in enumerate(r.tracks)],
    )
    _set_release_title(connection, r.uri, r.title)


def _remove_release(connection: sqlite3.Connection, uri: str) -> None:
    connection.execute("DELETE FROM release_tracks WHERE release_uri = ?", (uri,))
    row = connection.execute(
        "DELETE FROM releases WHERE uri = ? RETURNING rowid", (uri,)
    ).fetchone()
    if row is not None:
        _delete_release_search(connection, int(row[0]))
    _set_release_title(connection, uri, "")


def _delete_release_search(connection: sqlite3.Connection, rowid: int) -> None:
    connection.execute("DELETE FROM release_search WHERE rowid = ?", (rowid,))


def _remove_artist(connection: sqlite3.Connection, column: str, value: str) -> None:
    row = connection.execute(
        f"DELETE FROM artists WHERE {column} = ? RETURNING rowid",  # noqa: S608 - a fixed column
        (value,),
    ).fetchone()
    if row is not None:
        _delete_artist_search(connection, int(row[0]))


def _delete_artist_search(connection: sqlite3.Connection, rowid: int) -> None:
    connection.execute("DELETE FROM artist_search WHERE rowid = ?", (rowid,))


def _upsert_artist(connection: sqlite3.Connection, a: ArtistProfile, origin: str, now: int) -> None:
    row = connection.execute(
        "INSERT INTO artists (did, rkey, cid, uri, origin, display_name, bio, avatar_cid,"
        " banner_cid, location, genres, links, support_links, indexed_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (did) DO UPDATE SET rkey = excluded.rkey, cid = excluded.cid,"
        " uri = excluded.uri, origin = excluded.origin, display_name = excluded.display_name,"
        " bio = excluded.bio, avatar_cid = excluded.avatar_cid,"
        " banner_cid = excluded.banner_cid, location = excluded.location,"
        " genres = excluded.genres, links = excluded.links,"
        " support_links = excluded.support_links, indexed_at = excluded.indexed_at"
        " RETURNING rowid",
        (
            a.did,
            a.rkey,
            a.cid,
            a.uri,
            origin,
            a.display_name,
            a.bio,
            a.avatar_cid,
            a.banner_cid,
            a.location,
            json.dumps(list(a.genres)),
            a.links,
            a.support_links,
            now,
        ),
    ).fetchone()
    rowid = int(row[0])
    _delete_artist_search(connection, rowid)
    about = " ".join([a.location or "", *a.genres]).strip()
    connection.execute(
        "INSERT INTO artist_search (rowid, name, about) VALUES (?, ?, ?)",
        (rowid, a.display_name, about),
    )
    _remember_words(connection, [a.display_name, about])


def _upsert_like(connection: sqlite3.Connection, like: Like, origin: str, now: int) -> None:
    connection.execute(
        "INSERT INTO likes (uri, did, rkey, cid, origin, subject_uri, subject_cid, created_at,"
        " indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid, origin = excluded.origin,"
        " subject_uri = excluded.subject_uri, subject_cid = excluded.subject_cid,"
        " created_at = excluded.created_at, indexed_at = excluded.indexed_at",
        (
            like.uri,
            like.did,
            like.rkey,
            like.cid,
            origin,
            like.subject_uri,
            like.subject_cid,
            like.created_at,
            now,
        ),
    )


def _drop_account(connection: sqlite3.Connection, did: str) -> None:
    tracks = connection.execute("SELECT uri FROM tracks WHERE did = ?", (did,)).fetchall()
    for (uri,) in tracks:
        _remove_track(connection, uri)
    releases = connection.execute("SELECT uri FROM releases WHERE did = ?", (did,)).fetchall()
    for (uri,) in releases:
        _remove_release(connection, uri)
    _remove_artist(connection, "did", did)
    connection.execute("DELETE FROM likes WHERE did = ?", (did,))


def _save_position(connection: sqlite3.Connection, seq: int, now: int) -> None:
    connection.execute(
        "INSERT INTO catalog_state (name, seq, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        (_POSITION, seq, now),
    )


def saved_position(connection: sqlite3.Connection) -> int:
    row = connection.execute(
        "SELECT seq FROM catalog_state WHERE name = ?", (_POSITION,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def local_records(
    connection: sqlite3.Connection, collections: Sequence[str]
) -> Iterator[tuple[str, str, str, str, bytes]]:
    """(did, collection, rkey, cid, block) of every current record in the node's repositories,
    releases before tracks (a track's search row carries its release's title)."""
    marks = ", ".join("?" * len(collections))
    order = "CASE r.collection WHEN 'fm.oms.release' THEN 0 ELSE 1 END"
    cursor = connection.execute(
        "SELECT r.did, r.collection, r.rkey, r.cid, b.bytes FROM records r"  # noqa: S608
        " JOIN repo_blocks b ON b.did = r.did AND b.cid = r.cid"
        f" WHERE r.collection IN ({marks}) ORDER BY {order}, r.did, r.collection, r.rkey",
        tuple(collections),
    )
    for did, collection, rkey, cid, block in cursor:
        yield str(did), str(collection), str(rkey), str(cid), bytes(block)


def replace_local_catalog(connection: sqlite3.Connection) -> int:
    """Delete every local row (remote ones stay); returns the sequence position to rebuild at:
    the newest event, read in the same transaction as the records."""
    local = "SELECT id FROM tracks WHERE origin = 'local'"
    connection.execute(f"DELETE FROM track_search WHERE rowid IN ({local})")  # noqa: S608
    for table in ("track_credits", "track_genres", "track_tags", "track_splits"):
        connection.execute(
            f"DELETE FROM {table} WHERE track_uri IN"  # noqa: S608
            " (SELECT uri FROM tracks WHERE origin = 'local')"
        )
    connection.execute(
        "DELETE FROM release_tracks WHERE release_uri IN"
        " (SELECT uri FROM releases WHERE origin = 'local')"
    )
    for table, rows in (
        ("release_search", "releases"),
        ("artist_search", "artists"),
    ):
        connection.execute(
            f"DELETE FROM {table} WHERE rowid IN"  # noqa: S608 - fixed names
            f" (SELECT rowid FROM {rows} WHERE origin = 'local')"
        )
    for table in ("tracks", "releases", "artists", "likes"):
        connection.execute(f"DELETE FROM {table} WHERE origin = 'local'")  # noqa: S608
    row = connection.execute("SELECT max(seq) FROM repo_events").fetchone()
    return int(row[0] or 0)


async def catalog_position(db: Database) -> int:
    value = await db.fetchval("SELECT seq FROM catalog_state WHERE name = ?", (_POSITION,))
    return int(value or 0)

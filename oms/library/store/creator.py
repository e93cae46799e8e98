"""Reads of an artist's own catalog for the creator portal: every track (unlisted ones too)
with the state of its media, every release, and the track that already uses an audio blob."""

from __future__ import annotations

import sqlite3

from oms.db.database import Database

__all__ = ["creator_releases", "creator_tracks", "track_using_audio"]


async def track_using_audio(db: Database, did: str, audio_cid: str) -> str | None:
    uri: str | None = await db.fetchval(
        "SELECT uri FROM tracks WHERE did = ? AND audio_cid = ? ORDER BY created_at LIMIT 1",
        (did, audio_cid),
    )
    return uri


async def creator_tracks(db: Database, did: str, *, uri: str | None = None) -> list[sqlite3.Row]:
    """The repository's tracks (or its track `uri`), newest first, with their release and
    media state."""
    return await db.fetchall(
        "SELECT t.uri, t.rkey, t.cid, t.title, t.visibility, t.downloadable, t.license,"
        " t.duration_ms, t.audio_cid, t.artwork_cid, t.track_number, t.created_at,"
        " r.title AS release_title, r.rkey AS release_rkey,"
        " m.status, m.progress, m.error, m.has_cover"
        " FROM tracks t LEFT JOIN releases r ON r.uri = COALESCE(t.release_uri,"
        "   (SELECT rt.release_uri FROM release_tracks rt JOIN releases own"
        "    ON own.uri = rt.release_uri AND own.did = t.did WHERE rt.track_uri = t.uri LIMIT 1))"
        " LEFT JOIN media m ON m.did = t.did AND m.audio_cid = t.audio_cid"
        " WHERE t.did = ? AND (? IS NULL OR t.uri = ?) ORDER BY t.created_at DESC, t.uri",
        (did, uri, uri),
    )


async def creator_releases(db: Database, did: str) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT r.uri, r.rkey, r.cid, r.title, r.kind, r.artwork_cid, r.release_date,"
        " (SELECT COUNT(*) FROM release_tracks rt WHERE rt.release_uri = r.uri) AS track_count"
        " FROM releases r WHERE r.did = ? ORDER BY r.created_at DESC, r.uri",
        (did,),
    )

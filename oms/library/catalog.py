"""Browsing the catalog: a release with its tracks, an artist with releases and top tracks,
new releases, the genre list."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from oms.db.database import Database
from oms.errors import NotFound
from oms.library.records import fold
from oms.library.search import MAX_LIMIT, get_tracks, page_offset, search_tracks
from oms.library.store import catalog as store
from oms.library.views import (
    ArtistView,
    GenreCount,
    ReleaseView,
    TrackView,
    artist_view,
    release_view,
)

__all__ = [
    "ArtistPage",
    "ReleasePage",
    "TrackLength",
    "get_artist",
    "get_artists",
    "get_release",
    "list_genres",
    "local_artists",
    "new_releases",
    "track_lengths",
]

_ARTIST_RELEASES = 50
_TOP_TRACKS = 10


@dataclass(frozen=True)
class TrackLength:
    uri: str
    did: str
    title: str
    duration_ms: int | None  # from the record, else as measured; None when neither knows


async def track_lengths(db: Database, uris: Sequence[str]) -> dict[str, TrackLength]:
    """The catalog's tracks among `uris` (unlisted ones included), by URI: who, what, how long."""
    rows = await store.track_lengths(db, uris)
    return {r["uri"]: TrackLength(r["uri"], r["did"], r["title"], r["duration_ms"]) for r in rows}


@dataclass(frozen=True)
class ReleasePage:
    release: ReleaseView
    tracks: tuple[TrackView, ...]  # in the release's order; tracks not (yet) indexed left out


@dataclass(frozen=True)
class ArtistPage:
    artist: ArtistView
    releases: tuple[ReleaseView, ...]
    top_tracks: tuple[TrackView, ...]


async def get_release(db: Database, uri: str) -> ReleasePage:
    rows = await store.release_rows(db, [uri])
    if not rows:
        raise NotFound(f"no release {uri} in the catalog", name="ReleaseNotFound")
    tracks = await get_tracks(db, await store.release_track_uris(db, uri))
    return ReleasePage(release_view(rows[0]), tuple(t for t in tracks if t.visibility == "public"))


async def get_artist(db: Database, did: str) -> ArtistPage:
    """An artist by DID: their profile (or, for an account that published without one, its
    handle), listed releases and most popular tracks."""
    rows = await store.artist_rows(db, [did])
    row = rows[0] if rows else await store.account_artist_row(db, did)
    if row is None:
        raise NotFound(f"no artist {did} in the catalog", name="ArtistNotFound")
    releases = await store.releases_of(db, did, _ARTIST_RELEASES)
    top, _ = await search_tracks(db, artist=did, sort="popular", limit=_TOP_TRACKS)
    return ArtistPage(artist_view(row), tuple(map(release_view, releases)), tuple(top))


async def get_artists(db: Database, dids: Sequence[str]) -> list[ArtistView]:
    """The artists of `dids` the catalog knows (by profile, else by a local account that has
    published), in the order asked for."""
    wanted = list(dict.fromkeys(dids))[:MAX_LIMIT]
    rows = {row["did"]: row for row in await store.artist_rows(db, wanted)}
    for did in wanted:
        if did not in rows and (row := await store.account_artist_row(db, did)) is not None:
            rows[did] = row
    return [artist_view(rows[did]) for did in wanted if did in rows]


async def local_artists(db: Database, *, limit: int = 24) -> list[ArtistView]:
    """The node's own artists (accounts with public tracks), the latest to publish first."""
    return await get_artists(db, await store.local_artist_dids(db, max(1, min(limit, MAX_LIMIT))))


async def new_releases(
    db: Database, *, genre: str | None = None, limit: int = 25, cursor: str | None = None
) -> tuple[list[ReleaseView], str | None]:
    """Releases with public tracks, newest release date first (none dated in the future)."""
    limit = max(1, min(limit, MAX_LIMIT))
    offset = page_offset(cursor)
    key = fold(genre.strip()) if genre and genre.strip() else None
    now = int(time.time() * 1000)
    rows = await store.new_release_rows(db, now, key, limit + 1, offset)
    more = len(rows) > limit
    return [release_view(r) for r in rows[:limit]], str(offset + limit) if more else None


async def list_genres(db: Database, *, limit: int = MAX_LIMIT) -> list[GenreCount]:
    """Genres of public tracks, the most used first."""
    rows = await store.genre_counts(db, max(1, min(limit, 1000)))
    return [GenreCount(row["name"], row["track_count"]) for row in rows]

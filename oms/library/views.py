"""What the catalog answers with: track, release and artist views as any surface needs them
(XRPC, the web pages, later Subsonic). Addresses (stream, artwork) are derived from `did`, the
blob CIDs and `origin`, as DESIGN.md fixes them: `lexicon_json` does it for the lexicon's
JSON."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TypeVar

from oms.library.records import Credit

__all__ = [
    "ArtistView",
    "GenreCount",
    "MediaStatusView",
    "ReleaseView",
    "TrackView",
    "artist_view",
    "credits_from_json",
    "release_view",
    "track_view",
]


@dataclass(frozen=True)
class TrackView:
    uri: str
    cid: str
    did: str
    title: str
    artists: tuple[Credit, ...]
    release_uri: str | None
    release_title: str | None
    track_number: int | None
    disc_number: int | None
    duration_ms: int | None
    genres: tuple[str, ...]
    license: str
    explicit: bool
    downloadable: bool
    release_date: int | None
    created_at: int
    origin: str
    like_count: int
    play_count: int  # all time, under the OMS rule (the analytics rollups)
    listener_count: int
    audio_cid: str
    artwork_cid: str | None
    visibility: str
    # The node's media for the audio: "ready" once the HLS ladder is complete (None for a
    # remote track, whose origin streams it), and what the ladder measured.
    media_status: str | None = None
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    gain_db: float | None = None
    has_cover: bool = False

    @property
    def streamable(self) -> bool:
        """Whether the stream address leads to a stream: the local ladder is complete, or
        the track is a remote one (its origin serves it)."""
        return self.media_status == "ready" if self.origin == "local" else True


@dataclass(frozen=True)
class ReleaseView:
    uri: str
    cid: str
    did: str
    title: str
    kind: str
    artists: tuple[Credit, ...]
    artwork_cid: str | None
    release_date: int | None
    label: str | None
    upc: str | None
    genres: tuple[str, ...]
    track_count: int
    duration_ms: int
    created_at: int
    origin: str


@dataclass(frozen=True)
class ArtistView:
    did: str
    handle: str | None
    uri: str | None  # the profile record; None for an artist known only from credits
    display_name: str
    bio: str | None
    avatar_cid: str | None
    banner_cid: str | None
    location: str | None
    genres: tuple[str, ...]
    links: tuple[Mapping[str, str], ...]
    support_links: tuple[Mapping[str, str], ...]
    origin: str
    track_count: int
    release_count: int
    like_count: int  # likes of the artist's tracks


@dataclass(frozen=True)
class MediaStatusView:
    """Where the processing of one repository's audio blob stands, for its artist."""

    did: str
    cid: str
    status: str  # queued | processing | ready | failed
    progress: int  # whole percent of the ladder pass; 100 only once ready
    error: str | None  # why it failed, or why the last attempt will be retried
    duration_ms: int | None  # measured from the decoded audio, once ready
    track_uris: tuple[str, ...]  # the tracks using the audio that the asker may see
    updated_at: int
    ready_at: int | None


@dataclass(frozen=True)
class GenreCount:
    name: str
    track_count: int


def credits_from_json(text: str) -> tuple[Credit, ...]:
    return tuple(Credit(c["name"], c.get("did"), c["role"]) for c in json.loads(text))


def _strings(text: str) -> tuple[str, ...]:
    return tuple(str(s) for s in json.loads(text))


def _links(text: str) -> tuple[Mapping[str, str], ...]:
    return tuple(
        {str(k): str(v) for k, v in link.items()}
        for link in json.loads(text)
        if isinstance(link, dict)
    )


_V = TypeVar("_V")


def _from_row(view: type[_V], row: sqlite3.Row, **converted: object) -> _V:
    """A view whose fields are the row's columns of the same names, but for `converted`."""
    names = [f.name for f in fields(view)]  # type: ignore[arg-type]
    return view(**{n: converted[n] if n in converted else row[n] for n in names})


def track_view(row: sqlite3.Row, credits: Sequence[Credit], genres: Sequence[str]) -> TrackView:
    return _from_row(
        TrackView,
        row,
        artists=tuple(credits),
        genres=tuple(genres),
        explicit=bool(row["explicit"]),
        downloadable=bool(row["downloadable"]),
        has_cover=bool(row["has_cover"]),
    )


def release_view(row: sqlite3.Row) -> ReleaseView:
    return _from_row(
        ReleaseView,
        row,
        artists=credits_from_json(row["artists"]),
        genres=_strings(row["genres"]),
    )


def artist_view(row: sqlite3.Row) -> ArtistView:
    return _from_row(
        ArtistView,
        row,
        genres=_strings(row["genres"]),
        links=_links(row["links"]),
        support_links=_links(row["support_links"]),
    )

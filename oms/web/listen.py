"""The fan pages: home, search, artist, release and track. Server-rendered, so that links,
search engines and browsers without JavaScript get the whole catalog; the player
(`web/static/js/player/`) enhances them and keeps playing across them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from oms.context import AppContext
from oms.errors import NotFound, OmsError
from oms.library import catalog, discovery, search
from oms.library.records import LICENSES, TRACK
from oms.library.search import SortOrder
from oms.pds.bootstrap import needs_first_admin
from oms.pds.web_sessions import WebSession
from oms.web.render import page
from oms.web.shelf import Shelf, actor_did, field, record_uri

__all__ = [
    "DURATIONS",
    "SORTS",
    "Lyrics",
    "artist_page",
    "followed_artists",
    "home",
    "release_page",
    "search_page",
    "start_seconds",
    "track_page",
]

SORTS = ("relevance", "popular", "newest", "trending")
# The search page's duration filter: name -> (label, shortest ms, longest ms).
DURATIONS: dict[str, tuple[str, int | None, int | None]] = {
    "short": ("Under 3 minutes", None, 180_000),
    "medium": ("3 to 8 minutes", 180_000, 480_000),
    "long": ("Over 8 minutes", 480_000, None),
}
_FOLLOW = "fm.oms.graph.follow"
_START = re.compile(r"^(?:(\d{1,3})h)?(?:(\d{1,4})m)?(?:(\d{1,6})s?)?$")


def start_seconds(value: str | None) -> int | None:
    """A share link's start time (`1m23s`, `83`, `1h2m`), in seconds; None when absent or
    not a time."""
    if not value:
        return None
    found = _START.match(value.strip().lower())
    if found is None or not any(found.groups()):
        return None
    hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return hours * 3600 + minutes * 60 + seconds


async def followed_artists(context: AppContext, viewer: WebSession) -> dict[str, str]:
    """The DIDs the viewer follows, latest first, each with its fm.oms.graph.follow record."""
    records, _ = await context.repos.list_records(
        viewer.did, _FOLLOW, limit=100, cursor=None, reverse=False
    )
    follows: dict[str, str] = {}
    for r in records:
        subject = field(r.value, "subject")
        if isinstance(subject, str) and subject.startswith("did:"):
            follows.setdefault(subject, r.uri)
    return follows


async def home(request: Request) -> Response:
    shelf = await Shelf.of(request)
    context, viewer = shelf.context, shelf.viewer
    db = context.db
    releases, _ = await catalog.new_releases(db, limit=12)
    trending, _ = await discovery.trending(db, limit=10)
    followed = list(await followed_artists(context, viewer)) if viewer else []
    return await page(
        request,
        "listen/home.html",
        viewer=viewer,
        setup_pending=await needs_first_admin(db),
        releases=await shelf.releases(releases),
        trending=await shelf.tracks(trending),
        genres=await catalog.list_genres(db, limit=24),
        followed=await shelf.artists(await catalog.get_artists(db, followed)),
        artists=await shelf.artists(await catalog.local_artists(db)),
        hostname=context.settings.hostname,
    )


def _duration(params: dict[str, str]) -> tuple[int | None, int | None]:
    _, shortest, longest = DURATIONS.get(params.get("duration", ""), ("", None, None))
    return shortest, longest


async def search_page(request: Request) -> Response:
    shelf = await Shelf.of(request)
    context, viewer = shelf.context, shelf.viewer
    params = {k: v.strip() for k, v in request.query_params.items()}
    q = params.get("q", "")
    sort = params.get("sort") or ("relevance" if q else "newest")
    if sort not in SORTS:
        sort = "relevance"
    shortest, longest = _duration(params)
    problem = None
    tracks, cursor, artists, releases = [], None, [], []
    try:
        found, cursor = await search.search_tracks(
            context.db,
            q=q or None,
            genre=params.get("genre") or None,
            artist=params.get("artist") or None,
            license=params.get("license") or None,
            min_duration_ms=shortest,
            max_duration_ms=longest,
            sort=cast(SortOrder, sort),
            limit=25,
            cursor=params.get("cursor") or None,
        )
        tracks = await shelf.tracks(found)
        if q and not params.get("cursor"):
            artists = await shelf.artists((await search.search_artists(context.db, q, limit=6))[0])
            releases = await shelf.releases(
                (await search.search_releases(context.db, q, limit=6))[0]
            )
    except OmsError as e:
        problem = e.message
    more = f"/search?{urlencode({**params, 'cursor': cursor})}" if cursor is not None else None
    return await page(
        request,
        "listen/search.html",
        400 if problem else 200,
        viewer=viewer,
        q=q,
        params=params,
        sort=sort,
        sorts=SORTS,
        durations=DURATIONS,
        licenses=LICENSES,
        genres=await catalog.list_genres(context.db, limit=200),
        tracks=tracks,
        artists=artists,
        releases=releases,
        more=more,
        problem=problem,
    )


async def artist_page(request: Request) -> Response:
    shelf = await Shelf.of(request)
    context, viewer = shelf.context, shelf.viewer
    did = await actor_did(context, request.path_params["actor"])
    found = await catalog.get_artist(context.db, did)
    follows = await followed_artists(context, viewer) if viewer is not None else {}
    (artist,) = await shelf.artists([found.artist])
    return await page(
        request,
        "listen/artist.html",
        viewer=viewer,
        artist=artist,
        releases=await shelf.releases(found.releases),
        tracks=await shelf.tracks(found.top_tracks),
        follow_uri=follows.get(did),
        own=viewer is not None and viewer.did == did,
    )


async def release_page(request: Request) -> Response:
    shelf = await Shelf.of(request)
    context, viewer = shelf.context, shelf.viewer
    did = await actor_did(context, request.path_params["actor"])
    found = await catalog.get_release(
        context.db, record_uri(did, "fm.oms.release", request.path_params["rkey"])
    )
    (release,) = await shelf.releases([found.release])
    return await page(
        request,
        "listen/release.html",
        viewer=viewer,
        release=release,
        tracks=await shelf.tracks(found.tracks),
    )


@dataclass(frozen=True)
class Lyrics:
    plain: str | None
    synced: list[tuple[int, str]]  # (start ms, line), in playing order


async def _lyrics(context: AppContext, did: str, rkey: str) -> Lyrics | None:
    """The lyrics of a track in one of this node's repositories (remote ones have none here)."""
    try:
        record = await context.repos.get_record(did, TRACK, rkey)
    except OmsError:
        return None
    lyrics = field(record.value, "lyrics")
    plain = field(lyrics, "plain")
    lines = field(lyrics, "synced")
    synced = (
        [
            (at, text)
            for at, text in ((field(line, "timeMs"), field(line, "text")) for line in lines or [])
            if isinstance(at, int) and isinstance(text, str)
        ]
        if isinstance(lines, list)
        else []
    )
    if not synced and not (isinstance(plain, str) and plain.strip()):
        return None
    return Lyrics(plain if isinstance(plain, str) and plain.strip() else None, synced)


async def track_page(request: Request) -> Response:
    shelf = await Shelf.of(request)
    context, viewer = shelf.context, shelf.viewer
    rkey = request.path_params["rkey"]
    did = await actor_did(context, request.path_params["actor"])
    uri = record_uri(did, TRACK, rkey)
    view = await search.get_track(context.db, uri)
    if view is None:
        raise NotFound(f"no track {uri} in the catalog", name="TrackNotFound")
    (track,) = await shelf.tracks([view])
    similar = await discovery.similar_tracks(context.db, uri, limit=10)
    return await page(
        request,
        "listen/track.html",
        viewer=viewer,
        track=track,
        lyrics=await _lyrics(context, did, rkey),
        similar=await shelf.tracks([t for t in similar if t.uri != uri]),
        release_url=(
            shelf.page_url("release", view.release_uri.split("/")[2], view.release_uri)
            if view.release_uri
            else None
        ),
        start=start_seconds(request.query_params.get("t")),
        share_url=f"{context.settings.public_url}{track.page_url}",
        unlisted=view.visibility == "unlisted",
    )

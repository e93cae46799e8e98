"""The listener's own music: the library page (likes, playlists, history, tracks saved for
offline) and playlist pages. Likes, follows and playlists are records in the listener's
repository, written from the page through XRPC (`web/static/js/collection.js`); what is
kept only in the browser (history, saved tracks) is filled in by its scripts."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from oms.analytics.privacy import history as listening_history
from oms.context import AppContext
from oms.errors import NotFound, OmsError
from oms.library import catalog
from oms.library.listener import liked_tracks
from oms.library.search import get_tracks
from oms.pds.web_sessions import WebSession
from oms.web.listen import followed_artists
from oms.web.render import page
from oms.web.shelf import Shelf, TrackItem, actor_did, field, record_uri

__all__ = ["PLAYLIST", "PlaylistSummary", "library_page", "playlist_page"]

# Tracks the library's "Recently played" lists.
_HISTORY_SHOWN = 25

PLAYLIST = "fm.oms.playlist"


@dataclass(frozen=True)
class PlaylistSummary:
    uri: str
    name: str
    size: int
    page_url: str


async def _playlists(context: AppContext, viewer: WebSession) -> list[PlaylistSummary]:
    records, _ = await context.repos.list_records(
        viewer.did, PLAYLIST, limit=100, cursor=None, reverse=False
    )
    out = []
    for r in records:
        name, items = field(r.value, "name"), field(r.value, "items")
        out.append(
            PlaylistSummary(
                r.uri,
                name if isinstance(name, str) else "Untitled",
                len(items) if isinstance(items, list) else 0,
                f"/playlist/{viewer.handle}/{r.uri.rsplit('/', 1)[1]}",
            )
        )
    return out


async def library_page(request: Request) -> Response:
    shelf = await Shelf.of(request)
    context, viewer = shelf.context, shelf.viewer
    liked: list[TrackItem] = []
    playlists: list[PlaylistSummary] = []
    followed = []
    played: list[TrackItem] = []
    if viewer is not None:
        if context.catalog_indexer is not None:
            # Read your writes: a like given a moment ago shows (a busy indexer delays the
            # page by two seconds at most; it then shows what it has).
            await context.catalog_indexer.settle_within(2)
        liked = await shelf.tracks(await liked_tracks(context.db, viewer.did))
        playlists = await _playlists(context, viewer)
        follows = list(await followed_artists(context, viewer))
        followed = await shelf.artists(await catalog.get_artists(context.db, follows))
        played = await _recently_played(shelf, viewer.did)
    response = await page(
        request,
        "listen/library.html",
        viewer=viewer,
        liked=liked,
        playlists=playlists,
        followed=followed,
        played=played,
    )
    # The page is personal: never kept by shared caches.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


async def _recently_played(shelf: Shelf, did: str) -> list[TrackItem]:
    """The account's listening history as the node recorded it (each track once, at its
    latest play), the tracks the catalog still holds."""
    entries = await listening_history(shelf.context.listening, did, limit=_HISTORY_SHOWN * 4)
    uris = list(dict.fromkeys(e.track_uri for e in entries))[:_HISTORY_SHOWN]
    views = {t.uri: t for t in await get_tracks(shelf.context.db, uris)}
    return await shelf.tracks([views[uri] for uri in uris if uri in views])


def _track_refs(items: object) -> list[str]:
    """The track AT-URIs of a playlist's items, in order (malformed items skipped)."""
    if not isinstance(items, list):
        return []
    refs = [field(field(item, "track"), "uri") for item in items]
    return [ref for ref in refs if isinstance(ref, str)]


async def playlist_page(request: Request) -> Response:
    shelf = await Shelf.of(request)
    context, viewer = shelf.context, shelf.viewer
    did = await actor_did(context, request.path_params["actor"])
    rkey = request.path_params["rkey"]
    try:
        record = await context.repos.get_record(did, PLAYLIST, rkey)
    except OmsError as e:
        uri = record_uri(did, PLAYLIST, rkey)
        raise NotFound(f"no playlist {uri} on this node", name="PlaylistNotFound") from e
    name, description = field(record.value, "name"), field(record.value, "description")
    refs = _track_refs(field(record.value, "items"))
    found = {t.uri: t for t in await get_tracks(context.db, refs)}
    # Entries keep their position in the record (what removing one rewrites); tracks the
    # catalog no longer holds are counted, not shown.
    entries = [(index, found[uri]) for index, uri in enumerate(refs) if uri in found]
    items = await shelf.tracks([t for _, t in entries])
    await shelf.learn_handles([did])
    return await page(
        request,
        "listen/playlist.html",
        viewer=viewer,
        uri=record.uri,
        title=name if isinstance(name, str) else "Untitled",
        description=description if isinstance(description, str) else None,
        entries=list(zip((i for i, _ in entries), items, strict=True)),
        missing=len(refs) - len(entries),
        owner_url=shelf.artist_url(did),
        own=viewer is not None and viewer.did == did,
    )

"""`fm.oms.catalog.*`: search, browsing and discovery over the catalog index, answered in the
lexicon's JSON (`library.lexicon_json`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from oms.errors import InvalidRequest, NotFound
from oms.library import catalog, discovery, search
from oms.library.lexicon_json import CatalogJson, JsonObject
from oms.library.search import SortOrder
from oms.pds.accounts import get_account
from oms.xrpc.dispatch import XrpcCall

__all__ = [
    "get_artist",
    "get_new_releases",
    "get_radio",
    "get_release",
    "get_similar_tracks",
    "get_track",
    "get_tracks",
    "get_trending",
    "list_genres",
    "search_artists",
    "search_releases",
    "search_tracks",
]


def _page(key: str, items: list[JsonObject], cursor: str | None) -> JsonObject:
    return {key: items, "cursor": cursor} if cursor is not None else {key: items}


def _json(call: XrpcCall) -> CatalogJson:
    return CatalogJson(call.context.settings.public_url, call.context.keys)


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    return str(value) if value is not None else None


async def search_tracks(call: XrpcCall) -> JsonObject:
    p = call.params
    sort = p["sort"]
    if sort not in ("relevance", "popular", "newest", "trending"):
        raise InvalidRequest("sort must be one of relevance, popular, newest, trending")
    views, cursor = await search.search_tracks(
        call.context.db,
        q=_text(p, "q"),
        genre=_text(p, "genre"),
        artist=_text(p, "artist"),
        license=_text(p, "license"),
        min_duration_ms=p.get("minDuration"),
        max_duration_ms=p.get("maxDuration"),
        sort=cast(SortOrder, sort),
        limit=p["limit"],
        cursor=_text(p, "cursor"),
    )
    return _page("tracks", _json(call).tracks(views), cursor)


async def get_track(call: XrpcCall) -> JsonObject:
    uri = call.params["uri"]
    view = await search.get_track(call.context.db, uri)
    if view is None:
        raise NotFound(f"no track {uri} in the catalog", name="TrackNotFound")
    return {"track": _json(call).track(view)}


async def get_tracks(call: XrpcCall) -> JsonObject:
    uris = call.params["uris"]
    if len(uris) > search.MAX_LIMIT:
        raise InvalidRequest(f"at most {search.MAX_LIMIT} uris at once")
    return {"tracks": _json(call).tracks(await search.get_tracks(call.context.db, uris))}


async def get_release(call: XrpcCall) -> JsonObject:
    page = await catalog.get_release(call.context.db, call.params["uri"])
    views = _json(call)
    return {"release": views.release(page.release), "tracks": views.tracks(page.tracks)}


async def get_artist(call: XrpcCall) -> JsonObject:
    actor = str(call.params["actor"])
    did = actor
    if not actor.startswith("did:"):
        try:
            did = (await get_account(call.context.db, actor)).did
        except NotFound as e:
            raise NotFound(f"no artist {actor} in the catalog", name="ArtistNotFound") from e
    page = await catalog.get_artist(call.context.db, did)
    views = _json(call)
    return {
        "artist": views.artist(page.artist),
        "releases": [views.release(r) for r in page.releases],
        "topTracks": views.tracks(page.top_tracks),
    }


async def list_genres(call: XrpcCall) -> JsonObject:
    genres = await catalog.list_genres(call.context.db, limit=call.params["limit"])
    return {"genres": [{"name": g.name, "trackCount": g.track_count} for g in genres]}


async def get_new_releases(call: XrpcCall) -> JsonObject:
    p = call.params
    releases, cursor = await catalog.new_releases(
        call.context.db, genre=_text(p, "genre"), limit=p["limit"], cursor=_text(p, "cursor")
    )
    views = _json(call)
    return _page("releases", [views.release(r) for r in releases], cursor)


async def get_trending(call: XrpcCall) -> JsonObject:
    p = call.params
    tracks, cursor = await discovery.trending(
        call.context.db, genre=_text(p, "genre"), limit=p["limit"], cursor=_text(p, "cursor")
    )
    return _page("tracks", _json(call).tracks(tracks), cursor)


async def search_artists(call: XrpcCall) -> JsonObject:
    p = call.params
    artists, cursor = await search.search_artists(
        call.context.db, p["q"], limit=p["limit"], cursor=_text(p, "cursor")
    )
    views = _json(call)
    return _page("artists", [views.artist(a) for a in artists], cursor)


async def search_releases(call: XrpcCall) -> JsonObject:
    p = call.params
    releases, cursor = await search.search_releases(
        call.context.db, p["q"], limit=p["limit"], cursor=_text(p, "cursor")
    )
    views = _json(call)
    return _page("releases", [views.release(r) for r in releases], cursor)


async def get_similar_tracks(call: XrpcCall) -> JsonObject:
    p = call.params
    tracks = await discovery.similar_tracks(call.context.db, p["uri"], limit=p["limit"])
    return {"tracks": _json(call).tracks(tracks)}


async def get_radio(call: XrpcCall) -> JsonObject:
    p = call.params
    tracks, cursor = await discovery.radio(
        call.context.db,
        track=_text(p, "track"),
        genre=_text(p, "genre"),
        limit=p["limit"],
        cursor=_text(p, "cursor"),
    )
    return _page("tracks", _json(call).tracks(tracks), cursor)

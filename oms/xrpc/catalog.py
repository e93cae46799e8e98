"""`fm.oms.catalog.*`: search, browsing and discovery over the catalog index, and the one
place catalog views become their lexicon's JSON (fm.oms.catalog.defs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote

from oms.errors import InvalidRequest, NotFound
from oms.library import catalog, discovery, search
from oms.library.records import Credit
from oms.library.search import SortOrder
from oms.library.store.writes import LOCAL
from oms.library.streams import STREAM_KEY_NAME, sign_stream
from oms.library.views import ArtistView, ReleaseView, TrackView
from oms.pds.accounts import get_account
from oms.pds.syntax import format_datetime
from oms.xrpc.dispatch import XrpcCall

__all__ = [
    "ARTWORK_SIZES",
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

# The sizes of fm.oms.catalog.defs#artwork, served at <service>/img/<did>/<cid>/<px>.jpg.
ARTWORK_SIZES = {"thumb": 64, "small": 300, "medium": 600, "large": 1200}

JsonObject = dict[str, Any]


class _Views:
    """Turns catalog views into lexicon JSON for one node (its address serves local entries)."""

    def __init__(self, call: XrpcCall) -> None:
        self.public_url = call.context.settings.public_url
        self.keys = call.context.keys

    def service(self, origin: str) -> str:
        return self.public_url if origin == LOCAL else origin

    def origin(self, origin: str) -> JsonObject:
        return {"kind": "local" if origin == LOCAL else "remote", "service": self.service(origin)}

    def artwork(self, origin: str, did: str, cid: str | None) -> JsonObject | None:
        if cid is None:
            return None
        base = f"{self.service(origin)}/img/{_in_path(did)}/{cid}"
        return {name: f"{base}/{px}.jpg" for name, px in ARTWORK_SIZES.items()}

    def track(self, t: TrackView) -> JsonObject:
        out: JsonObject = {
            "uri": t.uri,
            "cid": t.cid,
            "did": t.did,
            "title": t.title,
            "artists": _credits(t.artists),
            "genres": list(t.genres),
            "license": t.license,
            "explicit": t.explicit,
            "downloadable": t.downloadable,
            "visibility": t.visibility,
            "createdAt": format_datetime(t.created_at),
            "counts": {"plays": t.play_count, "likes": t.like_count},
            "origin": self.origin(t.origin),
        }
        if t.release_uri is not None and t.release_title is not None:
            out["release"] = {"uri": t.release_uri, "title": t.release_title}
        _put(out, "trackNumber", t.track_number)
        _put(out, "discNumber", t.disc_number)
        _put(out, "durationMs", t.duration_ms)
        if t.release_date is not None:
            out["releaseDate"] = format_datetime(t.release_date)
        _put(out, "artwork", self.artwork(t.origin, t.did, t.artwork_cid) or self.cover(t))
        # An unlisted track's addresses carry a signed, expiring token: having its view (its
        # AT-URI) is what lets one listen (and download, where the artist allows it).
        signed = ""
        if t.visibility == "unlisted" and t.origin == LOCAL:
            secret = self.keys.secret(STREAM_KEY_NAME)
            signed = f"?t={sign_stream(secret, t.did, t.audio_cid)}"
        if t.downloadable:
            out["downloadUrl"] = (
                f"{self.service(t.origin)}/download/{_in_path(t.did)}/{t.audio_cid}{signed}"
            )
        if t.streamable:
            media = f"{self.service(t.origin)}/hls/{_in_path(t.did)}/{t.audio_cid}"
            out["streamUrl"] = f"{media}/master.m3u8{signed}"
            if t.media_status == "ready":
                out["waveformUrl"] = f"{media}/waveform.json{signed}"
        if t.gain_db is not None:
            # The data model has no floats: thousandths, as integers.
            loudness: JsonObject = {"gainMilliDb": _milli(t.gain_db)}
            _put(loudness, "integratedMilliLufs", _milli(t.loudness_lufs))
            _put(loudness, "truePeakMilliDbtp", _milli(t.true_peak_dbtp))
            out["loudness"] = loudness
        return out

    def cover(self, t: TrackView) -> JsonObject | None:
        """The picture embedded in the audio file, as the media pipeline sized it."""
        if not t.has_cover:
            return None
        base = f"{self.service(t.origin)}/hls/{_in_path(t.did)}/{t.audio_cid}/cover"
        return {name: f"{base}/{px}.jpg" for name, px in ARTWORK_SIZES.items()}

    def tracks(self, views: Sequence[TrackView]) -> list[JsonObject]:
        return [self.track(t) for t in views]

    def release(self, r: ReleaseView) -> JsonObject:
        out: JsonObject = {
            "uri": r.uri,
            "cid": r.cid,
            "did": r.did,
            "title": r.title,
            "kind": r.kind,
            "artists": _credits(r.artists),
            "genres": list(r.genres),
            "trackCount": r.track_count,
            "durationMs": r.duration_ms,
            "createdAt": format_datetime(r.created_at),
            "origin": self.origin(r.origin),
        }
        _put(out, "artwork", self.artwork(r.origin, r.did, r.artwork_cid))
        if r.release_date is not None:
            out["releaseDate"] = format_datetime(r.release_date)
        _put(out, "label", r.label)
        _put(out, "upc", r.upc)
        return out

    def artist(self, a: ArtistView) -> JsonObject:
        out: JsonObject = {
            "did": a.did,
            "displayName": a.display_name,
            "genres": list(a.genres),
            "links": [dict(link) for link in a.links],
            "supportLinks": [dict(link) for link in a.support_links],
            "counts": {"tracks": a.track_count, "releases": a.release_count, "likes": a.like_count},
            "origin": self.origin(a.origin),
        }
        _put(out, "handle", a.handle)
        _put(out, "profile", a.uri)
        _put(out, "bio", a.bio)
        _put(out, "location", a.location)
        _put(out, "avatar", self.artwork(a.origin, a.did, a.avatar_cid))
        _put(out, "banner", self.artwork(a.origin, a.did, a.banner_cid))
        return out


def _in_path(did: str) -> str:
    # A did:web with a port holds "%3A", which a URL path must escape to mean itself.
    return quote(did, safe=":")


def _milli(value: float | None) -> int | None:
    return None if value is None else round(value * 1000)


def _put(out: JsonObject, name: str, value: object) -> None:
    if value is not None:
        out[name] = value


def _credits(credits: Sequence[Credit]) -> list[JsonObject]:
    out = []
    for c in credits:
        credit: JsonObject = {"name": c.name, "role": c.role}
        _put(credit, "did", c.did)
        out.append(credit)
    return out


def _page(key: str, items: list[JsonObject], cursor: str | None) -> JsonObject:
    return {key: items, "cursor": cursor} if cursor is not None else {key: items}


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
    return _page("tracks", _Views(call).tracks(views), cursor)


async def get_track(call: XrpcCall) -> JsonObject:
    uri = call.params["uri"]
    view = await search.get_track(call.context.db, uri)
    if view is None:
        raise NotFound(f"no track {uri} in the catalog", name="TrackNotFound")
    return {"track": _Views(call).track(view)}


async def get_tracks(call: XrpcCall) -> JsonObject:
    uris = call.params["uris"]
    if len(uris) > search.MAX_LIMIT:
        raise InvalidRequest(f"at most {search.MAX_LIMIT} uris at once")
    return {"tracks": _Views(call).tracks(await search.get_tracks(call.context.db, uris))}


async def get_release(call: XrpcCall) -> JsonObject:
    page = await catalog.get_release(call.context.db, call.params["uri"])
    views = _Views(call)
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
    views = _Views(call)
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
    views = _Views(call)
    return _page("releases", [views.release(r) for r in releases], cursor)


async def get_trending(call: XrpcCall) -> JsonObject:
    p = call.params
    tracks, cursor = await discovery.trending(
        call.context.db, genre=_text(p, "genre"), limit=p["limit"], cursor=_text(p, "cursor")
    )
    return _page("tracks", _Views(call).tracks(tracks), cursor)


async def search_artists(call: XrpcCall) -> JsonObject:
    p = call.params
    artists, cursor = await search.search_artists(
        call.context.db, p["q"], limit=p["limit"], cursor=_text(p, "cursor")
    )
    views = _Views(call)
    return _page("artists", [views.artist(a) for a in artists], cursor)


async def search_releases(call: XrpcCall) -> JsonObject:
    p = call.params
    releases, cursor = await search.search_releases(
        call.context.db, p["q"], limit=p["limit"], cursor=_text(p, "cursor")
    )
    views = _Views(call)
    return _page("releases", [views.release(r) for r in releases], cursor)


async def get_similar_tracks(call: XrpcCall) -> JsonObject:
    p = call.params
    tracks = await discovery.similar_tracks(call.context.db, p["uri"], limit=p["limit"])
    return {"tracks": _Views(call).tracks(tracks)}


async def get_radio(call: XrpcCall) -> JsonObject:
    p = call.params
    tracks, cursor = await discovery.radio(
        call.context.db,
        track=_text(p, "track"),
        genre=_text(p, "genre"),
        limit=p["limit"],
        cursor=_text(p, "cursor"),
    )
    return _page("tracks", _Views(call).tracks(tracks), cursor)

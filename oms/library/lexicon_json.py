"""Catalog views as their lexicon's JSON (fm.oms.catalog.defs): the one place a view becomes
what XRPC answers and what the web player reads from its pages, with the node's addresses for
streams, artwork, waveforms and downloads (DESIGN.md fixes their shapes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from oms.library.records import Credit
from oms.library.store.writes import LOCAL
from oms.library.streams import STREAM_KEY_NAME, sign_stream
from oms.library.views import ArtistView, ReleaseView, TrackView
from oms.pds.keystore import KeyStore
from oms.pds.syntax import format_datetime

__all__ = ["ARTWORK_SIZES", "CatalogJson", "JsonObject", "in_path"]

JsonObject = dict[str, Any]

# The sizes of fm.oms.catalog.defs#artwork, served at <service>/img/<did>/<cid>/<px>.jpg.
ARTWORK_SIZES = {"thumb": 64, "small": 300, "medium": 600, "large": 1200}


class CatalogJson:
    """Turns catalog views into lexicon JSON for one node (its address serves local entries)."""

    def __init__(self, public_url: str, keys: KeyStore) -> None:
        self.public_url = public_url
        self.keys = keys

    def service(self, origin: str) -> str:
        return self.public_url if origin == LOCAL else origin

    def origin(self, origin: str) -> JsonObject:
        return {"kind": "local" if origin == LOCAL else "remote", "service": self.service(origin)}

    def artwork(self, origin: str, did: str, cid: str | None) -> JsonObject | None:
        if cid is None:
            return None
        base = f"{self.service(origin)}/img/{in_path(did)}/{cid}"
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
            "counts": {
                "plays": t.play_count,
                "listeners": t.listener_count,
                "likes": t.like_count,
            },
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
                f"{self.service(t.origin)}/download/{in_path(t.did)}/{t.audio_cid}{signed}"
            )
        if t.streamable:
            media = f"{self.service(t.origin)}/hls/{in_path(t.did)}/{t.audio_cid}"
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
        base = f"{self.service(t.origin)}/hls/{in_path(t.did)}/{t.audio_cid}/cover"
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


def in_path(did: str) -> str:
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

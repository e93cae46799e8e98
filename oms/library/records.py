"""fm.oms.* record values -> the catalog's frozen models, or a reason why a record is skipped.

Validation is the lexicon's when the node has it; the structural checks here always run, so
the index never trusts a field it stores (a remote client may write anything).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from oms.errors import OmsError
from oms.pds.dagcbor import JsonValue
from oms.pds.lexicons import Lexicons

__all__ = [
    "ARTIST_PROFILE",
    "COLLECTIONS",
    "LICENSES",
    "LIKE",
    "RELEASE",
    "TRACK",
    "ArtistProfile",
    "CatalogRecord",
    "Credit",
    "InvalidRecord",
    "Like",
    "Release",
    "Split",
    "Track",
    "fold",
    "parse_record",
]

TRACK = "fm.oms.track"
RELEASE = "fm.oms.release"
ARTIST_PROFILE = "fm.oms.artist.profile"
LIKE = "fm.oms.like"
COLLECTIONS = frozenset({TRACK, RELEASE, ARTIST_PROFILE, LIKE})

# The fm.oms.track lexicon's known licences: what the portal offers and what
# `oms import --license` accepts.
LICENSES = (
    "all-rights-reserved",
    "cc0-1.0",
    "cc-by-4.0",
    "cc-by-sa-4.0",
    "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0",
    "cc-by-nd-4.0",
    "cc-by-nc-nd-4.0",
)

_VISIBILITIES = frozenset({"public", "unlisted"})


class InvalidRecord(Exception):
    """A record the catalog cannot index; the message says why."""


def fold(text: str) -> str:
    """Lower case without diacritics: `Björk` -> `bjork`; what names and keys compare by."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class Credit:
    name: str
    did: str | None
    role: str


@dataclass(frozen=True)
class Split:
    did: str
    share_bps: int
    role: str


@dataclass(frozen=True)
class Track:
    uri: str
    did: str
    rkey: str
    cid: str
    title: str
    artists: tuple[Credit, ...]
    release_uri: str | None
    release_cid: str | None
    track_number: int | None
    disc_number: int | None
    duration_ms: int | None
    genres: tuple[str, ...]
    tags: tuple[str, ...]
    audio_cid: str
    audio_mime: str
    audio_size: int
    artwork_cid: str | None
    lyrics_plain: str | None
    lyrics_synced: str | None  # JSON text of the synced lines
    license: str
    isrc: str | None
    release_date: int | None
    explicit: bool
    visibility: str
    downloadable: bool
    splits: tuple[Split, ...]
    created_at: int


@dataclass(frozen=True)
class Release:
    uri: str
    did: str
    rkey: str
    cid: str
    title: str
    kind: str
    artists: tuple[Credit, ...]
    artwork_cid: str | None
    tracks: tuple[tuple[str, str], ...]  # (uri, cid) in order
    release_date: int | None
    label: str | None
    upc: str | None
    genres: tuple[str, ...]
    created_at: int


@dataclass(frozen=True)
class ArtistProfile:
    uri: str
    did: str
    rkey: str
    cid: str
    display_name: str
    bio: str | None
    avatar_cid: str | None
    banner_cid: str | None
    location: str | None
    genres: tuple[str, ...]
    links: str  # JSON text, as in the record
    support_links: str


@dataclass(frozen=True)
class Like:
    uri: str
    did: str
    rkey: str
    cid: str
    subject_uri: str
    subject_cid: str
    created_at: int


CatalogRecord = Track | Release | ArtistProfile | Like


def parse_record(
    collection: str, did: str, rkey: str, cid: str, value: JsonValue, lexicons: Lexicons
) -> CatalogRecord:
    """The catalog model of one record; raises `InvalidRecord` saying why it is skipped."""
    if collection not in COLLECTIONS:
        raise InvalidRecord(f"{collection} is not a catalog collection")
    if not isinstance(value, dict):
        raise InvalidRecord("the record is not an object")
    if lexicons.has(collection):
        try:
            lexicons.validate_record(collection, value)
        except OmsError as e:
            raise InvalidRecord(str(e)) from e
    uri = f"at://{did}/{collection}/{rkey}"
    if collection == TRACK:
        return _track(uri, did, rkey, cid, value)
    if collection == RELEASE:
        return _release(uri, did, rkey, cid, value)
    if collection == ARTIST_PROFILE:
        return _profile(uri, did, rkey, cid, value)
    return _like(uri, did, rkey, cid, value)


# --- field readers: each raises InvalidRecord naming the field -------------------------------


def _text(value: Mapping[str, JsonValue], name: str, *, required: bool = False) -> str | None:
    found = value.get(name)
    if found is None:
        if required:
            raise InvalidRecord(f"{name} is missing")
        return None
    if not isinstance(found, str):
        raise InvalidRecord(f"{name} must be a string")
    if required and not found.strip():
        raise InvalidRecord(f"{name} is empty")
    return found


def _required_text(value: Mapping[str, JsonValue], name: str) -> str:
    found = _text(value, name, required=True)
    assert found is not None
    return found


def _int(value: Mapping[str, JsonValue], name: str) -> int | None:
    found = value.get(name)
    if found is None:
        return None
    if isinstance(found, bool) or not isinstance(found, int) or found < 0:
        raise InvalidRecord(f"{name} must be a non-negative integer")
    return found


def _bool(value: Mapping[str, JsonValue], name: str) -> bool:
    found = value.get(name, False)
    if not isinstance(found, bool):
        raise InvalidRecord(f"{name} must be a boolean")
    return found


def _strings(value: Mapping[str, JsonValue], name: str) -> tuple[str, ...]:
    found = value.get(name)
    if found is None:
        return ()
    if not isinstance(found, list) or not all(isinstance(s, str) for s in found):
        raise InvalidRecord(f"{name} must be a list of strings")
    return tuple(s for s in found if isinstance(s, str) and s.strip())


def _datetime(value: Mapping[str, JsonValue], name: str, *, required: bool = False) -> int | None:
    text = _text(value, name, required=required)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRecord(f"{name} is not a datetime") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _link(value: JsonValue, name: str) -> str:
    if isinstance(value, dict):
        link = value.get("$link")
        if isinstance(link, str) and link:
            return link
    raise InvalidRecord(f"{name} must be a CID link")


def _blob(
    value: Mapping[str, JsonValue], name: str, *, required: bool = False
) -> tuple[str, str, int] | None:
    found = value.get(name)
    if found is None:
        if required:
            raise InvalidRecord(f"{name} is missing")
        return None
    if not isinstance(found, dict) or found.get("$type") != "blob":
        raise InvalidRecord(f"{name} must be a blob")
    mime, size = found.get("mimeType"), found.get("size")
    if not isinstance(mime, str) or isinstance(size, bool) or not isinstance(size, int):
        raise InvalidRecord(f"{name} must be a blob with mimeType and size")
    return _link(found.get("ref"), f"{name}.ref"), mime, size


def _blob_cid(value: Mapping[str, JsonValue], name: str) -> str | None:
    found = _blob(value, name)
    return None if found is None else found[0]


def _strong_ref(found: JsonValue, name: str) -> tuple[str, str]:
    if not isinstance(found, dict):
        raise InvalidRecord(f"{name} must be a strong reference")
    uri, cid = found.get("uri"), found.get("cid")
    if not isinstance(uri, str) or not uri.startswith("at://") or not isinstance(cid, str):
        raise InvalidRecord(f"{name} must be a strong reference {{uri, cid}}")
    return uri, cid


def _credits(value: Mapping[str, JsonValue], name: str) -> tuple[Credit, ...]:
    found = value.get(name)
    if not isinstance(found, list) or not found:
        raise InvalidRecord(f"{name} must be a non-empty list of credits")
    credits = []
    for i, item in enumerate(found):
        if not isinstance(item, dict):
            raise InvalidRecord(f"{name}[{i}] must be an object")
        credit_name = _required_text(item, "name")
        did = _text(item, "did")
        role = _text(item, "role") or "primary"
        credits.append(Credit(credit_name, did, role))
    return tuple(credits)


def _json_text(value: Mapping[str, JsonValue], name: str) -> str:
    found = value.get(name)
    if found is None:
        return "[]"
    if not isinstance(found, list):
        raise InvalidRecord(f"{name} must be a list")
    return json.dumps(found, sort_keys=True, separators=(",", ":"))


# --- the records ----------------------------------------------------------------------------


def _track(uri: str, did: str, rkey: str, cid: str, value: Mapping[str, JsonValue]) -> Track:
    audio = _blob(value, "audio", required=True)
    assert audio is not None
    visibility = _text(value, "visibility") or "public"
    if visibility not in _VISIBILITIES:
        raise InvalidRecord(f"visibility must be public or unlisted, not {visibility[:40]!r}")
    release = value.get("release")
    release_ref = None if release is None else _strong_ref(release, "release")
    plain: str | None = None
    synced: str | None = None
    lyrics = value.get("lyrics")
    if lyrics is not None:
        if not isinstance(lyrics, dict):
            raise InvalidRecord("lyrics must be an object")
        plain = _text(lyrics, "plain")
        lines = lyrics.get("synced")
        if lines is not None:
            if not isinstance(lines, list) or not all(
                isinstance(line, dict) and isinstance(line.get("text"), str) for line in lines
            ):
                raise InvalidRecord("lyrics.synced must be a list of {timeMs, text}")
            synced = json.dumps(lines, sort_keys=True, separators=(",", ":"))
    splits_value = value.get("splits")
    splits: list[Split] = []
    if splits_value is not None:
        if not isinstance(splits_value, list):
            raise InvalidRecord("splits must be a list")
        for i, item in enumerate(splits_value):
            if not isinstance(item, dict):
                raise InvalidRecord(f"splits[{i}] must be an object")
            share = _int(item, "shareBps")
            if share is None:
                raise InvalidRecord(f"splits[{i}].shareBps is missing")
            splits.append(Split(_required_text(item, "did"), share, _text(item, "role") or ""))
    created_at = _datetime(value, "createdAt", required=True)
    assert created_at is not None
    return Track(
        uri=uri,
        did=did,
        rkey=rkey,
        cid=cid,
        title=_required_text(value, "title"),
        artists=_credits(value, "artists"),
        release_uri=None if release_ref is None else release_ref[0],
        release_cid=None if release_ref is None else release_ref[1],
        track_number=_int(value, "trackNumber"),
        disc_number=_int(value, "discNumber"),
        duration_ms=_int(value, "durationMs"),
        genres=_strings(value, "genres"),
        tags=_strings(value, "tags"),
        audio_cid=audio[0],
        audio_mime=audio[1],
        audio_size=audio[2],
        artwork_cid=_blob_cid(value, "artwork"),
        lyrics_plain=plain,
        lyrics_synced=synced,
        license=_required_text(value, "license"),
        isrc=_text(value, "isrc"),
        release_date=_datetime(value, "releaseDate"),
        explicit=_bool(value, "explicit"),
        visibility=visibility,
        downloadable=_bool(value, "downloadable"),
        splits=tuple(splits),
        created_at=created_at,
    )


def _release(uri: str, did: str, rkey: str, cid: str, value: Mapping[str, JsonValue]) -> Release:
    tracks = value.get("tracks", [])
    if not isinstance(tracks, list):
        raise InvalidRecord("tracks must be a list of strong references")
    created_at = _datetime(value, "createdAt", required=True)
    assert created_at is not None
    return Release(
        uri=uri,
        did=did,
        rkey=rkey,
        cid=cid,
        title=_required_text(value, "title"),
        kind=_text(value, "kind") or "album",
        artists=_credits(value, "artists"),
        artwork_cid=_blob_cid(value, "artwork"),
        tracks=tuple(_strong_ref(t, f"tracks[{i}]") for i, t in enumerate(tracks)),
        release_date=_datetime(value, "releaseDate"),
        label=_text(value, "label"),
        upc=_text(value, "upc"),
        genres=_strings(value, "genres"),
        created_at=created_at,
    )


def _profile(
    uri: str, did: str, rkey: str, cid: str, value: Mapping[str, JsonValue]
) -> ArtistProfile:
    if rkey != "self":
        raise InvalidRecord("an artist profile's record key must be self")
    return ArtistProfile(
        uri=uri,
        did=did,
        rkey=rkey,
        cid=cid,
        display_name=_required_text(value, "displayName"),
        bio=_text(value, "bio"),
        avatar_cid=_blob_cid(value, "avatar"),
        banner_cid=_blob_cid(value, "banner"),
        location=_text(value, "location"),
        genres=_strings(value, "genres"),
        links=_json_text(value, "links"),
        support_links=_json_text(value, "supportLinks"),
    )


def _like(uri: str, did: str, rkey: str, cid: str, value: Mapping[str, JsonValue]) -> Like:
    subject_uri, subject_cid = _strong_ref(value.get("subject"), "subject")
    created_at = _datetime(value, "createdAt", required=True)
    assert created_at is not None
    return Like(uri, did, rkey, cid, subject_uri, subject_cid, created_at)

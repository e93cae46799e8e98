"""Tags embedded in an upload (ID3, Vorbis comments, MP4 atoms, APEv2), read with mutagen.

Reading never raises on hostile or garbled tags: what cannot be read is left out and noted in
`AudioTags.problems`. Blocking: call `read_tags` through `asyncio.to_thread`.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mutagen
from mutagen._vorbis import VCommentDict
from mutagen.apev2 import APEv2
from mutagen.flac import Picture
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Tags

__all__ = ["AudioTags", "Cover", "read_tags", "safe_title_from_filename", "split_artists"]

_MAX_TEXT = 1_000
_MAX_LYRICS = 50_000
_ARTIST_SEPARATORS = re.compile(
    r"\s*;\s*|\s+/\s+|\s+(?:feat\.?|ft\.|featuring)\s+|\x00", re.IGNORECASE
)
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$")
_NUMBER = re.compile(r"^\s*(\d{1,4})\s*(?:/\s*\d*\s*)?$")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_ID3_KEYS = {
    "TIT2": "title",
    "TPE1": "artist",
    "TALB": "album",
    "TPE2": "albumartist",
    "TRCK": "tracknumber",
    "TPOS": "discnumber",
    "TDRC": "date",
    "TSRC": "isrc",
}
_MP4_KEYS = {
    "\xa9nam": "title",
    "\xa9ART": "artist",
    "\xa9alb": "album",
    "aART": "albumartist",
    "\xa9gen": "genre",
    "\xa9day": "date",
    "\xa9lyr": "lyrics",
    "----:com.apple.iTunes:ISRC": "isrc",
}
_APE_ALIASES = {"track": "tracknumber", "disc": "discnumber", "year": "date"}
_VORBIS_ALIASES = {"album artist": "albumartist", "unsyncedlyrics": "lyrics", "year": "date"}


@dataclass(frozen=True)
class Cover:
    data: bytes
    mime: str  # as the tag declares it or as sniffed: image/jpeg, image/png, ...


@dataclass(frozen=True)
class AudioTags:
    title: str | None = None
    artists: tuple[str, ...] = ()
    album: str | None = None
    album_artist: str | None = None
    track_number: int | None = None
    disc_number: int | None = None
    genres: tuple[str, ...] = ()
    date: str | None = None  # ISO 8601 prefix: "2021", "2021-05" or "2021-05-04"
    isrc: str | None = None  # normalised: 12 characters, no hyphens
    lyrics: str | None = None
    synced_lyrics: tuple[tuple[int, str], ...] = ()  # (ms, line) from an ID3 SYLT frame
    cover: Cover | None = None
    problems: tuple[str, ...] = ()


@dataclass
class _Raw:
    values: dict[str, list[str]] = field(default_factory=dict)
    covers: list[tuple[int, Cover]] = field(default_factory=list)  # (picture type, cover)
    synced: list[tuple[int, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, key: str, values: Iterable[Any]) -> None:
        self.values.setdefault(key, []).extend(str(v) for v in values)


def _clean(text: str, limit: int = _MAX_TEXT, *, keep_newlines: bool = False) -> str:
    kept = "".join(
        ch
        for ch in text
        if (keep_newlines and ch == "\n") or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )
    return kept.strip()[:limit]


def split_artists(values: Iterable[str]) -> tuple[str, ...]:
    """Artist credits, split on ";", " / ", " feat. " and NULs; "AC/DC" stays whole."""
    found: list[str] = []
    for value in values:
        for name in _ARTIST_SEPARATORS.split(value):
            cleaned = _clean(name)
            if cleaned and cleaned.casefold() not in (f.casefold() for f in found):
                found.append(cleaned)
    return tuple(found)


def _sniff_mime(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _from_id3(tags: Any, raw: _Raw) -> None:
    for frame_id, key in _ID3_KEYS.items():
        for frame in tags.getall(frame_id):
            raw.add(key, frame.text)
    for frame in tags.getall("TCON"):
        raw.add("genre", frame.genres)
    for frame in tags.getall("USLT"):
        raw.add("lyrics", [frame.text])
    for frame in tags.getall("SYLT"):
        if frame.format == 2:  # timestamps in milliseconds (1 = MPEG frames)
            raw.synced.extend((int(ms), str(text)) for text, ms in frame.text)
    for frame in tags.getall("APIC"):
        raw.covers.append((int(frame.type), Cover(bytes(frame.data), str(frame.mime))))


def _from_vorbis(tags: Any, raw: _Raw) -> None:
    for key, value in tags:
        key = key.lower()
        if key == "metadata_block_picture":
            try:
                picture = Picture(base64.b64decode(value))  # type: ignore[no-untyped-call]
            except Exception as exc:  # a broken picture must not cost the other tags
                raw.problems.append(f"unreadable picture: {type(exc).__name__}")
                continue
            raw.covers.append((int(picture.type), Cover(picture.data, picture.mime)))
        else:
            raw.add(_VORBIS_ALIASES.get(key, key), [value])


def _from_mp4(tags: Any, raw: _Raw) -> None:
    for atom, key in _MP4_KEYS.items():
        for value in tags.get(atom, []):
            raw.add(key, [value.decode("utf-8") if isinstance(value, bytes) else value])
    for atom, key in (("trkn", "tracknumber"), ("disk", "discnumber")):
        raw.add(key, [pair[0] for pair in tags.get(atom, [])])
    for cover in tags.get("covr", []):
        raw.covers.append((3, Cover(bytes(cover), _sniff_mime(bytes(cover)))))


def _from_ape(tags: Any, raw: _Raw) -> None:
    for key, value in tags.items():
        name = key.lower().replace(" ", "")
        if name.startswith("coverart"):
            data = bytes(value.value).split(b"\x00", 1)[-1]
            raw.covers.append((3 if "front" in name else 0, Cover(data, _sniff_mime(data))))
        elif getattr(value, "kind", None) == 0:  # text (1 is binary, 2 an external link)
            raw.add(_APE_ALIASES.get(name, name), list(value))


def _number(raw: _Raw, key: str, problems: list[str]) -> int | None:
    values = raw.values.get(key)
    if not values:
        return None
    if match := _NUMBER.match(values[0]):
        return int(match[1]) or None
    problems.append(f"{key} {values[0][:40]!r} is not a number")
    return None


def _first(raw: _Raw, key: str) -> str | None:
    for value in raw.values.get(key, []):
        if cleaned := _clean(value):
            return cleaned
    return None


def _build(raw: _Raw) -> AudioTags:
    problems = raw.problems
    date = None
    if (text := _first(raw, "date")) and (match := _DATE.match(text)):
        date = "-".join(part for part in match.groups() if part)
    isrc = None
    if text := _first(raw, "isrc"):
        isrc = text.replace("-", "").upper()
        if not _ISRC.match(isrc):
            problems.append(f"ISRC {text[:20]!r} is malformed")
            isrc = None
    lyrics = next(
        (
            text
            for value in raw.values.get("lyrics", [])
            if (text := _clean(value, _MAX_LYRICS, keep_newlines=True))
        ),
        None,
    )
    covers = sorted(raw.covers, key=lambda c: c[0] != 3)  # the front cover (type 3) first
    genres = split_artists(g for v in raw.values.get("genre", []) for g in v.split(";"))
    return AudioTags(
        title=_first(raw, "title"),
        artists=split_artists(raw.values.get("artist", [])),
        album=_first(raw, "album"),
        album_artist=_first(raw, "albumartist"),
        track_number=_number(raw, "tracknumber", problems),
        disc_number=_number(raw, "discnumber", problems),
        genres=genres,
        date=date,
        isrc=isrc,
        lyrics=lyrics,
        synced_lyrics=tuple((ms, _clean(t)) for ms, t in sorted(raw.synced)),
        cover=covers[0][1] if covers else None,
        problems=tuple(problems),
    )


def read_tags(source: Path) -> AudioTags:
    """The tags of `source`; empty (with a note in `problems`) when they cannot be read."""
    raw = _Raw()
    try:
        audio = mutagen.File(source)
        if audio is None:
            return AudioTags(problems=("no tag format recognised",))
        tags = audio.tags
        if isinstance(tags, ID3):
            _from_id3(tags, raw)
        elif isinstance(tags, MP4Tags):
            _from_mp4(tags, raw)
        elif isinstance(tags, APEv2):
            _from_ape(tags, raw)
        elif isinstance(tags, VCommentDict):
            _from_vorbis(tags, raw)
        elif tags is not None:
            raw.problems.append(f"{type(tags).__name__} tags are not read")
        for picture in getattr(audio, "pictures", []):  # FLAC picture blocks
            raw.covers.append((int(picture.type), Cover(picture.data, picture.mime)))
        return _build(raw)
    # Hostile files make mutagen raise more than MutagenError (struct.error, ValueError,
    # UnicodeDecodeError, ...): tags are a courtesy, never a reason to refuse an upload.
    except Exception as exc:
        return AudioTags(problems=(f"unreadable tags: {type(exc).__name__}: {str(exc)[:200]}",))


def safe_title_from_filename(name: str) -> str:
    """A title from an uploaded file's name: no directories, extension or control characters."""
    base = re.split(r"[\\/]", name)[-1]
    base = _EXTENSION.sub("", base)
    base = _clean(base.replace("_", " "), 200).lstrip(". ")
    base = re.sub(r"\s+", " ", base).strip()
    return base or "Untitled"

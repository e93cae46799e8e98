"""Publishing a folder of audio as an artist's catalog (`oms import`): every file is stored as a
blob, probed and decoded whole, and written as a signed `fm.oms.track` commit; albums become
`fm.oms.release` records. Audio the artist already published (same CID) is skipped, so a
second run resumes an interrupted one and never duplicates a track.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from oms.db.database import Database
from oms.errors import InvalidRequest, NotFound, OmsError
from oms.events import Subscription
from oms.library.ingest import MediaProgress
from oms.library.records import ARTIST_PROFILE, RELEASE, TRACK, fold
from oms.library.store.media import media_states
from oms.library.store.writes import catalog_position
from oms.library.uploads import inspect_audio, store_cover
from oms.media.failures import InvalidMedia
from oms.media.probe import AudioProbe, ProbeLimits
from oms.media.tags import AudioTags, read_tags, safe_title_from_filename, split_artists
from oms.pds import accounts
from oms.pds.blobs import BlobRef, blob_path, store_upload
from oms.pds.dagcbor import Codec, JsonValue, cid_from_bytes, cid_to_str
from oms.pds.repo import Repos, Write
from oms.pds.sequencer import last_seq
from oms.pds.tid import next_tid
from oms.permissions import allowed

__all__ = [
    "AUDIO_TYPES",
    "Artist",
    "FileOutcome",
    "ImportOptions",
    "ImportReport",
    "Importer",
    "MediaOutcome",
    "ReleaseOutcome",
    "find_artist",
    "find_audio_files",
    "release_date",
    "track_record",
    "wait_for_media",
]

# File name endings taken as audio, and the type each upload is declared as: the blob store
# checks the content against it, so a text file named .mp3 is refused with that reason.
AUDIO_TYPES: dict[str, str] = {
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".wave": "audio/wav",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/opus",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".webm": "audio/webm",
    ".mka": "audio/x-matroska",
    ".wv": "audio/x-wavpack",
    ".ape": "audio/x-ape",
}
_READ_CHUNK = 1024 * 1024
_SHA2_256 = 0x12
_LIST_PAGE = 1000
_MAX_RELEASE_TRACKS = 500
_UNNUMBERED = 1_000_000  # tracks without a number come after the numbered ones
_VARIOUS = frozenset({"various artists", "various", "va"})
# Lexicon limits (graphemes, counted here as characters: never fewer than graphemes).
_MAX_TITLE = 300
_MAX_NAME = 200
_MAX_CREDITS = 50
_MAX_GENRES = 8
_MAX_GENRE = 64
_MAX_LYRICS = 20_000
_MAX_SYNCED_LINES = 5000
_MAX_SYNCED_TEXT = 1000


@dataclass(frozen=True)
class Artist:
    """The account the folder is published as, and the name tracks without tags credit."""

    did: str
    handle: str
    name: str


@dataclass(frozen=True)
class ImportOptions:
    license: str = "all-rights-reserved"
    visibility: str = "public"
    jobs: int = 2  # files worked on at once
    dry_run: bool = False  # check and read every file, publish nothing


@dataclass(frozen=True)
class FileOutcome:
    """What became of one file: published, skipped (a duplicate), failed, or (dry run) ok."""

    path: str  # relative to the imported folder
    status: str
    detail: str
    audio_cid: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class ReleaseOutcome:
    """One album of the folder: published, updated, unchanged, failed, or (dry run) planned."""

    title: str
    status: str
    tracks: int
    uri: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class ImportReport:
    files: tuple[FileOutcome, ...]
    releases: tuple[ReleaseOutcome, ...]
    last_seq: int  # the newest commit this import wrote (0: none)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def published(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "published"]

    @property
    def tracks(self) -> list[FileOutcome]:
        """The files that are the artist's tracks: published now, or before (same audio)."""
        return [f for f in self.files if f.uri is not None]

    @property
    def failed(self) -> bool:
        return any(f.status == "failed" for f in self.files) or any(
            r.status == "failed" for r in self.releases
        )


@dataclass(frozen=True)
class MediaOutcome:
    path: str
    audio_cid: str
    status: str  # ready or failed
    error: str | None = None


@dataclass(frozen=True)
class _Source:
    path: Path
    rel: str
    size: int
    cid: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Placed:
    """A track of the folder that is (now or from before) in the repository: what its
    release needs from it."""

    rel: str
    tags: AudioTags
    uri: str
    cid: str
    credits: list[JsonValue]
    artwork: JsonValue | None


@dataclass
class _Existing:
    tracks: dict[str, tuple[str, str, dict[str, JsonValue]]] = field(default_factory=dict)
    releases: dict[str, tuple[str, str, dict[str, JsonValue]]] = field(default_factory=dict)


# --- finding the artist and the files ---------------------------------------------------------


async def find_artist(db: Database, repos: Repos, handle: str, hostname: str) -> Artist:
    """The active account `handle` (a full handle, a DID, or a name under the node's host)."""
    try:
        account = await accounts.get_account(db, handle)
    except NotFound:
        if "." in handle or handle.startswith("did:"):
            raise
        account = await accounts.get_account(db, accounts.handle_for(handle, hostname))
    if account.status != "active":
        raise InvalidRequest(f"@{account.handle} is {account.status}; enable it first")
    if not allowed("catalog.publish", account.role):
        raise InvalidRequest(
            f"@{account.handle} is a {account.role} account, which does not publish tracks; "
            f"make it an artist first (oms account role {account.handle} artist)"
        )
    name = account.handle.split(".", 1)[0]
    try:
        profile = await repos.get_record(account.did, ARTIST_PROFILE, "self")
    except NotFound:
        profile = None
    if profile is not None and isinstance(profile.value, dict):
        shown = profile.value.get("displayName")
        if isinstance(shown, str) and shown.strip():
            name = shown.strip()
    return Artist(account.did, account.handle, name)


def find_audio_files(folder: Path) -> list[Path]:
    """Every audio file under `folder` (by name ending), recursively, in path order. Hidden
    files and folders (`.DS_Store`, `._song.mp3`) are left out."""
    if not folder.is_dir():
        raise InvalidRequest(f"{folder} is not a folder")
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            path = Path(root) / name
            if not name.startswith(".") and path.suffix.lower() in AUDIO_TYPES:
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
    # The CID the blob store gives the same bytes: CIDv1, raw, sha2-256.
    raw = bytes([1, Codec.RAW, _SHA2_256, 32]) + digest.digest()
    return cid_to_str(cid_from_bytes(raw))


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    handle: IO[bytes] = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, _READ_CHUNK):
            yield chunk
    finally:
        handle.close()


# --- the records ----------------------------------------------------------------------------


def release_date(date: str | None) -> str | None:
    """A tag's `2021`, `2021-05` or `2021-05-04` as a record datetime (missing parts: 01)."""
    if not date:
        return None
    parts = [int(p) for p in date.split("-")[:3]]
    parts += [1] * (3 - len(parts))
    try:
        day = datetime(parts[0], parts[1], parts[2], tzinfo=UTC)
    except ValueError:
        return None
    return day.strftime("%Y-%m-%dT00:00:00.000Z")


def _credits(names: Iterable[str], artist: Artist) -> list[JsonValue]:
    credits: list[JsonValue] = []
    for name in list(names)[:_MAX_CREDITS]:
        credit: dict[str, JsonValue] = {"name": name[:_MAX_NAME], "role": "primary"}
        if fold(name) in (fold(artist.name), fold(artist.handle.split(".", 1)[0])):
            credit["did"] = artist.did
        credits.append(credit)
    if not credits:
        credits.append({"name": artist.name[:_MAX_NAME], "did": artist.did, "role": "primary"})
    return credits


def track_record(
    tags: AudioTags,
    probed: AudioProbe,
    *,
    file_name: str,
    artist: Artist,
    audio: BlobRef,
    artwork: BlobRef | None,
    options: ImportOptions,
    now: str,
) -> dict[str, JsonValue]:
    """The `fm.oms.track` value for a file: its tags, within the lexicon's limits."""
    title = (tags.title or safe_title_from_filename(file_name))[:_MAX_TITLE]
    value: dict[str, JsonValue] = {
        "$type": TRACK,
        "title": title,
        "artists": _credits(tags.artists, artist),
        "audio": audio.to_json(),  # type: ignore[dict-item]
        "license": options.license,
        "visibility": options.visibility,
        "durationMs": probed.duration_ms,
        "createdAt": now,
    }
    if tags.track_number:
        value["trackNumber"] = tags.track_number
    if tags.disc_number:
        value["discNumber"] = tags.disc_number
    genres = [g[:_MAX_GENRE] for g in tags.genres[:_MAX_GENRES]]
    if genres:
        value["genres"] = list(genres)
    if tags.isrc:
        value["isrc"] = tags.isrc
    if date := release_date(tags.date):
        value["releaseDate"] = date
    lyrics: dict[str, JsonValue] = {}
    if tags.lyrics:
        lyrics["plain"] = tags.lyrics[:_MAX_LYRICS]
    if tags.synced_lyrics:
        lyrics["synced"] = [
            {"timeMs": max(0, ms), "text": text[:_MAX_SYNCED_TEXT]}
            for ms, text in tags.synced_lyrics[:_MAX_SYNCED_LINES]
        ]
    if lyrics:
        value["lyrics"] = lyrics
    if artwork is not None:
        value["artwork"] = artwork.to_json()  # type: ignore[assignment]
    return value


def _order(track: _Placed) -> tuple[int, int, str]:
    return (track.tags.disc_number or 1, track.tags.track_number or _UNNUMBERED, track.rel)


def _release_value(
    tracks: list[_Placed], artist: Artist, now: str
) -> tuple[str, dict[str, JsonValue]]:
    """The title and `fm.oms.release` value of one album's tracks, in playing order."""
    first = tracks[0]
    title = (first.tags.album or "")[:_MAX_TITLE]
    album_artist = next((t.tags.album_artist for t in tracks if t.tags.album_artist), None)
    if album_artist and fold(album_artist) in _VARIOUS:
        kind = "compilation"
        credits = _credits([album_artist], artist)
    else:
        kind = "single" if len(tracks) == 1 else "album"
        credits = _credits(split_artists([album_artist]), artist) if album_artist else first.credits
    value: dict[str, JsonValue] = {
        "$type": RELEASE,
        "title": title,
        "kind": kind,
        "artists": credits,
        "tracks": [{"uri": t.uri, "cid": t.cid} for t in tracks],
        "createdAt": now,
    }
    if date := next((d for t in tracks if (d := release_date(t.tags.date))), None):
        value["releaseDate"] = date
    if genres := next((t.tags.genres for t in tracks if t.tags.genres), ()):
        value["genres"] = [g[:_MAX_GENRE] for g in genres[:_MAX_GENRES]]
    if artwork := next((t.artwork for t in tracks if t.artwork is not None), None):
        value["artwork"] = artwork
    return title, value


def _in_playing_order(
    refs: list[JsonValue], folder: list[_Placed], existing: _Existing
) -> list[JsonValue]:
    """Track references by disc and track number: from the tags for the folder's tracks, from
    their records for the others; ties keep their place."""
    numbers: dict[str, tuple[int, int]] = {}
    for uri, _, value in existing.tracks.values():
        disc, number = value.get("discNumber"), value.get("trackNumber")
        numbers[uri] = (
            disc if isinstance(disc, int) else 1,
            number if isinstance(number, int) else _UNNUMBERED,
        )
    for track in folder:
        numbers[track.uri] = _order(track)[:2]

    def key(item: tuple[int, JsonValue]) -> tuple[int, int, int]:
        place, ref = item
        uri = ref.get("uri") if isinstance(ref, dict) else None
        disc, number = numbers.get(uri, (1, _UNNUMBERED)) if isinstance(uri, str) else (1, 0)
        return disc, number, place

    return [ref for _, ref in sorted(enumerate(refs), key=key)]


def _slim(tags: AudioTags) -> AudioTags:
    """What a release needs of a track's tags: no picture or lyrics kept for the whole run."""
    return replace(tags, cover=None, lyrics=None, synced_lyrics=())


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _audio_link(value: dict[str, JsonValue]) -> str | None:
    audio = value.get("audio")
    if isinstance(audio, dict) and isinstance(ref := audio.get("ref"), dict):
        link = ref.get("$link")
        return link if isinstance(link, str) else None
    return None


def _names(credits: list[JsonValue]) -> str:
    return ", ".join(str(c.get("name")) for c in credits if isinstance(c, dict))


# --- the import -----------------------------------------------------------------------------


@dataclass
class Importer:
    """What an import writes with: the node's database, repositories, blob store and ffmpeg."""

    db: Database
    repos: Repos
    blobs_dir: Path
    ffmpeg: Path
    probe_limits: ProbeLimits
    max_bytes: int

    async def import_folder(
        self,
        artist: Artist,
        folder: Path,
        options: ImportOptions,
        on_file: Callable[[FileOutcome], None] | None = None,
        on_release: Callable[[ReleaseOutcome], None] | None = None,
    ) -> ImportReport:
        """Publish every audio file under `folder` as `artist`'s tracks, then its albums.

        Files are worked on `options.jobs` at a time; each is reported to `on_file` when done.
        A file that fails (unreadable, not audio, truncated, refused by the lexicon) is
        reported with its reason and never gets a record; the others go on.
        """
        paths = await asyncio.to_thread(find_audio_files, folder)
        if not paths:
            raise InvalidRequest(f"no audio files under {folder}")
        existing = await self._existing(artist.did)
        limit = asyncio.Semaphore(max(1, options.jobs))
        outcomes: list[FileOutcome] = []
        placed: list[_Placed] = []
        last_seq = 0

        def report(outcome: FileOutcome) -> None:
            outcomes.append(outcome)
            if on_file is not None:
                on_file(outcome)

        async def hashed(path: Path) -> _Source:
            rel = path.relative_to(folder).as_posix()
            async with limit:
                try:
                    size = (await asyncio.to_thread(path.stat)).st_size
                    if size == 0:
                        return _Source(path, rel, 0, error="empty file: 0 bytes")
                    if size > self.max_bytes:
                        return _Source(
                            path, rel, size,
                            error=f"{size} bytes is over the node's limit of {self.max_bytes} "
                            "bytes (pds.blob_max_mb)",
                        )  # fmt: skip
                    return _Source(path, rel, size, await asyncio.to_thread(_hash_file, path))
                except OSError as e:
                    return _Source(path, rel, 0, error=f"cannot read the file: {e.strerror}")

        sources = await asyncio.gather(*(hashed(p) for p in paths))
        first_of: dict[str, str] = {}
        todo: list[_Source] = []
        known: list[tuple[_Source, tuple[str, str, dict[str, JsonValue]]]] = []
        for source in sources:  # in path order: the first copy of some audio is the one kept
            if source.error is not None or source.cid is None:
                report(FileOutcome(source.rel, "failed", source.error or "unreadable"))
            elif source.cid in first_of:
                detail = f"duplicate of {first_of[source.cid]}"
                report(FileOutcome(source.rel, "skipped", detail, source.cid))
            elif source.cid in existing.tracks:
                first_of[source.cid] = source.rel
                uri = existing.tracks[source.cid][0]
                detail = f"already published as {uri}"
                report(FileOutcome(source.rel, "skipped", detail, source.cid, uri))
                known.append((source, existing.tracks[source.cid]))
            else:
                first_of[source.cid] = source.rel
                todo.append(source)

        async def publish(source: _Source) -> None:
            nonlocal last_seq
            async with limit:
                try:
                    outcome, track, seq = await self._publish(artist, source, options)
                except (OmsError, OSError) as e:
                    reason = e.message if isinstance(e, OmsError) else f"{e.strerror or e}"
                    outcome, track, seq = FileOutcome(source.rel, "failed", reason), None, 0
            if track is not None:
                placed.append(track)
            last_seq = max(last_seq, seq)
            report(outcome)

        async def remember(source: _Source, found: tuple[str, str, dict[str, JsonValue]]) -> None:
            uri, cid, value = found
            tags = _slim(await asyncio.to_thread(read_tags, source.path))
            credits = value.get("artists")
            placed.append(
                _Placed(
                    source.rel, tags, uri, cid,
                    credits if isinstance(credits, list) else _credits((), artist),
                    value.get("artwork"),
                )
            )  # fmt: skip

        await asyncio.gather(*(publish(s) for s in todo), *(remember(s, f) for s, f in known))
        releases: list[ReleaseOutcome] = []
        for outcome, seq in await self._publish_releases(artist, placed, existing, options):
            last_seq = max(last_seq, seq)
            releases.append(outcome)
            if on_release is not None:
                on_release(outcome)
        return ImportReport(
            tuple(sorted(outcomes, key=lambda o: o.path)), tuple(releases), last_seq
        )

    async def _existing(self, did: str) -> _Existing:
        """The artist's tracks by audio CID, and releases by folded title."""
        found = _Existing()
        for collection in (TRACK, RELEASE):
            cursor: str | None = None
            while True:
                records, cursor = await self.repos.list_records(
                    did, collection, limit=_LIST_PAGE, cursor=cursor, reverse=True
                )
                for record in records:
                    value = record.value
                    if not isinstance(value, dict):
                        continue
                    if collection == TRACK:
                        link = _audio_link(value)
                        if link is not None:
                            found.tracks.setdefault(link, (record.uri, record.cid, value))
                    elif isinstance(title := value.get("title"), str):
                        found.releases.setdefault(fold(title), (record.uri, record.cid, value))
                if cursor is None:
                    break
        return found

    async def _publish(
        self, artist: Artist, source: _Source, options: ImportOptions
    ) -> tuple[FileOutcome, _Placed | None, int]:
        """Store, check and publish one file: its outcome, what its release needs, the
        commit's sequence number."""
        mime = AUDIO_TYPES[source.path.suffix.lower()]
        if options.dry_run:
            probed, tags = await inspect_audio(self.ffmpeg, source.path, self.probe_limits)
            title = tags.title or safe_title_from_filename(source.path.name)
            detail = f'would publish "{title}" ({probed.codec}, {probed.duration_ms / 1000:.1f} s)'
            # Enough of a track for planning its release; nothing is written.
            named = _credits(tags.artists, artist)
            planned = _Placed(source.rel, _slim(tags), "", "", named, None)
            return FileOutcome(source.rel, "ok", detail, source.cid), planned, 0
        # The same path as com.atproto.repo.uploadBlob; an unreferenced blob is collected later.
        audio = await store_upload(
            self.db, self.blobs_dir, artist.did, mime, _file_chunks(source.path), self.max_bytes
        )
        if audio.link != source.cid:
            raise InvalidMedia("the file changed while it was being imported")
        # The stored bytes are what the node will transcode: check those.
        stored = blob_path(self.blobs_dir, audio.cid)
        probed, tags = await inspect_audio(self.ffmpeg, stored, self.probe_limits)
        artwork = await store_cover(self.db, self.blobs_dir, artist.did, tags)
        value = track_record(
            tags, probed, file_name=source.path.name, artist=artist, audio=audio,
            artwork=artwork, options=options, now=_now_iso(),
        )  # fmt: skip
        result = await self.repos.apply_writes(
            artist.did, [Write("create", TRACK, next_tid(), value)], validate=True
        )
        written = result.results[0]
        assert written.cid is not None
        credits = value["artists"]
        assert isinstance(credits, list)
        detail = f'"{value["title"]}" by {_names(credits)}'
        outcome = FileOutcome(source.rel, "published", detail, audio.link, written.uri)
        artwork_ref = value.get("artwork")
        track = _Placed(source.rel, _slim(tags), written.uri, written.cid, credits, artwork_ref)
        return outcome, track, result.seq

    async def _publish_releases(
        self,
        artist: Artist,
        placed: list[_Placed],
        existing: _Existing,
        options: ImportOptions,
    ) -> list[tuple[ReleaseOutcome, int]]:
        albums: dict[str, list[_Placed]] = {}
        for track in sorted(placed, key=_order):
            if track.tags.album:
                albums.setdefault(fold(track.tags.album), []).append(track)
        done: list[tuple[ReleaseOutcome, int]] = []
        for key, tracks in albums.items():
            title, value = _release_value(tracks, artist, _now_iso())
            if options.dry_run:
                done.append((ReleaseOutcome(title, "planned", len(tracks)), 0))
                continue
            try:
                written = await self._write_release(artist, key, tracks, value, existing)
                done.append(written)
            except OmsError as e:
                done.append((ReleaseOutcome(title, "failed", len(tracks), detail=e.message), 0))
        return done

    async def _write_release(
        self,
        artist: Artist,
        key: str,
        tracks: list[_Placed],
        value: dict[str, JsonValue],
        existing: _Existing,
    ) -> tuple[ReleaseOutcome, int]:
        """Create the album's release, or add the folder's tracks the one already there lacks
        (a resumed import), keeping every track it listed."""
        title = str(value["title"])
        wanted = value["tracks"]
        assert isinstance(wanted, list)
        found = existing.releases.get(key)
        if found is None:
            if len(wanted) > _MAX_RELEASE_TRACKS:
                raise InvalidRequest(f"{len(wanted)} tracks; a release lists at most 500")
            result = await self.repos.apply_writes(
                artist.did, [Write("create", RELEASE, next_tid(), value)], validate=True
            )
            uri = result.results[0].uri
            return ReleaseOutcome(title, "published", len(wanted), uri), result.seq
        uri, cid, old = found
        listed = old.get("tracks")
        listed = listed if isinstance(listed, list) else []
        listed_uris = {t.get("uri") for t in listed if isinstance(t, dict)}
        added = [t for t in wanted if isinstance(t, dict) and t.get("uri") not in listed_uris]
        if not added:
            return ReleaseOutcome(title, "unchanged", len(listed), uri), 0
        merged = _in_playing_order([*listed, *added], tracks, existing)
        if len(merged) > _MAX_RELEASE_TRACKS:
            raise InvalidRequest(f"{len(merged)} tracks; a release lists at most 500")
        updated = {**old, "tracks": merged}
        if "artwork" not in updated and "artwork" in value:
            updated["artwork"] = value["artwork"]
        rkey = uri.rsplit("/", 1)[1]
        result = await self.repos.apply_writes(
            artist.did,
            [Write("update", RELEASE, rkey, updated, check_swap=True, swap_record=cid)],
            validate=True,
        )
        return ReleaseOutcome(title, "updated", len(merged), uri), result.seq


# --- waiting for the media pipeline ---------------------------------------------------------


async def wait_for_media(
    db: Database,
    did: str,
    files: list[FileOutcome],
    *,
    on_settled: Callable[[MediaOutcome], None] | None = None,
    worker_alive: Callable[[], bool] | None = None,
    poll_seconds: float = 1.0,
) -> list[MediaOutcome]:
    """Wait until the media of every file's track is ready or failed, whichever process runs
    the jobs: this one (its progress events wake the wait) or the node serving the data dir
    (seen by polling), and returns them; fewer than asked if `worker_alive` says the jobs'
    process has gone. A track whose commit the catalog has passed without giving it a media
    row never gets one: failed."""
    # Every commit of these tracks is sequenced by now: at or before this position.
    indexed_through = await last_seq(db)
    pending = {f.audio_cid: f.path for f in files if f.audio_cid is not None}
    settled: list[MediaOutcome] = []
    news = db.bus.subscribe(MediaProgress)
    try:
        while pending:
            position = await catalog_position(db)
            states = await media_states(db, did, list(pending))
            for cid, path in list(pending.items()):
                status, error = states.get(cid, (None, None))
                outcome: MediaOutcome | None = None
                if status in ("ready", "failed"):
                    outcome = MediaOutcome(path, cid, status, error)
                elif status is None and position >= indexed_through:
                    reason = "the catalog did not index its track"
                    outcome = MediaOutcome(path, cid, "failed", reason)
                if outcome is not None:
                    del pending[cid]
                    settled.append(outcome)
                    if on_settled is not None:
                        on_settled(outcome)
            if pending and worker_alive is not None and not worker_alive():
                break
            if pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_next_news(news), poll_seconds)
    finally:
        news.close()
    return settled


async def _next_news(news: Subscription) -> None:
    """Until a media job of this process finishes (the caller bounds the wait)."""
    while True:
        event = await news.get()
        if isinstance(event, MediaProgress) and event.status in ("ready", "failed"):
            return

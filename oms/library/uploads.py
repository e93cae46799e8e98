"""What an uploaded audio file is, before a track record names it: the audio checked as the
media pipeline will check it (whole-file decode included), the tags it carries, and its
embedded picture stored as an artwork blob. The creator portal asks this of a blob right
after `uploadBlob` (`describe_upload`); `oms import` asks it of every file it publishes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from oms.db.database import Database
from oms.errors import InvalidRequest, OmsError
from oms.library.store.creator import track_using_audio
from oms.media.probe import AudioProbe, ProbeLimits, probe
from oms.media.tags import AudioTags, read_tags, safe_title_from_filename
from oms.media.verify import verify_decodes
from oms.pds.blobs import BlobRef, open_blob, store_upload

__all__ = ["UploadDescription", "describe_upload", "inspect_audio", "store_cover"]

# What the fm.oms lexicons accept as artwork.
_ARTWORK_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
_ARTWORK_MAX_BYTES = 20_000_000


@dataclass(frozen=True)
class UploadDescription:
    cid: str
    mime_type: str
    size: int
    audio: AudioProbe
    tags: AudioTags
    title: str  # the tagged title, else one made from the file name
    artwork: BlobRef | None  # the embedded picture, stored as a blob of the uploader
    duplicate_of: str | None  # a track of the uploader that already uses this audio


async def inspect_audio(
    ffmpeg: Path, source: Path, limits: ProbeLimits
) -> tuple[AudioProbe, AudioTags]:
    """The file's audio, checked from its header to its last frame (a cut file is refused
    before it is published: InvalidMedia), and its tags."""
    audio = await probe(ffmpeg, source, limits=limits)
    await verify_decodes(ffmpeg, source, probe=audio, limits=limits)
    return audio, await asyncio.to_thread(read_tags, source)


async def store_cover(db: Database, blobs_dir: Path, did: str, tags: AudioTags) -> BlobRef | None:
    """The picture embedded in the audio as an image blob of `did` that a track record may
    name as its artwork; None when there is none the lexicons would accept."""
    cover = tags.cover
    if cover is None or cover.mime not in _ARTWORK_TYPES or len(cover.data) > _ARTWORK_MAX_BYTES:
        return None

    async def chunks() -> AsyncIterator[bytes]:
        yield cover.data

    try:
        return await store_upload(db, blobs_dir, did, cover.mime, chunks(), _ARTWORK_MAX_BYTES)
    except OmsError:
        return None  # a picture whose bytes are not what its tag says: no artwork


async def describe_upload(
    db: Database,
    blobs_dir: Path,
    ffmpeg: Path,
    *,
    did: str,
    cid: str,
    filename: str,
    limits: ProbeLimits,
) -> UploadDescription:
    """Describe blob `cid` that `did` uploaded. Raises NotFound when `did` has no such blob,
    InvalidRequest when it is not audio, InvalidMedia (400) when the audio cannot be used."""
    blob = await open_blob(db, blobs_dir, did, cid)
    if not blob.mime_type.startswith("audio/"):
        raise InvalidRequest(f"the blob {cid} is {blob.mime_type}, not audio", name="InvalidMedia")
    audio, tags = await inspect_audio(ffmpeg, blob.path, limits)
    return UploadDescription(
        cid=cid,
        mime_type=blob.mime_type,
        size=blob.size,
        audio=audio,
        tags=tags,
        title=tags.title or safe_title_from_filename(filename or "untitled"),
        artwork=await store_cover(db, blobs_dir, did, tags),
        duplicate_of=await track_using_audio(db, did, cid),
    )

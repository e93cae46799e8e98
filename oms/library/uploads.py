"""What an uploaded audio blob is, before a track record names it: the audio checked as the
media pipeline will check it, the tags it carries (to prefill the creator's form), its
embedded picture stored as an artwork blob, and the track that already publishes it, if any.

The creator portal asks this right after `uploadBlob`, so a file the node cannot use is
refused with its reason before anything is published.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from oms.db.database import Database
from oms.errors import InvalidRequest
from oms.library.store.creator import track_using_audio
from oms.media.probe import AudioProbe, ProbeLimits, probe
from oms.media.tags import AudioTags, read_tags, safe_title_from_filename
from oms.media.verify import verify_decodes
from oms.pds.blobs import BlobRef, open_blob, store_upload

__all__ = ["UploadDescription", "describe_upload"]


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


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def describe_upload(
    db: Database,
    blobs_dir: Path,
    ffmpeg: Path,
    *,
    did: str,
    cid: str,
    filename: str,
    limits: ProbeLimits,
    max_blob_bytes: int,
) -> UploadDescription:
    """Describe blob `cid` that `did` uploaded. Raises NotFound when `did` has no such blob,
    InvalidRequest when it is not audio, InvalidMedia (400) when the audio cannot be used."""
    blob = await open_blob(db, blobs_dir, did, cid)
    if not blob.mime_type.startswith("audio/"):
        raise InvalidRequest(f"the blob {cid} is {blob.mime_type}, not audio", name="InvalidMedia")
    audio = await probe(ffmpeg, blob.path, limits=limits)
    # The whole file, not just its start: a cut file is refused before it is published.
    await verify_decodes(ffmpeg, blob.path, probe=audio, limits=limits)
    tags = await asyncio.to_thread(read_tags, blob.path)
    artwork = None
    if tags.cover is not None and len(tags.cover.data) <= max_blob_bytes:
        try:
            artwork = await store_upload(
                db, blobs_dir, did, tags.cover.mime, _one_chunk(tags.cover.data), max_blob_bytes
            )
        except InvalidRequest:
            artwork = None  # a picture the store refuses (not really an image) is left out
    duplicate = await track_using_audio(db, did, cid)
    return UploadDescription(
        cid=cid,
        mime_type=blob.mime_type,
        size=blob.size,
        audio=audio,
        tags=tags,
        title=tags.title or safe_title_from_filename(filename or "untitled"),
        artwork=artwork,
        duplicate_of=duplicate,
    )

"""`fm.oms.media.describeUpload`: what an uploaded audio blob is, before a record names it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oms.library.uploads import describe_upload as describe
from oms.media.tags import AudioTags
from oms.xrpc.auth import authenticated
from oms.xrpc.dispatch import XrpcCall

__all__ = ["describe_upload"]


def _tags(tags: AudioTags, title: str) -> dict[str, Any]:
    view: dict[str, Any] = {
        "title": title,
        "artists": list(tags.artists),
        "genres": list(tags.genres),
    }
    optional = {
        "album": tags.album,
        "albumArtist": tags.album_artist,
        "trackNumber": tags.track_number,
        "discNumber": tags.disc_number,
        "date": tags.date,
        "isrc": tags.isrc,
        "lyrics": tags.lyrics,
    }
    view.update({key: value for key, value in optional.items() if value is not None})
    if tags.synced_lyrics:
        view["syncedLyrics"] = [{"timeMs": ms, "text": text} for ms, text in tags.synced_lyrics]
    return view


async def describe_upload(call: XrpcCall) -> Mapping[str, Any]:
    viewer = await authenticated(call)
    context = call.context
    assert context.media is not None
    found = await describe(
        context.db,
        context.blobs_dir,
        context.ffmpeg.path,
        did=viewer.did,
        cid=call.params["cid"],
        filename=call.params.get("filename", ""),
        limits=context.media.probe_limits,
    )
    audio: dict[str, Any] = {
        "codec": found.audio.codec,
        "durationMs": found.audio.duration_ms,
        "sampleRate": found.audio.sample_rate,
        "channels": found.audio.channels,
        "lossless": found.audio.lossless,
    }
    if found.audio.bits_per_sample:
        audio["bitsPerSample"] = found.audio.bits_per_sample
    if found.audio.bitrate:
        audio["bitrate"] = found.audio.bitrate
    answer: dict[str, Any] = {
        "cid": found.cid,
        "mimeType": found.mime_type,
        "size": found.size,
        "audio": audio,
        "tags": _tags(found.tags, found.title),
        "problems": list(found.tags.problems),
    }
    if found.artwork is not None:
        answer["artwork"] = found.artwork.to_json()
    if found.duplicate_of is not None:
        answer["duplicateOf"] = found.duplicate_of
    return answer

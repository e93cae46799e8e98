"""Who may fetch a track's stream or download its original: public audio is open to anyone;
audio that only unlisted tracks use needs a signed address that expires (whoever may see the
track gets one with its view). Downloads also need a track whose artist allows them. The files
themselves are served by the web edge (the ladder from `ingest.media_dir`, the original from
the blob store)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Literal

from oms.db.database import Database
from oms.errors import Forbidden, NotFound
from oms.library.store.media import audio_uses

__all__ = [
    "STREAM_KEY_NAME",
    "STREAM_TOKEN_SECONDS",
    "Access",
    "Download",
    "download_filename",
    "download_offer",
    "sign_stream",
    "stream_access",
    "valid_stream_token",
]

# The name of the node secret (in the key store) that signs stream addresses.
STREAM_KEY_NAME = "streams"

# How long a signed stream address works: a long listening session, not a permanent link.
STREAM_TOKEN_SECONDS = 6 * 3600

Access = Literal["public", "unlisted"]


async def stream_access(db: Database, did: str, cid: str) -> Access | None:
    """ "public" when a public track uses the ready audio, "unlisted" when only unlisted ones
    do, None when it is not ready or no track uses it."""
    row = await db.fetchone(
        "SELECT max(t.visibility = 'public') AS open FROM media m JOIN tracks t"
        " ON t.did = m.did AND t.audio_cid = m.audio_cid"
        " WHERE m.did = ? AND m.audio_cid = ? AND m.status = 'ready'",
        (did, cid),
    )
    if row is None or row["open"] is None:
        return None
    return "public" if row["open"] else "unlisted"


def _mac(secret: bytes, did: str, cid: str, expires: int) -> str:
    digest = hmac.new(secret, f"{did}/{cid}/{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode("ascii")


def sign_stream(secret: bytes, did: str, cid: str, *, now: float | None = None) -> str:
    """A token for the stream of `did`'s audio `cid`, valid for STREAM_TOKEN_SECONDS."""
    expires = int(now if now is not None else time.time()) + STREAM_TOKEN_SECONDS
    return f"{expires}.{_mac(secret, did, cid, expires)}"


def valid_stream_token(
    secret: bytes, did: str, cid: str, token: str, *, now: float | None = None
) -> bool:
    expires_text, _, mac = token.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if expires < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(mac, _mac(secret, did, cid, expires))


@dataclass(frozen=True)
class Download:
    """The original audio of a track whose artist allows downloads, and how to name it."""

    access: Access
    title: str
    artist: str | None


async def download_offer(db: Database, did: str, cid: str) -> Download:
    """Whether `did`'s audio blob `cid` may be downloaded: a local track using it allows it
    (a public one if any, else an unlisted one, whose address must then be signed).
    NotFound when no track of this node uses the audio; Forbidden when none allows it."""
    uses = await audio_uses(db, did, cid)
    if not uses:
        raise NotFound("no track on this node uses this audio")
    allowed = sorted((u for u in uses if u.downloadable), key=lambda u: u.visibility != "public")
    if not allowed:
        raise Forbidden("the artist does not allow downloading this track")
    chosen = allowed[0]
    access: Access = "public" if chosen.visibility == "public" else "unlisted"
    return Download(access, chosen.title, chosen.headline)


# Audio types a download keeps as its file extension (what the upload was declared as).
_EXTENSIONS = {
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/ogg": "ogg",
    "audio/vorbis": "ogg",
    "audio/opus": "opus",
    "audio/webm": "webm",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/m4a": "m4a",
    "audio/aac": "aac",
    "audio/x-aac": "aac",
    "audio/aacp": "aac",
    "audio/aiff": "aiff",
    "audio/x-aiff": "aiff",
}
# Characters no common file system takes in a name, or that shells and browsers mangle.
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
_MAX_STEM = 180


def download_filename(artist: str | None, title: str, mime_type: str) -> str:
    """`<artist> - <title>.<ext>`, safe as a file name on any system (no separators,
    control or reserved characters, no leading dot), Unicode kept (NFC)."""
    stem = f"{artist} - {title}" if artist else title
    stem = unicodedata.normalize("NFC", stem)
    stem = "".join(c for c in stem if unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp"))
    stem = _UNSAFE.sub("_", stem)
    stem = " ".join(stem.split()).strip(" ._")[:_MAX_STEM].rstrip(" .")
    return f"{stem or 'audio'}.{_EXTENSIONS.get(mime_type, 'audio')}"

"""Who may fetch a track's stream: public audio is open to anyone; audio that only unlisted
tracks use needs a signed address that expires (whoever may see the track gets one with its
view). The media files themselves are served by the web edge from `ingest.media_dir`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Literal

from oms.db.database import Database

__all__ = [
    "STREAM_KEY_NAME",
    "STREAM_TOKEN_SECONDS",
    "Access",
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

"""`fm.oms.media.*`: how the media pipeline is getting on with an artist's audio."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from oms.library.ingest import media_status
from oms.library.streams import STREAM_KEY_NAME, sign_stream, stream_access
from oms.pds.syntax import format_datetime
from oms.xrpc.auth import optional_viewer
from oms.xrpc.dispatch import XrpcCall

__all__ = ["get_status"]

JsonObject = dict[str, Any]


async def get_status(call: XrpcCall) -> JsonObject:
    viewer = await optional_viewer(call)
    p = call.params
    db = call.context.db
    found = await media_status(
        db,
        viewer=viewer.did if viewer is not None else None,
        uri=p.get("uri"),
        did=p.get("did"),
        cid=p.get("cid"),
    )
    out: JsonObject = {
        "did": found.did,
        "cid": found.cid,
        "status": found.status,
        "progress": found.progress,
        "tracks": list(found.track_uris),
        "updatedAt": format_datetime(found.updated_at),
    }
    if found.error is not None:
        out["error"] = found.error
    if found.duration_ms is not None:
        out["durationMs"] = found.duration_ms
    if found.ready_at is not None:
        out["readyAt"] = format_datetime(found.ready_at)
    access = await stream_access(db, found.did, found.cid)
    if access is not None:
        # A did:web with a port holds "%3A", which a URL path must escape to mean itself.
        base = f"{call.context.settings.public_url}/hls/{quote(found.did, safe=':')}"
        signed = ""
        if access == "unlisted":
            secret = call.context.keys.secret(STREAM_KEY_NAME)
            signed = f"?t={sign_stream(secret, found.did, found.cid)}"
        out["streamUrl"] = f"{base}/{found.cid}/master.m3u8{signed}"
    return out

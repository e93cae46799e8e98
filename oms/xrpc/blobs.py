"""Blob methods: `com.atproto.repo.uploadBlob` (streamed into the store) and
`com.atproto.sync.getBlob` / `listBlobs` (served inertly, with Range support, for any peer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import FileResponse, Response

from oms.errors import PayloadTooLarge
from oms.pds import blobs
from oms.pds.plans import Allowance, upload_allowance
from oms.ratelimits import Limit
from oms.xrpc.auth import authenticated, client_address
from oms.xrpc.dispatch import XrpcCall
from oms.xrpc.sync import hosted_account

__all__ = ["get_blob", "list_blobs", "upload_blob"]

# A blob never changes under its CID.
_IMMUTABLE = "public, max-age=31536000, immutable"


_UPLOADS = "upload"


async def upload_blob(call: XrpcCall) -> Mapping[str, Any]:
    viewer = await authenticated(call)
    context = call.context
    per_hour = int(context.settings["limits.uploads_per_hour"])
    context.limits.hit(Limit(_UPLOADS, per_hour, 3600, "uploads"), viewer.did, client_address(call))
    allowance = await upload_allowance(
        context.db,
        viewer.did,
        viewer.role,
        node_max_bytes=int(context.settings["pds.blob_max_mb"]) * 1024 * 1024,
    )
    declared = call.request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > allowance.max_bytes:
        raise _too_large(f"the upload ({declared} bytes)", allowance)
    try:
        ref = await blobs.store_upload(
            context.db,
            context.blobs_dir,
            viewer.did,
            call.request.headers.get("content-type", ""),
            call.request.stream(),
            allowance.max_bytes,
        )
    except PayloadTooLarge as e:
        raise _too_large("the upload", allowance) from e
    return {"blob": ref.to_json()}


def _too_large(what: str, allowance: Allowance) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{what} is larger than {allowance.limited_by} ({allowance.max_bytes} bytes)",
        name="BlobTooLarge",
    )


def _etag_matches(header: str, etag: str) -> bool:
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


async def get_blob(call: XrpcCall) -> Response:
    did, cid = call.params["did"], call.params["cid"]
    await hosted_account(call, did)
    blob = await blobs.open_blob(call.context.db, call.context.blobs_dir, did, cid)
    media_type = blobs.served_mime_type(blob.mime_type)
    etag = f'"{cid}"'
    headers = {
        "ETag": etag,
        "Cache-Control": _IMMUTABLE,
        "X-Content-Type-Options": "nosniff",
        # Even opened directly, a blob is never a page that runs anything.
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if not media_type.startswith(("audio/", "image/")):
        headers["Content-Disposition"] = "attachment"
    if _etag_matches(call.request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(blob.path, media_type=media_type, headers=headers)


async def list_blobs(call: XrpcCall) -> Mapping[str, Any]:
    did = call.params["did"]
    await hosted_account(call, did)
    page = await blobs.list_blobs(
        call.context.db,
        did,
        since_rev=call.params.get("since"),
        limit=call.params["limit"],
        cursor=call.params.get("cursor"),
    )
    result: dict[str, Any] = {"cids": page.cids}
    if page.cursor is not None:
        result["cursor"] = page.cursor
    return result

"""`/.well-known/atproto-did` and `/.well-known/did.json`: the identity a request's Host names
(an account's handle or did:web host, or the node itself)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from oms.context import AppContext
from oms.errors import OmsError
from oms.pds import identity

__all__ = ["atproto_did", "did_json"]

# Identity documents are public and read by browsers (clients resolving handles) too.
_PUBLIC = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=60"}


def _host(request: Request) -> str:
    return request.headers.get("host", "")


async def atproto_did(request: Request) -> Response:
    context: AppContext = request.state.context
    try:
        did = await identity.did_for_host(context.db, _host(request))
    except OmsError as e:
        return PlainTextResponse(e.message, status_code=404)
    return PlainTextResponse(did, headers=_PUBLIC)


async def did_json(request: Request) -> Response:
    context: AppContext = request.state.context
    settings = context.settings
    try:
        document = await identity.did_document_for_host(
            context.db,
            context.keys,
            _host(request),
            hostname=settings.hostname,
            public_url=settings.public_url,
        )
    except OmsError as e:
        if e.status >= 500:
            return JSONResponse({"error": e.name, "message": e.message}, status_code=e.status)
        return JSONResponse({"error": "NotFound", "message": e.message}, status_code=404)
    return JSONResponse(document, headers=_PUBLIC)

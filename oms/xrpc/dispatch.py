"""How an XRPC call is served: method lookup by NSID, the HTTP verb its lexicon implies,
parameter and body validation, and the one translator of `oms.errors` into XRPC errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oms.context import AppContext
from oms.errors import InvalidRequest, OmsError, PayloadTooLarge, RateLimitExceeded
from oms.permissions import check_capability

__all__ = [
    "MAX_JSON_BODY",
    "Authorizer",
    "Handler",
    "Method",
    "XrpcCall",
    "error_response",
    "xrpc_endpoint",
]

log = logging.getLogger(__name__)

# A record may be up to 1 MB; applyWrites carries up to 200 writes, but the spec's overall
# request limit for JSON bodies keeps them well below this.
MAX_JSON_BODY = 2 * 1024 * 1024
# The HTTP verbs each kind of method is called with.
_VERBS = {"query": ("GET", "HEAD"), "procedure": ("POST",)}


@dataclass
class XrpcCall:
    """One call: the request (edges may read it), the node, the NSID and validated params."""

    request: Request
    context: AppContext
    nsid: str
    params: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)

    async def json_input(self, *, limit: int = MAX_JSON_BODY) -> dict[str, Any]:
        """The request body as JSON, validated (and defaulted) against the method's lexicon;
        a body over `limit` bytes is refused unread."""
        content_type = self.request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/json":
            raise InvalidRequest(f"{self.nsid} takes a JSON body (Content-Type: application/json)")
        declared = self.request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"{self.nsid} takes a request body of at most {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"{self.nsid} takes a request body of at most {limit} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            value = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InvalidRequest(f"request body is not valid JSON: {e}") from e
        except RecursionError as e:
            raise InvalidRequest("request body is nested too deeply") from e
        if not isinstance(value, dict):
            raise InvalidRequest("request body must be a JSON object")
        validated = self.context.lexicons.validate_input(self.nsid, value)
        assert isinstance(validated, dict)
        return validated


Handler = Callable[[XrpcCall], Awaitable[Response | Mapping[str, Any] | None]]
Authorizer = Callable[[XrpcCall, str], Awaitable[None]]


@dataclass(frozen=True)
class Method:
    """A served method: the capability (oms.permissions) a caller's role must hold, and the
    handler. `refresh_credential` methods are signed with a refresh token, which the handler
    checks itself (it is bound to one account); the permission layer lets them through."""

    capability: str
    handler: Handler
    refresh_credential: bool = False

    def __post_init__(self) -> None:
        check_capability(self.capability)


def error_response(error: OmsError) -> JSONResponse:
    headers = {}
    if isinstance(error, RateLimitExceeded):
        headers["Retry-After"] = str(error.retry_after)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="xrpc"'
    return JSONResponse(
        {"error": error.name, "message": error.message}, status_code=error.status, headers=headers
    )


def _params(request: Request) -> dict[str, str | list[str]]:
    params: dict[str, str | list[str]] = {}
    if not request.scope.get("query_string"):  # most procedures: nothing to parse
        return params
    for key, value in request.query_params.multi_items():
        existing = params.get(key)
        if existing is None:
            params[key] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            params[key] = [existing, value]
    return params


def xrpc_endpoint(
    methods: Mapping[str, Method], authorize: Authorizer
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint for `/xrpc/{nsid}` serving `methods` (wire name → method);
    `authorize(call, capability)` refuses a caller before the handler runs."""

    async def endpoint(request: Request) -> Response:
        context: AppContext = request.state.context
        nsid = request.path_params["nsid"]
        method = methods.get(nsid)
        kind = context.lexicons.method_kind(nsid) if method else None
        if method is None or kind is None:
            return JSONResponse(
                {"error": "MethodNotImplemented", "message": f"{nsid} is not served here"},
                status_code=501,
            )
        expected = _VERBS.get(kind, ("GET",))
        if request.method not in expected:
            return JSONResponse(
                {"error": "InvalidRequest", "message": f"{nsid} is a {kind}: use {expected[0]}"},
                status_code=405,
                headers={"Allow": ", ".join(expected)},
            )
        try:
            call = XrpcCall(request, context, nsid, {})
            if not method.refresh_credential:
                await authorize(call, method.capability)
            call.params = context.lexicons.validate_params(nsid, _params(request))
            result = await method.handler(call)
        except OmsError as e:
            if e.status >= 500:
                log.error("%s failed: %s", nsid, e.message)
            return error_response(e)
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=200)
        return JSONResponse(dict(result))

    endpoint.capabilities = {nsid: m.capability for nsid, m in methods.items()}  # type: ignore[attr-defined]
    return endpoint

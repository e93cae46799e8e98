"""Pure ASGI middleware wrapped around every surface: request ids, access logs, metrics, and
the security headers of HTML responses.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oms.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS

__all__ = ["RequestMiddleware", "SecurityHeadersMiddleware"]

access_log = logging.getLogger("oms.access")

_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# Routes whose pages other sites may frame (the artists' embeddable players).
EMBED_PREFIX = "/embed/"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: https:",
        "media-src 'self' blob: https:",
        "connect-src 'self' https: wss:",
        "font-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    )
)


class RequestMiddleware:
    """Gives each HTTP request an id (X-Request-ID), logs it once, and counts it by route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _INCOMING_ID.match(incoming) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        sent = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(route, method, str(status)).inc()
            HTTP_REQUEST_SECONDS.labels(route, method).observe(elapsed)
            access_log.info(
                "%s %s %s %.1fms",
                method,
                scope["path"],
                status,
                elapsed * 1000,
                extra={
                    "request_id": request_id,
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "bytes": sent,
                    "client": (scope.get("client") or ("", 0))[0],
                },
            )


class SecurityHeadersMiddleware:
    """Headers every response gets, and the stricter set HTML pages get (CSP, framing)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        embeddable = scope["path"].startswith(EMBED_PREFIX)
        secure = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                if secure:
                    headers.setdefault("Strict-Transport-Security", "max-age=63072000")
                if headers.get("content-type", "").startswith("text/html"):
                    ancestors = "*" if embeddable else "'none'"
                    headers.setdefault(
                        "Content-Security-Policy",
                        f"{CONTENT_SECURITY_POLICY}; frame-ancestors {ancestors}",
                    )
                    if not embeddable:
                        headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _route_template(scope: Scope) -> str:
    # The router records the route it matched in the scope; labelling by its template (not the
    # raw path) keeps the metric's label set bounded whatever paths clients send.
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"

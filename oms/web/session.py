"""The browser side of signing in: the session cookie, who is signed in, and CSRF checks.

Forms of a signed-in person carry the session's CSRF token; the sign-in form, shown before any
session exists, carries a random token that must match a cookie of its own (double submit), so
another site can neither post a form as the person nor sign them in to an account of its
choosing. The portal's scripts send the session's token in the `X-CSRF-Token` header of their
XRPC calls (see `oms.xrpc.auth`).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from oms.context import AppContext
from oms.errors import AuthRequired, Forbidden
from oms.pds.web_sessions import COOKIE_NAME, WebSession, find_web_session

__all__ = [
    "FORM_COOKIE",
    "check_csrf",
    "check_form_token",
    "clear_session_cookie",
    "client_address",
    "form_token",
    "keep_form_token",
    "member",
    "safe_next",
    "session_days",
    "set_session_cookie",
    "sign_in_redirect",
    "signed_in",
]

FORM_COOKIE = "oms_form"
_STATE_KEY = "web_session"
_UNKNOWN = object()
_EXPIRED_FORM = "this form has expired or was sent from another site; reload the page and try again"


def _context(request: Request) -> AppContext:
    context: AppContext = request.state.context
    return context


def session_days(context: AppContext) -> int:
    return int(context.settings["web.session_days"])


def _secure(context: AppContext) -> bool:
    # Behind TLS (the public URL is https) the cookies never travel in clear text.
    return context.settings.public_url.startswith("https://")


def client_address(request: Request) -> str:
    # uvicorn has already replaced the peer with X-Forwarded-For from a trusted proxy.
    return request.client.host if request.client is not None else "unknown"


async def signed_in(request: Request) -> WebSession | None:
    """The live session of this browser, or None (looked up once per request)."""
    cached = getattr(request.state, _STATE_KEY, _UNKNOWN)
    if cached is not _UNKNOWN:
        assert cached is None or isinstance(cached, WebSession)
        return cached
    context = _context(request)
    token = request.cookies.get(COOKIE_NAME, "")
    session = (
        await find_web_session(context.db, token, lifetime_days=session_days(context))
        if token
        else None
    )
    setattr(request.state, _STATE_KEY, session)
    return session


async def member(request: Request) -> WebSession:
    """The session of the person on a guarded page (one whose capability anonymous callers
    lack, so the guard, oms.web.guard, has already sent them to sign in)."""
    session = await signed_in(request)
    if session is None:
        raise AuthRequired("sign in to see this page")
    return session


def sign_in_redirect(request: Request) -> Response:
    """Off to the sign-in page, which brings the person back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)


def safe_next(value: str) -> str:
    """A same-site path to continue to after signing in; anything else goes home."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 0x20 for c in value):
        return "/"
    return value


def set_session_cookie(response: Response, context: AppContext, token: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=session_days(context) * 24 * 60 * 60,
        path="/",
        httponly=True,
        secure=_secure(context),
        samesite="lax",
    )


def clear_session_cookie(response: Response, context: AppContext) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, secure=_secure(context), samesite="lax"
    )


def check_csrf(session: WebSession, form: FormData) -> None:
    """A signed-in person's form must carry their session's CSRF token."""
    sent = str(form.get("csrf", ""))
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise Forbidden(_EXPIRED_FORM)


def form_token(request: Request) -> str:
    """The double-submit token of a form shown before sign-in: the browser's, or a new one
    (which the response must then set with `keep_form_token`)."""
    existing = request.cookies.get(FORM_COOKIE, "")
    return existing if 20 <= len(existing) <= 100 else secrets.token_urlsafe(24)


def keep_form_token(response: Response, context: AppContext, token: str) -> None:
    response.set_cookie(
        FORM_COOKIE,
        token,
        max_age=2 * 60 * 60,
        path="/",
        httponly=True,
        secure=_secure(context),
        samesite="strict",
    )


def check_form_token(request: Request, form: FormData) -> None:
    sent = str(form.get("csrf", ""))
    cookie = request.cookies.get(FORM_COOKIE, "")
    if not sent or not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        raise Forbidden(_EXPIRED_FORM)

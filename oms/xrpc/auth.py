"""Who is calling: the bearer access token of an XRPC call, checked, as a `Viewer`.

The node's own pages call XRPC from the browser with the session cookie instead, and prove
they are the node's pages (not another site riding on the cookie) with the session's CSRF
token in the `X-CSRF-Token` header, which other origins cannot set."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from oms.errors import AuthRequired, Forbidden
from oms.pds import second_factor, sessions
from oms.pds.tokens import ACCESS_SCOPE
from oms.pds.web_sessions import COOKIE_NAME, CSRF_HEADER, find_web_session
from oms.permissions import ANONYMOUS, allowed, roles_with
from oms.xrpc.dispatch import XrpcCall

__all__ = [
    "Viewer",
    "authenticated",
    "authorize",
    "bearer_token",
    "client_address",
    "optional_viewer",
]


@dataclass(frozen=True)
class Viewer:
    did: str
    scope: str  # "com.atproto.access" | "com.atproto.appPass" | "com.atproto.appPassPrivileged"
    role: str

    @property
    def full_access(self) -> bool:
        """Signed in with the account's own password, not an app password."""
        return self.scope == ACCESS_SCOPE


def client_address(call: XrpcCall) -> str:
    # uvicorn has already replaced the peer with X-Forwarded-For from a trusted proxy.
    client = call.request.client
    return client.host if client is not None else "unknown"


def bearer_token(call: XrpcCall) -> str:
    """The token of `Authorization: Bearer <token>`, or AuthRequired."""
    header = call.request.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if not header:
        raise AuthRequired(f"{call.nsid} needs a signed-in account (Authorization: Bearer)")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthRequired(
            f"{call.nsid} takes 'Authorization: Bearer <accessJwt>'", name="InvalidToken"
        )
    return token.strip()


async def authenticated(
    call: XrpcCall, *, full_access: bool = False, allow_deactivated: bool = False
) -> Viewer:
    """The account whose access token signs this call.

    Raises AuthRequired (no or bad token: `InvalidToken`; account taken down:
    `AccountTakedown`; deactivated: `AccountDeactivated`) or ExpiredToken (400, as the
    reference PDS answers, which clients use to refresh). A refresh token is refused.
    `full_access` also refuses app-password sessions (account management);
    `allow_deactivated` lets a deactivated account in (to see its session, reactivate).
    """
    cached = call.state.get("grant")
    if cached is None:
        cached = call.state["grant"] = await _grant(call)
    viewer, status = cached
    if status == "disabled":
        raise AuthRequired(
            "this account was taken down by the node's operator", name="AccountTakedown"
        )
    if status == "deactivated" and not allow_deactivated:
        raise AuthRequired(
            "this account is deactivated; activate it first", name="AccountDeactivated"
        )
    if status not in ("active", "deactivated"):
        raise AuthRequired("this account no longer exists", name="InvalidToken")
    if full_access and not viewer.full_access:
        raise AuthRequired(
            f"{call.nsid} needs a session signed in with the account password, not an app password",
            name="InvalidToken",
        )
    return viewer


async def _grant(call: XrpcCall) -> tuple[Viewer, str]:
    """Who signs this call, and their account's status (checked once per call)."""
    context = call.context
    if "authorization" not in call.request.headers and _cookie_call(call):
        return await _browser_viewer(call), "active"
    grant = await sessions.verify_access(
        context.db, context.keys, hostname=context.settings.hostname, token=bearer_token(call)
    )
    return Viewer(grant.did, grant.scope, grant.role), grant.status


async def authorize(call: XrpcCall, capability: str) -> None:
    """Refuse the call unless its caller's role holds `capability` (oms.permissions).

    Runs before the method: a capability open to anonymous callers needs no credentials;
    any other needs a signed-in account (AuthRequired) whose role has it (Forbidden). The
    account's status (deactivated, taken down) is the method's own check.
    """
    if allowed(capability, ANONYMOUS):
        return
    viewer = await authenticated(call, allow_deactivated=True)
    admin_only = roles_with(capability) == {"admin"}
    if (
        admin_only
        and viewer.role == "admin"
        and call.context.settings["security.admin_totp_required"]
        and not await second_factor.is_enabled(call.context.db, viewer.did)
    ):
        raise Forbidden(
            f"{call.nsid}: this node requires its admins to set up two-factor sign-in first "
            "(/account/totp/setup)"
        )
    if not allowed(capability, viewer.role):
        raise Forbidden(
            f"{call.nsid} needs the {capability!r} permission, which the {viewer.role} "
            "role does not have",
        )


async def optional_viewer(call: XrpcCall) -> Viewer | None:
    """The signed-in account, or None for an anonymous call. A token that is present but bad
    is still an error: quietly treating it as anonymous would hide the client's problem."""
    if "authorization" not in call.request.headers and not _cookie_call(call):
        return None
    return await authenticated(call)


def _cookie_call(call: XrpcCall) -> bool:
    """A call from the node's own pages: a session cookie and the CSRF header. The cookie
    alone (a page's plain fetch, or another site's form) leaves the call anonymous."""
    return CSRF_HEADER in call.request.headers and bool(call.request.cookies.get(COOKIE_NAME))


async def _browser_viewer(call: XrpcCall) -> Viewer:
    context = call.context
    session = await find_web_session(
        context.db,
        call.request.cookies.get(COOKIE_NAME, ""),
        lifetime_days=int(context.settings["web.session_days"]),
    )
    if session is None:
        raise AuthRequired("the browser session has ended; sign in again", name="InvalidToken")
    sent = call.request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise AuthRequired(
            f"{call.nsid}: the {CSRF_HEADER} header does not match this browser session",
            name="InvalidToken",
        )
    return Viewer(session.did, ACCESS_SCOPE, session.role)

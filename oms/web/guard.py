"""The web surface's side of the permission table: every page route names its capability, and
a caller whose role lacks it never reaches the page's code.

Anonymous callers of a page that needs an account are sent to sign in (and brought back);
a signed-in person without the capability gets a 403 page saying what is missing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from oms.errors import Forbidden
from oms.permissions import ANONYMOUS, allowed, check_capability
from oms.web.second_factor import TOTP_SETUP_PATH, totp_enrolment_needed
from oms.web.session import sign_in_redirect, signed_in

__all__ = ["Page", "guarded"]

Page = Callable[[Request], Awaitable[Response]]

_WHAT = {
    "catalog.publish": "the creator portal is for the collective's artists",
    "analytics.own": "listening analytics are for the collective's artists",
    "accounts.manage": "managing accounts is for the node's admins",
    "invites.manage": "invite codes are for the node's admins",
    "plans.manage": "plans and quotas are for the node's admins",
    "audit.read": "the audit log is for the node's admins",
}


def guarded(capability: str, endpoint: Page) -> Page:
    """`endpoint`, refused to callers whose role lacks `capability`."""
    check_capability(capability)

    media = capability == "stream.listen"
    open_to_all = allowed(capability, ANONYMOUS)

    async def guard(request: Request) -> Response:
        # An admin the node requires to set up two-factor sign-in goes there first (media
        # files excepted: a redirect would only break the player).
        if not media and await totp_enrolment_needed(request):
            return RedirectResponse(TOTP_SETUP_PATH, status_code=303)
        if open_to_all:  # no session lookup on the hot paths (stream segments, artwork)
            return await endpoint(request)
        session = await signed_in(request)
        role = session.role if session is not None else ANONYMOUS
        if not allowed(capability, role):
            if session is None:
                return sign_in_redirect(request)
            reason = _WHAT.get(capability, f"your account ({role}) may not do this")
            raise Forbidden(f"{reason[:1].upper()}{reason[1:]}.")
        return await endpoint(request)

    guard.capability = capability  # type: ignore[attr-defined]
    guard.__name__ = getattr(endpoint, "__name__", "page")
    guard.__doc__ = endpoint.__doc__
    return guard

"""The account's security pages: two-factor sign-in (set up, turn off) and changing the
password; and whether an admin must set up two-factor sign-in before anything else."""

from __future__ import annotations

import asyncio

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from oms.context import AppContext
from oms.errors import (
    AuthRequired,
    Conflict,
    InvalidRequest,
    OmsError,
)
from oms.pds import accounts, second_factor, sessions, totp
from oms.pds.passwords import check_policy
from oms.pds.web_sessions import WebSession, list_sessions, start_web_session
from oms.web.render import page, problem_text, with_retry_after
from oms.web.session import (
    check_csrf,
    client_address,
    member,
    session_days,
    set_session_cookie,
    signed_in,
)

__all__ = [
    "SECURITY_PATH",
    "TOTP_SETUP_PATH",
    "change_password",
    "security_page",
    "totp_disable",
    "totp_enrolment_needed",
    "totp_setup_form",
    "totp_setup_submit",
]

SECURITY_PATH = "/account/security"
TOTP_SETUP_PATH = "/account/totp/setup"
# Where an admin who must set up two-factor sign-in may still go: the account's own pages
# (this one among them), signing out, and the files those pages use.
_OPEN_TO_UNENROLLED = ("/account/", "/static/")

_DONE = {
    "totp-on": "Two-factor sign-in is on.",
    "totp-off": "Two-factor sign-in is off; your password alone signs you in now.",
}


def _context(request: Request) -> AppContext:
    context: AppContext = request.state.context
    return context


def _admin_must_enrol(context: AppContext, session: WebSession) -> bool:
    return session.role == "admin" and bool(context.settings["security.admin_totp_required"])


async def totp_enrolment_needed(request: Request) -> bool:
    """Whether this request must go to `TOTP_SETUP_PATH` first: `security.admin_totp_required`
    is on and a signed-in admin has no two-factor sign-in yet, and the page is not one of the
    account's own pages, sign-out or a static file."""
    context = _context(request)
    if not context.settings["security.admin_totp_required"]:
        return False
    path = request.url.path
    if path == "/signout" or path.startswith(_OPEN_TO_UNENROLLED):
        return False
    session = await signed_in(request)
    if session is None or session.role != "admin":
        return False
    return not await second_factor.is_enabled(context.db, session.did)


# --- the security page -----------------------------------------------------------------------


async def _security(
    request: Request,
    session: WebSession,
    status: int = 200,
    *,
    notice: str | None = None,
    totp_problem: str | None = None,
    password_problem: str | None = None,
) -> Response:
    context = _context(request)
    return await page(
        request,
        "account/security.html",
        status,
        factor=await second_factor.state(context.db, session.did),
        required=_admin_must_enrol(context, session),
        min_length=int(context.settings["security.min_password_length"]),
        notice=notice,
        totp_problem=totp_problem,
        password_problem=password_problem,
    )


async def security_page(request: Request) -> Response:
    """Two-factor sign-in and the password of the signed-in account."""
    session = await member(request)
    done = request.query_params.get("done", "")
    notice = _DONE.get(done)
    if done == "password":
        ended = request.query_params.get("ended", "0")
        count = int(ended) if ended.isdigit() else 0
        notice = "Your password is changed." + (
            f" {count} other session{'s' if count != 1 else ''} (browsers and apps) signed out."
            if count
            else ""
        )
    return await _security(request, session, notice=notice)


# --- setting up and turning off TOTP ---------------------------------------------------------


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


async def _setup_page(
    request: Request, session: WebSession, status: int = 200, *, problem: str | None = None
) -> Response:
    context = _context(request)
    try:
        secret = await second_factor.begin_enrolment(context.db, context.keys, session.did)
    except Conflict:
        return RedirectResponse(SECURITY_PATH, status_code=303)
    issuer = str(context.settings["node.name"])
    response = await page(
        request,
        "account/totp_setup.html",
        status,
        secret=_grouped(secret),
        uri=totp.provisioning_uri(secret, account=session.handle, issuer=issuer),
        required=_admin_must_enrol(context, session),
        problem=problem,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def totp_setup_form(request: Request) -> Response:
    """The secret to add to an authenticator app, and the form confirming it with a code."""
    session = await member(request)
    return await _setup_page(request, session)


async def totp_setup_submit(request: Request) -> Response:
    """Turn TOTP on with a code from the app; the recovery codes are shown this once."""
    session = await member(request)
    form = await request.form()
    check_csrf(session, form)
    context = _context(request)
    code = str(form.get("code", "")).strip()
    if not code:
        return await _setup_page(request, session, 400, problem="Enter the code your app shows.")
    try:
        codes = await second_factor.confirm_enrolment(context.db, context.keys, session.did, code)
    except Conflict:
        return RedirectResponse(f"{SECURITY_PATH}?done=totp-on", status_code=303)
    except InvalidRequest as e:
        return await _setup_page(request, session, 400, problem=problem_text(e))
    response = await page(request, "account/recovery_codes.html", codes=codes)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _confirm_password(
    request: Request, session: WebSession, password: str
) -> OmsError | None:
    """Why the account's own password `password` is refused, if it is (throttled)."""
    context = _context(request)
    try:
        await sessions.check_sign_in(
            context.db,
            hostname=context.settings.hostname,
            identifier=session.did,
            password=password,
            address=client_address(request),
        )
    except AuthRequired:
        return AuthRequired("that is not your current password")
    except OmsError as e:
        return e
    return None


async def totp_disable(request: Request) -> Response:
    """Turn two-factor sign-in off, given the password and a current code."""
    session = await member(request)
    form = await request.form()
    check_csrf(session, form)
    context = _context(request)
    password, code = str(form.get("password", "")), str(form.get("code", "")).strip()
    if not password or not code:
        return await _security(
            request, session, 400, totp_problem="Enter your password and a code from your app."
        )
    refused = await _confirm_password(request, session, password)
    if refused is None:
        try:
            await sessions.check_second_factor(
                context.db,
                context.keys,
                did=session.did,
                code=code,
                address=client_address(request),
            )
        except OmsError as e:
            refused = e
    if refused is not None:
        response = await _security(
            request, session, refused.status, totp_problem=problem_text(refused)
        )
        return with_retry_after(response, refused)
    await second_factor.disable(context.db, session.did)
    return RedirectResponse(f"{SECURITY_PATH}?done=totp-off", status_code=303)


# --- the password ----------------------------------------------------------------------------


def _password_fields(form: FormData) -> tuple[str, str, str]:
    return (
        str(form.get("current", "")),
        str(form.get("password", "")),
        str(form.get("confirm", "")),
    )


async def change_password(request: Request) -> Response:
    """A new password, given the current one; every other session of the account ends."""
    session = await member(request)
    form = await request.form()
    check_csrf(session, form)
    context = _context(request)
    current, new, confirm = _password_fields(form)
    problem: str | None = None
    if not current or not new:
        problem = "Enter your current password and a new one."
    elif new != confirm:
        problem = "The two new passwords differ."
    elif new == current:
        problem = "The new password is the same as the current one."
    if problem is not None:
        return await _security(request, session, 400, password_problem=problem)
    refused = await _confirm_password(request, session, current)
    if refused is None:
        try:
            await asyncio.to_thread(
                check_policy,
                new,
                min_length=int(context.settings["security.min_password_length"]),
                handle=session.handle,
            )
        except InvalidRequest as e:
            refused = e
    if refused is not None:
        response = await _security(
            request, session, refused.status, password_problem=problem_text(refused)
        )
        return with_retry_after(response, refused)
    others = [
        s
        for s in await list_sessions(context.db, session.did)
        if s.session_id != session.session_id
    ]
    # Every session signed in with the old password ends, this browser's too; the browser
    # goes on in a new session (a new cookie), so only the others are signed out.
    account = await accounts.reset_password(context.db, session.did, new)
    token, _ = await start_web_session(
        context.db,
        account,
        user_agent=request.headers.get("user-agent", ""),
        lifetime_days=session_days(context),
    )
    response = RedirectResponse(
        f"{SECURITY_PATH}?done=password&ended={len(others)}", status_code=303
    )
    set_session_cookie(response, context, token)
    return response

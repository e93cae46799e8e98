"""Signing in and out with a browser (with a second step for an account with two-factor
sign-in on), and the list of one's own sessions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from oms.context import AppContext
from oms.errors import AuthRequired, OmsError
from oms.pds import second_factor, sessions
from oms.pds.accounts import Account
from oms.pds.sign_ups import sign_up_here
from oms.pds.web_sessions import (
    COOKIE_NAME,
    end_all_sessions,
    end_web_session,
    list_sessions,
    revoke_session,
    start_web_session,
)
from oms.web.render import page, problem_text, with_retry_after
from oms.web.session import (
    check_csrf,
    check_form_token,
    clear_session_cookie,
    client_address,
    form_token,
    keep_form_token,
    member,
    safe_next,
    session_days,
    set_session_cookie,
    signed_in,
)

__all__ = [
    "revoke",
    "sessions_page",
    "sign_in_form",
    "sign_in_submit",
    "sign_in_verify",
    "sign_out",
    "sign_out_everywhere",
    "sign_up_form",
    "sign_up_submit",
]


def _context(request: Request) -> AppContext:
    context: AppContext = request.state.context
    return context


async def _sign_in_page(
    request: Request, status: int = 200, *, identifier: str = "", problem: str | None = None
) -> Response:
    token = form_token(request)
    response = await page(
        request,
        "signin.html",
        status,
        csrf=token,
        identifier=identifier,
        next=safe_next(request.query_params.get("next", "/")),
        problem=problem,
        host=_context(request).settings.hostname.partition(":")[0],
    )
    keep_form_token(response, _context(request), token)
    return response


async def sign_in_form(request: Request) -> Response:
    if await signed_in(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next", "/")), 303)
    return await _sign_in_page(request)


async def _verify_page(
    request: Request, pending: str, status: int = 200, *, problem: str | None = None
) -> Response:
    token = form_token(request)
    response = await page(
        request, "signin_verify.html", status, csrf=token, pending=pending, problem=problem
    )
    keep_form_token(response, _context(request), token)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _start_session(request: Request, account: Account, next_path: str) -> Response:
    context = _context(request)
    # A session cookie the browser already had (perhaps planted) is ended, never reused.
    if request.cookies.get(COOKIE_NAME):
        await end_web_session(context.db, request.cookies[COOKIE_NAME])
    token, _ = await start_web_session(
        context.db,
        account,
        user_agent=request.headers.get("user-agent", ""),
        lifetime_days=session_days(context),
    )
    response = RedirectResponse(safe_next(next_path), status_code=303)
    set_session_cookie(response, context, token)
    return response


async def sign_in_submit(request: Request) -> Response:
    context = _context(request)
    form = await request.form()
    check_form_token(request, form)
    identifier = str(form.get("identifier", "")).strip()
    password = str(form.get("password", ""))
    if not identifier or not password:
        return await _sign_in_page(
            request, 400, identifier=identifier, problem="Enter your handle and password."
        )
    try:
        account = await sessions.check_sign_in(
            context.db,
            hostname=context.settings.hostname,
            identifier=identifier,
            password=password,
            address=client_address(request),
        )
    except OmsError as e:
        response = await _sign_in_page(
            request, e.status, identifier=identifier, problem=problem_text(e)
        )
        return with_retry_after(response, e)
    next_path = safe_next(str(form.get("next", "/")))
    if await second_factor.is_enabled(context.db, account.did):
        # No session yet: the password was right, the code is asked for next.
        pending = await second_factor.start_pending_sign_in(
            context.db, account.did, next_path=next_path
        )
        return await _verify_page(request, pending)
    return await _start_session(request, account, next_path)


async def _sign_up_page(
    request: Request, status: int = 200, *, form: dict[str, str], problem: str | None = None
) -> Response:
    context = _context(request)
    token = form_token(request)
    response = await page(
        request,
        "signup.html",
        status,
        csrf=token,
        form=form,
        next=safe_next(form.get("next") or request.query_params.get("next", "/")),
        problem=problem,
        open_signup=bool(context.settings["pds.open_signup"]),
        host=context.settings.hostname.partition(":")[0],
    )
    keep_form_token(response, context, token)
    return response


async def sign_up_form(request: Request) -> Response:
    if await signed_in(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next", "/")), 303)
    invite = request.query_params.get("invite", "")
    return await _sign_up_page(request, form={"invite": invite})


async def sign_up_submit(request: Request) -> Response:
    """A new listener's account (with an invite code unless the node's sign-up is open),
    signed in at once."""
    context = _context(request)
    submitted = await request.form()
    check_form_token(request, submitted)
    form = {
        name: str(submitted.get(name, "")).strip() for name in ("handle", "email", "invite", "next")
    }
    # Passwords are taken as typed (spaces too), and never shown again.
    password = str(submitted.get("password", ""))
    if password != str(submitted.get("confirm", "")):
        return await _sign_up_page(request, 400, form=form, problem="The two passwords differ.")
    try:
        account = await sign_up_here(
            context.db,
            context.keys,
            context.settings,
            context.limits,
            address=client_address(request),
            handle=form["handle"],
            password=password,
            email=form["email"] or None,
            invite_code=form["invite"] or None,
        )
    except OmsError as e:
        response = await _sign_up_page(request, e.status, form=form, problem=problem_text(e))
        return with_retry_after(response, e)
    return await _start_session(request, account, form["next"] or "/")


async def sign_in_verify(request: Request) -> Response:
    """The second step of signing in to an account with two-factor sign-in on."""
    context = _context(request)
    form = await request.form()
    check_form_token(request, form)
    pending = str(form.get("pending", ""))
    code = str(form.get("code", "")).strip()
    if not code:
        return await _verify_page(
            request, pending, 400, problem="Enter the code your authenticator app shows."
        )
    try:
        account, next_path = await sessions.finish_sign_in(
            context.db,
            context.keys,
            token=pending,
            code=code,
            address=client_address(request),
        )
    except AuthRequired as e:
        # The pending sign-in expired or was used: start again from the password.
        return await _sign_in_page(request, e.status, problem=problem_text(e))
    except OmsError as e:
        response = await _verify_page(request, pending, e.status, problem=problem_text(e))
        return with_retry_after(response, e)
    return await _start_session(request, account, next_path)


async def sign_out(request: Request) -> Response:
    context = _context(request)
    session = await signed_in(request)
    if session is not None:
        check_csrf(session, await request.form())
        await end_web_session(context.db, request.cookies[COOKIE_NAME])
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response, context)
    return response


async def sessions_page(request: Request) -> Response:
    session = await member(request)
    open_sessions = await list_sessions(_context(request).db, session.did)
    return await page(
        request,
        "account/sessions.html",
        sessions=open_sessions,
        current=session.session_id,
        done=request.query_params.get("done"),
    )


async def revoke(request: Request) -> Response:
    session = await member(request)
    form = await request.form()
    check_csrf(session, form)
    session_id = str(form.get("session", ""))
    await revoke_session(_context(request).db, session.did, session_id)
    if session_id == session.session_id:
        response = RedirectResponse("/", status_code=303)
        clear_session_cookie(response, _context(request))
        return response
    return RedirectResponse("/account/sessions?done=revoked", status_code=303)


async def sign_out_everywhere(request: Request) -> Response:
    session = await member(request)
    check_csrf(session, await request.form())
    await end_all_sessions(_context(request).db, session.did)
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response, _context(request))
    return response

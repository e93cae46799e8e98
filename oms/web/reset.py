"""Choosing a new password with a reset link an admin issued (`/reset?token=…`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from oms.context import AppContext
from oms.errors import Forbidden, InvalidRequest
from oms.pds.password_resets import check_reset_token, redeem_reset_token
from oms.web.render import page, problem_text
from oms.web.session import check_form_token, client_address, form_token, keep_form_token

__all__ = ["reset_form", "reset_submit"]


async def _form(
    request: Request, token: str, status: int = 200, *, problem: str | None = None
) -> Response:
    context: AppContext = request.state.context
    account = await check_reset_token(context.db, token)
    csrf = form_token(request)
    response = await page(
        request, "reset.html", status, token=token, account=account, csrf=csrf, problem=problem
    )
    keep_form_token(response, context, csrf)
    return response


async def reset_form(request: Request) -> Response:
    try:
        return await _form(request, request.query_params.get("token", ""))
    except Forbidden as e:
        return await page(request, "reset_invalid.html", 403, problem=e.message)


async def reset_submit(request: Request) -> Response:
    context: AppContext = request.state.context
    form = await request.form()
    check_form_token(request, form)
    token = str(form.get("token", ""))
    password = str(form.get("password", ""))
    try:
        if password != str(form.get("confirm", "")):
            return await _form(request, token, 400, problem="The two passwords differ.")
        account = await redeem_reset_token(
            context.db,
            token,
            password,
            address=client_address(request),
            min_password_length=int(context.settings["security.min_password_length"]),
        )
    except Forbidden as e:
        return await page(request, "reset_invalid.html", 403, problem=e.message)
    except InvalidRequest as e:
        return await _form(request, token, 400, problem=problem_text(e))
    return await page(request, "reset_done.html", account=account)

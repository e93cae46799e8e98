"""The node's home page and the first-run setup of the first admin."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from oms.context import AppContext
from oms.errors import OmsError
from oms.pds.accounts import list_accounts
from oms.pds.bootstrap import needs_first_admin, redeem_setup_token, setup_token_valid
from oms.pds.plc import plc_registration
from oms.web.render import page

__all__ = ["home", "setup_form", "setup_submit"]


async def home(request: Request) -> Response:
    context: AppContext = request.state.context
    accounts = await list_accounts(context.db)
    active = [a for a in accounts if a.status == "active"]
    return await page(
        request,
        "home.html",
        setup_pending=await needs_first_admin(context.db),
        artists=[a for a in active if a.role == "artist"],
        member_count=len(active),
        hostname=context.settings.hostname,
    )


async def setup_form(request: Request) -> Response:
    context: AppContext = request.state.context
    token = request.query_params.get("token", "")
    if not await needs_first_admin(context.db):
        return RedirectResponse("/", status_code=303)
    if not token or not await setup_token_valid(context.db, token):
        return await page(request, "setup_invalid.html", 403)
    return await page(request, "setup.html", token=token, host=context.settings.hostname, form={})


async def setup_submit(request: Request) -> Response:
    context: AppContext = request.state.context
    form = await request.form()
    fields = {k: str(form.get(k, "")) for k in ("token", "handle", "email", "password", "confirm")}
    host = context.settings.hostname
    if fields["password"] != fields["confirm"]:
        return await page(
            request,
            "setup.html",
            400,
            token=fields["token"],
            host=host,
            form=fields,
            problem="The two passwords differ.",
        )
    try:
        account = await redeem_setup_token(
            context.db,
            context.keys,
            fields["token"],
            name=fields["handle"],
            password=fields["password"],
            hostname=host,
            email=fields["email"] or None,
            plc=await asyncio.to_thread(
                plc_registration,
                str(context.settings["pds.plc_directory"]),
                context.keys,
                context.settings.public_url,
            ),
        )
    except OmsError as e:
        if e.status == 403:
            return await page(request, "setup_invalid.html", 403)
        return await page(
            request,
            "setup.html",
            e.status,
            token=fields["token"],
            host=host,
            form=fields,
            problem=e.message,
        )
    return await page(request, "setup_done.html", account=account)

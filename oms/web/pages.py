"""The first-run setup of the first admin."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from oms.config import Settings
from oms.context import SETUP_ORIGIN, AppContext
from oms.errors import ConfigError, OmsError
from oms.pds.bootstrap import (
    SETUP_SETTINGS,
    needs_first_admin,
    redeem_setup_token,
    setup_token_valid,
)
from oms.pds.plc import plc_registration
from oms.web.render import page

__all__ = ["setup_form", "setup_submit"]


async def setup_form(request: Request) -> Response:
    context: AppContext = request.state.context
    token = request.query_params.get("token", "")
    if not await needs_first_admin(context.db):
        return RedirectResponse("/", status_code=303)
    if not token or not await setup_token_valid(context.db, token):
        return await page(request, "setup_invalid.html", 403)
    return await page(request, "setup.html", 200, **_setup_values(context, token, {}))


def _setup_values(
    context: AppContext, token: str, form: dict[str, str], problem: str | None = None
) -> dict[str, object]:
    """What the setup form shows: the fields as typed (or the current settings), and which
    settings the operator has already fixed elsewhere (those are shown, not asked)."""
    settings = context.settings
    fixed = {
        key: settings.origins[key]
        for key in SETUP_SETTINGS
        if settings.origins[key] not in ("default", SETUP_ORIGIN)
    }
    return {
        "token": token,
        "host": settings.hostname,
        "form": {"node_name": settings["node.name"], "public_url": settings.public_url, **form},
        "fixed": fixed,
        "problem": problem,
    }


def _chosen(context: AppContext, fields: dict[str, str]) -> tuple[Settings, dict[str, str]]:
    """The settings with what the form chose (validated like any setting), and the choices
    (fields the operator fixed elsewhere are not asked, and `with_fallbacks` keeps theirs)."""
    wanted = {"node.name": fields["node_name"].strip(), "server.public_url": fields["public_url"]}
    chosen = {key: value.strip().rstrip("/") for key, value in wanted.items() if value.strip()}
    settings = context.settings.with_fallbacks(chosen, SETUP_ORIGIN)
    return settings, {k: v for k, v in chosen.items() if settings.origins[k] == SETUP_ORIGIN}


async def setup_submit(request: Request) -> Response:
    context: AppContext = request.state.context
    form = await request.form()
    names = ("token", "handle", "email", "password", "confirm", "node_name", "public_url")
    fields = {k: str(form.get(k, "")) for k in names}
    token = fields["token"]
    if fields["password"] != fields["confirm"]:
        return await page(
            request,
            "setup.html",
            400,
            **_setup_values(context, token, fields, "The two passwords differ."),
        )
    try:
        settings, chosen = _chosen(context, fields)
    except ConfigError as e:
        return await page(
            request, "setup.html", 400, **_setup_values(context, token, fields, e.message)
        )
    host = settings.hostname
    try:
        account = await redeem_setup_token(
            context.db,
            context.keys,
            token,
            name=fields["handle"],
            password=fields["password"],
            hostname=host,
            email=fields["email"] or None,
            plc=await asyncio.to_thread(
                plc_registration,
                str(context.settings["pds.plc_directory"]),
                context.keys,
                settings.public_url,
            ),
            chosen=chosen,
            min_password_length=int(settings["security.min_password_length"]),
        )
    except OmsError as e:
        if e.status == 403:
            return await page(request, "setup_invalid.html", 403)
        return await page(
            request, "setup.html", e.status, **_setup_values(context, token, fields, e.message)
        )
    # The node goes on under its chosen name and address from the next request.
    context.settings = settings
    return await page(request, "setup_done.html", account=account, node_name=settings["node.name"])

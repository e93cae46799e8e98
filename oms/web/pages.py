"""The HTML pages of the node that exist so far: home and the first-run setup of the first admin."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from oms import __version__
from oms.context import AppContext
from oms.errors import OmsError
from oms.pds.accounts import list_accounts
from oms.pds.bootstrap import needs_first_admin, redeem_setup_token, setup_token_valid
from oms.pds.plc import plc_registration
from oms.resources import templates_dir

__all__ = ["home", "render_error", "setup_form", "setup_submit", "templates"]

templates = Jinja2Templates(directory=templates_dir())
templates.env.globals["oms_version"] = __version__


def _page(request: Request, name: str, status: int = 200, **values: object) -> Response:
    context: AppContext = request.state.context
    values.setdefault("node_name", context.settings["node.name"])
    return templates.TemplateResponse(request, name, values, status_code=status)


def render_error(request: Request, error: OmsError) -> Response:
    """The one translator of room errors into an HTML page."""
    return _page(request, "error.html", error.status, error=error)


async def home(request: Request) -> Response:
    context: AppContext = request.state.context
    accounts = await list_accounts(context.db)
    active = [a for a in accounts if a.status == "active"]
    return _page(
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
        return _page(request, "setup_invalid.html", 403)
    return _page(request, "setup.html", token=token, host=context.settings.hostname, form={})


async def setup_submit(request: Request) -> Response:
    context: AppContext = request.state.context
    form = await request.form()
    fields = {k: str(form.get(k, "")) for k in ("token", "handle", "email", "password", "confirm")}
    host = context.settings.hostname
    if fields["password"] != fields["confirm"]:
        return _page(
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
            return _page(request, "setup_invalid.html", 403)
        return _page(
            request,
            "setup.html",
            e.status,
            token=fields["token"],
            host=host,
            form=fields,
            problem=e.message,
        )
    return _page(request, "setup_done.html", account=account)

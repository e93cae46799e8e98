"""The admin pages: accounts (roles, status, password-reset links), invite codes, the
collective's plans, and the audit log with its exports.

Every change goes through the room that owns it with the admin as the audited actor; the
pages only read forms and show results. Who may open them is the permission table's call
(`accounts.manage`, `invites.manage`, `plans.manage`, `audit.read`; see oms.app).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from oms import audit
from oms.audit import Actor
from oms.context import AppContext
from oms.errors import InvalidRequest, OmsError
from oms.pds import accounts, plans, sessions
from oms.pds.password_resets import issue_reset_link
from oms.pds.web_sessions import WebSession
from oms.permissions import ROLES
from oms.web.render import page
from oms.web.session import check_csrf, client_address, member

__all__ = [
    "account_page",
    "accounts_page",
    "audit_export",
    "audit_page",
    "change_role",
    "change_status",
    "create_invites",
    "home",
    "invites_page",
    "plans_page",
    "reset_link",
    "save_plans",
]

_PAGE = 100


def _context(request: Request) -> AppContext:
    context: AppContext = request.state.context
    return context


async def _admin_form(request: Request) -> tuple[WebSession, FormData, Actor]:
    """The admin, their form (CSRF checked), and the audited actor they are."""
    session = await member(request)
    form = await request.form()
    check_csrf(session, form)
    return session, form, Actor(session.did, client_address(request))


def _account_url(handle: str, done: str | None = None) -> str:
    return f"/admin/accounts/{quote(handle)}" + (f"?done={done}" if done else "")


# --- accounts --------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    return RedirectResponse("/admin/accounts", status_code=303)


async def accounts_page(request: Request) -> Response:
    context = _context(request)
    everyone = await accounts.list_accounts(context.db)
    role = request.query_params.get("role", "")
    status = request.query_params.get("status", "")
    needle = request.query_params.get("q", "").strip().lower()
    shown = [
        a
        for a in everyone
        if (not role or a.role == role)
        and (not status or a.status == status)
        and (not needle or needle in a.handle or needle in a.did.lower())
    ]
    return await page(
        request,
        "admin/accounts.html",
        accounts=shown,
        total=len(everyone),
        roles=ROLES,
        statuses=accounts.STATUSES,
        wanted={"role": role, "status": status, "q": needle},
    )


async def account_page(request: Request) -> Response:
    return await _account(request)


async def _account(request: Request, status: int = 200, **values: object) -> Response:
    context = _context(request)
    account = await accounts.get_account(context.db, request.path_params["handle"])
    plan = await plans.plan_for(context.db, account.role)
    return await page(
        request,
        "admin/account.html",
        status,
        account=account,
        plan=plan,
        usage=await plans.usage(context.db, account.did),
        roles=ROLES,
        history=await audit.entries(context.db, target=account.did, limit=20),
        done=request.query_params.get("done"),
        **values,
    )


async def _account_change(request: Request, change: str) -> Response:
    context = _context(request)
    _, form, actor = await _admin_form(request)
    handle = request.path_params["handle"]
    try:
        if change == "role":
            await accounts.set_role(context.db, handle, str(form.get("role", "")), actor=actor)
        else:
            await accounts.set_status(context.db, handle, str(form.get("status", "")), actor=actor)
    except OmsError as e:
        if e.status >= 500 or e.status == 404:
            raise
        return await _account(request, e.status, problem=e.message)
    return RedirectResponse(_account_url(handle, change), status_code=303)


async def change_role(request: Request) -> Response:
    return await _account_change(request, "role")


async def change_status(request: Request) -> Response:
    return await _account_change(request, "status")


async def reset_link(request: Request) -> Response:
    """Issue a password-reset link and show it once, for the admin to pass on."""
    context = _context(request)
    _, _, actor = await _admin_form(request)
    hours = int(context.settings["security.reset_link_hours"])
    link = await issue_reset_link(
        context.db, request.path_params["handle"], actor=actor, hours=hours
    )
    url = f"{context.settings.public_url}/reset?{urlencode({'token': link.token})}"
    return await _account(request, reset_url=url, reset_expires=link.expires_at)


# --- invite codes ----------------------------------------------------------------------------


async def invites_page(request: Request) -> Response:
    return await _invites(request)


async def _invites(request: Request, status: int = 200, **values: object) -> Response:
    return await page(
        request,
        "admin/invites.html",
        status,
        invites=await sessions.list_invite_codes(_context(request).db),
        roles=ROLES,
        **values,
    )


def _int_field(form: FormData, name: str, label: str) -> int:
    raw = str(form.get(name, "")).strip()
    if not raw.isdigit():
        raise InvalidRequest(f"{label} must be a whole number, not {raw!r}")
    return int(raw)


async def create_invites(request: Request) -> Response:
    context = _context(request)
    session, form, actor = await _admin_form(request)
    try:
        created = await sessions.create_invite_codes(
            context.db,
            hostname=context.settings.hostname,
            created_by=session.did,
            use_count=_int_field(form, "uses", "Uses per code"),
            code_count=_int_field(form, "count", "Number of codes"),
            role=str(form.get("role", "fan")),
            actor=actor,
        )
    except InvalidRequest as e:
        return await _invites(request, 400, problem=e.message)
    return await _invites(request, new_codes=created[0][1])


# --- plans -----------------------------------------------------------------------------------


async def plans_page(request: Request) -> Response:
    return await _plans(request)


async def _plans(request: Request, status: int = 200, **values: object) -> Response:
    context = _context(request)
    return await page(
        request,
        "admin/plans.html",
        status,
        plans=await plans.list_plans(context.db),
        node_max_mb=int(context.settings["pds.blob_max_mb"]),
        done=request.query_params.get("done"),
        **values,
    )


async def save_plans(request: Request) -> Response:
    context = _context(request)
    _, form, actor = await _admin_form(request)
    try:
        for role in ROLES:
            await plans.update_plan(
                context.db,
                actor,
                role,
                storage_mb=_int_field(form, f"{role}.storage_mb", f"Storage of the {role} plan"),
                uploads_per_month=_int_field(
                    form, f"{role}.uploads_per_month", f"Uploads a month of the {role} plan"
                ),
                max_file_mb=_int_field(
                    form, f"{role}.max_file_mb", f"Largest file of the {role} plan"
                ),
            )
    except InvalidRequest as e:
        return await _plans(request, 400, problem=e.message)
    return RedirectResponse("/admin/plans?done=saved", status_code=303)


# --- the audit log ---------------------------------------------------------------------------


def _audit_filters(request: Request) -> dict[str, str | None]:
    return {
        name: request.query_params.get(name, "").strip() or None
        for name in ("action", "actor", "target")
    }


async def audit_page(request: Request) -> Response:
    context = _context(request)
    filters = _audit_filters(request)
    before = request.query_params.get("before", "")
    found = await audit.entries(
        context.db,
        **filters,
        before_id=int(before) if before.isdigit() else None,
        limit=_PAGE + 1,
    )
    more = len(found) > _PAGE
    shown = found[:_PAGE]
    query = {k: v for k, v in filters.items() if v}
    return await page(
        request,
        "admin/audit.html",
        entries=shown,
        filters=filters,
        query=urlencode(query),
        next_url=(f"/admin/audit?{urlencode({**query, 'before': shown[-1].id})}" if more else None),
    )


async def audit_export(request: Request) -> Response:
    """The whole (filtered) log as CSV or JSON lines, streamed oldest first."""
    context = _context(request)
    kind = request.path_params["format"]
    if kind not in ("csv", "jsonl"):
        raise InvalidRequest(f"the audit log exports as csv or jsonl, not {kind!r}")
    filters = _audit_filters(request)

    async def lines() -> AsyncIterator[str]:
        batch: list[audit.AuditEntry] = []
        first = True
        async for entry in audit.iter_entries(
            context.db, action=filters["action"], actor=filters["actor"], target=filters["target"]
        ):
            batch.append(entry)
            if len(batch) == 500:
                yield _format(kind, batch, first)
                batch, first = [], False
        if batch or first:
            yield _format(kind, batch, first)

    media_type = "text/csv; charset=utf-8" if kind == "csv" else "application/x-ndjson"
    return StreamingResponse(
        lines(),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="oms-audit.{kind}"'},
    )


def _format(kind: str, batch: list[audit.AuditEntry], first: bool) -> str:
    if kind == "csv":
        return "".join(audit.csv_lines(batch, header=first))
    return "".join(json.dumps(entry.to_json(), sort_keys=True) + "\n" for entry in batch)

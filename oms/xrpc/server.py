"""`com.atproto.server.*`: describing the node, accounts, sessions, app passwords, invite
codes, and an account's own status (deactivate, activate, delete)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oms.analytics.privacy import forget_listener
from oms.audit import Actor
from oms.errors import InvalidRequest, OmsError
from oms.pds import accounts, identity, sessions
from oms.pds.accounts import Account
from oms.pds.sign_ups import sign_up_here
from oms.pds.syntax import format_datetime
from oms.pds.tokens import ACCESS_SCOPE, APP_PASS_PRIVILEGED_SCOPE
from oms.xrpc.auth import authenticated, bearer_token, client_address
from oms.xrpc.dispatch import XrpcCall

__all__ = [
    "activate_account",
    "create_account",
    "create_app_password",
    "create_invite_code",
    "create_invite_codes",
    "create_session",
    "deactivate_account",
    "delete_account",
    "delete_session",
    "describe_server",
    "get_session",
    "list_app_passwords",
    "refresh_session",
    "request_account_delete",
    "revoke_app_password",
]

# How an account's status is told to clients (`status` in session answers); absent = active.
_WIRE_STATUS = {"deactivated": "deactivated", "disabled": "takendown"}


async def _did_doc(call: XrpcCall, did: str) -> dict[str, Any] | None:
    context = call.context
    try:
        return await identity.local_did_document(
            context.db, context.keys, did, public_url=context.settings.public_url
        )
    except OmsError:
        # The document is optional in session answers; a session must not fail for it.
        return None


async def _account_view(call: XrpcCall, account: Account, scope: str) -> dict[str, Any]:
    view: dict[str, Any] = {
        "handle": account.handle,
        "did": account.did,
        "active": account.status == "active",
    }
    # An ordinary app password does not let a third-party app read the address.
    if account.email and scope in (ACCESS_SCOPE, APP_PASS_PRIVILEGED_SCOPE):
        view["email"] = account.email
    if account.status in _WIRE_STATUS:
        view["status"] = _WIRE_STATUS[account.status]
    did_doc = await _did_doc(call, account.did)
    if did_doc is not None:
        view["didDoc"] = did_doc
    return view


async def _session_answer(call: XrpcCall, session: sessions.Session) -> dict[str, Any]:
    return {
        "accessJwt": session.access_jwt,
        "refreshJwt": session.refresh_jwt,
        **await _account_view(call, session.account, session.scope),
    }


# --- the node --------------------------------------------------------------------------------


async def describe_server(call: XrpcCall) -> Mapping[str, Any]:
    settings = call.context.settings
    host = settings.hostname.partition(":")[0]
    return {
        "did": identity.node_did(settings.hostname),
        "availableUserDomains": [f".{host}"],
        "inviteCodeRequired": not settings["pds.open_signup"],
        "phoneVerificationRequired": False,
    }


# --- accounts and sessions -------------------------------------------------------------------


async def create_account(call: XrpcCall) -> Mapping[str, Any]:
    body = await call.json_input()
    context = call.context
    if body.get("did") or body.get("plcOp"):
        raise InvalidRequest("this node does not take accounts migrated from elsewhere yet")
    password = body.get("password")
    if not password:
        raise InvalidRequest("a password is required", name="InvalidPassword")
    account = await sign_up_here(
        context.db,
        context.keys,
        context.settings,
        context.limits,
        address=client_address(call),
        handle=body["handle"],
        password=password,
        email=body.get("email") or None,
        invite_code=body.get("inviteCode"),
    )
    session = await sessions.open_session(
        context.db, context.keys, hostname=context.settings.hostname, account=account
    )
    return await _session_answer(call, session)


async def create_session(call: XrpcCall) -> Mapping[str, Any]:
    body = await call.json_input()
    context = call.context
    session = await sessions.create_session(
        context.db,
        context.keys,
        hostname=context.settings.hostname,
        identifier=body["identifier"],
        password=body["password"],
        address=client_address(call),
        auth_factor_token=body.get("authFactorToken") or None,
    )
    return await _session_answer(call, session)


async def refresh_session(call: XrpcCall) -> Mapping[str, Any]:
    context = call.context
    session = await sessions.refresh_session(
        context.db, context.keys, hostname=context.settings.hostname, token=bearer_token(call)
    )
    return await _session_answer(call, session)


async def get_session(call: XrpcCall) -> Mapping[str, Any]:
    viewer = await authenticated(call, allow_deactivated=True)
    account = await accounts.get_account(call.context.db, viewer.did)
    return await _account_view(call, account, viewer.scope)


async def delete_session(call: XrpcCall) -> None:
    context = call.context
    await sessions.delete_session(
        context.db, context.keys, hostname=context.settings.hostname, token=bearer_token(call)
    )


# --- app passwords ---------------------------------------------------------------------------


async def create_app_password(call: XrpcCall) -> Mapping[str, Any]:
    viewer = await authenticated(call, full_access=True)
    body = await call.json_input()
    created = await sessions.create_app_password(
        call.context.db,
        call.context.keys,
        did=viewer.did,
        name=body["name"],
        privileged=bool(body.get("privileged", False)),
    )
    return {
        "name": created.name,
        "password": created.password,
        "createdAt": format_datetime(created.created_at),
        "privileged": created.privileged,
    }


async def list_app_passwords(call: XrpcCall) -> Mapping[str, Any]:
    viewer = await authenticated(call, full_access=True)
    found = await sessions.list_app_passwords(call.context.db, viewer.did)
    return {
        "passwords": [
            {"name": p.name, "createdAt": format_datetime(p.created_at), "privileged": p.privileged}
            for p in found
        ]
    }


async def revoke_app_password(call: XrpcCall) -> None:
    viewer = await authenticated(call, full_access=True)
    body = await call.json_input()
    await sessions.revoke_app_password(call.context.db, did=viewer.did, name=body["name"])


# --- invite codes ----------------------------------------------------------------------------


async def _admin(call: XrpcCall) -> Account:
    # The role was checked against the permission table (invites.manage) before the call.
    viewer = await authenticated(call, full_access=True)
    return await accounts.get_account(call.context.db, viewer.did)


async def create_invite_code(call: XrpcCall) -> Mapping[str, Any]:
    admin = await _admin(call)
    body = await call.json_input()
    target = body.get("forAccount")
    created = await sessions.create_invite_codes(
        call.context.db,
        hostname=call.context.settings.hostname,
        created_by=admin.did,
        use_count=body["useCount"],
        for_accounts=[target] if target else None,
        actor=Actor(admin.did, client_address(call)),
    )
    return {"code": created[0][1][0]}


async def create_invite_codes(call: XrpcCall) -> Mapping[str, Any]:
    admin = await _admin(call)
    body = await call.json_input()
    created = await sessions.create_invite_codes(
        call.context.db,
        hostname=call.context.settings.hostname,
        created_by=admin.did,
        use_count=body["useCount"],
        code_count=body["codeCount"],
        for_accounts=list(body.get("forAccounts") or []) or None,
        actor=Actor(admin.did, client_address(call)),
    )
    return {"codes": [{"account": account, "codes": codes} for account, codes in created]}


# --- the account's own status ----------------------------------------------------------------


async def deactivate_account(call: XrpcCall) -> None:
    # `deleteAfter` is only a hint for the operator; this node keeps no schedule for it.
    viewer = await authenticated(call, full_access=True, allow_deactivated=True)
    await sessions.deactivate_account(call.context.db, viewer.did)


async def activate_account(call: XrpcCall) -> None:
    viewer = await authenticated(call, full_access=True, allow_deactivated=True)
    await sessions.activate_account(call.context.db, viewer.did)


async def request_account_delete(call: XrpcCall) -> None:
    viewer = await authenticated(call, full_access=True, allow_deactivated=True)
    await sessions.request_account_delete(call.context.db, viewer.did)


async def delete_account(call: XrpcCall) -> None:
    body = await call.json_input()
    await sessions.delete_account(
        call.context.db,
        call.context.blobs_dir,
        did=body["did"],
        password=body["password"],
        token=body["token"],
        address=client_address(call),
    )
    # Their listening goes with them (the figures are recounted without it).
    await forget_listener(call.context.listening, body["did"], rules=call.context.fraud_rules)

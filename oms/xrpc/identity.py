"""com.atproto.identity: resolving handles (local accounts, else DNS and HTTPS) and changing
one's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oms.config import Settings
from oms.pds import identity
from oms.pds.identity import HandleNotFound, IdentityResolver
from oms.xrpc.auth import authenticated
from oms.xrpc.dispatch import XrpcCall

__all__ = ["identity_resolver", "resolve_handle", "update_handle"]


def identity_resolver(call: XrpcCall) -> IdentityResolver:
    """The app's resolver of other identities, made on first use so its cache lasts."""
    state = call.request.app.state
    resolver: IdentityResolver | None = getattr(state, "identity_resolver", None)
    if resolver is None:
        resolver = _new_resolver(call.context.settings)
        state.identity_resolver = resolver
    return resolver


def _new_resolver(settings: Settings) -> IdentityResolver:
    # A node that itself lives on localhost is a development node: it may resolve the other
    # localhost nodes of the same machine; a public node must not be pointed at its loopback.
    return IdentityResolver(
        plc_directory=str(settings["pds.plc_directory"]) or identity.DEFAULT_PLC_DIRECTORY,
        loopback=identity.is_loopback_host(settings.hostname),
    )


def _under_host(handle: str, hostname: str) -> bool:
    host = hostname.split(":", 1)[0].lower()
    return handle == host or handle.endswith("." + host)


async def resolve_handle(call: XrpcCall) -> Mapping[str, Any]:
    handle = str(call.params["handle"]).lower()
    did = await identity.local_did_for_handle(call.context.db, handle)
    if did is not None:
        return {"did": did}
    if _under_host(handle, call.context.settings.hostname):
        # This node is the authority for names under its host: no need to ask anyone else.
        raise HandleNotFound(f"no account has the handle {handle}")
    return {"did": await identity_resolver(call).resolve_handle(handle)}


async def update_handle(call: XrpcCall) -> None:
    viewer = await authenticated(call, full_access=True)
    body = await call.json_input()
    await identity.update_handle(
        call.context.db, viewer.did, str(body["handle"]), hostname=call.context.settings.hostname
    )

"""Signing up on this node as its settings have it: the same rules for `createAccount` (XRPC)
and the web's `/signup` — the per-address rate limit (`limits.sign_ups_per_hour`), an invite
code unless `pds.open_signup`, the password policy, and a did:plc when `pds.plc_directory` is
set (else did:web)."""

from __future__ import annotations

import asyncio

from oms.config import Settings
from oms.db.database import Database
from oms.pds.accounts import Account
from oms.pds.keystore import KeyStore
from oms.pds.plc import plc_registration
from oms.pds.sessions import sign_up
from oms.ratelimits import Limit, RateLimits

__all__ = ["sign_up_here"]


async def sign_up_here(
    db: Database,
    keys: KeyStore,
    settings: Settings,
    limits: RateLimits,
    *,
    address: str,
    handle: str,
    password: str,
    email: str | None,
    invite_code: str | None,
) -> Account:
    per_hour = int(settings["limits.sign_ups_per_hour"])
    limits.hit(Limit("sign-up", per_hour, 3600, "sign-ups"), address)
    # Building the registration reads the node key from disk: off the event loop.
    plc = await asyncio.to_thread(
        plc_registration, str(settings["pds.plc_directory"]), keys, settings.public_url
    )
    return await sign_up(
        db,
        keys,
        hostname=settings.hostname,
        open_signup=bool(settings["pds.open_signup"]),
        handle=handle,
        password=password,
        email=email,
        invite_code=invite_code,
        min_password_length=int(settings["security.min_password_length"]),
        plc=plc,
    )

"""The first admin of a new node: a one-time setup token, redeemed once into an admin account.

Only a hash of the token is stored. A node with no active admin issues a fresh token at each
start (the previous one stops working), so a lost link is recovered by restarting.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from oms.audit import SETUP, record
from oms.db.database import Database
from oms.errors import Forbidden
from oms.pds.accounts import Account, create_account, handle_for
from oms.pds.keystore import KeyStore
from oms.pds.passwords import MIN_PASSWORD_LENGTH, check_policy
from oms.pds.plc import PlcRegistration
from oms.pds.store import now_ms

__all__ = [
    "SETUP_SETTINGS",
    "issue_setup_token",
    "needs_first_admin",
    "redeem_setup_token",
    "setup_settings",
    "setup_token_valid",
]

_KEY = "setup_token_sha256"
# Settings the first-run page may choose, kept in node_state as `setting:<key>`.
SETUP_SETTINGS = ("node.name", "server.public_url")
_SETTING = "setting:"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def needs_first_admin(db: Database) -> bool:
    row = await db.fetchone("SELECT 1 FROM accounts WHERE role = 'admin' AND status = 'active'")
    return row is None


async def issue_setup_token(db: Database) -> str | None:
    """A new one-time token when the node has no admin yet, else None."""
    if not await needs_first_admin(db):
        async with db.transaction() as tx:
            await tx.execute("DELETE FROM node_state WHERE key = ?", (_KEY,))
        return None
    token = secrets.token_urlsafe(24)
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO node_state (key, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE"
            " SET value = excluded.value, updated_at = excluded.updated_at",
            (_KEY, _digest(token), now_ms()),
        )
    return token


async def setup_token_valid(db: Database, token: str) -> bool:
    stored = await db.fetchval("SELECT value FROM node_state WHERE key = ?", (_KEY,))
    return stored is not None and hmac.compare_digest(stored, _digest(token))


async def redeem_setup_token(
    db: Database,
    keys: KeyStore,
    token: str,
    *,
    name: str,
    password: str,
    hostname: str,
    email: str | None = None,
    plc: PlcRegistration | None = None,
    chosen: Mapping[str, str] | None = None,
    min_password_length: int = MIN_PASSWORD_LENGTH,
) -> Account:
    """Create the first admin; the token works once, even under concurrent attempts, and is
    given back if the account cannot be created (e.g. the PLC directory is unreachable).

    `chosen` settings (of SETUP_SETTINGS: the node's name, its public address) are kept with
    the admin, and the setup is audited."""
    handle = handle_for(name, hostname)  # refuse a bad handle before the token is spent
    check_policy(password, min_length=min_password_length, handle=handle)
    async with db.transaction() as tx:
        consumed = await tx.fetchone(
            "DELETE FROM node_state WHERE key = ? AND value = ? RETURNING value",
            (_KEY, _digest(token)),
        )
    if consumed is None:
        raise Forbidden("this setup link is not valid (already used, or replaced by a restart)")
    try:
        account = await create_account(
            db,
            keys,
            name=name,
            password=password,
            role="admin",
            hostname=hostname,
            email=email,
            plc=plc,
            min_password_length=min_password_length,
        )
    except BaseException:
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT OR IGNORE INTO node_state (key, value, updated_at) VALUES (?, ?, ?)",
                (_KEY, _digest(token), now_ms()),
            )
        raise
    async with db.transaction() as tx:
        for key, value in (chosen or {}).items():
            if key not in SETUP_SETTINGS:
                raise ValueError(f"{key} is not chosen at setup")
            await tx.execute(
                "INSERT INTO node_state (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE"
                " SET value = excluded.value, updated_at = excluded.updated_at",
                (_SETTING + key, value, now_ms()),
            )
        await record(
            tx,
            SETUP,
            "setup.complete",
            account.did,
            after={"admin": account.handle, **dict(chosen or {})},
        )
    return account


async def setup_settings(db: Database) -> dict[str, str]:
    """The settings chosen on the first-run page (applied under the operator's own)."""
    rows = await db.fetchall(
        "SELECT key, value FROM node_state WHERE substr(key, 1, ?) = ?",
        (len(_SETTING), _SETTING),
    )
    return {row["key"].removeprefix(_SETTING): row["value"] for row in rows}

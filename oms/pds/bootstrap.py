"""The first admin of a new node: a one-time setup token, redeemed once into an admin account.

Only a hash of the token is stored. A node with no active admin issues a fresh token at each
start (the previous one stops working), so a lost link is recovered by restarting.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from oms.db.database import Database
from oms.errors import Forbidden
from oms.pds.accounts import Account, create_account, handle_for
from oms.pds.keystore import KeyStore
from oms.pds.passwords import check_policy
from oms.pds.plc import PlcRegistration
from oms.pds.store import now_ms

__all__ = ["issue_setup_token", "needs_first_admin", "redeem_setup_token", "setup_token_valid"]

_KEY = "setup_token_sha256"


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
) -> Account:
    """Create the first admin; the token works once, even under concurrent attempts, and is
    given back if the account cannot be created (e.g. the PLC directory is unreachable)."""
    handle_for(name, hostname)  # refuse a bad handle before the token is spent
    check_policy(password)
    async with db.transaction() as tx:
        consumed = await tx.fetchone(
            "DELETE FROM node_state WHERE key = ? AND value = ? RETURNING value",
            (_KEY, _digest(token)),
        )
    if consumed is None:
        raise Forbidden("this setup link is not valid (already used, or replaced by a restart)")
    try:
        return await create_account(
            db,
            keys,
            name=name,
            password=password,
            role="admin",
            hostname=hostname,
            email=email,
            plc=plc,
        )
    except BaseException:
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT OR IGNORE INTO node_state (key, value, updated_at) VALUES (?, ?, ?)",
                (_KEY, _digest(token), now_ms()),
            )
        raise

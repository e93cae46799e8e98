"""Password-reset links an admin (or the operator) issues for an account that lost its password.

A link carries a random token; only its SHA-256 is stored. It works once, until it expires,
and only the newest link of an account works. Using it sets the new password and ends every
session of the account, so whoever held the old password is signed out.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from oms.audit import Actor, record
from oms.db.database import Database
from oms.errors import Forbidden, NotFound
from oms.pds import store
from oms.pds.accounts import Account, get_account
from oms.pds.passwords import MIN_PASSWORD_LENGTH, hash_password
from oms.pds.store import now_ms

__all__ = ["ResetLink", "check_reset_token", "issue_reset_link", "redeem_reset_token"]

_HOUR_MS = 60 * 60 * 1000


@dataclass(frozen=True)
class ResetLink:
    token: str
    account: Account
    expires_at: int  # ms since the epoch


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_reset_link(
    db: Database, did_or_handle: str, *, actor: Actor, hours: int
) -> ResetLink:
    """A new reset token for the account, valid `hours`; earlier unused ones stop working.
    Audited as `account.reset_link` (without the token)."""
    account = await get_account(db, did_or_handle)
    if account.status == "deleted":
        raise NotFound(f"{account.handle} was deleted", name="AccountNotFound")
    token = secrets.token_urlsafe(32)
    created = now_ms()
    expires = created + hours * _HOUR_MS
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE password_resets SET used_at = ? WHERE did = ? AND used_at IS NULL",
            (created, account.did),
        )
        await tx.execute(
            "INSERT INTO password_resets (token_sha256, did, created_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (_digest(token), account.did, actor.id, created, expires),
        )
        await record(tx, actor, "account.reset_link", account.did, after={"expires_at": expires})
    return ResetLink(token, account, expires)


_INVALID = "this password-reset link is not valid: it was already used or replaced by a newer one"


async def check_reset_token(db: Database, token: str) -> Account:
    """The account a live reset token is for, or Forbidden saying why it does not work."""
    row = await db.fetchone(
        "SELECT did, expires_at, used_at FROM password_resets WHERE token_sha256 = ?",
        (_digest(token),),
    )
    if row is None or row["used_at"] is not None:
        raise Forbidden(_INVALID, name="InvalidResetLink")
    if row["expires_at"] <= now_ms():
        raise Forbidden(
            "this password-reset link has expired; ask an admin for a new one",
            name="ExpiredResetLink",
        )
    account = await get_account(db, row["did"])
    if account.status not in ("active", "deactivated"):
        raise Forbidden(f"the account {account.handle} is {account.status}")
    return account


async def redeem_reset_token(
    db: Database,
    token: str,
    password: str,
    *,
    address: str | None = None,
    min_password_length: int = MIN_PASSWORD_LENGTH,
) -> Account:
    """Set the account's new password with a live token, once; every session ends."""
    account = await check_reset_token(db, token)
    password_hash = await hash_password(
        password, handle=account.handle, min_length=min_password_length
    )
    async with db.transaction() as tx:
        used = await tx.fetchone(
            "UPDATE password_resets SET used_at = ? WHERE token_sha256 = ? AND used_at IS NULL"
            " AND expires_at > ? RETURNING did",
            (now_ms(), _digest(token), now_ms()),
        )
        if used is None:  # used by a concurrent request between the check and here
            raise Forbidden(_INVALID, name="InvalidResetLink")
        await store.update_account(tx, account.did, password_hash=password_hash)
        await store.revoke_sessions(tx, did=account.did)
        await record(tx, Actor(account.did, address), "account.reset_link_used", account.did)
    return account

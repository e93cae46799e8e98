"""The node's accounts: creation with an identity (did:web, or did:plc where a PLC directory is
configured) and a signing key, roles, status, passwords.

A bare name (`alice`) becomes a handle under the node's hostname (`alice.example.org`) and the
DID `did:web:alice.example.org` (a non-default port is kept, percent-encoded, as did:web says),
or a did:plc registered at the directory for that handle.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from oms.audit import Actor, record
from oms.db.database import Database, Transaction
from oms.errors import Conflict, InvalidRequest, NotFound
from oms.events import Event
from oms.pds import store
from oms.pds.keystore import KeyStore
from oms.pds.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from oms.pds.plc import PlcRegistration, create_plc_identity
from oms.pds.repo import delete_repository, init_repo, sequence_current_state
from oms.pds.sequencer import sequence_account, sequence_identity
from oms.pds.syntax import is_valid_handle
from oms.permissions import ROLES

__all__ = [
    "ROLES",
    "STATUSES",
    "Account",
    "AccountChanged",
    "AccountCreated",
    "authenticate",
    "create_account",
    "did_for_handle",
    "get_account",
    "handle_for",
    "handles_of",
    "is_last_active_admin",
    "list_accounts",
    "reset_password",
    "set_role",
    "set_status",
]

log = logging.getLogger(__name__)

STATUSES = ("active", "disabled", "deactivated", "deleted")
# How a status is told on the firehose (#account): an admin's "disabled" is a suspension.
_WIRE_STATUS = {"disabled": "suspended", "deactivated": "deactivated", "deleted": "deleted"}


@dataclass(frozen=True)
class Account:
    did: str
    handle: str
    email: str | None
    role: str
    status: str
    created_at: int


@dataclass(frozen=True)
class AccountCreated(Event):
    did: str
    handle: str
    role: str


@dataclass(frozen=True)
class AccountChanged(Event):
    did: str
    status: str


def _identifier(did_or_handle: str) -> str:
    # Handles are case-insensitive; DIDs are not (did:web's %3A must stay as it is).
    value = did_or_handle.strip()
    return value if value.startswith("did:") else value.lower()


def _account(row: sqlite3.Row) -> Account:
    return Account(
        did=row["did"],
        handle=row["handle"],
        email=row["email"],
        role=row["role"],
        status=row["status"],
        created_at=row["created_at"],
    )


def _split_host(hostname: str) -> tuple[str, str | None]:
    host, _, port = hostname.partition(":")
    return host, port or None


def handle_for(name: str, hostname: str) -> str:
    """`alice` → `alice.<node host>`; a full handle must lie under the node's host."""
    host, _ = _split_host(hostname)
    handle = name.strip().lower()
    if "." not in handle:
        handle = f"{handle}.{host}"
    if not is_valid_handle(handle):
        raise InvalidRequest(
            f"{name!r} is not a valid handle: use letters, digits and hyphens "
            f"(e.g. 'alice' becomes alice.{host})"
        )
    if not handle.endswith("." + host):
        raise InvalidRequest(
            f"handle {handle} is not under this node's hostname {host}; "
            f"this node can only serve identities for *.{host}"
        )
    return handle


def did_for_handle(handle: str, hostname: str) -> str:
    _, port = _split_host(hostname)
    return f"did:web:{handle}" + (f"%3A{port}" if port else "")


async def create_account(
    db: Database,
    keys: KeyStore,
    *,
    name: str,
    password: str,
    role: str,
    hostname: str,
    email: str | None = None,
    plc: PlcRegistration | None = None,
    actor: Actor | None = None,
    min_password_length: int = MIN_PASSWORD_LENGTH,
) -> Account:
    """Create an account with its signing key and empty repository, announced on the firehose.

    With `actor` (an admin, the operator), the creation is written to the audit log.

    With `plc`, the identity is a did:plc whose genesis operation (signed by the node
    key, naming the node as the account's PDS) the directory must accept before
    anything is written here; a refusal raises PlcDirectoryError. Otherwise it is did:web.
    """
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    handle = handle_for(name, hostname)
    email = email.strip().lower() if email else None
    if email is not None and ("@" not in email or len(email) > 254):
        raise InvalidRequest(f"{email!r} is not an email address")
    password_hash = await hash_password(password, handle=handle, min_length=min_password_length)
    if plc is not None:
        # Checked before the directory is asked, since a registered did:plc cannot be taken
        # back; and again in the transaction.
        await _check_available(db, handle=handle, did=None, email=email)
        key = keys.generate_account_key()
        did = await create_plc_identity(
            plc.directory,
            handle=handle,
            account_key=key,
            node_key=plc.node_key,
            pds_endpoint=plc.pds_endpoint,
        )
        await asyncio.to_thread(keys.store_account_key, did, key)
    else:
        did = did_for_handle(handle, hostname)
        await _check_available(db, handle=handle, did=did, email=email)
        if not keys.account_key_path(did).exists():
            await asyncio.to_thread(keys.create_account_key, did)
    try:
        async with db.transaction() as tx:
            await _check_available(tx, handle=handle, did=did, email=email)
            await store.insert_account(
                tx, did=did, handle=handle, email=email, password_hash=password_hash, role=role
            )
            # The identity, the account and its empty signed repository appear on the
            # firehose together, in the order a relay expects.
            await sequence_identity(tx, did, handle)
            await sequence_account(tx, did, active=True)
            await init_repo(tx, keys, did)
            tx.publish(AccountCreated(did, handle, role))
            if actor is not None:
                await record(
                    tx, actor, "account.create", did, after={"handle": handle, "role": role}
                )
            row = await store.fetch_account(tx, did)
    except BaseException:
        if plc is not None:
            # Its key stays: with it (or the node key) the operator can still tombstone it.
            log.warning(
                "%s was registered at %s for %s, but the account was not created",
                did,
                plc.directory,
                handle,
            )
        raise
    assert row is not None
    return _account(row)


async def _check_available(
    db: Database | Transaction, *, handle: str, did: str | None, email: str | None
) -> None:
    # A did:web stays with its account when the handle changes, so both are checked.
    taken = await store.fetch_account(db, handle) is not None
    if taken or (did is not None and await store.fetch_account(db, did) is not None):
        raise Conflict(f"handle {handle} is already taken", name="HandleNotAvailable")
    if email and await store.fetch_account_by_email(db, email) is not None:
        raise Conflict(f"email {email} is already in use")


async def get_account(db: Database, did_or_handle: str) -> Account:
    row = await store.fetch_account(db, _identifier(did_or_handle))
    if row is None:
        raise NotFound(f"no account {did_or_handle}", name="AccountNotFound")
    return _account(row)


async def handles_of(db: Database, dids: Sequence[str]) -> dict[str, str]:
    """The handles of the active local accounts among `dids`."""
    rows = await db.fetchall_in(
        "SELECT did, handle FROM accounts WHERE status = 'active' AND did", list(set(dids))
    )
    return {row["did"]: row["handle"] for row in rows}


async def list_accounts(db: Database) -> list[Account]:
    return [_account(row) for row in await store.fetch_accounts(db)]


async def is_last_active_admin(db: Database | Transaction, account: Account) -> bool:
    """Whether the node would be left without an active admin without `account`."""
    if account.role != "admin" or account.status != "active":
        return False
    other = await db.fetchone(
        "SELECT 1 FROM accounts WHERE role = 'admin' AND status = 'active' AND did <> ?",
        (account.did,),
    )
    return other is None


async def _refuse_losing_last_admin(tx: Transaction, account: Account, change: str) -> None:
    if await is_last_active_admin(tx, account):
        raise Conflict(
            f"{account.handle} is the node's last active admin and cannot be {change}; "
            "make another account admin first",
            name="LastAdmin",
        )


async def set_status(
    db: Database, did_or_handle: str, status: str, *, actor: Actor | None = None
) -> Account:
    """Change an account's status; an admin's or the operator's change (`actor`) is audited.
    The node's last active admin cannot be disabled, deactivated or deleted."""
    if status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    account = await get_account(db, did_or_handle)
    if account.status == "deleted":
        raise InvalidRequest(f"{account.did} was deleted; a deleted account stays deleted")
    async with db.transaction() as tx:
        if status != "active":
            await _refuse_losing_last_admin(tx, account, status)
        if actor is not None:
            await record(
                tx,
                actor,
                "account.status",
                account.did,
                before={"status": account.status},
                after={"status": status},
            )
        await store.update_account(tx, account.did, status=status)
        await sequence_account(
            tx, account.did, active=status == "active", status=_WIRE_STATUS.get(status)
        )
        if status == "deleted":
            await delete_repository(tx, account.did)
        elif status == "active" and account.status != "active":
            await sequence_current_state(tx, account.did)
        tx.publish(AccountChanged(account.did, status))
    return await get_account(db, account.did)


async def set_role(db: Database, did_or_handle: str, role: str, *, actor: Actor) -> Account:
    """Give an account another role (audited). The last active admin keeps theirs."""
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    account = await get_account(db, did_or_handle)
    if account.role == role:
        return account
    if account.status == "deleted":
        raise InvalidRequest(f"{account.did} was deleted; its role cannot change")
    async with db.transaction() as tx:
        await _refuse_losing_last_admin(tx, account, f"made {role}")
        await store.update_account(tx, account.did, role=role)
        await record(
            tx,
            actor,
            "account.role",
            account.did,
            before={"role": account.role},
            after={"role": role},
        )
    return await get_account(db, account.did)


async def reset_password(
    db: Database,
    did_or_handle: str,
    password: str,
    *,
    actor: Actor | None = None,
    min_password_length: int = MIN_PASSWORD_LENGTH,
) -> Account:
    """Set a new password (by the operator or an admin: `actor`, audited); every session and
    browser signed in with the old one ends."""
    account = await get_account(db, did_or_handle)
    password_hash = await hash_password(
        password, handle=account.handle, min_length=min_password_length
    )
    async with db.transaction() as tx:
        await store.update_account(tx, account.did, password_hash=password_hash)
        await store.revoke_sessions(tx, did=account.did)
        if actor is not None:
            await record(tx, actor, "account.password_reset", account.did)
    return account


async def authenticate(db: Database, did_or_handle: str, password: str) -> Account | None:
    """The active account with this identifier and password, or None (no hint which was wrong)."""
    row = await store.fetch_account(db, _identifier(did_or_handle))
    if row is None or not await verify_password(row["password_hash"], password):
        return None
    account = _account(row)
    return account if account.status == "active" else None

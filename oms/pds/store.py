"""The PDS room's SQL. Private to `oms.pds`: other rooms go through its public functions."""

from __future__ import annotations

import sqlite3
import time

from oms.db.database import Database, Transaction

__all__ = [
    "fetch_account",
    "fetch_accounts",
    "insert_account",
    "update_account",
]

_ACCOUNT_COLUMNS = "did, handle, email, password_hash, role, status, created_at, updated_at"


def now_ms() -> int:
    return int(time.time() * 1000)


async def insert_account(
    tx: Transaction, *, did: str, handle: str, email: str | None, password_hash: str, role: str
) -> None:
    stamp = now_ms()
    await tx.execute(
        "INSERT INTO accounts (did, handle, email, password_hash, role, status, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?)",
        (did, handle, email, password_hash, role, stamp, stamp),
    )


async def fetch_account(db: Database | Transaction, did_or_handle: str) -> sqlite3.Row | None:
    column = "did" if did_or_handle.startswith("did:") else "handle"
    return await db.fetchone(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE {column} = ?",  # noqa: S608 - constants
        (did_or_handle,),
    )


async def fetch_accounts(db: Database) -> list[sqlite3.Row]:
    return await db.fetchall(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, did"  # noqa: S608
    )


async def update_account(tx: Transaction, did: str, **columns: str) -> None:
    allowed = {"password_hash", "status", "role", "email", "handle"}
    unknown = set(columns) - allowed
    if unknown:
        raise ValueError(f"not account columns: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ?" for name in columns)
    await tx.execute(
        f"UPDATE accounts SET {assignments}, updated_at = ? WHERE did = ?",  # noqa: S608
        (*columns.values(), now_ms(), did),
    )

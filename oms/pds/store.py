"""The PDS room's SQL. Private to `oms.pds`: other rooms go through its public functions."""

from __future__ import annotations

import sqlite3
import time

from oms.db.database import Database, Transaction

__all__ = [
    "clear_sign_in_failures",
    "consume_deletion_token",
    "count_invite_uses",
    "delete_app_password",
    "delete_invite_use",
    "fetch_account",
    "fetch_account_by_email",
    "fetch_accounts",
    "fetch_app_password",
    "fetch_app_password_by_lookup",
    "fetch_app_passwords",
    "fetch_deletion_token",
    "fetch_invite_code",
    "fetch_invite_codes",
    "fetch_refresh_token",
    "fetch_session",
    "insert_account",
    "insert_app_password",
    "insert_invite_code",
    "insert_invite_use",
    "insert_refresh_token",
    "insert_session",
    "insert_sign_in_failure",
    "move_invite_use",
    "prune_auth_rows",
    "put_deletion_token",
    "revoke_refresh_token",
    "revoke_sessions",
    "sign_in_failure_times",
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


async def fetch_account_by_email(db: Database | Transaction, email: str) -> sqlite3.Row | None:
    return await db.fetchone(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE email = ?",  # noqa: S608 - constants
        (email,),
    )


# --- sessions and refresh tokens -------------------------------------------------------------


async def insert_session(
    tx: Transaction, *, session_id: str, did: str, scope: str, app_password_id: int | None
) -> None:
    await tx.execute(
        "INSERT INTO sessions (id, did, scope, app_password_id, created_at) VALUES (?, ?, ?, ?, ?)",
        (session_id, did, scope, app_password_id, now_ms()),
    )


async def fetch_session(db: Database | Transaction, session_id: str) -> sqlite3.Row | None:
    """The session with its account's status (`status`) and role (`role`)."""
    return await db.fetchone(
        "SELECT s.id, s.did, s.scope, s.revoked_at, a.status, a.role FROM sessions s"
        " JOIN accounts a ON a.did = s.did WHERE s.id = ?",
        (session_id,),
    )


async def insert_refresh_token(
    tx: Transaction, *, jti: str, session_id: str, did: str, expires_at: int
) -> None:
    await tx.execute(
        "INSERT INTO refresh_tokens (jti, session_id, did, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (jti, session_id, did, now_ms(), expires_at),
    )


async def fetch_refresh_token(db: Database | Transaction, jti: str) -> sqlite3.Row | None:
    """The token with its session (`scope`, `session_revoked_at`) and account `status`."""
    return await db.fetchone(
        "SELECT t.jti, t.session_id, t.did, t.expires_at, t.revoked_at,"
        " s.scope, s.revoked_at AS session_revoked_at, a.status"
        " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id"
        " JOIN accounts a ON a.did = t.did WHERE t.jti = ?",
        (jti,),
    )


async def revoke_refresh_token(tx: Transaction, jti: str) -> None:
    await tx.execute(
        "UPDATE refresh_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL",
        (now_ms(), jti),
    )


async def revoke_sessions(
    tx: Transaction,
    *,
    session_id: str | None = None,
    did: str | None = None,
    app_password_id: int | None = None,
) -> None:
    """End the sessions that match (one session, an account's, an app password's) and
    revoke their refresh tokens."""
    value: str | int
    if session_id is not None:
        where, value = "id = ?", session_id
    elif app_password_id is not None:
        where, value = "app_password_id = ?", app_password_id
    elif did is not None:
        where, value = "did = ?", did
    else:
        raise ValueError("revoke_sessions needs a session id, a DID or an app password id")
    stamp = now_ms()
    await tx.execute(
        "UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND session_id IN"  # noqa: S608 - constants
        f" (SELECT id FROM sessions WHERE {where})",
        (stamp, value),
    )
    await tx.execute(
        f"UPDATE sessions SET revoked_at = ? WHERE revoked_at IS NULL AND {where}",  # noqa: S608
        (stamp, value),
    )


async def prune_auth_rows(tx: Transaction, *, failures_before: int) -> None:
    """Forget what can no longer matter: refresh tokens and browser sessions past their expiry
    or whose session ended a day ago (refused just the same once they are gone), sessions left
    with neither, sign-in failures older than the throttle window, stale deletion tokens."""
    stamp = now_ms()
    ended_before = stamp - 24 * 60 * 60 * 1000
    await tx.execute(
        "DELETE FROM refresh_tokens WHERE expires_at < ? OR session_id IN"
        " (SELECT id FROM sessions WHERE revoked_at < ?)",
        (stamp, ended_before),
    )
    await tx.execute(
        "DELETE FROM web_sessions WHERE expires_at < ? OR session_id IN"
        " (SELECT id FROM sessions WHERE revoked_at < ?)",
        (stamp, ended_before),
    )
    await tx.execute(
        "DELETE FROM sessions WHERE created_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = sessions.id)"
        " AND NOT EXISTS (SELECT 1 FROM web_sessions w WHERE w.session_id = sessions.id)",
        (stamp - 60_000,),
    )
    await tx.execute("DELETE FROM sign_in_failures WHERE failed_at < ?", (failures_before,))
    await tx.execute("DELETE FROM account_deletion_tokens WHERE expires_at < ?", (stamp,))


# --- app passwords ---------------------------------------------------------------------------

_APP_PASSWORD_COLUMNS = "id, did, name, lookup, password_hash, privileged, created_at"  # noqa: S105


async def insert_app_password(
    tx: Transaction, *, did: str, name: str, lookup: str, password_hash: str, privileged: bool
) -> int:
    stamp = now_ms()
    cursor = await tx.execute(
        "INSERT INTO app_passwords (did, name, lookup, password_hash, privileged, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (did, name, lookup, password_hash, int(privileged), stamp),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def fetch_app_passwords(db: Database | Transaction, did: str) -> list[sqlite3.Row]:
    return await db.fetchall(
        f"SELECT {_APP_PASSWORD_COLUMNS} FROM app_passwords"  # noqa: S608 - constants
        " WHERE did = ? ORDER BY created_at, id",
        (did,),
    )


async def fetch_app_password(db: Database | Transaction, did: str, name: str) -> sqlite3.Row | None:
    return await db.fetchone(
        f"SELECT {_APP_PASSWORD_COLUMNS} FROM app_passwords"  # noqa: S608 - constants
        " WHERE did = ? AND name = ?",
        (did, name),
    )


async def fetch_app_password_by_lookup(
    db: Database | Transaction, lookup: str
) -> sqlite3.Row | None:
    return await db.fetchone(
        f"SELECT {_APP_PASSWORD_COLUMNS} FROM app_passwords"  # noqa: S608 - constants
        " WHERE lookup = ?",
        (lookup,),
    )


async def delete_app_password(tx: Transaction, app_password_id: int) -> None:
    await tx.execute("DELETE FROM app_passwords WHERE id = ?", (app_password_id,))


# --- invite codes ----------------------------------------------------------------------------


async def insert_invite_code(
    tx: Transaction, *, code: str, use_count: int, for_did: str, created_by: str, role: str
) -> None:
    await tx.execute(
        "INSERT INTO invite_codes (code, use_count, for_did, created_by, created_at, role)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (code, use_count, for_did, created_by, now_ms(), role),
    )


async def fetch_invite_code(db: Database | Transaction, code: str) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT code, use_count, for_did, created_by, disabled, created_at, role"
        " FROM invite_codes WHERE code = ?",
        (code,),
    )


async def fetch_invite_codes(db: Database | Transaction, limit: int) -> list[sqlite3.Row]:
    """The newest invite codes with how many accounts used each (`used`)."""
    return await db.fetchall(
        "SELECT c.code, c.use_count, c.role, c.disabled, c.created_at, c.created_by,"
        " (SELECT count(*) FROM invite_code_uses u WHERE u.code = c.code) AS used"
        " FROM invite_codes c ORDER BY c.created_at DESC LIMIT ?",
        (limit,),
    )


async def count_invite_uses(db: Database | Transaction, code: str) -> int:
    row = await db.fetchone("SELECT count(*) FROM invite_code_uses WHERE code = ?", (code,))
    return int(row[0]) if row else 0


async def insert_invite_use(tx: Transaction, *, code: str, used_by: str) -> None:
    await tx.execute(
        "INSERT INTO invite_code_uses (code, used_by, used_at) VALUES (?, ?, ?)",
        (code, used_by, now_ms()),
    )


async def delete_invite_use(tx: Transaction, *, code: str, used_by: str) -> None:
    await tx.execute("DELETE FROM invite_code_uses WHERE code = ? AND used_by = ?", (code, used_by))


async def move_invite_use(tx: Transaction, *, code: str, used_by: str, to: str) -> None:
    await tx.execute(
        "UPDATE invite_code_uses SET used_by = ? WHERE code = ? AND used_by = ?",
        (to, code, used_by),
    )


# --- sign-in throttling ----------------------------------------------------------------------


async def insert_sign_in_failure(tx: Transaction, *, did: str | None, address: str) -> None:
    await tx.execute(
        "INSERT INTO sign_in_failures (did, address, failed_at) VALUES (?, ?, ?)",
        (did, address, now_ms()),
    )


async def sign_in_failure_times(
    db: Database | Transaction, *, since: int, did: str | None = None, address: str | None = None
) -> list[int]:
    """When the failures of an account (or from an address) since `since` happened, oldest
    first."""
    if did is not None:
        rows = await db.fetchall(
            "SELECT failed_at FROM sign_in_failures WHERE did = ? AND failed_at >= ?"
            " ORDER BY failed_at",
            (did, since),
        )
    elif address is not None:
        rows = await db.fetchall(
            "SELECT failed_at FROM sign_in_failures WHERE address = ? AND failed_at >= ?"
            " ORDER BY failed_at",
            (address, since),
        )
    else:
        raise ValueError("sign_in_failure_times needs a DID or an address")
    return [int(row[0]) for row in rows]


async def clear_sign_in_failures(tx: Transaction, did: str) -> None:
    await tx.execute("DELETE FROM sign_in_failures WHERE did = ?", (did,))


# --- account deletion tokens -----------------------------------------------------------------


async def put_deletion_token(
    tx: Transaction, *, did: str, token_hash: str, expires_at: int
) -> None:
    await tx.execute(
        "INSERT INTO account_deletion_tokens (did, token_hash, created_at, expires_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (did) DO UPDATE SET token_hash = excluded.token_hash,"
        " created_at = excluded.created_at, expires_at = excluded.expires_at",
        (did, token_hash, now_ms(), expires_at),
    )


async def fetch_deletion_token(db: Database | Transaction, did: str) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT did, token_hash, created_at, expires_at FROM account_deletion_tokens WHERE did = ?",
        (did,),
    )


async def consume_deletion_token(tx: Transaction, did: str) -> None:
    await tx.execute("DELETE FROM account_deletion_tokens WHERE did = ?", (did,))

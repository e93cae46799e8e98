"""Browser sign-ins: a random cookie token that names one server-side session, with the CSRF
token its forms must carry, a sliding expiry, and the list of an account's sessions.

A web session is a row of `sessions` like any other sign-in, so "sign out everywhere", an
admin's takedown or the account's deletion end it with the rest. Only a SHA-256 digest of the
cookie is stored: a copy of the database does not let anyone in.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass

from oms.db.database import Database
from oms.errors import NotFound
from oms.pds import store
from oms.pds.accounts import Account
from oms.pds.store import now_ms
from oms.pds.tokens import ACCESS_SCOPE

__all__ = [
    "COOKIE_NAME",
    "CSRF_HEADER",
    "SessionInfo",
    "WebSession",
    "end_all_sessions",
    "end_web_session",
    "find_web_session",
    "list_sessions",
    "revoke_session",
    "start_web_session",
]

# The cookie that names a browser's session, and the header in which its scripts send the
# session's CSRF token with XRPC calls.
COOKIE_NAME = "oms_session"
CSRF_HEADER = "x-csrf-token"

# A session's expiry moves with use, but at most once in this long, to spare the writer.
_TOUCH_EVERY_MS = 10 * 60 * 1000
_MAX_USER_AGENT = 300
_DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class WebSession:
    """The account signed in with this browser, as its pages need it."""

    session_id: str
    did: str
    handle: str
    role: str
    csrf_token: str
    created_at: int
    expires_at: int


@dataclass(frozen=True)
class SessionInfo:
    """One open sign-in of an account, as its session list shows it."""

    session_id: str
    kind: str  # "browser" | "app"
    label: str  # the browser's user agent, or the app password's name
    created_at: int
    seen_at: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_web_session(
    db: Database, account: Account, *, user_agent: str, lifetime_days: int
) -> tuple[str, WebSession]:
    """A new session for an authenticated account, and the cookie token that names it.

    Always a new token: a session id planted in the browser before sign-in is never promoted
    (session fixation)."""
    token = secrets.token_urlsafe(32)
    session_id = secrets.token_urlsafe(16)
    csrf = secrets.token_urlsafe(32)
    stamp = now_ms()
    expires = stamp + lifetime_days * _DAY_MS
    async with db.transaction() as tx:
        await store.insert_session(
            tx, session_id=session_id, did=account.did, scope=ACCESS_SCOPE, app_password_id=None
        )
        await tx.execute(
            "INSERT INTO web_sessions (token_sha256, session_id, csrf_token, user_agent,"
            " created_at, seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_digest(token), session_id, csrf, user_agent[:_MAX_USER_AGENT], stamp, stamp, expires),
        )
    session = WebSession(
        session_id, account.did, account.handle, account.role, csrf, stamp, expires
    )
    return token, session


async def find_web_session(db: Database, token: str, *, lifetime_days: int) -> WebSession | None:
    """The live session a cookie names: not expired, not revoked, its account active."""
    if not token or len(token) > 200:
        return None
    row = await db.fetchone(
        "SELECT w.session_id, w.csrf_token, w.created_at, w.seen_at, w.expires_at,"
        " a.did, a.handle, a.role, a.status, s.revoked_at"
        " FROM web_sessions w JOIN sessions s ON s.id = w.session_id"
        " JOIN accounts a ON a.did = s.did WHERE w.token_sha256 = ?",
        (_digest(token),),
    )
    stamp = now_ms()
    if (
        row is None
        or row["revoked_at"] is not None
        or row["status"] != "active"
        or row["expires_at"] <= stamp
    ):
        return None
    expires = int(row["expires_at"])
    if stamp - int(row["seen_at"]) >= _TOUCH_EVERY_MS:
        expires = stamp + lifetime_days * _DAY_MS
        async with db.transaction() as tx:
            await tx.execute(
                "UPDATE web_sessions SET seen_at = ?, expires_at = ? WHERE session_id = ?",
                (stamp, expires, row["session_id"]),
            )
    return WebSession(
        row["session_id"],
        row["did"],
        row["handle"],
        row["role"],
        row["csrf_token"],
        row["created_at"],
        expires,
    )


async def end_web_session(db: Database, token: str) -> None:
    """Sign out this browser: its session ends at once."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT session_id FROM web_sessions WHERE token_sha256 = ?", (_digest(token),)
        )
        if row is not None:
            await store.revoke_sessions(tx, session_id=row["session_id"])


def _info(row: sqlite3.Row) -> SessionInfo:
    browser = row["user_agent"] is not None
    label = row["user_agent"] if browser else (row["app_password"] or "signed in with password")
    return SessionInfo(
        row["id"],
        "browser" if browser else "app",
        label or "unknown browser",
        row["created_at"],
        row["seen_at"] or row["created_at"],
    )


async def list_sessions(db: Database, did: str) -> list[SessionInfo]:
    """Every open sign-in of the account, browsers and apps, most recently used first."""
    stamp = now_ms()
    rows = await db.fetchall(
        "SELECT s.id, s.created_at, w.user_agent, p.name AS app_password,"
        " COALESCE(w.seen_at, (SELECT MAX(t.created_at) FROM refresh_tokens t"
        "   WHERE t.session_id = s.id)) AS seen_at"
        " FROM sessions s LEFT JOIN web_sessions w ON w.session_id = s.id"
        " LEFT JOIN app_passwords p ON p.id = s.app_password_id"
        " WHERE s.did = ? AND s.revoked_at IS NULL"
        " AND (w.expires_at > ? OR (w.session_id IS NULL AND EXISTS (SELECT 1 FROM"
        "   refresh_tokens t WHERE t.session_id = s.id AND t.revoked_at IS NULL"
        "   AND t.expires_at > ?)))"
        " ORDER BY seen_at DESC, s.created_at DESC",
        (did, stamp, stamp),
    )
    return [_info(row) for row in rows]


async def revoke_session(db: Database, did: str, session_id: str) -> None:
    """End one of the account's own sessions (another account's is not found)."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT 1 FROM sessions WHERE id = ? AND did = ? AND revoked_at IS NULL",
            (session_id, did),
        )
        if row is not None:
            await store.revoke_sessions(tx, session_id=session_id)
    if row is None:
        raise NotFound("no such open session of this account")


async def end_all_sessions(db: Database, did: str) -> None:
    """Sign out everywhere: every browser and app session of the account ends."""
    async with db.transaction() as tx:
        await store.revoke_sessions(tx, did=did)

"""Signing in and staying signed in: sessions with rotating refresh tokens, app passwords,
invite codes, sign-in throttling, and the account's own status changes (deactivate, delete).

Tokens are `oms.pds.tokens`; this module decides which of them are still good.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from oms.audit import Actor, record
from oms.db.database import Database, Transaction
from oms.errors import AuthRequired, Conflict, InvalidRequest, NotFound, OmsError, RateLimitExceeded
from oms.pds import accounts, second_factor, store
from oms.pds.accounts import Account
from oms.pds.blobs import remove_account_blobs
from oms.pds.identity import node_did
from oms.pds.keystore import KeyStore
from oms.pds.passwords import MIN_PASSWORD_LENGTH, check_policy, hash_password, verify_password
from oms.pds.plc import PlcRegistration
from oms.pds.tokens import (
    ACCESS_SCOPE,
    ACCESS_TYPE,
    APP_PASS_PRIVILEGED_SCOPE,
    APP_PASS_SCOPE,
    REFRESH_LIFETIME,
    REFRESH_TYPE,
    invalid_token,
    issue_access_token,
    issue_refresh_token,
    verify_token,
)
from oms.permissions import ROLES

__all__ = [
    "ACCOUNT_FAILURE_LIMIT",
    "ADDRESS_FAILURE_LIMIT",
    "DELETION_TOKEN_LIFETIME_MS",
    "MAX_APP_PASSWORDS",
    "SIGN_IN_WINDOW_MS",
    "AccessGrant",
    "AppPassword",
    "InviteCode",
    "NewAppPassword",
    "Session",
    "activate_account",
    "check_second_factor",
    "check_sign_in",
    "create_app_password",
    "create_invite_codes",
    "create_session",
    "deactivate_account",
    "delete_account",
    "delete_own_account",
    "delete_session",
    "finish_sign_in",
    "list_app_passwords",
    "list_invite_codes",
    "open_session",
    "refresh_session",
    "request_account_delete",
    "revoke_app_password",
    "sign_up",
    "verify_access",
]

log = logging.getLogger(__name__)

# Ten wrong passwords for one account in 15 minutes lock it for the rest of the window; an
# address gets more, since several people may share one (a household, a venue's Wi-Fi).
SIGN_IN_WINDOW_MS = 15 * 60 * 1000
ACCOUNT_FAILURE_LIMIT = 10
ADDRESS_FAILURE_LIMIT = 30

MAX_APP_PASSWORDS = 25
MAX_APP_PASSWORD_NAME = 100
# 16 characters of base32: 80 random bits, typeable on a phone.
_APP_PASSWORD = re.compile(r"[a-z2-7]{4}(?:-[a-z2-7]{4}){3}")
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"

MAX_INVITE_USES = 10_000
MAX_INVITE_CODES = 1_000
DELETION_TOKEN_LIFETIME_MS = 15 * 60 * 1000


@dataclass(frozen=True)
class Session:
    """A freshly signed-in (or refreshed) session: the tokens to hand to the client."""

    account: Account
    access_jwt: str
    refresh_jwt: str
    scope: str


@dataclass(frozen=True)
class AccessGrant:
    """What a valid access token grants: the account, its scope, and the account's status."""

    did: str
    scope: str
    session_id: str
    status: str
    role: str


@dataclass(frozen=True)
class AppPassword:
    name: str
    created_at: int
    privileged: bool


@dataclass(frozen=True)
class NewAppPassword:
    """An app password just created; `password` is shown this once and never stored."""

    name: str
    password: str
    created_at: int
    privileged: bool


def _now_ms() -> int:
    return int(time.time() * 1000)


def _random_code(groups: int, size: int) -> str:
    return "-".join("".join(secrets.choice(_BASE32) for _ in range(size)) for _ in range(groups))


def _jwt_secret(keys: KeyStore) -> bytes:
    return keys.secret("jwt")


# --- sessions --------------------------------------------------------------------------------


async def open_session(
    db: Database,
    keys: KeyStore,
    *,
    hostname: str,
    account: Account,
    scope: str = ACCESS_SCOPE,
    app_password_id: int | None = None,
) -> Session:
    """Start a session for `account` (already authenticated) and issue its first tokens."""
    session_id = secrets.token_urlsafe(16)
    async with db.transaction() as tx:
        await store.insert_session(
            tx,
            session_id=session_id,
            did=account.did,
            scope=scope,
            app_password_id=app_password_id,
        )
        access, refresh = await _issue_pair(
            tx, keys, hostname=hostname, did=account.did, scope=scope, session_id=session_id
        )
        await store.prune_auth_rows(tx, failures_before=_now_ms() - SIGN_IN_WINDOW_MS)
    return Session(account, access, refresh, scope)


async def _issue_pair(
    tx: Transaction, keys: KeyStore, *, hostname: str, did: str, scope: str, session_id: str
) -> tuple[str, str]:
    now = time.time()
    secret = _jwt_secret(keys)
    audience = node_did(hostname)
    jti = secrets.token_urlsafe(24)
    access = issue_access_token(
        secret, did=did, scope=scope, audience=audience, session_id=session_id, now=now
    )
    refresh = issue_refresh_token(secret, did=did, audience=audience, jti=jti, now=now)
    await store.insert_refresh_token(
        tx,
        jti=jti,
        session_id=session_id,
        did=did,
        expires_at=(int(now) + REFRESH_LIFETIME) * 1000,
    )
    return access, refresh


async def create_session(
    db: Database,
    keys: KeyStore,
    *,
    hostname: str,
    identifier: str,
    password: str,
    address: str,
    auth_factor_token: str | None = None,
) -> Session:
    """Sign in with a handle, DID or email and the account password or one of its app
    passwords (which gives an app-password scope). Throttled per account and per address.

    An account with two-factor sign-in on also needs `auth_factor_token` (a code from its
    authenticator app, or a recovery code) with its own password; without one the answer is
    AuthFactorTokenRequired. App passwords are not asked for one, as in ATProto."""
    row = await _find_account(db, identifier, hostname)
    did = row["did"] if row is not None else None
    await _check_throttle(db, did=did, address=address)
    scope: str | None = None
    app_password_id: int | None = None
    if row is None:
        await _waste_a_verification(password)
    else:
        app_password = await _matching_app_password(db, keys, row["did"], password)
        if app_password is not None:
            if await verify_password(app_password["password_hash"], password):
                scope = APP_PASS_PRIVILEGED_SCOPE if app_password["privileged"] else APP_PASS_SCOPE
                app_password_id = int(app_password["id"])
        elif await verify_password(row["password_hash"], password):
            scope = ACCESS_SCOPE
    if row is None or scope is None:
        await _record_failure(db, did=did, address=address)
        raise AuthRequired("wrong identifier or password")
    if app_password_id is None and await second_factor.is_enabled(db, row["did"]):
        if not auth_factor_token:
            raise AuthRequired(
                "this account signs in with a second factor: send authFactorToken with a code"
                " from its authenticator app or one of its recovery codes",
                name="AuthFactorTokenRequired",
            )
        await check_second_factor(db, keys, did=row["did"], code=auth_factor_token, address=address)
    else:
        async with db.transaction() as tx:
            await store.clear_sign_in_failures(tx, row["did"])
    if row["status"] == "disabled":
        raise _takedown()
    account = await accounts.get_account(db, row["did"])
    return await open_session(
        db, keys, hostname=hostname, account=account, scope=scope, app_password_id=app_password_id
    )


async def check_sign_in(
    db: Database, *, hostname: str, identifier: str, password: str, address: str
) -> Account:
    """The active account that `identifier` and its own password (never an app password)
    name, for a person signing in with a browser. Throttled like `create_session`, and as
    slow for an unknown identifier as for a wrong password.

    For an account with two-factor sign-in on, the password alone is not a sign-in: the
    caller asks for a code next (`finish_sign_in`), and the account's failures are cleared
    only once the code is right too, so a known password does not reset the throttle on
    guessing codes."""
    row = await _find_account(db, identifier, hostname)
    if row is None:
        await _check_throttle(db, did=None, address=address)
        await _waste_a_verification(password)
        await _record_failure(db, did=None, address=address)
        raise AuthRequired("wrong identifier or password")
    await _check_throttle(db, did=row["did"], address=address)
    if not await verify_password(row["password_hash"], password):
        await _record_failure(db, did=row["did"], address=address)
        raise AuthRequired("wrong identifier or password")
    if not await second_factor.is_enabled(db, row["did"]):
        async with db.transaction() as tx:
            await store.clear_sign_in_failures(tx, row["did"])
    if row["status"] == "disabled":
        raise _takedown()
    if row["status"] != "active":
        raise AuthRequired("this account is deactivated", name="AccountDeactivated")
    return await accounts.get_account(db, row["did"])


async def check_second_factor(
    db: Database, keys: KeyStore, *, did: str, code: str, address: str
) -> None:
    """A code from the account's authenticator app, or one of its unused recovery codes.
    Each is good once; a wrong one counts as a failed sign-in (same throttle as passwords)."""
    await _check_throttle(db, did=did, address=address)
    if not await second_factor.use_code(db, keys, did, code):
        await _record_failure(db, did=did, address=address)
        raise InvalidRequest(
            "that code is wrong or was already used; enter the 6 digits your authenticator app"
            " shows now, or an unused recovery code",
            name="InvalidToken",
        )
    async with db.transaction() as tx:
        await store.clear_sign_in_failures(tx, did)


async def finish_sign_in(
    db: Database, keys: KeyStore, *, token: str, code: str, address: str
) -> tuple[Account, str]:
    """The second step of a browser sign-in: the account that the pending sign-in `token`
    (from `second_factor.start_pending_sign_in`) names, once `code` is right (see
    `check_second_factor`), and the path to go on to. The token works once."""
    pending = await second_factor.pending_sign_in(db, token)
    if pending is None:
        raise AuthRequired("this sign-in has expired; enter your password again")
    await check_second_factor(db, keys, did=pending.did, code=code, address=address)
    if not await second_factor.finish_pending_sign_in(db, token):
        raise AuthRequired("this sign-in has expired; enter your password again")
    account = await accounts.get_account(db, pending.did)
    if account.status == "disabled":
        raise _takedown()
    if account.status != "active":
        raise AuthRequired("this account is not active", name="AccountDeactivated")
    return account, pending.next_path


async def refresh_session(db: Database, keys: KeyStore, *, hostname: str, token: str) -> Session:
    """Rotate: the refresh token presented is revoked and a new pair issued for its session.

    A refresh token that was already rotated away and comes back means two parties hold it;
    the session ends for both (the owner signs in again, the other party is out).
    """
    claims = verify_token(_jwt_secret(keys), token, typ=REFRESH_TYPE, audience=node_did(hostname))
    assert claims.jti is not None
    async with db.transaction() as tx:
        row = await store.fetch_refresh_token(tx, claims.jti)
        refused = _refusal(row, claims.sub)
        if refused is None and row is not None:
            await store.revoke_refresh_token(tx, claims.jti)
            scope = str(row["scope"])
            access, refresh = await _issue_pair(
                tx,
                keys,
                hostname=hostname,
                did=claims.sub,
                scope=scope,
                session_id=row["session_id"],
            )
        elif row is not None and row["revoked_at"] is not None:
            await store.revoke_sessions(tx, session_id=row["session_id"])
            log.warning("a rotated refresh token of %s was used again; session ended", claims.sub)
    # Raised after the transaction, so that ending a session on reuse is committed.
    if refused is not None:
        raise refused
    account = await accounts.get_account(db, claims.sub)
    return Session(account, access, refresh, scope)


def _refusal(row: sqlite3.Row | None, did: str) -> OmsError | None:
    """Why this refresh token row cannot be rotated, or None when it can."""
    if row is None or row["did"] != did or row["session_revoked_at"] is not None:
        return invalid_token("this session has ended; sign in again")
    if row["revoked_at"] is not None:
        return invalid_token("this refresh token was already used; sign in again")
    if row["status"] == "disabled":
        return _takedown()
    if row["status"] not in ("active", "deactivated"):
        return invalid_token("this account no longer exists")
    return None


async def delete_session(db: Database, keys: KeyStore, *, hostname: str, token: str) -> None:
    """Sign out: end the session of this refresh token, its access tokens included."""
    claims = verify_token(_jwt_secret(keys), token, typ=REFRESH_TYPE, audience=node_did(hostname))
    assert claims.jti is not None
    async with db.transaction() as tx:
        row = await store.fetch_refresh_token(tx, claims.jti)
        if row is not None and row["did"] == claims.sub:
            await store.revoke_sessions(tx, session_id=row["session_id"])
    if row is None or row["did"] != claims.sub:
        raise invalid_token("this session has ended")


async def verify_access(db: Database, keys: KeyStore, *, hostname: str, token: str) -> AccessGrant:
    """The grant of an access token this node issued whose session is still open."""
    claims = verify_token(_jwt_secret(keys), token, typ=ACCESS_TYPE, audience=node_did(hostname))
    if claims.sid is None:
        raise invalid_token("the token names no session")
    row = await store.fetch_session(db, claims.sid)
    if row is None or row["did"] != claims.sub or row["revoked_at"] is not None:
        raise invalid_token("this session has ended; sign in again")
    return AccessGrant(claims.sub, claims.scope, claims.sid, row["status"], row["role"])


def _takedown() -> AuthRequired:
    return AuthRequired(
        "this account was taken down by the node's operator", name="AccountTakedown"
    )


async def _find_account(db: Database, identifier: str, hostname: str) -> sqlite3.Row | None:
    value = identifier.strip().removeprefix("@")
    if value.startswith("did:"):
        row = await store.fetch_account(db, value)
    elif "@" in value:
        row = await store.fetch_account_by_email(db, value.lower())
    else:
        handle = value.lower()
        if "." not in handle:
            # A bare name is a handle under the node's host, as `oms account create` makes them.
            handle = f"{handle}.{hostname.partition(':')[0]}"
        row = await store.fetch_account(db, handle)
    if row is None or row["status"] == "deleted":
        return None
    return row


_DUMMY_HASH: list[str] = []


async def _waste_a_verification(password: str) -> None:
    # An unknown identifier costs as much time as a wrong password, so timing does not tell
    # which accounts exist.
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(await hash_password("not a password of anyone's"))
    await verify_password(_DUMMY_HASH[0], password)


def _app_password_lookup(keys: KeyStore, did: str, password: str) -> str:
    return hmac.new(
        keys.secret("app-passwords"), f"{did}\n{password}".encode(), hashlib.sha256
    ).hexdigest()


async def _matching_app_password(
    db: Database, keys: KeyStore, did: str, password: str
) -> sqlite3.Row | None:
    if not _APP_PASSWORD.fullmatch(password):
        return None
    row = await store.fetch_app_password_by_lookup(db, _app_password_lookup(keys, did, password))
    return row if row is not None and row["did"] == did else None


# --- throttling ------------------------------------------------------------------------------


async def _check_throttle(db: Database, *, did: str | None, address: str) -> None:
    since = _now_ms() - SIGN_IN_WINDOW_MS
    waits = []
    if did is not None:
        times = await store.sign_in_failure_times(db, since=since, did=did)
        waits.append(_wait_ms(times, ACCOUNT_FAILURE_LIMIT))
    times = await store.sign_in_failure_times(db, since=since, address=address)
    waits.append(_wait_ms(times, ADDRESS_FAILURE_LIMIT))
    wait = max(waits)
    if wait > 0:
        seconds = -(-wait // 1000)
        raise RateLimitExceeded(
            f"too many failed sign-ins; try again in {seconds} seconds", retry_after=seconds
        )


def _wait_ms(times: list[int], limit: int) -> int:
    """How long until fewer than `limit` of these failures lie inside the window."""
    if len(times) < limit:
        return 0
    # The window must slide past enough of the oldest failures to leave limit - 1 of them.
    return max(1, times[len(times) - limit] + SIGN_IN_WINDOW_MS - _now_ms())


async def _record_failure(db: Database, *, did: str | None, address: str) -> None:
    async with db.transaction() as tx:
        await store.insert_sign_in_failure(tx, did=did, address=address)


async def _check_password(db: Database, row: sqlite3.Row, password: str, *, address: str) -> None:
    """The account's own password (never an app password), throttled like a sign-in."""
    await _check_throttle(db, did=row["did"], address=address)
    if not await verify_password(row["password_hash"], password):
        await _record_failure(db, did=row["did"], address=address)
        raise AuthRequired("wrong password")
    async with db.transaction() as tx:
        await store.clear_sign_in_failures(tx, row["did"])


# --- app passwords ---------------------------------------------------------------------------


async def create_app_password(
    db: Database, keys: KeyStore, *, did: str, name: str, privileged: bool = False
) -> NewAppPassword:
    name = name.strip()
    if not name or len(name) > MAX_APP_PASSWORD_NAME:
        raise InvalidRequest(
            f"an app password needs a name of 1 to {MAX_APP_PASSWORD_NAME} characters"
        )
    password = _random_code(4, 4)
    password_hash = await hash_password(password)
    lookup = _app_password_lookup(keys, did, password)
    async with db.transaction() as tx:
        existing = await store.fetch_app_passwords(tx, did)
        if any(row["name"] == name for row in existing):
            raise InvalidRequest(f"there is already an app password named {name!r}")
        if len(existing) >= MAX_APP_PASSWORDS:
            raise InvalidRequest(
                f"an account can have at most {MAX_APP_PASSWORDS} app passwords; "
                "revoke one you no longer use"
            )
        await store.insert_app_password(
            tx,
            did=did,
            name=name,
            lookup=lookup,
            password_hash=password_hash,
            privileged=privileged,
        )
        row = await store.fetch_app_password(tx, did, name)
    assert row is not None
    return NewAppPassword(name, password, row["created_at"], privileged)


async def list_app_passwords(db: Database, did: str) -> list[AppPassword]:
    return [
        AppPassword(row["name"], row["created_at"], bool(row["privileged"]))
        for row in await store.fetch_app_passwords(db, did)
    ]


async def revoke_app_password(db: Database, *, did: str, name: str) -> None:
    """Forget the app password and end every session signed in with it."""
    async with db.transaction() as tx:
        row = await store.fetch_app_password(tx, did, name.strip())
        if row is None:
            raise NotFound(f"no app password named {name!r}")
        await store.revoke_sessions(tx, app_password_id=int(row["id"]))
        await store.delete_app_password(tx, int(row["id"]))


# --- invite codes and sign-up ----------------------------------------------------------------


async def create_invite_codes(
    db: Database,
    *,
    hostname: str,
    created_by: str,
    use_count: int,
    code_count: int = 1,
    for_accounts: list[str] | None = None,
    role: str = "fan",
    actor: Actor | None = None,
) -> list[tuple[str, list[str]]]:
    """`code_count` new codes for each of `for_accounts` (default: the creator), each good for
    `use_count` accounts, which get `role`. Who may create them is the caller's check; with
    `actor` the creation is audited (the codes themselves are not logged)."""
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    targets = for_accounts or [created_by]
    if not 1 <= use_count <= MAX_INVITE_USES:
        raise InvalidRequest(f"useCount must be between 1 and {MAX_INVITE_USES}")
    if code_count < 1 or code_count * len(targets) > MAX_INVITE_CODES:
        raise InvalidRequest(f"at most {MAX_INVITE_CODES} codes can be created at once")
    prefix = hostname.replace(".", "-").replace(":", "-")
    created: list[tuple[str, list[str]]] = []
    async with db.transaction() as tx:
        for target in targets:
            codes = [f"{prefix}-{_random_code(2, 5)}" for _ in range(code_count)]
            for code in codes:
                await store.insert_invite_code(
                    tx,
                    code=code,
                    use_count=use_count,
                    for_did=target,
                    created_by=created_by,
                    role=role,
                )
            created.append((target, codes))
        if actor is not None:
            await record(
                tx,
                actor,
                "invite.create",
                ", ".join(targets),
                after={"codes": code_count * len(targets), "uses": use_count, "role": role},
            )
    return created


@dataclass(frozen=True)
class InviteCode:
    code: str
    role: str
    use_count: int
    used: int
    disabled: bool
    created_at: int


async def list_invite_codes(db: Database, limit: int = 200) -> list[InviteCode]:
    """The newest invite codes, with how many of their uses are taken."""
    return [
        InviteCode(
            row["code"],
            row["role"],
            row["use_count"],
            row["used"],
            bool(row["disabled"]),
            row["created_at"],
        )
        for row in await store.fetch_invite_codes(db, limit)
    ]


async def sign_up(
    db: Database,
    keys: KeyStore,
    *,
    hostname: str,
    open_signup: bool,
    handle: str,
    password: str,
    email: str | None = None,
    invite_code: str | None = None,
    plc: PlcRegistration | None = None,
    min_password_length: int = MIN_PASSWORD_LENGTH,
) -> Account:
    """Create an account the way createAccount does: the handle must lie under the node's
    host, and an invite code is used up unless sign-up is open. The account is a fan, or
    gets the role its invite code gives (an invite code is used whenever one is given). With
    `plc`, the account gets a did:plc (see `accounts.create_account`)."""
    host = hostname.partition(":")[0]
    wanted = handle.strip().lower()
    if "." in wanted and not wanted.endswith("." + host):
        raise InvalidRequest(
            f"handles on this node end in .{host}, not {wanted}", name="UnsupportedDomain"
        )
    try:
        full_handle = accounts.handle_for(wanted, hostname)
    except InvalidRequest as e:
        raise InvalidRequest(e.message, name="InvalidHandle") from e
    try:
        check_policy(password, min_length=min_password_length, handle=full_handle)
    except InvalidRequest as e:
        raise InvalidRequest(e.message, name="InvalidPassword") from e
    web_did = accounts.did_for_handle(full_handle, hostname)
    if await store.fetch_account(db, full_handle) is not None or (
        plc is None and await store.fetch_account(db, web_did) is not None
    ):
        raise _handle_taken(full_handle)
    # A did:plc is known only once the directory has it, after the invite is taken: until
    # then the use is held under the handle, which is just as unique.
    holder = full_handle if plc is not None else web_did
    code = (invite_code or "").strip()
    if not open_signup and not code:
        raise InvalidRequest("this node needs an invite code to sign up", name="InvalidInviteCode")
    role = await _reserve_invite(db, code, holder) if code else "fan"
    try:
        account = await accounts.create_account(
            db,
            keys,
            name=full_handle,
            password=password,
            role=role,
            hostname=hostname,
            email=email,
            plc=plc,
            min_password_length=min_password_length,
        )
    except BaseException as e:
        if code:
            async with db.transaction() as tx:
                await store.delete_invite_use(tx, code=code, used_by=holder)
        if isinstance(e, OmsError) and e.name == "HandleNotAvailable":
            raise _handle_taken(full_handle) from e
        raise
    if code and holder != account.did:
        async with db.transaction() as tx:
            await store.move_invite_use(tx, code=code, used_by=holder, to=account.did)
    return account


def _handle_taken(handle: str) -> InvalidRequest:
    # 400, as the reference PDS answers, rather than accounts' 409 Conflict.
    return InvalidRequest(f"handle {handle} is already taken", name="HandleNotAvailable")


async def _reserve_invite(db: Database, code: str, did: str) -> str:
    """Take one use of `code` for `did` before the account exists, so two sign-ups racing
    for a code's last use cannot both get it (the use is given back if sign-up fails); the
    role the code gives."""
    async with db.transaction() as tx:
        row = await store.fetch_invite_code(tx, code)
        if row is None or row["disabled"]:
            raise InvalidRequest("unknown invite code", name="InvalidInviteCode")
        if await store.count_invite_uses(tx, code) >= row["use_count"]:
            raise InvalidRequest("this invite code is used up", name="InvalidInviteCode")
        try:
            await store.insert_invite_use(tx, code=code, used_by=did)
        except sqlite3.IntegrityError as e:
            raise InvalidRequest(
                "this handle is being signed up already", name="HandleNotAvailable"
            ) from e
    return str(row["role"])


# --- the account's own status ----------------------------------------------------------------


async def deactivate_account(db: Database, did: str) -> Account:
    """Take the account offline until it activates again; its sessions stay, so it can."""
    account = await accounts.get_account(db, did)
    if account.status == "deactivated":
        return account
    if account.status != "active":
        raise InvalidRequest(f"a {account.status} account cannot be deactivated")
    return await accounts.set_status(db, did, "deactivated")


async def activate_account(db: Database, did: str) -> Account:
    account = await accounts.get_account(db, did)
    if account.status == "active":
        return account
    if account.status != "deactivated":
        raise InvalidRequest(f"a {account.status} account cannot be activated by its owner")
    return await accounts.set_status(db, did, "active")


async def request_account_delete(db: Database, did: str) -> str:
    """Issue the confirmation token deleteAccount needs, valid 15 minutes. The node sends no
    email, so the token goes to the node's log for the operator to pass on."""
    account = await accounts.get_account(db, did)
    token = _random_code(2, 5)
    async with db.transaction() as tx:
        await store.put_deletion_token(
            tx,
            did=did,
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            expires_at=_now_ms() + DELETION_TOKEN_LIFETIME_MS,
        )
    log.warning(
        "account deletion requested for @%s (%s): confirmation token %s, valid %d minutes",
        account.handle,
        did,
        token,
        DELETION_TOKEN_LIFETIME_MS // 60_000,
    )
    return token


async def delete_account(
    db: Database, blobs_dir: Path, *, did: str, password: str, token: str, address: str
) -> None:
    """Delete the account given its password and a token from `request_account_delete`: as
    `delete_own_account` does (status `deleted` with its repository, sessions, app passwords,
    second factor and blobs); the catalog drops it on the AccountChanged event."""
    row = await store.fetch_account(db, did)
    if row is None or row["status"] == "deleted":
        raise NotFound(f"no account {did}", name="AccountNotFound")
    await _check_password(db, row, password, address=address)
    stored = await store.fetch_deletion_token(db, did)
    given = hashlib.sha256(token.strip().encode()).hexdigest()
    if stored is None or not hmac.compare_digest(stored["token_hash"], given):
        raise InvalidRequest("the deletion token is wrong", name="InvalidToken")
    if stored["expires_at"] < _now_ms():
        raise InvalidRequest(
            "the deletion token has expired; request a new one", name="ExpiredToken"
        )
    await _close_deleted_account(db, did)
    await remove_account_blobs(db, blobs_dir, did)


async def delete_own_account(
    db: Database, blobs_dir: Path, *, did: str, password: str, address: str
) -> None:
    """Delete the account of a person signed in with a browser: their own password (throttled
    like a sign-in) stands in for deleteAccount's emailed token. As deleteAccount does: status
    `deleted` (the repository goes, the firehose and so the catalog hear of it), every session
    ended, app passwords forgotten; and its blobs go at once rather than at the next sweep.
    The node's last active admin is refused, so that the node always keeps one."""
    row = await store.fetch_account(db, did)
    if row is None or row["status"] == "deleted":
        raise NotFound(f"no account {did}", name="AccountNotFound")
    if await accounts.is_last_active_admin(db, await accounts.get_account(db, did)):
        # Asked before the password, so the person learns it without spending an attempt;
        # `set_status` refuses it again inside its transaction.
        raise Conflict(
            "you are the node's last active admin; make another account an admin before "
            "deleting this one",
            name="LastAdmin",
        )
    await _check_password(db, row, password, address=address)
    await _close_deleted_account(db, did)
    await remove_account_blobs(db, blobs_dir, did)
    log.info("account %s (@%s) deleted by its owner", did, row["handle"])


async def _close_deleted_account(db: Database, did: str) -> None:
    # The status first (with its #account event): once it says deleted, no token of the
    # account is accepted, so a crash before the sessions are revoked leaves nothing usable.
    await accounts.set_status(db, did, "deleted")
    async with db.transaction() as tx:
        await store.consume_deletion_token(tx, did)
        await store.revoke_sessions(tx, did=did)
        for app_password in await store.fetch_app_passwords(tx, did):
            await store.delete_app_password(tx, int(app_password["id"]))
    # Its second factor goes with it (the sealed key and the recovery codes).
    await second_factor.disable(db, did)

"""An account's second factor: its authenticator (TOTP) secret, sealed at rest, the recovery
codes for a lost authenticator, and browser sign-ins waiting for their code.

The secret is sealed with AES-GCM under a key derived from the node secret `totp-sealing`
(in `keys/`, readable only by the service user), with the DID as associated data: a copy of
the database alone does not give the seeds, nor can one account's sealed secret be moved to
another. Codes are checked by `oms.pds.totp`; each is accepted once.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from oms.db.database import Database, Transaction
from oms.errors import Conflict, InvalidRequest, OmsError
from oms.pds import totp
from oms.pds.keystore import KeyStore
from oms.pds.store import now_ms

__all__ = [
    "PENDING_SIGN_IN_LIFETIME_MS",
    "RECOVERY_CODE_COUNT",
    "PendingSignIn",
    "SecondFactorState",
    "begin_enrolment",
    "confirm_enrolment",
    "disable",
    "finish_pending_sign_in",
    "is_enabled",
    "pending_sign_in",
    "start_pending_sign_in",
    "state",
    "use_code",
]

PENDING_SIGN_IN_LIFETIME_MS = 5 * 60 * 1000
RECOVERY_CODE_COUNT = 10
_SEALING_KEY_NAME = "totp-sealing"  # a file name in keys/, not a secret
_HKDF_INFO = b"oms totp secret sealing v1"
_NONCE_BYTES = 12
_MAX_CODE = 64  # far longer than any code; bounds what is hashed


@dataclass(frozen=True)
class SecondFactorState:
    """What the account's security page shows: since when TOTP is on, recovery codes left."""

    enabled_at: int
    recovery_codes_left: int


@dataclass(frozen=True)
class PendingSignIn:
    """A browser sign-in whose password was right, waiting for its code."""

    did: str
    next_path: str  # where the browser goes once signed in
    expires_at: int


# --- sealing ---------------------------------------------------------------------------------


def _aead(keys: KeyStore) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        keys.secret(_SEALING_KEY_NAME)
    )
    return AESGCM(key)


def _seal(keys: KeyStore, did: str, secret: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _aead(keys).encrypt(nonce, secret.encode(), did.encode())


def _unseal(keys: KeyStore, did: str, sealed: bytes) -> str:
    try:
        plain = _aead(keys).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], did.encode())
    except InvalidTag:
        raise OmsError(
            f"the two-factor secret of {did} cannot be opened: the node secret"
            f" keys/{_SEALING_KEY_NAME}.secret is not the one it was sealed with"
        ) from None
    return plain.decode()


# --- state and enrolment ---------------------------------------------------------------------


async def state(db: Database, did: str) -> SecondFactorState | None:
    """The account's second factor, or None when it has none switched on."""
    row = await db.fetchone(
        "SELECT t.enabled_at, (SELECT COUNT(*) FROM recovery_codes r"
        "   WHERE r.did = t.did AND r.used_at IS NULL) AS codes_left"
        " FROM totp_secrets t WHERE t.did = ? AND t.enabled_at IS NOT NULL",
        (did,),
    )
    if row is None:
        return None
    return SecondFactorState(int(row["enabled_at"]), int(row["codes_left"]))


async def is_enabled(db: Database, did: str) -> bool:
    row = await db.fetchone(
        "SELECT 1 FROM totp_secrets WHERE did = ? AND enabled_at IS NOT NULL", (did,)
    )
    return row is not None


async def begin_enrolment(db: Database, keys: KeyStore, did: str) -> str:
    """The secret for the account's authenticator app, kept (sealed) until a code from it
    confirms the enrolment. Asking again gives the same secret, so that one already added to
    an app stays good; an account with TOTP on must switch it off first."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT sealed_secret, enabled_at FROM totp_secrets WHERE did = ?", (did,)
        )
        if row is not None and row["enabled_at"] is not None:
            raise Conflict("two-factor sign-in is already on for this account")
        if row is not None:
            return _unseal(keys, did, row["sealed_secret"])
        secret = totp.new_secret()
        await tx.execute(
            "INSERT INTO totp_secrets (did, sealed_secret, created_at) VALUES (?, ?, ?)",
            (did, _seal(keys, did, secret), now_ms()),
        )
    return secret


async def confirm_enrolment(
    db: Database, keys: KeyStore, did: str, code: str, *, at: float | None = None
) -> list[str]:
    """Switch TOTP on once `code` from the authenticator matches the secret of
    `begin_enrolment`; the new recovery codes, to be shown this once (only digests are kept)."""
    codes = totp.new_recovery_codes(RECOVERY_CODE_COUNT)
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT sealed_secret, enabled_at FROM totp_secrets WHERE did = ?", (did,)
        )
        if row is None:
            raise InvalidRequest("start setting up two-factor sign-in first")
        if row["enabled_at"] is not None:
            raise Conflict("two-factor sign-in is already on for this account")
        step = totp.verify(_unseal(keys, did, row["sealed_secret"]), code, last_step=None, at=at)
        if step is None:
            raise InvalidRequest(
                "that code does not match; enter the 6 digits your authenticator app shows now"
                " (check that the phone's clock is right)"
            )
        stamp = now_ms()
        await tx.execute(
            "UPDATE totp_secrets SET enabled_at = ?, last_step = ? WHERE did = ?",
            (stamp, step, did),
        )
        await _replace_recovery_codes(tx, did, codes, stamp)
    return codes


async def _replace_recovery_codes(tx: Transaction, did: str, codes: list[str], stamp: int) -> None:
    await tx.execute("DELETE FROM recovery_codes WHERE did = ?", (did,))
    await tx.executemany(
        "INSERT INTO recovery_codes (did, digest, created_at) VALUES (?, ?, ?)",
        [(did, totp.recovery_digest(code), stamp) for code in codes],
    )


async def disable(db: Database, did: str) -> None:
    """Switch the second factor off: the secret and the recovery codes are gone. Checking
    that the person may do so (password and a code) is the caller's part."""
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM totp_secrets WHERE did = ?", (did,))
        await tx.execute("DELETE FROM recovery_codes WHERE did = ?", (did,))


# --- codes -----------------------------------------------------------------------------------


async def use_code(
    db: Database, keys: KeyStore, did: str, code: str, *, at: float | None = None
) -> bool:
    """Whether `code` — 6 digits from the authenticator, or an unused recovery code — is good
    for the account now; it is used up either way (a TOTP code's time step cannot be used
    again, a recovery code is spent). Throttling failures is the caller's part."""
    code = code.strip()
    if not code or len(code) > _MAX_CODE:
        return False
    digits = code.replace(" ", "")
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT sealed_secret, last_step FROM totp_secrets"
            " WHERE did = ? AND enabled_at IS NOT NULL",
            (did,),
        )
        if row is None:
            return False
        if digits.isdigit():
            last = row["last_step"]
            secret = _unseal(keys, did, row["sealed_secret"])
            step = totp.verify(secret, digits, last_step=None if last is None else int(last), at=at)
            if step is None:
                return False
            await tx.execute("UPDATE totp_secrets SET last_step = ? WHERE did = ?", (step, did))
            return True
        spent = await tx.execute(
            "UPDATE recovery_codes SET used_at = ?"
            " WHERE did = ? AND digest = ? AND used_at IS NULL",
            (now_ms(), did, totp.recovery_digest(code)),
        )
        return spent.rowcount == 1


# --- sign-ins waiting for their code ---------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_pending_sign_in(db: Database, did: str, *, next_path: str) -> str:
    """A single-use token, good for 5 minutes, that carries a sign-in whose password was right
    to the form asking for its code."""
    token = secrets.token_urlsafe(32)
    stamp = now_ms()
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM pending_sign_ins WHERE expires_at <= ?", (stamp,))
        await tx.execute(
            "INSERT INTO pending_sign_ins (token_sha256, did, next, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (_digest(token), did, next_path, stamp, stamp + PENDING_SIGN_IN_LIFETIME_MS),
        )
    return token


async def pending_sign_in(db: Database, token: str) -> PendingSignIn | None:
    """The sign-in `token` carries, unless it has expired or was finished."""
    if not token or len(token) > 200:
        return None
    row = await db.fetchone(
        "SELECT did, next, expires_at FROM pending_sign_ins"
        " WHERE token_sha256 = ? AND expires_at > ?",
        (_digest(token), now_ms()),
    )
    if row is None:
        return None
    return PendingSignIn(row["did"], row["next"], int(row["expires_at"]))


async def finish_pending_sign_in(db: Database, token: str) -> bool:
    """Use the token up; False if it was already used (or expired) meanwhile."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "DELETE FROM pending_sign_ins WHERE token_sha256 = ? AND expires_at > ? RETURNING did",
            (_digest(token), now_ms()),
        )
    return row is not None

"""Time-based one-time passwords (RFC 6238, HMAC-SHA1, 30 s steps, 6 digits), as every
authenticator app computes them, and recovery codes for a lost authenticator.

A code is accepted one step either side of now (clocks drift), and never twice: the caller
stores the last step used and passes it back, so a code seen over a shoulder or replayed
within its window is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

__all__ = [
    "DIGITS",
    "STEP_SECONDS",
    "new_recovery_codes",
    "new_secret",
    "provisioning_uri",
    "recovery_digest",
    "totp",
    "verify",
]

STEP_SECONDS = 30
DIGITS = 6
_DRIFT_STEPS = 1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_secret() -> str:
    """A random 160-bit secret, base32 without padding (as authenticator apps take it)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp(secret: str, at: float | None = None, digits: int = DIGITS) -> str:
    """The code for time `at` (now by default)."""
    step = int((time.time() if at is None else at) // STEP_SECONDS)
    return hotp(_key(secret), step, digits)


def verify(secret: str, code: str, *, last_step: int | None, at: float | None = None) -> int | None:
    """The step `code` belongs to if it is valid now and newer than `last_step`, else None."""
    code = code.replace(" ", "").strip()
    if len(code) != DIGITS or not code.isdigit():
        return None
    key = _key(secret)
    now = int((time.time() if at is None else at) // STEP_SECONDS)
    for step in range(now - _DRIFT_STEPS, now + _DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(hotp(key, step), code):
            return step
    return None


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app scans (as a QR code) or opens."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "digits": DIGITS, "period": STEP_SECONDS}
    )
    return f"otpauth://totp/{label}?{query}"


def new_recovery_codes(count: int = 10) -> list[str]:
    """Single-use codes for signing in without the authenticator: `xxxxx-xxxxx`, 50 bits."""
    return [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(5)) for _ in range(2))
        for _ in range(count)
    ]


def recovery_digest(code: str) -> str:
    """What is stored of a recovery code (they are random, so a plain hash suffices); case,
    spaces and the dash do not matter, as people copy codes."""
    normal = code.strip().lower().replace(" ", "").replace("-", "")
    return hashlib.sha256(normal.encode()).hexdigest()

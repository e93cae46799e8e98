"""Password hashing with argon2id (memory-hard), off the event loop, and the length policy."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from oms.errors import InvalidRequest

__all__ = ["MIN_PASSWORD_LENGTH", "check_policy", "hash_password", "verify_password"]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # bounds the work an attacker can make one hash cost

# argon2id, 64 MiB, 3 passes: the library's defaults, which follow RFC 9106's second choice.
_HASHER = PasswordHasher()


def check_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequest(f"password must be at most {MAX_PASSWORD_LENGTH} characters long")


async def hash_password(password: str) -> str:
    check_policy(password)
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:
        return False

    def check() -> bool:
        try:
            return _HASHER.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)

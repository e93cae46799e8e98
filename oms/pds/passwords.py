"""Password hashing with argon2id (memory-hard), off the event loop, and the password policy:
a minimum length, and no password that is common or built from the account's handle."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn  # type: ignore[import-untyped]
from zxcvbn.matching import RANKED_DICTIONARIES  # type: ignore[import-untyped]

from oms.errors import InvalidRequest

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "check_policy",
    "hash_password",
    "verify_password",
]

# The floor where no settings are at hand; callers with settings pass
# `security.min_password_length` (at least this much).
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # bounds the work an attacker can make one hash cost

# zxcvbn's work grows quickly with length and it refuses more than 72 characters; a longer
# password is judged by its start, which is where a weak one shows.
_GUESSABILITY_CHARS = 72
# zxcvbn scores 0 (too guessable) to 4; below 2 an online attack with throttling gets in.
_MIN_SCORE = 2
# A handle's name shorter than this is too likely to appear by chance in a good password to
# refuse outright; zxcvbn still treats it as a guessable word.
_MIN_NAME_IN_PASSWORD = 4
# zxcvbn keeps the user inputs of the call in a module-level dictionary: one call at a time.
_ZXCVBN = threading.Lock()

# argon2id, 64 MiB, 3 passes: the library's defaults, which follow RFC 9106's second choice.
_HASHER = PasswordHasher()


def check_policy(
    password: str, *, min_length: int = MIN_PASSWORD_LENGTH, handle: str | None = None
) -> None:
    """Refuse, with the reason, a password that is too short or too long, one of the most
    common passwords, easy to guess, or containing the account's handle.

    Pure CPU work of a few milliseconds; `hash_password` runs it off the event loop."""
    least = max(min_length, MIN_PASSWORD_LENGTH)
    if len(password) < least:
        raise InvalidRequest(f"password must be at least {least} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequest(f"password must be at most {MAX_PASSWORD_LENGTH} characters long")
    lowered = password.lower()
    if lowered in RANKED_DICTIONARIES["passwords"]:
        raise InvalidRequest("password is one of the most common passwords; choose another")
    names = _handle_words(handle)
    for name in names:
        if len(name) >= _MIN_NAME_IN_PASSWORD and name in lowered:
            raise InvalidRequest("password must not contain your handle")
    with _ZXCVBN:
        verdict = zxcvbn(password[:_GUESSABILITY_CHARS], user_inputs=list(names))
    if verdict["score"] < _MIN_SCORE:
        raise InvalidRequest(f"password is too easy to guess: {_advice(verdict['feedback'])}")


def _handle_words(handle: str | None) -> Sequence[str]:
    """The handle and its name (`ada` of `ada.example.org`), lower-cased."""
    if not handle:
        return ()
    full = handle.strip().lower().removeprefix("@")
    return (full, full.partition(".")[0])


def _advice(feedback: dict[str, object]) -> str:
    warning = str(feedback.get("warning") or "").rstrip(".")
    suggestions = feedback.get("suggestions")
    hint = str(suggestions[0]).rstrip(".") if isinstance(suggestions, list) and suggestions else ""
    parts = [p[:1].lower() + p[1:] for p in (warning, hint) if p]
    return "; ".join(parts) or "add another word or two; uncommon words are better"


async def hash_password(
    password: str, *, handle: str | None = None, min_length: int = MIN_PASSWORD_LENGTH
) -> str:
    """The argon2id hash of a password the policy accepts (`min_length`: the node's setting
    where the caller has it, else the floor)."""

    def run() -> str:
        check_policy(password, handle=handle, min_length=min_length)
        return _HASHER.hash(password)

    return await asyncio.to_thread(run)


async def verify_password(password_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:
        return False

    def check() -> bool:
        try:
            return _HASHER.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)

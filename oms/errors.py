"""The errors rooms raise. Each surface (XRPC, Subsonic, HTML) translates them in one place.

`name` is the XRPC error name (`InvalidRequest`, `AuthRequired`, ...); `status` the HTTP status
a surface should answer with when it has no better mapping of its own.
"""

from __future__ import annotations

__all__ = [
    "AuthRequired",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "OmsError",
    "PayloadTooLarge",
    "RateLimitExceeded",
    "StartupError",
    "Unavailable",
]


class OmsError(Exception):
    """A failure with a message a person can act on."""

    name = "InternalServerError"
    status = 500

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if name is not None:
            # Lets a room pick a more specific XRPC name (e.g. "InvalidSwap", "RecordNotFound")
            # while keeping the class, and so the HTTP status, of the broader kind.
            self.name = name

    def __str__(self) -> str:
        return self.message


class InvalidRequest(OmsError):
    name = "InvalidRequest"
    status = 400


class AuthRequired(OmsError):
    name = "AuthRequired"
    status = 401


class Forbidden(OmsError):
    name = "Forbidden"
    status = 403


class NotFound(OmsError):
    name = "NotFound"
    status = 404


class Conflict(OmsError):
    name = "Conflict"
    status = 409


class PayloadTooLarge(OmsError):
    name = "PayloadTooLarge"
    status = 413


class RateLimitExceeded(OmsError):
    name = "RateLimitExceeded"
    status = 429

    def __init__(self, message: str, *, retry_after: int, name: str | None = None) -> None:
        super().__init__(message, name=name)
        self.retry_after = retry_after


class Unavailable(OmsError):
    name = "Unavailable"
    status = 503


class ConfigError(OmsError):
    """A setting is unknown or has an invalid value; the message names the setting."""

    name = "ConfigError"


class StartupError(OmsError):
    """The node cannot start (data dir unwritable, port in use, no ffmpeg); one line says why."""

    name = "StartupError"

"""Session tokens: HS256 JSON Web Tokens signed with the node's secret, shaped as the ATProto
reference PDS issues them (`at+jwt` access tokens, `refresh+jwt` refresh tokens), for the
node's service DID as audience.

Pure computation: whether a refresh token was revoked is `oms.pds.sessions`' question.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any, TypeGuard

from oms.errors import AuthRequired, InvalidRequest

__all__ = [
    "ACCESS_LIFETIME",
    "ACCESS_SCOPE",
    "ACCESS_SCOPES",
    "ACCESS_TYPE",
    "APP_PASS_PRIVILEGED_SCOPE",
    "APP_PASS_SCOPE",
    "REFRESH_LIFETIME",
    "REFRESH_SCOPE",
    "REFRESH_TYPE",
    "TokenClaims",
    "expired_token",
    "invalid_token",
    "issue_access_token",
    "issue_refresh_token",
    "sign_token",
    "verify_token",
]

ACCESS_SCOPE = "com.atproto.access"
APP_PASS_SCOPE = "com.atproto.appPass"  # noqa: S105 - a scope name
APP_PASS_PRIVILEGED_SCOPE = "com.atproto.appPassPrivileged"  # noqa: S105
REFRESH_SCOPE = "com.atproto.refresh"
ACCESS_SCOPES = (ACCESS_SCOPE, APP_PASS_SCOPE, APP_PASS_PRIVILEGED_SCOPE)

ACCESS_TYPE = "at+jwt"
REFRESH_TYPE = "refresh+jwt"

# Seconds, as JWT times are.
ACCESS_LIFETIME = 2 * 60 * 60
REFRESH_LIFETIME = 90 * 24 * 60 * 60

_ALGORITHM = "HS256"
# A token is a few hundred bytes; refusing huge ones bounds the work a stranger can cause.
_MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class TokenClaims:
    typ: str
    sub: str
    scope: str
    aud: str
    iat: int
    exp: int
    jti: str | None = None
    # The session an access token belongs to, so signing out ends its access tokens too.
    sid: str | None = None


def invalid_token(message: str) -> AuthRequired:
    return AuthRequired(message, name="InvalidToken")


def expired_token(message: str = "the token has expired") -> InvalidRequest:
    # The reference PDS answers 400 ExpiredToken, and clients (the atproto SDKs) key their
    # refresh on that name, not on the status.
    return InvalidRequest(message, name="ExpiredToken")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or any(c not in _B64_ALPHABET for c in text):
        raise invalid_token("the token is not a JWT")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise invalid_token("the token is not a JWT") from e


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def _signature(secret: bytes, signing_input: bytes) -> bytes:
    return hmac.new(secret, signing_input, hashlib.sha256).digest()


def sign_token(secret: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """A compact JWS of `payload` with `header`, HMAC-SHA256 over both (tests build odd
    tokens with it; sessions use the `issue_*` functions)."""
    signing_input = f"{_b64(_json(header))}.{_b64(_json(payload))}".encode("ascii")
    return f"{signing_input.decode('ascii')}.{_b64(_signature(secret, signing_input))}"


def issue_access_token(
    secret: bytes,
    *,
    did: str,
    scope: str,
    audience: str,
    session_id: str,
    now: float | None = None,
) -> str:
    if scope not in ACCESS_SCOPES:
        raise ValueError(f"not an access scope: {scope}")
    issued = int(time.time() if now is None else now)
    return sign_token(
        secret,
        {"alg": _ALGORITHM, "typ": ACCESS_TYPE},
        {
            "scope": scope,
            "sub": did,
            "aud": audience,
            "iat": issued,
            "exp": issued + ACCESS_LIFETIME,
            "sid": session_id,
        },
    )


def issue_refresh_token(
    secret: bytes, *, did: str, audience: str, jti: str, now: float | None = None
) -> str:
    issued = int(time.time() if now is None else now)
    return sign_token(
        secret,
        {"alg": _ALGORITHM, "typ": REFRESH_TYPE},
        {
            "scope": REFRESH_SCOPE,
            "sub": did,
            "aud": audience,
            "jti": jti,
            "iat": issued,
            "exp": issued + REFRESH_LIFETIME,
        },
    )


def verify_token(
    secret: bytes, token: str, *, typ: str, audience: str, now: float | None = None
) -> TokenClaims:
    """The claims of a token this node signed, of type `typ`, for `audience`, not expired.

    Raises `InvalidToken` (401) for anything forged, malformed or of the wrong kind and
    `ExpiredToken` (400) for a genuine token past its `exp`.
    """
    if len(token) > _MAX_TOKEN_LENGTH:
        raise invalid_token("the token is too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise invalid_token("the token is not a JWT")
    header = _object(_unb64(parts[0]))
    # Only HS256: `none` and the asymmetric algorithms would let a forger choose how the
    # signature is checked.
    if header.get("alg") != _ALGORITHM:
        raise invalid_token("the token is not signed with HS256")
    given = _unb64(parts[2])
    expected = _signature(secret, f"{parts[0]}.{parts[1]}".encode("ascii"))
    if not hmac.compare_digest(given, expected):
        raise invalid_token("the token's signature does not match")
    payload = _object(_unb64(parts[1]))
    if header.get("typ") != typ:
        kind = "a refresh token" if typ == REFRESH_TYPE else "an access token"
        raise invalid_token(f"this call takes {kind}")
    claims = _claims(typ, payload)
    if claims.aud != audience:
        raise invalid_token("the token was issued for another service")
    if typ == REFRESH_TYPE and (claims.scope != REFRESH_SCOPE or not claims.jti):
        raise invalid_token("this call takes a refresh token")
    if typ == ACCESS_TYPE and claims.scope not in ACCESS_SCOPES:
        raise invalid_token("this call takes an access token")
    if claims.exp <= int(time.time() if now is None else now):
        raise expired_token()
    return claims


def _object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise invalid_token("the token is not a JWT") from e
    if not isinstance(value, dict):
        raise invalid_token("the token is not a JWT")
    return value


def _claims(typ: str, payload: dict[str, Any]) -> TokenClaims:
    sub, scope, aud = payload.get("sub"), payload.get("scope"), payload.get("aud")
    iat, exp = payload.get("iat"), payload.get("exp")
    jti, sid = payload.get("jti"), payload.get("sid")
    if not (isinstance(sub, str) and isinstance(scope, str) and isinstance(aud, str)):
        raise invalid_token("the token lacks required claims")
    if not (_is_time(iat) and _is_time(exp)):
        raise invalid_token("the token lacks required claims")
    if not (jti is None or isinstance(jti, str)) or not (sid is None or isinstance(sid, str)):
        raise invalid_token("the token has malformed claims")
    return TokenClaims(typ, sub, scope, aud, int(iat), int(exp), jti, sid)


def _is_time(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)

"""TOTP against RFC 6238's test vectors and an independent computation, and its refusals."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

from oms.pds import totp

# RFC 6238 appendix B, SHA-1: the ASCII secret "12345678901234567890", 8 digits.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = {
    59: "94287082",
    1111111109: "07081804",
    1111111111: "14050471",
    1234567890: "89005924",
    2000000000: "69279037",
    20000000000: "65353130",
}


def test_rfc_6238_vectors() -> None:
    for at, code in RFC_VECTORS.items():
        assert totp.totp(RFC_SECRET, at, digits=8) == code


def test_a_code_is_accepted_once_within_the_drift_window() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    code = totp.totp(secret, now)
    step = totp.verify(secret, code, last_step=None, at=now)
    assert step == int(now // 30)
    # the same code again (replay within its window) is refused
    assert totp.verify(secret, code, last_step=step, at=now + 5) is None
    # a code of the previous step is still taken (clock drift), unless a newer one was used
    previous = totp.totp(secret, now - 30)
    assert totp.verify(secret, previous, last_step=None, at=now) == step - 1
    assert totp.verify(secret, previous, last_step=step, at=now) is None
    # two steps off, or malformed, is refused
    assert totp.verify(secret, totp.totp(secret, now - 90), last_step=None, at=now) is None
    for bad in ("", "12345", "1234567", "abcdef", "12 34 5x"):
        assert totp.verify(secret, bad, last_step=None, at=now) is None
    assert totp.verify(secret, code[:3] + " " + code[3:], last_step=None, at=now) == step


def test_provisioning_uri_names_the_account_and_issuer() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32  # 160 bits, no padding needed
    assert len(base64.b32decode(secret)) == 20
    uri = totp.provisioning_uri(secret, account="ada@music.example", issuer="Night Collective")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert parts.path == "/Night%20Collective:ada@music.example"
    assert parse_qs(parts.query)["secret"] == [secret]


def test_recovery_codes_are_distinct_and_normalised() -> None:
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == 10
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    assert totp.recovery_digest(codes[0]) == totp.recovery_digest(f"  {codes[0].upper()} ")

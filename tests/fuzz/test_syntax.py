"""The identifier parsers (oms.pds.syntax, and did:key from peers' DID documents): `is_valid_*`
answers True or False and `ensure_valid_*` agrees with it, raising only InvalidRequest."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from oms.errors import InvalidRequest
from oms.pds import syntax
from oms.pds.crypto import Curve, did_key, generate_private_key, public_key_from_did_key
from oms.pds.mst_keys import common_prefix_len, key_height
from tests.fuzz.profile import fuzz_settings
from tests.fuzz.strategies import mutated, nasty_text

KINDS = [name.removeprefix("is_valid_") for name in syntax.__all__ if name.startswith("is_valid_")]

# Near misses of valid values: the mutations start from these.
_VALID = (
    "alice.example.com", "did:plc:abcdefghijklmnopqrstuvwx", "did:web:localhost%3A8000",
    "fm.oms.track", "at://did:plc:abcdefghijklmnopqrstuvwx/fm.oms.track/3jzfcijpj2z2a",
    "3jzfcijpj2z2a", "self", "1985-04-12T23:20:50.123Z", "2024-02-29T00:00:00+14:00",
    "en-GB-oed", "zh-Hant-TW", "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
    "https://example.com/a?b#c",
)  # fmt: skip


def _near_misses() -> st.SearchStrategy[str]:
    return st.sampled_from(_VALID).flatmap(
        lambda s: mutated(s.encode()).map(lambda b: b.decode("utf-8", "replace"))
    )


@fuzz_settings()
@given(st.sampled_from(KINDS), st.one_of(nasty_text(300), _near_misses()))
@example("datetime", "0000-01-01T00:00:00+00:01")  # before year 0 once in UTC
@example("datetime", "9999-12-31T23:59:59-23:59")
@example("language", "x-" + "a" * 9)
@example("at_uri", "at://" + "a" * 9000)
def test_identifier_parsers(kind: str, text: str) -> None:
    is_valid: Callable[[str], bool] = getattr(syntax, f"is_valid_{kind}")
    ensure: Callable[[str], None] = getattr(syntax, f"ensure_valid_{kind}")
    valid = is_valid(text)
    assert valid in (True, False)
    if valid:
        ensure(text)
    else:
        with pytest.raises(InvalidRequest):
            ensure(text)


@fuzz_settings(100)
@given(st.one_of(nasty_text(), _near_misses()))
def test_normalize_handle(text: str) -> None:
    try:
        normalized = syntax.normalize_handle(text)
    except InvalidRequest:
        return
    assert syntax.is_valid_handle(normalized)


_DID_KEY = did_key(generate_private_key(Curve.K256))
_DID_KEY_P256 = did_key(generate_private_key(Curve.P256))


@fuzz_settings()
@given(
    st.one_of(
        nasty_text(),
        st.sampled_from((_DID_KEY, _DID_KEY_P256)).flatmap(
            lambda s: mutated(s.encode()).map(lambda b: b.decode("utf-8", "replace"))
        ),
        st.text(
            alphabet="123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", max_size=60
        ).map(lambda t: "did:key:z" + t),
    )
)
@example("did:key:z")
@example("did:key:z1111")
def test_did_keys_of_peers(text: str) -> None:
    """Signing keys come from other servers' DID documents."""
    with contextlib.suppress(InvalidRequest):
        public_key_from_did_key(text)


@fuzz_settings(100)
@given(st.text(max_size=80), st.text(max_size=80))
@example("fm.oms.track/3jzfcijpj2z2a", "fm.oms.track/3jzfcijpj2z2b")
@example("é", "è")  # one shared UTF-8 byte, no shared character
def test_mst_key_arithmetic(left: str, right: str) -> None:
    """Key heights and shared prefixes of record paths (as MST nodes compress them)."""
    assert key_height(left) >= 0
    shared = common_prefix_len(left, right)
    assert shared == common_prefix_len(right, left)
    assert left.encode()[:shared] == right.encode()[:shared]
    assert shared <= min(len(left.encode()), len(right.encode()))

"""DAG-CBOR, CAR and commit blocks as peers send them: arbitrary bytes and mutations of valid
ones (built with the node's own writers) are parsed, or refused with InvalidRequest; nothing
else escapes, however deep the nesting or large the declared lengths."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from oms.errors import InvalidRequest
from oms.pds.car import encode_car, read_car
from oms.pds.commit import sign_commit, verify_commit
from oms.pds.crypto import Curve, did_key, generate_private_key
from oms.pds.dagcbor import (
    CID,
    MAX_DEPTH,
    DataModel,
    cid_for,
    cid_from_bytes,
    cid_from_str,
    cid_to_str,
    decode,
    encode,
    ensure_valid_data_model,
    from_json,
    to_json,
)
from tests.fuzz.profile import fuzz_settings
from tests.fuzz.strategies import cids, data_model, json_values, mutated, nasty_text

# Far deeper than MAX_DEPTH: a C decoder must not overflow its stack, nor a Python walker.
DEEP_ARRAY = b"\x81" * 100_000 + b"\xf6"
DEEP_MAP = b"\xa1\x61a" * 50_000 + b"\xf6"


def _as_peer_data(data: bytes) -> DataModel | None:
    """What a consumer of peer blocks does: decode, check the data model, turn into JSON.
    Returns the value when it is valid; None when refused (InvalidRequest)."""
    try:
        value = decode(data)
        ensure_valid_data_model(value)
        to_json(value)
    except InvalidRequest:
        return None
    return value


# --- DAG-CBOR ---------------------------------------------------------------------------------


@fuzz_settings()
@given(st.binary(max_size=256))
@example(DEEP_ARRAY)
@example(DEEP_MAP)
@example(b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff")  # an array of 2^64-1 items
@example(b"\x5b\x00\x00\x00\xff\xff\xff\xff\xff")  # a byte string of ~1 TB
@example(b"\xd8\x2a\x41\x00")  # a CID link that is not a CID
@example(b"\x3b\xff\xff\xff\xff\xff\xff\xff\xff")  # -2^64: outside the data model
@example(b"\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00")  # a float
def test_dag_cbor_from_arbitrary_bytes(data: bytes) -> None:
    value = _as_peer_data(data)
    if value is not None:
        assert decode(encode(value)) == value


def _valid_cbor() -> st.SearchStrategy[bytes]:
    return data_model().map(encode)


@fuzz_settings()
@given(_valid_cbor().flatmap(mutated))
def test_dag_cbor_mutated(data: bytes) -> None:
    _as_peer_data(data)


@fuzz_settings(30)
@given(st.integers(min_value=MAX_DEPTH - 2, max_value=5_000), st.sampled_from((0x81, 0xA1)))
@example(100_000, 0x81)
def test_dag_cbor_nesting_is_bounded(depth: int, head: int) -> None:
    prefix = bytes([head]) if head == 0x81 else b"\xa1\x61a"
    data = prefix * depth + b"\xf6"
    if depth <= MAX_DEPTH:
        assert _as_peer_data(data) is not None
    else:
        with pytest.raises(InvalidRequest):
            ensure_valid_data_model(decode(data))


# --- CIDs and the JSON form -------------------------------------------------------------------


@fuzz_settings()
@given(st.one_of(st.binary(max_size=48), cids().map(bytes).flatmap(mutated)))
def test_cid_from_bytes(raw: bytes) -> None:
    try:
        cid = cid_from_bytes(raw)
    except InvalidRequest:
        return
    assert cid_from_str(cid_to_str(cid)) == cid


def _one_character_changed(text: str) -> st.SearchStrategy[str]:
    return st.builds(
        lambda i, c: text[:i] + c + text[i + 1 :],
        st.integers(0, len(text)),
        st.sampled_from("ab7Q=\x00é"),
    )


@fuzz_settings()
@given(st.one_of(nasty_text(), cids().map(cid_to_str).flatmap(_one_character_changed)))
@example("bà")  # not ASCII: base64 raised ValueError, not InvalidRequest
@example("bafkreia22222aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab")  # trailing bits set
def test_cid_from_str(text: str) -> None:
    try:
        cid = cid_from_str(text)
    except InvalidRequest:
        return
    assert cid_to_str(cid) == text


@fuzz_settings()
@given(st.dictionaries(st.text(max_size=8), json_values(), max_size=4))
@example({"a": {"$link": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}})
@example({"a": {"$link": "b"}, "b": {"$bytes": "=="}})
@example({"$type": "blob", "ref": {"$link": "x"}, "mimeType": 1, "size": -1})
@example({"a": "\ud800"})  # lone surrogates (from JSON escapes): cbrrr cannot encode them
@example({"\udfff": 1})
def test_from_json(value: dict[str, Any]) -> None:
    try:
        converted = from_json(value)
    except InvalidRequest:
        return
    assert from_json(to_json(converted)) == converted  # type: ignore[arg-type]


# --- CAR archives -----------------------------------------------------------------------------


@st.composite
def _valid_car(draw: st.DrawFn) -> bytes:
    blocks = [encode(v) for v in draw(st.lists(data_model(max_leaves=6), max_size=4))]
    pairs = [(cid_for(b), b) for b in blocks]
    root = draw(st.sampled_from([None, *(cid for cid, _ in pairs)]))
    return encode_car(root, pairs)


def _read_peer_car(data: bytes) -> None:
    try:
        roots, blocks = read_car(data)
    except InvalidRequest:
        return
    for root in roots:
        cid_to_str(root)
    for cid, block in blocks.items():
        cid_to_str(cid)
        _as_peer_data(block)


@fuzz_settings()
@given(st.binary(max_size=256))
@example(b"\x0a\xa2gversion\x01eroots\x80")  # a header that claims more bytes than it has
@example(b"\x01\x00" + b"\x00" * 40)
@example(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")  # a varint over 64 bits
def test_car_from_arbitrary_bytes(data: bytes) -> None:
    _read_peer_car(data)


@fuzz_settings()
@given(_valid_car().flatmap(mutated))
def test_car_mutated(data: bytes) -> None:
    _read_peer_car(data)


@fuzz_settings(50)
@given(st.binary(min_size=1, max_size=8), st.integers(min_value=0, max_value=3))
def test_car_root_that_is_not_an_atproto_cid(raw: bytes, version: int) -> None:
    """A header's roots must be CIDs a consumer can use, not any tag-42 bytes."""
    header = encode({"version": 1, "roots": [CID(bytes([version]) + raw)]})
    with pytest.raises(InvalidRequest):
        read_car(bytes([len(header)]) + header)


def test_car_version_is_the_integer_one() -> None:
    header = encode({"version": True, "roots": []})  # True == 1 in Python, not in CBOR
    with pytest.raises(InvalidRequest):
        read_car(bytes([len(header)]) + header)


# --- commits ----------------------------------------------------------------------------------

_KEY = generate_private_key(Curve.K256)
_COMMIT = sign_commit(_KEY, "did:plc:abcdefghijklmnopqrstuvwx", cid_for({"mst": 1}), "3k2a")


@fuzz_settings()
@given(st.one_of(st.binary(max_size=200), mutated(_COMMIT.block)))
@example(_COMMIT.block)
def test_commit_verification(block: bytes) -> None:
    try:
        commit = verify_commit(block, did_key(_KEY))
    except InvalidRequest:
        return
    assert commit.did == _COMMIT.did
    assert commit.data == _COMMIT.data

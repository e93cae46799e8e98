"""Strategies shared by the fuzz targets: JSON and data-model values, and byte mutations of
valid input (the shape that finds what purely random bytes rarely reach)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from hypothesis import strategies as st

from oms.pds.dagcbor import CID, Codec, cid_for

__all__ = [
    "cids",
    "data_model",
    "deeply_nested_json",
    "json_bytes",
    "json_values",
    "mostly",
    "mutated",
    "nasty_text",
]

# Text that parsers trip over: separators, controls, lone surrogates' neighbours, long runs.
_NASTY = (
    "", " ", "\x00", "\n", "\r\n", "\u200d", "\ufeff", "\U0001f3b5", "é", "İ", "ß",
    ".", "..", "/", "//", ":", "#", "?", "%", "%00", "@", "at://", "did:", "did:plc:",
    "did:web:", "$type", "$link", "$bytes", "blob", "-", "_", "~", "*", "'", '"', "\\",
    "NaN", "-0", "1e400", "9" * 40, "a" * 300, "a." * 130, "<script>", "' OR 1=1 --",
    'NEAR("a" "b")', "a*", "^", "{", "[", "\ud800", "a\udfffb",
)  # fmt: skip


def mostly(
    usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any], tenths: int = 7
) -> st.SearchStrategy[Any]:
    """`usual` `tenths` times in ten, else `other`: most values get past the first check and
    into the code behind it, the rest probe that check."""
    return st.integers(0, 9).flatmap(lambda n: usual if n < tenths else other)


@cache  # strategies are immutable; building them again for every draw is what costs
def nasty_text(max_size: int = 64) -> st.SearchStrategy[str]:
    """Arbitrary text, mixed with values known to be awkward for identifier parsers."""
    return st.one_of(
        st.sampled_from(_NASTY),
        st.text(max_size=max_size),
        st.text(alphabet="abcz019.-:_~/%#?@", max_size=max_size),
        st.lists(st.sampled_from(_NASTY), max_size=4).map("".join),
    )


@cache
def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value, including numbers JSON allows but the data model refuses."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        nasty_text(),
    )
    keys = st.one_of(nasty_text(16), st.sampled_from(("$type", "$link", "$bytes", "ref")))
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=max_leaves,
    )


def deeply_nested_json(max_depth: int = 100_000) -> st.SearchStrategy[bytes]:
    """JSON documents nested far deeper than any lexicon (arrays, objects, or both)."""
    depth = st.integers(min_value=100, max_value=max_depth)
    return st.one_of(
        depth.map(lambda n: b"[" * n + b"]" * n),
        depth.map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        depth.map(lambda n: b'{"record":' + b'{"a":[' * n + b"]}" * n + b"}"),
    )


def json_bytes(max_depth: int = 100_000) -> st.SearchStrategy[bytes]:
    """Request bodies: JSON of any shape, deep nesting, invalid UTF-8, and plain garbage."""
    return st.one_of(
        json_values().map(lambda v: json.dumps(v).encode()),
        deeply_nested_json(max_depth),
        st.binary(max_size=64),
        st.text(max_size=64).map(str.encode),
        st.sampled_from(
            (b"", b"null", b"{", b'{"a":1}x', b"\xff\xfe{}", b"NaN", b"1e999", b'"\xed\xa0\x80"')
        ),
    )


def cids() -> st.SearchStrategy[CID]:
    return st.builds(cid_for, st.binary(max_size=16), st.sampled_from((Codec.RAW,))) | st.builds(
        lambda v: cid_for({"v": v}), st.integers(min_value=-(2**63), max_value=2**63 - 1)
    )


def data_model(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Values the atproto data model holds (what the node's own writers encode)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.text(max_size=32),
        st.binary(max_size=32),
        cids(),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


@st.composite
def mutated(draw: st.DrawFn, valid: bytes, within: int | None = None) -> bytes:
    """`valid` with one to four byte-level mutations: flips, overwrites, cuts, insertions,
    truncation, extension and repeated chunks; in its first `within` bytes, if given (where
    a media file keeps its headers and tags)."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(("flip", "set", "cut", "insert", "truncate", "extend", "dup")))
        end = len(data) if within is None else min(len(data), within)
        at = draw(st.integers(min_value=0, max_value=max(0, end - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from((0x00, 0xFF, 0x7F, 0x80, 0x9F, 0xBF, 0xD8, 0x2A)))
        elif kind == "cut":
            data[at : at + draw(st.integers(min_value=1, max_value=16))] = b""
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "truncate":
            del data[at:]
        elif kind == "extend":
            data += draw(st.binary(min_size=1, max_size=64))
        elif kind == "dup":
            data[at:at] = data[at : at + draw(st.integers(min_value=1, max_value=64))]
    return bytes(data)

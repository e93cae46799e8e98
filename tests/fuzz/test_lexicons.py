"""Validation against the shipped lexicons of what clients send: records, procedure bodies,
query params and record keys. Whatever the value, the answer is "valid" or InvalidRequest."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from oms.errors import InvalidRequest
from oms.pds.lexicons import Lexicons, load_lexicons
from oms.resources import lexicons_dir
from tests.fuzz.profile import fuzz_settings
from tests.fuzz.shapes import Shapes
from tests.fuzz.strategies import json_values, nasty_text

LEXICONS: Lexicons = load_lexicons(lexicons_dir())
SHAPES = Shapes(LEXICONS)
RECORDS = SHAPES.records
PROCEDURES = [n for n in LEXICONS.nsids() if LEXICONS.method_kind(n) == "procedure"]
METHODS = [n for n in LEXICONS.nsids() if LEXICONS.method_kind(n) in ("query", "procedure")]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": [value]}
    return value


# Deeper than Python's recursion limit: a recursive checker must stop at MAX_DEPTH first.
DEEP = _nested(3_000)


def _refused_or_valid(check: Any, *args: Any) -> None:
    with contextlib.suppress(InvalidRequest):
        check(*args)


@fuzz_settings()
@given(st.sampled_from(RECORDS).flatmap(lambda c: st.tuples(st.just(c), SHAPES.record(c))))
@example(("fm.oms.release", {"$type": "fm.oms.release", "artists": [{"name": "\ud800"}]}))
@example(("fm.oms.track", {"$type": "fm.oms.track", "\ud800": 1}))
def test_records(case: tuple[str, Any]) -> None:
    collection, value = case
    _refused_or_valid(LEXICONS.validate_record, collection, value)


@fuzz_settings()
@given(st.one_of(nasty_text(), st.sampled_from(RECORDS)), json_values())
def test_records_of_any_collection(collection: str, value: Any) -> None:
    _refused_or_valid(LEXICONS.validate_record, collection, value)


@fuzz_settings()
@given(st.sampled_from(RECORDS), nasty_text())
def test_record_keys(collection: str, rkey: str) -> None:
    _refused_or_valid(LEXICONS.validate_record_key, collection, rkey)


@fuzz_settings()
@given(st.sampled_from(PROCEDURES).flatmap(lambda n: st.tuples(st.just(n), SHAPES.body(n))))
def test_procedure_bodies(case: tuple[str, Any]) -> None:
    nsid, body = case
    try:
        validated = LEXICONS.validate_input(nsid, body)
    except InvalidRequest:
        return
    json.dumps(validated)  # what passes is still plain JSON


@fuzz_settings()
@given(st.sampled_from(METHODS).flatmap(lambda n: st.tuples(st.just(n), SHAPES.params(n))))
def test_query_params(case: tuple[str, list[tuple[str, str]]]) -> None:
    nsid, pairs = case
    params: dict[str, str | list[str]] = {}
    for name, value in pairs:
        existing = params.get(name)
        if existing is None:
            params[name] = value
        else:
            params[name] = [*([existing] if isinstance(existing, str) else existing), value]
    _refused_or_valid(LEXICONS.validate_params, nsid, params)


@pytest.mark.parametrize("field", ["title", "artists", "extra"])
def test_deep_records_are_refused_not_overflowed(field: str) -> None:
    # Hypothesis cannot even print a value this deep: a plain test, not an @example.
    with pytest.raises(InvalidRequest):
        LEXICONS.validate_record("fm.oms.track", {"$type": "fm.oms.track", field: DEEP})


def test_deep_bodies_are_refused_or_left_to_the_record_check() -> None:
    with pytest.raises(InvalidRequest):
        LEXICONS.validate_input("com.atproto.repo.applyWrites", {"repo": "a.b", "writes": [DEEP]})
    # A record is `unknown` to createRecord's lexicon: the repository checks it (from_json).
    body = {"repo": "a.test", "collection": "a.b.c", "record": DEEP}
    assert LEXICONS.validate_input("com.atproto.repo.createRecord", body) == body

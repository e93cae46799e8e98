"""Identifier and string-format syntax, against every line of the interop syntax vectors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from oms.errors import InvalidRequest
from oms.pds import syntax

# vector file prefix -> (is_valid, ensure_valid, the kind named in error messages)
KINDS: dict[str, tuple[Callable[[str], bool], Callable[[str], None], str]] = {
    "handle": (syntax.is_valid_handle, syntax.ensure_valid_handle, "handle"),
    "did": (syntax.is_valid_did, syntax.ensure_valid_did, "DID"),
    "nsid": (syntax.is_valid_nsid, syntax.ensure_valid_nsid, "NSID"),
    "aturi": (syntax.is_valid_at_uri, syntax.ensure_valid_at_uri, "AT-URI"),
    "tid": (syntax.is_valid_tid, syntax.ensure_valid_tid, "TID"),
    "recordkey": (syntax.is_valid_record_key, syntax.ensure_valid_record_key, "record key"),
    "datetime": (syntax.is_valid_datetime, syntax.ensure_valid_datetime, "datetime"),
    "language": (syntax.is_valid_language, syntax.ensure_valid_language, "language tag"),
    "cid": (syntax.is_valid_cid, syntax.ensure_valid_cid, "CID"),
    "atidentifier": (
        syntax.is_valid_at_identifier,
        syntax.ensure_valid_at_identifier,
        "AT identifier",
    ),
    "uri": (syntax.is_valid_uri, syntax.ensure_valid_uri, "URI"),
}


def vector_lines(path: Path) -> list[str]:
    """The test values of a vector file: every line except blank ones and `#` comments.

    Lines are not stripped: leading and trailing whitespace is part of several invalid cases.
    """
    lines = path.read_text(encoding="utf-8").split("\n")
    values = [line for line in lines if line and not line.startswith("#")]
    assert values, f"{path} holds no test values"
    return values


def test_every_syntax_vector_file_is_covered(conformance_dir: Path) -> None:
    files = {p.name for p in (conformance_dir / "syntax").glob("*.txt")}
    covered = {f"{kind}_syntax_{which}.txt" for kind in KINDS for which in ("valid", "invalid")}
    covered |= {"datetime_parse_invalid.txt", "language_parse_invalid.txt"}
    assert files <= covered, f"vector files without a test: {sorted(files - covered)}"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_valid_vectors_are_accepted(conformance_dir: Path, kind: str) -> None:
    is_valid, ensure_valid, _ = KINDS[kind]
    values = vector_lines(conformance_dir / "syntax" / f"{kind}_syntax_valid.txt")
    assert [v for v in values if not is_valid(v)] == []
    for value in values:
        ensure_valid(value)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_invalid_vectors_are_rejected(conformance_dir: Path, kind: str) -> None:
    is_valid, ensure_valid, name = KINDS[kind]
    values = vector_lines(conformance_dir / "syntax" / f"{kind}_syntax_invalid.txt")
    assert [v for v in values if is_valid(v)] == []
    for value in values:
        with pytest.raises(InvalidRequest, match=f"^invalid {name} ") as caught:
            ensure_valid(value)
        assert caught.value.name == "InvalidRequest"


# Well-formed text that names no real instant (month 0, 25 o'clock, before year 0) or a tag
# RFC 5646 calls invalid (a repeated variant or extension). A lexicon validator must refuse
# both, so the validators here are the strict kind.
@pytest.mark.parametrize("kind", ["datetime", "language"])
def test_parse_invalid_vectors_are_rejected(conformance_dir: Path, kind: str) -> None:
    is_valid, ensure_valid, name = KINDS[kind]
    values = vector_lines(conformance_dir / "syntax" / f"{kind}_parse_invalid.txt")
    assert [v for v in values if is_valid(v)] == []
    for value in values:
        with pytest.raises(InvalidRequest, match=f"^invalid {name} "):
            ensure_valid(value)


# --- behaviour the vectors do not pin down --------------------------------------------------


def test_normalize_handle_lowercases_and_refuses_non_handles() -> None:
    assert syntax.normalize_handle("Alice.Example.COM") == "alice.example.com"
    with pytest.raises(InvalidRequest, match="handle"):
        syntax.normalize_handle("alice")


@pytest.mark.parametrize(
    ("ensure", "value", "reason"),
    [
        (syntax.ensure_valid_handle, "john..test", "empty segment"),
        (syntax.ensure_valid_handle, "john.0", "last segment starting with a digit"),
        (syntax.ensure_valid_did, "did:METHOD:val", "method of lower-case letters"),
        (syntax.ensure_valid_nsid, "com.example", "at least three"),
        (syntax.ensure_valid_at_uri, "at://did:plc:abc/com.example.post/a b", "record key"),
        (syntax.ensure_valid_record_key, "..", '"." or ".."'),
        (syntax.ensure_valid_tid, "3jzfcijpj2z2", "13 characters"),
        (syntax.ensure_valid_datetime, "1985-02-29T00:00:00Z", "no such day"),
        (syntax.ensure_valid_language, "de-DE-1901-1901", "repeats the variant"),
        (syntax.ensure_valid_cid, "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR", "CIDv0"),
    ],
)
def test_error_messages_say_what_is_wrong(
    ensure: Callable[[str], None], value: str, reason: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ensure(value)
    assert reason in caught.value.message
    assert repr(value) in caught.value.message


def test_long_values_are_cut_in_error_messages() -> None:
    with pytest.raises(InvalidRequest) as caught:
        syntax.ensure_valid_record_key("o" * 5000)
    assert len(caught.value.message) < 200


def test_at_uri_uses_the_restricted_lexicon_form() -> None:
    # Lexicon `at-uri` has no query or fragment (atproto.com/specs/at-uri-scheme).
    assert syntax.is_valid_at_uri("at://did:plc:asdf123/com.example.post/3jzfcijpj2z2a")
    assert not syntax.is_valid_at_uri("at://did:plc:asdf123/com.example.post/abc#/frag")
    assert not syntax.is_valid_at_uri("at://did:plc:asdf123?x=1")


def test_datetime_accepts_leap_days_only_in_leap_years() -> None:
    assert syntax.is_valid_datetime("2000-02-29T00:00:00Z")
    assert syntax.is_valid_datetime("2024-02-29T12:00:00.5+01:00")
    assert not syntax.is_valid_datetime("1900-02-29T00:00:00Z")
    assert not syntax.is_valid_datetime("2023-02-29T00:00:00Z")


def test_validators_refuse_a_trailing_newline() -> None:
    # Python's `$` would match before one; every check must anchor at the true end.
    for is_valid, _, _ in KINDS.values():
        assert not is_valid("did:plc:abc\n")
    assert not syntax.is_valid_tid("3jzfcijpj2z2a\n")
    assert not syntax.is_valid_datetime("1985-04-12T23:20:50.123Z\n")

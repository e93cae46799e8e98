"""Syntax of the ATProto identifiers and Lexicon string formats: handle, DID, NSID, AT-URI, TID,
record key, datetime, language tag, CID and URI, per the atproto.com specs.

`is_valid_*` answers yes or no; `ensure_valid_*` raises `InvalidRequest` saying what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from oms.errors import InvalidRequest

__all__ = [
    "ensure_valid_at_identifier",
    "ensure_valid_at_uri",
    "ensure_valid_cid",
    "ensure_valid_datetime",
    "ensure_valid_did",
    "ensure_valid_handle",
    "ensure_valid_language",
    "ensure_valid_nsid",
    "ensure_valid_record_key",
    "ensure_valid_tid",
    "ensure_valid_uri",
    "format_datetime",
    "is_valid_at_identifier",
    "is_valid_at_uri",
    "is_valid_cid",
    "is_valid_datetime",
    "is_valid_did",
    "is_valid_handle",
    "is_valid_language",
    "is_valid_nsid",
    "is_valid_record_key",
    "is_valid_tid",
    "is_valid_uri",
    "normalize_handle",
]

# Each checker returns None when the value is valid, else a phrase completing "<kind> ...".
_Checker = Callable[[str], str | None]

_HANDLE_MAX = 253
_HANDLE_LABEL = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
_HANDLE_TLD = re.compile(r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")

_DID_MAX = 2048
_DID = re.compile(r"did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]")

_NSID_MAX = 317
_NSID_DOMAIN_LABEL = _HANDLE_LABEL
_NSID_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9]{0,62}")

_AT_URI_MAX = 8 * 1024

_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")

_RECORD_KEY = re.compile(r"[a-zA-Z0-9_~.:-]{1,512}")

_DATETIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.[0-9]+)?"
    r"(?P<tz>Z|(?P<sign>[+-])(?P<tzhour>[0-9]{2}):(?P<tzminute>[0-9]{2}))"
)

_CID = re.compile(r"[a-zA-Z0-9+=]{8,256}")

_URI_MAX = 8 * 1024
_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:[!-~]+")


def _brief(value: str) -> str:
    """The value as it may appear in an error message: quoted, and cut if long."""
    return repr(value if len(value) <= 64 else value[:61] + "...")


# --- handle -----------------------------------------------------------------------------------


def _handle_problem(s: str) -> str | None:
    if len(s) > _HANDLE_MAX:
        return f"is longer than {_HANDLE_MAX} characters"
    labels = s.split(".")
    if len(labels) < 2:
        return "needs at least two dot-separated segments (a domain name)"
    for label in labels[:-1]:
        if not _HANDLE_LABEL.fullmatch(label):
            return _label_problem(label)
    tld = labels[-1]
    if not _HANDLE_TLD.fullmatch(tld):
        if tld[:1].isdigit():
            return "must not have a last segment starting with a digit"
        return _label_problem(tld)
    return None


def _label_problem(label: str) -> str:
    if not label:
        return "has an empty segment"
    if len(label) > 63:
        return "has a segment longer than 63 characters"
    if label[0] == "-" or label[-1] == "-":
        return "has a segment starting or ending with a hyphen"
    return "may contain only ASCII letters, digits and hyphens between the dots"


def normalize_handle(s: str) -> str:
    """The canonical (lower-case) form of a handle; raises InvalidRequest if it is not one."""
    ensure_valid_handle(s)
    return s.lower()


# --- DID --------------------------------------------------------------------------------------


def _did_problem(s: str) -> str | None:
    if len(s) > _DID_MAX:
        return f"is longer than {_DID_MAX} characters"
    if not s.startswith("did:"):
        return 'must start with "did:"'
    if not _DID.fullmatch(s):
        method, _, ident = s[4:].partition(":")
        if not re.fullmatch(r"[a-z]+", method):
            return "must have a method of lower-case letters"
        if not ident:
            return "must have a method-specific identifier"
        if ident[-1] in ":%":
            return 'must not end with ":" or "%"'
        return "may contain only ASCII letters, digits and ._:%- in its identifier"
    return None


# --- NSID -------------------------------------------------------------------------------------


def _nsid_problem(s: str) -> str | None:
    if len(s) > _NSID_MAX:
        return f"is longer than {_NSID_MAX} characters"
    segments = s.split(".")
    if len(segments) < 3:
        return "needs at least three dot-separated segments (a domain authority and a name)"
    *authority, name = segments
    for segment in authority:
        if not _NSID_DOMAIN_LABEL.fullmatch(segment):
            return _label_problem(segment)
    if authority[0][0].isdigit():
        return "must not start with a digit"
    if not _NSID_NAME.fullmatch(name):
        return "must end in a name of ASCII letters and digits, not starting with a digit"
    return None


# --- AT identifier (handle or DID) ------------------------------------------------------------


def _at_identifier_problem(s: str) -> str | None:
    if s.startswith("did:"):
        return _did_problem(s)
    problem = _handle_problem(s)
    if problem is not None:
        return f"is neither a DID nor a handle: as a handle it {problem}"
    return None


# --- AT-URI -----------------------------------------------------------------------------------


def _at_uri_problem(s: str) -> str | None:
    # Lexicon `at-uri` is the restricted form: at://AUTHORITY[/COLLECTION[/RKEY]], no query or
    # fragment (atproto.com/specs/at-uri-scheme).
    if len(s) > _AT_URI_MAX:
        return f"is longer than {_AT_URI_MAX} characters"
    if not s.startswith("at://"):
        return 'must start with "at://"'
    if "#" in s or "?" in s:
        return "must not have a query or fragment"
    parts = s[len("at://") :].split("/")
    if len(parts) > 3:
        return "has more than two path segments, or a trailing slash"
    problem = _at_identifier_problem(parts[0])
    if problem is not None:
        return f"has an authority that {problem}"
    if len(parts) >= 2:
        if not parts[1]:
            return "has a slash after the authority without a collection"
        problem = _nsid_problem(parts[1])
        if problem is not None:
            return f"has a collection (NSID) that {problem}"
    if len(parts) == 3:
        if not parts[2]:
            return "has a slash after the collection without a record key"
        problem = _record_key_problem(parts[2])
        if problem is not None:
            return f"has a record key that {problem}"
    return None


# --- TID --------------------------------------------------------------------------------------


def _tid_problem(s: str) -> str | None:
    if len(s) != 13:
        return "must be exactly 13 characters"
    if not _TID.fullmatch(s):
        return "must use the base32-sortable alphabet 234567a-z and start with one of 234567a-j"
    return None


# --- record key -------------------------------------------------------------------------------


def _record_key_problem(s: str) -> str | None:
    if not 1 <= len(s) <= 512:
        return "must be 1 to 512 characters"
    if s in (".", ".."):
        return 'must not be "." or ".."'
    if not _RECORD_KEY.fullmatch(s):
        return "may contain only ASCII letters, digits and _~.:-"
    return None


# --- datetime ---------------------------------------------------------------------------------


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar; valid for year 0 too."""
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


_YEAR_ZERO_S = _days_from_civil(0, 1, 1) * 86400


def _datetime_problem(s: str) -> str | None:
    # RFC 3339 ∩ ISO 8601 as the Lexicon `datetime` format requires, and a real instant: the
    # calendar fields must exist and the time must not fall before year 0 once normalized to UTC.
    m = _DATETIME.fullmatch(s)
    if m is None:
        return (
            "must look like 1985-04-12T23:20:50.123Z: four-digit year, upper-case T, "
            "and a Z or ±hh:mm timezone"
        )
    year_text, month_text, day_text, hour, minute, second, tz, sign, tz_hour, tz_minute = m.groups()
    if tz == "-00:00":
        return 'must not use the "-00:00" timezone'
    year, month, day = int(year_text), int(month_text), int(day_text)
    if not 1 <= month <= 12:
        return "has no such month"
    if not 1 <= day <= _days_in_month(year, month):
        return "has no such day in its month"
    if int(hour) > 23 or int(minute) > 59 or int(second) > 59:
        return "has no such time of day"
    if sign is not None and (int(tz_hour) > 23 or int(tz_minute) > 59):
        return "has no such timezone offset"
    # An offset moves the instant by less than a day: only year 0 can fall before it.
    if year == 0 and sign == "+":
        offset_s = int(tz_hour) * 3600 + int(tz_minute) * 60
        instant = _days_from_civil(0, month, day) * 86400
        instant += int(hour) * 3600 + int(minute) * 60 + int(second)
        if instant - offset_s < _YEAR_ZERO_S:
            return "falls before year 0 in UTC"
    return None


# --- language ---------------------------------------------------------------------------------

# RFC 5646 §2.2.8: tags registered before RFC 4646 that the generic grammar does not describe
# (the "regular" ones also parse as ordinary tags; listing them keeps the intent visible).
_GRANDFATHERED = frozenset(
    tag.lower()
    for tag in (
        *("en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon"),
        *("i-lux", "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-BE-FR"),
        *("sgn-BE-NL", "sgn-CH-DE", "art-lojban", "cel-gaulish", "no-bok", "no-nyn"),
        *("zh-guoyu", "zh-hakka", "zh-min", "zh-min-nan", "zh-xiang"),
    )
)
_LANGUAGE_PRIMARY = re.compile(r"[a-z]{2,3}|[a-z]{5,8}")
_LANGUAGE_EXTLANG = re.compile(r"[a-zA-Z]{3}")
_LANGUAGE_SCRIPT = re.compile(r"[a-zA-Z]{4}")
_LANGUAGE_REGION = re.compile(r"[a-zA-Z]{2}|[0-9]{3}")
_LANGUAGE_VARIANT = re.compile(r"[a-zA-Z0-9]{5,8}|[0-9][a-zA-Z0-9]{3}")
_LANGUAGE_SINGLETON = re.compile(r"[0-9a-wyzA-WYZ]")
_LANGUAGE_EXTENSION = re.compile(r"[a-zA-Z0-9]{2,8}")
_LANGUAGE_PRIVATE = re.compile(r"[a-zA-Z0-9]{1,8}")


def _private_use_problem(subtags: list[str]) -> str | None:
    if not subtags:
        return 'must follow the private-use "x" with at least one subtag'
    if not all(_LANGUAGE_PRIVATE.fullmatch(t) for t in subtags):
        return "has a private-use subtag that is not 1 to 8 letters or digits"
    return None


def _language_problem(s: str) -> str | None:
    # Well-formed per RFC 5646 §2.1 and valid per §2.2.9 (no repeated variant or extension
    # singleton), with the primary language subtag lower-case as the atproto vectors require.
    if s.lower() in _GRANDFATHERED:
        return None
    subtags = s.split("-")
    if any(not t for t in subtags):
        return "has an empty subtag"
    if subtags[0] in ("x", "X"):
        return _private_use_problem(subtags[1:])
    if not _LANGUAGE_PRIMARY.fullmatch(subtags[0]):
        return "must start with a lower-case language subtag of 2-3 (or 5-8) letters"
    i, n = 1, len(subtags)
    if len(subtags[0]) <= 3:
        extlangs = 0
        while i < n and extlangs < 3 and _LANGUAGE_EXTLANG.fullmatch(subtags[i]):
            i, extlangs = i + 1, extlangs + 1
    if i < n and _LANGUAGE_SCRIPT.fullmatch(subtags[i]):
        i += 1
    if i < n and _LANGUAGE_REGION.fullmatch(subtags[i]):
        i += 1
    variants: set[str] = set()
    while i < n and _LANGUAGE_VARIANT.fullmatch(subtags[i]):
        variant = subtags[i].lower()
        if variant in variants:
            return f"repeats the variant {subtags[i]!r}"
        variants.add(variant)
        i += 1
    singletons: set[str] = set()
    while i < n and _LANGUAGE_SINGLETON.fullmatch(subtags[i]):
        singleton = subtags[i].lower()
        if singleton in singletons:
            return f"repeats the extension {subtags[i]!r}"
        singletons.add(singleton)
        i += 1
        start = i
        while i < n and _LANGUAGE_EXTENSION.fullmatch(subtags[i]):
            i += 1
        if i == start:
            return f"has an empty extension {singleton!r}"
    if i < n and subtags[i] in ("x", "X"):
        return _private_use_problem(subtags[i + 1 :])
    if i < n:
        return f"has a subtag {subtags[i]!r} out of place"
    return None


# --- CID and URI ------------------------------------------------------------------------------


def _cid_problem(s: str) -> str | None:
    # A loose check (the Lexicon `cid` format): multibase-looking characters, not CIDv0.
    if not _CID.fullmatch(s):
        return "must be 8 to 256 multibase characters (letters, digits, + and =)"
    if s.startswith("Qm"):
        return "must not be a CIDv0"
    return None


def _uri_problem(s: str) -> str | None:
    if len(s) > _URI_MAX:
        return f"is longer than {_URI_MAX} characters"
    if not _URI.fullmatch(s):
        return "must be a scheme, a colon and a non-empty rest, with no whitespace"
    return None


# --- public API -------------------------------------------------------------------------------


def _ensure(kind: str, problem: _Checker, s: str) -> None:
    reason = problem(s)
    if reason is not None:
        raise InvalidRequest(f"invalid {kind} {_brief(s)}: it {reason}")


def is_valid_handle(s: str) -> bool:
    return _handle_problem(s) is None


def is_valid_did(s: str) -> bool:
    return _did_problem(s) is None


def is_valid_nsid(s: str) -> bool:
    return _nsid_problem(s) is None


def is_valid_at_identifier(s: str) -> bool:
    return _at_identifier_problem(s) is None


def is_valid_at_uri(s: str) -> bool:
    return _at_uri_problem(s) is None


def is_valid_tid(s: str) -> bool:
    return _tid_problem(s) is None


def is_valid_record_key(s: str) -> bool:
    return _record_key_problem(s) is None


def is_valid_datetime(s: str) -> bool:
    return _datetime_problem(s) is None


def is_valid_language(s: str) -> bool:
    return _language_problem(s) is None


def is_valid_cid(s: str) -> bool:
    return _cid_problem(s) is None


def is_valid_uri(s: str) -> bool:
    return _uri_problem(s) is None


def ensure_valid_handle(s: str) -> None:
    _ensure("handle", _handle_problem, s)


def ensure_valid_did(s: str) -> None:
    _ensure("DID", _did_problem, s)


def ensure_valid_nsid(s: str) -> None:
    _ensure("NSID", _nsid_problem, s)


def ensure_valid_at_identifier(s: str) -> None:
    _ensure("AT identifier", _at_identifier_problem, s)


def ensure_valid_at_uri(s: str) -> None:
    _ensure("AT-URI", _at_uri_problem, s)


def ensure_valid_tid(s: str) -> None:
    _ensure("TID", _tid_problem, s)


def ensure_valid_record_key(s: str) -> None:
    _ensure("record key", _record_key_problem, s)


def ensure_valid_datetime(s: str) -> None:
    _ensure("datetime", _datetime_problem, s)


def ensure_valid_language(s: str) -> None:
    _ensure("language tag", _language_problem, s)


def ensure_valid_cid(s: str) -> None:
    _ensure("CID", _cid_problem, s)


def ensure_valid_uri(s: str) -> None:
    _ensure("URI", _uri_problem, s)


def format_datetime(ms: int) -> str:
    """Milliseconds since the epoch in the datetime form the node writes:
    `2024-05-01T12:00:00.000Z` (UTC, millisecond precision)."""
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )

"""Validation of data (records, XRPC params and bodies) against loaded lexicon definitions.
Failures raise `InvalidRequest` naming the failing path (`Record/artists/0/did must be a valid
did`), in the style of the reference implementation (@atproto/lexicon).

Validation sits on every write and every XRPC call, so it is made cheap: each field definition
is compiled once, on first use, into a tree of small closures (`_Check`) that read no schema
keys and parse no refs while validating, and a failure's path is only built when there is one.
A check raises `Invalid` with the problem alone; each enclosing object or array adds its
segment as the exception passes, and the entry point turns it into `InvalidRequest`."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from oms.errors import InvalidRequest
from oms.pds.dagcbor import is_valid_text
from oms.pds.data_model import Invalid, decode_bytes, is_blob_ref, is_cid_link, is_integer
from oms.pds.graphemes import count_graphemes
from oms.pds.lexicon_schema import split_ref
from oms.pds.syntax import (
    is_valid_at_identifier,
    is_valid_at_uri,
    is_valid_cid,
    is_valid_datetime,
    is_valid_did,
    is_valid_handle,
    is_valid_language,
    is_valid_nsid,
    is_valid_record_key,
    is_valid_tid,
    is_valid_uri,
)

__all__ = ["ValueValidator"]

# Valid names seen lately, per format: the same track, account or collection recurs in call
# after call (a player reports the same track every ten seconds), and each check is a parse.
_REMEMBERED = 4096


def _remembering(valid: Callable[[str], bool]) -> Callable[[str], bool]:
    known: set[str] = set()

    def check(value: str) -> bool:
        if value in known:
            return True
        if not valid(value):
            return False
        if len(known) >= _REMEMBERED:
            known.clear()
        known.add(value)
        return True

    return check


# Datetimes and TIDs are rarely seen twice: checked afresh each time.
_FORMATS: dict[str, tuple[Callable[[str], bool], str]] = {
    "at-identifier": (_remembering(is_valid_at_identifier), "a valid did or handle"),
    "at-uri": (_remembering(is_valid_at_uri), "a valid at-uri"),
    "cid": (_remembering(is_valid_cid), "a valid cid"),
    "datetime": (is_valid_datetime, "a valid datetime"),
    "did": (_remembering(is_valid_did), "a valid did"),
    "handle": (_remembering(is_valid_handle), "a valid handle"),
    "nsid": (_remembering(is_valid_nsid), "a valid nsid"),
    "tid": (is_valid_tid, "a valid tid"),
    "record-key": (_remembering(is_valid_record_key), "a valid record key"),
    "uri": (_remembering(is_valid_uri), "a valid uri"),
    "language": (_remembering(is_valid_language), "a valid language code"),
}

_MISSING: Any = object()  # "no such key", where None is a value


# -- validation against definitions -------------------------------------------------------------

# A compiled field definition: returns the value, or a copy with defaults filled in; raises
# `Invalid`. Definitions are well-formed (checked by `lexicon_schema` when loaded).
_Check = Callable[[object], object]


def _mime_accepted(mime: str, accept: list[str]) -> bool:
    for pattern in accept:
        if pattern in ("*/*", mime):
            return True
        if pattern.endswith("/*") and mime.startswith(pattern[:-1]):
            return True
    return False


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fail(problem: str) -> _Check:
    """A check no value passes (a ref to nothing, a definition that holds no value)."""

    def check(value: object) -> NoReturn:
        raise Invalid(problem)

    return check


def _string(schema: Mapping[str, Any]) -> _Check:
    const = schema.get("const", _MISSING)
    enum = schema.get("enum")
    exact = const is not _MISSING or enum is not None
    # knownValues is informational: other values are allowed.
    max_size, min_size = schema.get("maxLength", sys.maxsize), schema.get("minLength", 0)
    max_graphemes: Any = schema.get("maxGraphemes")
    min_graphemes: Any = schema.get("minGraphemes")
    counted = max_graphemes is not None or min_graphemes is not None
    fmt = schema.get("format")
    valid, what = _FORMATS[fmt] if fmt is not None else (None, "")

    def check(value: object) -> object:
        if not isinstance(value, str):
            raise Invalid("must be a string")
        # Lexicon string lengths count UTF-8 bytes: one per character of ASCII text.
        if value.isascii():
            size = len(value)
        elif is_valid_text(value):
            size = len(value.encode("utf-8"))
        else:
            raise Invalid("must be Unicode text (it holds a lone surrogate)")
        if exact:
            if const is not _MISSING and value != const:
                raise Invalid(f"must be {const}")
            if enum is not None and value not in enum:
                raise Invalid(f"must be one of ({'|'.join(enum)})")
        if size > max_size:
            raise Invalid(f"must not be longer than {max_size} bytes (UTF-8)")
        if size < min_size:
            raise Invalid(f"must not be shorter than {min_size} bytes (UTF-8)")
        # Counting is slow and a grapheme holds at least one character: short text needs none.
        if counted and (min_graphemes is not None or len(value) > max_graphemes):
            graphemes = count_graphemes(value)
            if max_graphemes is not None and graphemes > max_graphemes:
                raise Invalid(f"must not be longer than {max_graphemes} graphemes")
            if min_graphemes is not None and graphemes < min_graphemes:
                raise Invalid(f"must not be shorter than {min_graphemes} graphemes")
        if valid is not None and not valid(value):
            raise Invalid(f"must be {what}")
        return value

    return check


def _integer(schema: Mapping[str, Any]) -> _Check:
    const = schema.get("const", _MISSING)
    enum = schema.get("enum")
    exact = const is not _MISSING or enum is not None
    maximum, minimum = schema.get("maximum"), schema.get("minimum")

    def check(value: object) -> object:
        if type(value) is not int and not is_integer(value):
            raise Invalid("must be an integer")
        number: float = value  # type: ignore[assignment]  # an int, or a float holding one
        if exact:
            if const is not _MISSING and number != const:
                raise Invalid(f"must be {const}")
            if enum is not None and number not in enum:
                raise Invalid(f"must be one of ({'|'.join(map(str, enum))})")
        if maximum is not None and number > maximum:
            raise Invalid(f"can not be greater than {maximum}")
        if minimum is not None and number < minimum:
            raise Invalid(f"can not be less than {minimum}")
        return value

    return check


def _boolean(schema: Mapping[str, Any]) -> _Check:
    const = schema.get("const", _MISSING)

    def check(value: object) -> object:
        if not isinstance(value, bool):
            raise Invalid("must be a boolean")
        if const is not _MISSING and value != const:
            raise Invalid(f"must be {_show(const)}")
        return value

    return check


def _bytes(schema: Mapping[str, Any]) -> _Check:
    max_size, min_size = schema.get("maxLength"), schema.get("minLength")

    def check(value: object) -> object:
        data = decode_bytes(value)
        if data is None:
            raise Invalid("must be bytes ({$bytes: base64})")
        if max_size is not None and len(data) > max_size:
            raise Invalid(f"must not be larger than {max_size} bytes")
        if min_size is not None and len(data) < min_size:
            raise Invalid(f"must not be smaller than {min_size} bytes")
        return value

    return check


def _cid_link(schema: Mapping[str, Any]) -> _Check:
    def check(value: object) -> object:
        if not is_cid_link(value):
            raise Invalid("must be a CID link ({$link: cid})")
        return value

    return check


def _blob(schema: Mapping[str, Any]) -> _Check:
    accept: list[str] | None = schema.get("accept")
    max_size = schema.get("maxSize")

    def check(value: object) -> object:
        if not is_blob_ref(value):
            raise Invalid("should be a blob ref")
        assert isinstance(value, dict)
        mime = value["mimeType"]
        if accept is not None and not _mime_accepted(mime, accept):
            raise Invalid(f"has mimeType {mime}, not one of {', '.join(accept)}")
        if max_size is not None and value["size"] > max_size:
            raise Invalid(f"is larger than {max_size} bytes")
        return value

    return check


def _unknown(schema: Mapping[str, Any]) -> _Check:
    def check(value: object) -> object:
        if not isinstance(value, dict):
            raise Invalid("must be an object")
        return value

    return check


# The field types whose check does not depend on other definitions.
_LEAVES: dict[str, Callable[[Mapping[str, Any]], _Check]] = {
    "string": _string,
    "integer": _integer,
    "boolean": _boolean,
    "bytes": _bytes,
    "cid-link": _cid_link,
    "blob": _blob,
    "unknown": _unknown,
}


class ValueValidator:
    """Checks values against definitions, following refs through the loaded documents.

    Documents are never changed once loaded, so compiled checks are kept for the validator's
    lifetime, keyed by the identity of their definition (kept alive, so the id stays its own).
    """

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self._documents = documents
        self._checks: dict[tuple[int, str, bool], tuple[Mapping[str, Any], _Check]] = {}
        # While compiling (under the lock): the checks made so far, published all at once so
        # that no thread sees one that forwards to a check not yet made (see `_later`).
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, str, bool], tuple[Mapping[str, Any], _Check]] = {}
        self._compiling: set[tuple[int, str, bool]] = set()
        # The checks that may return a copy (with defaults filled in). The others, most of them,
        # return their value as is, so what contains them need not compare what they return.
        self._copying: set[_Check] = set()

    def resolve(self, ref: str, base: str, path: str) -> tuple[str, str, Mapping[str, Any]]:
        """`ref` seen from document `base` -> (its document NSID, `nsid#def`, definition)."""
        nsid, full, definition = self._lookup(ref, base)
        if definition is None:
            raise InvalidRequest(f"{path} refers to {full}, which no lexicon defines")
        return nsid, full, definition

    def validate(
        self, value: object, schema: Mapping[str, Any], path: str, base: str, *, defaults: bool
    ) -> object:
        """Validate `value` against field `schema` of document `base`.

        Returns the value, with object property defaults filled in when `defaults` is true
        (never mutating the input: what changes is copied, what does not is returned as is).
        """
        compiled = self._checks.get((id(schema), base, defaults))
        check = compiled[1] if compiled is not None else self._compiled(schema, base, defaults)
        try:
            return check(value)
        except Invalid as exc:
            message = exc.message(path)
        raise InvalidRequest(message)  # raised here, not in `except`, to carry no context

    def _lookup(self, ref: str, base: str) -> tuple[str, str, Mapping[str, Any] | None]:
        nsid, name = split_ref(ref, base)
        doc = self._documents.get(nsid)
        definition = doc["defs"].get(name) if doc is not None else None
        return nsid, f"{nsid}#{name}", definition

    def _compiled(self, schema: Mapping[str, Any], base: str, defaults: bool) -> _Check:
        """Compile `schema` and all it refers to."""
        with self._lock:
            try:
                check = self._check(schema, base, defaults)
                self._checks.update(self._pending)
            finally:
                self._pending.clear()
                self._compiling.clear()
            return check

    def _check(self, schema: Mapping[str, Any], base: str, defaults: bool) -> _Check:
        key = (id(schema), base, defaults)
        compiled = self._checks.get(key) or self._pending.get(key)
        if compiled is not None:
            return compiled[1]
        if key in self._compiling:
            return self._later(key)
        self._compiling.add(key)
        check = self._compile(schema, base, defaults)
        self._compiling.discard(key)
        self._pending[key] = (schema, check)
        return check

    def _later(self, key: tuple[int, str, bool]) -> _Check:
        """The check of a definition still being compiled: one that (indirectly) contains
        itself, as a thread of replies does."""

        def check(value: object) -> object:
            return self._checks[key][1](value)

        self._copying.add(check)  # not known yet
        return check

    def _compile(self, schema: Mapping[str, Any], base: str, defaults: bool) -> _Check:
        kind = schema["type"]
        if kind == "object":
            return self._object(schema, base, defaults)
        if kind == "array":
            return self._array(schema, base, defaults)
        if kind == "ref":
            return self._ref(schema["ref"], base, defaults)
        if kind == "union":
            return self._union(schema, base, defaults)
        leaf = _LEAVES.get(kind)
        if leaf is None:
            return _fail(f"has a definition of type {kind}, which holds no value")
        return leaf(schema)

    def _object(self, schema: Mapping[str, Any], base: str, defaults: bool) -> _Check:
        properties: Mapping[str, Mapping[str, Any]] = schema.get("properties", {})
        required = tuple(schema.get("required", []))
        nullable = frozenset(schema.get("nullable", []))
        # (name, check, required), in the order of the definition: the first failure is reported.
        checks = tuple(
            (name, self._nullable(check) if name in nullable else check, name in required)
            for name, prop in properties.items()
            for check in [self._check(prop, base, defaults)]
        )
        # Required names the loop over properties does not meet.
        undefined = tuple(name for name in required if name not in properties)
        fills = tuple(
            (name, prop["default"])
            for name, prop in properties.items()
            if defaults and "default" in prop
        )

        def missing(value: dict[str, object]) -> Invalid:
            # A missing property is reported before any invalid one, the first in `required`.
            name = next(name for name in required if name not in value)
            return Invalid(f'must have the property "{name}"')

        def failed(exc: Invalid, name: str, value: dict[str, object]) -> Invalid:
            if any(name not in value for name in required):
                return missing(value)
            exc.segments.append(name)
            return exc

        def check(value: object) -> object:
            if not isinstance(value, dict):
                raise Invalid("must be an object")
            if undefined and any(name not in value for name in undefined):
                raise missing(value)
            for name, check_item, is_required in checks:
                if name in value:
                    try:
                        check_item(value[name])
                    except Invalid as exc:
                        raise failed(exc, name, value) from None
                elif is_required:
                    raise missing(value)
            return value

        def check_copying(value: object) -> object:
            # As `check`, building a copy when a property is filled in or changed.
            if not isinstance(value, dict):
                raise Invalid("must be an object")
            if undefined and any(name not in value for name in undefined):
                raise missing(value)
            result = value
            for name, check_item, is_required in checks:
                if name in value:
                    item = value[name]
                    try:
                        checked = check_item(item)
                    except Invalid as exc:
                        raise failed(exc, name, value) from None
                    if checked is not item:
                        result = result if result is not value else dict(value)
                        result[name] = checked
                elif is_required:
                    raise missing(value)
            for name, default in fills:
                if name not in value:
                    result = result if result is not value else dict(value)
                    result[name] = default
            return result

        if not fills and self._copying.isdisjoint(c for _, c, _ in checks):
            return check
        self._copying.add(check_copying)
        return check_copying

    def _array(self, schema: Mapping[str, Any], base: str, defaults: bool) -> _Check:
        check_item = self._check(schema["items"], base, defaults)
        max_length, min_length = schema.get("maxLength", sys.maxsize), schema.get("minLength", 0)

        def wrong(value: object) -> Invalid:
            if not isinstance(value, list):
                return Invalid("must be an array")
            if len(value) > max_length:
                return Invalid(f"must not have more than {max_length} elements")
            return Invalid(f"must not have fewer than {min_length} elements")

        def check(value: object) -> object:
            if not isinstance(value, list) or not min_length <= len(value) <= max_length:
                raise wrong(value)
            for i, item in enumerate(value):
                try:
                    check_item(item)
                except Invalid as exc:
                    exc.segments.append(str(i))
                    raise
            return value

        def check_copying(value: object) -> object:
            # As `check`, building a copy when an item is changed.
            if not isinstance(value, list) or not min_length <= len(value) <= max_length:
                raise wrong(value)
            result = value
            for i, item in enumerate(value):
                try:
                    checked = check_item(item)
                except Invalid as exc:
                    exc.segments.append(str(i))
                    raise
                if checked is not item:
                    result = result if result is not value else list(value)
                    result[i] = checked
            return result

        if check_item not in self._copying:
            return check
        self._copying.add(check_copying)
        return check_copying

    def _nullable(self, check: _Check) -> _Check:
        """`check`, letting null through (an object's `nullable` properties)."""

        def nullable(value: object) -> object:
            return value if value is None else check(value)

        if check in self._copying:
            self._copying.add(nullable)
        return nullable

    def _ref(self, ref: str, base: str, defaults: bool) -> _Check:
        # A ref to nothing fails only the values that reach it, as if resolved on use.
        nsid, full, definition = self._lookup(ref, base)
        if definition is None:
            return _fail(f"refers to {full}, which no lexicon defines")
        kind = definition["type"]
        if kind == "record":
            return self._check(definition["record"], nsid, defaults)
        if kind == "token":

            def token(value: object) -> object:
                if value != full:
                    raise Invalid(f"must be {full}")
                return value

            return token
        if kind in ("query", "procedure", "subscription", "permission-set"):
            return _fail(f"refers to {full}, a {kind}, which holds no value")
        return self._check(definition, nsid, defaults)

    def _union(self, schema: Mapping[str, Any], base: str, defaults: bool) -> _Check:
        # Members by `nsid#def`; the last of refs naming the same definition wins, as any does.
        members = {
            "#".join(split_ref(ref, base)): self._ref(ref, base, defaults) for ref in schema["refs"]
        }
        closed = bool(schema.get("closed", False))
        names = ", ".join(members)

        def check(value: object) -> object:
            wanted = value.get("$type") if isinstance(value, dict) else None
            if not isinstance(wanted, str):
                raise Invalid('must be an object which includes the "$type" property')
            member = members.get(wanted)
            if member is None:  # maybe `nsid` or `nsid#` for `nsid#main`
                nsid, _, name = wanted.partition("#")
                member = members.get(f"{nsid}#{name or 'main'}")
            if member is None:
                if closed:
                    raise Invalid(f"$type must be one of {names}")
                # An open union accepts types it does not know (forward compatibility).
                return value
            return member(value)

        if not self._copying.isdisjoint(members.values()):
            self._copying.add(check)
        return check

"""Validation of data (records, XRPC params and bodies) against loaded lexicon definitions.
Failures raise `InvalidRequest` naming the failing path (`Record/artists/0/did must be a valid
did`), in the style of the reference implementation (@atproto/lexicon)."""

from __future__ import annotations

import base64
import binascii
import math
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from oms.errors import InvalidRequest
from oms.pds.dagcbor import MAX_DEPTH, is_valid_text
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

__all__ = ["ValueValidator", "check_data_model", "count_graphemes"]

_FORMATS: dict[str, tuple[Callable[[str], bool], str]] = {
    "at-identifier": (is_valid_at_identifier, "a valid did or handle"),
    "at-uri": (is_valid_at_uri, "a valid at-uri"),
    "cid": (is_valid_cid, "a valid cid"),
    "datetime": (is_valid_datetime, "a valid datetime"),
    "did": (is_valid_did, "a valid did"),
    "handle": (is_valid_handle, "a valid handle"),
    "nsid": (is_valid_nsid, "a valid nsid"),
    "tid": (is_valid_tid, "a valid tid"),
    "record-key": (is_valid_record_key, "a valid record key"),
    "uri": (is_valid_uri, "a valid uri"),
    "language": (is_valid_language, "a valid language code"),
}


# -- graphemes ---------------------------------------------------------------------------------


# An approximation of Unicode extended grapheme clusters (UAX #29) using only `unicodedata`,
# to avoid a dependency: combining marks, variation selectors, emoji modifiers, tag characters,
# Hangul medial/final jamo and ZWJ sequences extend the preceding cluster, regional indicators
# pair up, CR LF is one cluster. It agrees with the full algorithm on text people actually post;
# rarer cases (prepend marks, some Indic conjuncts) may count one cluster too many.
def _extends(ch: str) -> bool:
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or cp in (0x200C, 0x200D)  # ZWNJ, ZWJ
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0xE0100 <= cp <= 0xE01EF  # variation selectors supplement
        or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # tag characters (subdivision flags)
        or 0x1160 <= cp <= 0x11FF  # Hangul medial vowels and final consonants
        or 0xD7B0 <= cp <= 0xD7FF
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def count_graphemes(text: str) -> int:
    """Count user-perceived characters (approximately; see the comment above)."""
    count = 0
    prev = ""
    ri_open = False  # an unpaired regional indicator starts the current cluster
    for ch in text:
        joins = prev == "\u200d" or (prev == "\r" and ch == "\n")
        if _is_regional_indicator(ch):
            if ri_open and _is_regional_indicator(prev):
                ri_open = False
            else:
                count += 1
                ri_open = True
        elif not count or not (joins or _extends(ch)):
            count += 1
            ri_open = False
        prev = ch
    return count


# -- the data model ----------------------------------------------------------------------------


def _decode_bytes(value: object) -> bytes | None:
    """`{"$bytes": base64}` (the JSON form of bytes) -> bytes; raw bytes pass through."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, dict) or set(value) != {"$bytes"}:
        return None
    encoded = value["$bytes"]
    if not isinstance(encoded, str):
        return None
    try:
        # The data model writes base64 without padding; accept it with padding as well.
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_cid_link(value: object) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"$link"}
        and isinstance(value["$link"], str)
        and is_valid_cid(value["$link"])
    )


def _is_blob_ref(value: object) -> bool:
    if not isinstance(value, dict) or value.get("$type") != "blob":
        return False
    size = value.get("size")
    mime = value.get("mimeType")
    return (
        _is_cid_link(value.get("ref"))
        and isinstance(mime, str)
        and bool(mime)
        and type(size) is int
        and size >= 0
    )


def _is_integer(value: object) -> bool:
    # JSON has one number type: 123.0 is the integer 123 in the data model (interop vectors).
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    return type(value) is int


def check_data_model(value: object, path: str, depth: int = 0) -> None:
    """Reject what the ATProto data model cannot hold: floats, malformed $bytes/$link/blobs,
    `$type` that is not a non-empty string, and nesting deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise InvalidRequest(f"{path} is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, float):
        if not _is_integer(value):
            raise InvalidRequest(f"{path} must not be a float (the data model has integers only)")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_data_model(item, f"{path}/{i}", depth + 1)
    elif isinstance(value, dict):
        if "$bytes" in value and _decode_bytes(value) is None:
            raise InvalidRequest(f"{path} must be bytes in the form {{$bytes: base64}}")
        if "$link" in value and not _is_cid_link(value):
            raise InvalidRequest(f"{path} must be a CID link in the form {{$link: cid}}")
        if "$type" in value:
            kind = value["$type"]
            if not isinstance(kind, str) or not kind:
                raise InvalidRequest(f"{path}/$type must be a non-empty string")
            if kind == "blob" and not _is_blob_ref(value):
                raise InvalidRequest(f"{path} must be a blob ref")
        for key, item in value.items():
            if not isinstance(key, str) or not is_valid_text(key):
                raise InvalidRequest(f"{path} must have keys of Unicode text only")
            check_data_model(item, f"{path}/{key}", depth + 1)
    elif isinstance(value, str):
        if not is_valid_text(value):
            raise InvalidRequest(f"{path} must be Unicode text (it holds a lone surrogate)")
    elif value is not None and not isinstance(value, str | bool | int | bytes):
        raise InvalidRequest(f"{path} holds a value the data model cannot represent")


# -- validation against definitions -------------------------------------------------------------


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


class ValueValidator:
    """Checks values against definitions, following refs through the loaded documents."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self._documents = documents

    def resolve(self, ref: str, base: str, path: str) -> tuple[str, str, Mapping[str, Any]]:
        """`ref` seen from document `base` -> (its document NSID, `nsid#def`, definition)."""
        nsid, name = split_ref(ref, base)
        doc = self._documents.get(nsid)
        definition = doc["defs"].get(name) if doc is not None else None
        if definition is None:
            raise InvalidRequest(f"{path} refers to {nsid}#{name}, which no lexicon defines")
        return nsid, f"{nsid}#{name}", definition

    def validate(
        self, value: object, schema: Mapping[str, Any], path: str, base: str, *, defaults: bool
    ) -> object:
        """Validate `value` against field `schema` of document `base`.

        Returns the value, with object property defaults filled in when `defaults` is true
        (never mutating the input).
        """
        kind = schema["type"]
        if kind == "object":
            return self._object(value, schema, path, base, defaults)
        if kind == "array":
            if not isinstance(value, list):
                raise InvalidRequest(f"{path} must be an array")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                msg = f"must not have more than {schema['maxLength']} elements"
                raise InvalidRequest(f"{path} {msg}")
            if "minLength" in schema and len(value) < schema["minLength"]:
                msg = f"must not have fewer than {schema['minLength']} elements"
                raise InvalidRequest(f"{path} {msg}")
            items = schema["items"]
            return [
                self.validate(item, items, f"{path}/{i}", base, defaults=defaults)
                for i, item in enumerate(value)
            ]
        if kind == "ref":
            return self._ref(value, schema["ref"], path, base, defaults)
        if kind == "union":
            return self._union(value, schema, path, base, defaults)
        if kind == "string":
            self._string(value, schema, path)
        elif kind == "integer":
            self._integer(value, schema, path)
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise InvalidRequest(f"{path} must be a boolean")
            if "const" in schema and value != schema["const"]:
                raise InvalidRequest(f"{path} must be {_show(schema['const'])}")
        elif kind == "bytes":
            self._bytes(value, schema, path)
        elif kind == "cid-link":
            if not _is_cid_link(value):
                raise InvalidRequest(f"{path} must be a CID link ({{$link: cid}})")
        elif kind == "blob":
            self._blob(value, schema, path)
        elif kind == "unknown":
            if not isinstance(value, dict):
                raise InvalidRequest(f"{path} must be an object")
        else:
            raise InvalidRequest(f"{path} has a definition of type {kind}, which holds no value")
        return value

    def _object(
        self, value: object, schema: Mapping[str, Any], path: str, base: str, defaults: bool
    ) -> object:
        if not isinstance(value, dict):
            raise InvalidRequest(f"{path} must be an object")
        properties: Mapping[str, Any] = schema.get("properties", {})
        nullable = set(schema.get("nullable", []))
        for name in schema.get("required", []):
            if name not in value:
                raise InvalidRequest(f'{path} must have the property "{name}"')
        result = value
        for name, prop in properties.items():
            if name not in value:
                if defaults and "default" in prop:
                    result = result if result is not value else dict(value)
                    result[name] = prop["default"]
                continue
            item = value[name]
            if item is None and name in nullable:
                continue
            checked = self.validate(item, prop, f"{path}/{name}", base, defaults=defaults)
            if checked is not item:
                result = result if result is not value else dict(value)
                result[name] = checked
        return result

    def _ref(self, value: object, ref: str, path: str, base: str, defaults: bool) -> object:
        nsid, full, definition = self.resolve(ref, base, path)
        kind = definition["type"]
        if kind == "record":
            definition = definition["record"]
        elif kind == "token":
            if value != full:
                raise InvalidRequest(f"{path} must be {full}")
            return value
        elif kind in ("query", "procedure", "subscription", "permission-set"):
            raise InvalidRequest(f"{path} refers to {full}, a {kind}, which holds no value")
        return self.validate(value, definition, path, nsid, defaults=defaults)

    def _union(
        self, value: object, schema: Mapping[str, Any], path: str, base: str, defaults: bool
    ) -> object:
        if not isinstance(value, dict) or not isinstance(value.get("$type"), str):
            raise InvalidRequest(f'{path} must be an object which includes the "$type" property')
        wanted = value["$type"]
        refs: list[str] = schema["refs"]
        full_refs = {"#".join(split_ref(ref, base)): ref for ref in refs}
        ref = full_refs.get("#".join(split_ref(wanted, "")))
        if ref is None:
            if schema.get("closed", False):
                names = ", ".join(full_refs)
                raise InvalidRequest(f"{path} $type must be one of {names}")
            # An open union accepts types it does not know (forward compatibility).
            return value
        return self._ref(value, ref, path, base, defaults)

    def _string(self, value: object, schema: Mapping[str, Any], path: str) -> None:
        if not isinstance(value, str):
            raise InvalidRequest(f"{path} must be a string")
        if not is_valid_text(value):
            raise InvalidRequest(f"{path} must be Unicode text (it holds a lone surrogate)")
        if "const" in schema and value != schema["const"]:
            raise InvalidRequest(f"{path} must be {schema['const']}")
        if "enum" in schema and value not in schema["enum"]:
            raise InvalidRequest(f"{path} must be one of ({'|'.join(schema['enum'])})")
        # knownValues is informational: other values are allowed.
        if "maxLength" in schema or "minLength" in schema:
            size = len(value.encode("utf-8"))  # lexicon string lengths count UTF-8 bytes
            if "maxLength" in schema and size > schema["maxLength"]:
                msg = f"must not be longer than {schema['maxLength']} bytes (UTF-8)"
                raise InvalidRequest(f"{path} {msg}")
            if "minLength" in schema and size < schema["minLength"]:
                msg = f"must not be shorter than {schema['minLength']} bytes (UTF-8)"
                raise InvalidRequest(f"{path} {msg}")
        if "maxGraphemes" in schema or "minGraphemes" in schema:
            graphemes = count_graphemes(value)
            if "maxGraphemes" in schema and graphemes > schema["maxGraphemes"]:
                msg = f"must not be longer than {schema['maxGraphemes']} graphemes"
                raise InvalidRequest(f"{path} {msg}")
            if "minGraphemes" in schema and graphemes < schema["minGraphemes"]:
                msg = f"must not be shorter than {schema['minGraphemes']} graphemes"
                raise InvalidRequest(f"{path} {msg}")
        fmt = schema.get("format")
        if fmt is not None:
            check, what = _FORMATS[fmt]
            if not check(value):
                raise InvalidRequest(f"{path} must be {what}")

    def _integer(self, value: object, schema: Mapping[str, Any], path: str) -> None:
        if not _is_integer(value):
            raise InvalidRequest(f"{path} must be an integer")
        assert isinstance(value, int | float)
        if "const" in schema and value != schema["const"]:
            raise InvalidRequest(f"{path} must be {schema['const']}")
        if "enum" in schema and value not in schema["enum"]:
            raise InvalidRequest(f"{path} must be one of ({'|'.join(map(str, schema['enum']))})")
        if "maximum" in schema and value > schema["maximum"]:
            raise InvalidRequest(f"{path} can not be greater than {schema['maximum']}")
        if "minimum" in schema and value < schema["minimum"]:
            raise InvalidRequest(f"{path} can not be less than {schema['minimum']}")

    def _bytes(self, value: object, schema: Mapping[str, Any], path: str) -> None:
        data = _decode_bytes(value)
        if data is None:
            raise InvalidRequest(f"{path} must be bytes ({{$bytes: base64}})")
        if "maxLength" in schema and len(data) > schema["maxLength"]:
            raise InvalidRequest(f"{path} must not be larger than {schema['maxLength']} bytes")
        if "minLength" in schema and len(data) < schema["minLength"]:
            raise InvalidRequest(f"{path} must not be smaller than {schema['minLength']} bytes")

    def _blob(self, value: object, schema: Mapping[str, Any], path: str) -> None:
        if not _is_blob_ref(value):
            raise InvalidRequest(f"{path} should be a blob ref")
        assert isinstance(value, dict)
        accept = schema.get("accept")
        if accept is not None and not _mime_accepted(value["mimeType"], accept):
            types = ", ".join(accept)
            raise InvalidRequest(f"{path} has mimeType {value['mimeType']}, not one of {types}")
        if "maxSize" in schema and value["size"] > schema["maxSize"]:
            raise InvalidRequest(f"{path} is larger than {schema['maxSize']} bytes")

"""What the ATProto data model can hold (no floats, well-formed $bytes, $link and blob refs,
a `$type` that is a non-empty string, bounded nesting), and `Invalid`, the failure both this
check and lexicon validation raise: a problem, with path segments added on the way out."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from oms.errors import InvalidRequest
from oms.pds.dagcbor import MAX_DEPTH, is_valid_text
from oms.pds.syntax import is_valid_cid

__all__ = [
    "Invalid",
    "check_data_model",
    "decode_bytes",
    "is_blob_ref",
    "is_cid_link",
    "is_integer",
]

_MISSING: Any = object()  # "no such key", where None is a value


class Invalid(Exception):
    """A failed check: the problem, and the path segments added on the way out."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.segments: list[str] = []  # innermost first

    def message(self, path: str) -> str:
        inner = "".join(f"/{segment}" for segment in reversed(self.segments))
        return f"{path}{inner} {self.problem}"


def decode_bytes(value: object) -> bytes | None:
    """`{"$bytes": base64}` (the JSON form of bytes) -> bytes; raw bytes pass through."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, dict) or len(value) != 1 or "$bytes" not in value:
        return None
    encoded = value["$bytes"]
    if not isinstance(encoded, str):
        return None
    try:
        # The data model writes base64 without padding; accept it with padding as well.
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def is_cid_link(value: object) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    link = value.get("$link")
    return isinstance(link, str) and is_valid_cid(link)


def is_blob_ref(value: object) -> bool:
    if not isinstance(value, dict) or value.get("$type") != "blob":
        return False
    size = value.get("size")
    mime = value.get("mimeType")
    return (
        is_cid_link(value.get("ref"))
        and isinstance(mime, str)
        and bool(mime)
        and type(size) is int
        and size >= 0
    )


def is_integer(value: object) -> bool:
    # JSON has one number type: 123.0 is the integer 123 in the data model (interop vectors).
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    return type(value) is int


def check_data_model(value: object, path: str, depth: int = 0) -> None:
    """Reject what the ATProto data model cannot hold: floats, malformed $bytes/$link/blobs,
    `$type` that is not a non-empty string, and nesting deeper than MAX_DEPTH."""
    try:
        _check_model(value, depth)
    except Invalid as exc:
        message = exc.message(path)
    else:
        return
    raise InvalidRequest(message)  # raised here, not in `except`, to carry no context


_SCALARS = frozenset({int, bool, type(None)})  # always in the data model


def _check_model(value: object, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Invalid(f"is nested deeper than {MAX_DEPTH} levels")
    # The most common types first; no value is of more than one of str, dict, list and float.
    if isinstance(value, str):
        if not is_valid_text(value):
            raise Invalid("must be Unicode text (it holds a lone surrogate)")
    elif isinstance(value, dict):
        if "$bytes" in value and decode_bytes(value) is None:
            raise Invalid("must be bytes in the form {$bytes: base64}")
        if "$link" in value and not is_cid_link(value):
            raise Invalid("must be a CID link in the form {$link: cid}")
        kind = value.get("$type", _MISSING)
        if kind is not _MISSING:
            if not isinstance(kind, str) or not kind:
                exc = Invalid("must be a non-empty string")
                exc.segments.append("$type")
                raise exc
            if kind == "blob" and not is_blob_ref(value):
                raise Invalid("must be a blob ref")
        depth += 1
        shallow = depth <= MAX_DEPTH
        for key, item in value.items():
            if not isinstance(key, str) or not is_valid_text(key):
                raise Invalid("must have keys of Unicode text only")
            if shallow and (type(item) in _SCALARS or (type(item) is str and item.isascii())):
                continue  # what most values hold, and what needs no call to be checked
            try:
                _check_model(item, depth)
            except Invalid as exc:
                exc.segments.append(key)
                raise
    elif isinstance(value, list):
        depth += 1
        shallow = depth <= MAX_DEPTH
        for i, item in enumerate(value):
            if shallow and (type(item) in _SCALARS or (type(item) is str and item.isascii())):
                continue
            try:
                _check_model(item, depth)
            except Invalid as exc:
                exc.segments.append(str(i))
                raise
    elif isinstance(value, float):
        if not is_integer(value):
            raise Invalid("must not be a float (the data model has integers only)")
    elif value is not None and not isinstance(value, bool | int | bytes):
        raise Invalid("holds a value the data model cannot represent")

"""The atproto data model at the boundary: DAG-CBOR bytes (via cbrrr), CIDs, and the JSON form
with `{"$link": ...}` and `{"$bytes": ...}`; atproto.com/specs/data-model.

CIDs are `cbrrr.CID` everywhere on the write path; convert to other libraries' CIDs at the edge.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import io
import math
import re
from typing import Any, TypeAlias, cast

import cbrrr
import libipld
from cbrrr import CID

from oms.errors import InvalidRequest

__all__ = [
    "CID",
    "MAX_DEPTH",
    "Codec",
    "DataModel",
    "JsonValue",
    "cid_for",
    "cid_from_bytes",
    "cid_from_str",
    "cid_to_bytes",
    "cid_to_str",
    "decode",
    "encode",
    "encode_varint",
    "ensure_valid_data_model",
    "from_json",
    "is_valid_text",
    "to_json",
]

DataModel: TypeAlias = (
    "str | bytes | int | bool | CID | list[DataModel] | dict[str, DataModel] | None"
)
JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"


class Codec(enum.IntEnum):
    """The multicodecs atproto CIDs may carry."""

    DAG_CBOR = 0x71  # records, commits, MST nodes
    RAW = 0x55  # blobs


_SHA2_256 = 0x12
# atproto integers are signed 64-bit.
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
# Far deeper than any lexicon needs; bounds the recursion on untrusted input.
MAX_DEPTH = 128


# --- bytes <-> data model ---------------------------------------------------------------------


def encode_varint(n: int) -> bytes:
    """An unsigned LEB128 varint, as multiformats (CIDs, multicodec, CAR sections) use."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode(obj: DataModel) -> bytes:
    """Canonical DAG-CBOR (map keys sorted, shortest forms). Does not validate the data model:
    values that came through `from_json` or `decode` + `ensure_valid_data_model` already are."""
    # cbrrr's own alias spells the same types with invariant containers; the cast only bridges.
    return cbrrr.encode_dag_cbor(cast(Any, obj))


def decode(data: bytes) -> DataModel:
    """One DAG-CBOR object, with nothing after it; raises InvalidRequest if malformed."""
    try:
        value = cbrrr.decode_dag_cbor(data)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"invalid DAG-CBOR: {exc}") from exc
    # DAG-CBOR can carry floats, which the atproto data model forbids: callers that take data
    # from outside check it with ensure_valid_data_model.
    return cast(DataModel, value)


# --- CIDs -------------------------------------------------------------------------------------


def cid_for(data: bytes | DataModel, codec: Codec = Codec.DAG_CBOR) -> CID:
    """The CIDv1 (sha2-256) of a block.

    `bytes` are taken as the block itself: an encoded DAG-CBOR block, or a blob with
    `Codec.RAW`. Any other value is encoded as DAG-CBOR first.
    """
    if not isinstance(data, bytes):
        if codec is not Codec.DAG_CBOR:
            raise ValueError("only DAG-CBOR blocks are encoded from values; pass blob bytes")
        data = encode(data)
    digest = hashlib.sha256(data).digest()
    return CID(bytes([0x01, codec, _SHA2_256, len(digest)]) + digest)


def _check_cid_bytes(raw: bytes) -> None:
    # atproto's "blessed" CID format: v1, dag-cbor or raw, sha2-256 with a 32-byte digest.
    stream = io.BytesIO(raw)
    try:
        version = cbrrr.decode_varint(stream)
        codec = cbrrr.decode_varint(stream)
        hash_code = cbrrr.decode_varint(stream)
        length = cbrrr.decode_varint(stream)
    except ValueError as exc:
        raise InvalidRequest(f"invalid CID: {exc}") from exc
    if version != 1:
        raise InvalidRequest("invalid CID: only CIDv1 is supported")
    if codec not in (Codec.DAG_CBOR, Codec.RAW):
        raise InvalidRequest(f"invalid CID: codec {codec:#x} is neither dag-cbor nor raw")
    if hash_code != _SHA2_256 or length != 32 or len(stream.read()) != 32:
        raise InvalidRequest("invalid CID: the hash must be a 32-byte sha2-256")


def cid_from_bytes(raw: bytes) -> CID:
    """A CID from its binary form (no multibase prefix); raises InvalidRequest if not atproto's."""
    _check_cid_bytes(raw)
    return CID(raw)


def cid_to_bytes(cid: CID) -> bytes:
    return bytes(cid)


def cid_from_str(text: str) -> CID:
    """A CID from its base32 multibase string; raises InvalidRequest if not atproto's form."""
    if not text.startswith("b") or text != text.lower() or text.endswith("="):
        raise InvalidRequest(f"invalid CID {text[:64]!r}: expected base32 multibase ('b…')")
    body = text[1:].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError as exc:  # binascii.Error, or non-ASCII text ("bà")
        raise InvalidRequest(f"invalid CID {text[:64]!r}: not base32") from exc
    _check_cid_bytes(raw)
    cid = CID(raw)
    if cid_to_str(cid) != text:
        # Unused trailing bits set: another spelling of the same CID, which the reference
        # implementation refuses (a record's links must have one string form).
        raise InvalidRequest(f"invalid CID {text[:64]!r}: not canonical base32")
    return cid


def cid_to_str(cid: CID) -> str:
    # libipld's (Rust) encoder gives the same base32 string ten times faster than cbrrr's,
    # and every repository write turns a dozen CIDs into strings.
    text: str = libipld.encode_cid(bytes(cid))
    return text


# --- JSON <-> data model ----------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    # The spec writes $bytes unpadded; tolerate padding on input.
    text = text.rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise InvalidRequest(f"invalid $bytes: not base64 ({exc})") from exc


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def from_json(value: JsonValue) -> dict[str, DataModel]:
    """The data-model form of a parsed JSON object (a record or other atproto object).

    Converts `$link` to CID and `$bytes` to bytes, accepts integral floats as integers, and
    raises InvalidRequest for everything the data model forbids (non-integral numbers,
    malformed `$link`/`$bytes`/blobs, a `$type` that is not a non-empty string, ...).
    """
    if not isinstance(value, dict):
        raise InvalidRequest("a data-model document must be a JSON object")
    converted = _from_json(value, "", 0)
    assert isinstance(converted, dict)
    ensure_valid_data_model(converted)
    return converted


def _from_json(value: JsonValue, path: str, depth: int) -> DataModel:
    if depth > MAX_DEPTH:
        raise InvalidRequest(f"data nested deeper than {MAX_DEPTH} levels at {path or '/'}")
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise InvalidRequest(f"{path or '/'}: floats are not allowed, only integers")
        return int(value)
    if isinstance(value, list):
        return [_from_json(v, f"{path}/{i}", depth + 1) for i, v in enumerate(value)]
    if "$link" in value:
        link = value["$link"]
        if len(value) != 1 or not isinstance(link, str):
            raise InvalidRequest(f"{path or '/'}: $link must be the only key, with a string")
        return cid_from_str(link)
    if "$bytes" in value:
        data = value["$bytes"]
        if len(value) != 1 or not isinstance(data, str):
            raise InvalidRequest(f"{path or '/'}: $bytes must be the only key, with a string")
        return _b64decode(data)
    return {k: _from_json(v, f"{path}/{k}", depth + 1) for k, v in value.items()}


def to_json(value: DataModel) -> JsonValue:
    """The JSON form of a data-model value (`$link` for CIDs, unpadded `$bytes` for bytes)."""
    return _to_json(value, 0)


def _to_json(value: DataModel, depth: int) -> JsonValue:
    if depth > MAX_DEPTH:
        raise InvalidRequest(f"data nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, CID):
        return {"$link": cid_to_str(value)}
    if isinstance(value, bytes):
        return {"$bytes": _b64encode(value)}
    if isinstance(value, list):
        return [_to_json(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v, depth + 1) for k, v in value.items()}
    return value


def is_valid_text(text: str) -> bool:
    """Whether `text` is Unicode text UTF-8 can hold: JSON's `"\\ud800"` escapes give Python
    strings with lone surrogates, which no DAG-CBOR (or database) accepts."""
    return text.isascii() or _SURROGATE.search(text) is None


def ensure_valid_data_model(value: DataModel) -> None:
    """Raise InvalidRequest unless `value` keeps the atproto data-model rules: strings and map
    keys of Unicode text (no lone surrogates), signed 64-bit integers, no floats, atproto CIDs,
    `$type` a non-empty string, and blobs (`$type: "blob"`) with a CID `ref`, a string
    `mimeType` and an integer `size`."""
    _check(value, "", 0)


def _check(value: object, path: str, depth: int) -> None:
    # `object`, not DataModel: decoded DAG-CBOR may hold floats, which must be reported.
    where = path or "/"
    if depth > MAX_DEPTH:
        raise InvalidRequest(f"data nested deeper than {MAX_DEPTH} levels at {where}")
    if isinstance(value, str):
        if not is_valid_text(value):
            raise InvalidRequest(f"{where}: a string holds a lone surrogate (not Unicode text)")
        return
    if isinstance(value, bool | bytes) or value is None:
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise InvalidRequest(f"{where}: integer out of the signed 64-bit range")
        return
    if isinstance(value, CID):
        _check_cid_bytes(bytes(value))
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{path}/{i}", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not is_valid_text(key):
                raise InvalidRequest(f"{where}: map keys must be strings of Unicode text")
            _check(item, f"{path}/{key}", depth + 1)
        if "$type" in value:
            _check_typed(value, where)
        return
    raise InvalidRequest(f"{where}: {type(value).__name__} is not a data-model type")


def _check_typed(obj: dict[str, DataModel], where: str) -> None:
    type_name = obj["$type"]
    if not isinstance(type_name, str) or not type_name:
        raise InvalidRequest(f"{where}: $type must be a non-empty string")
    if type_name != "blob":
        return
    if not isinstance(obj.get("ref"), CID):
        raise InvalidRequest(f"{where}: a blob needs a CID link in ref")
    if not isinstance(obj.get("mimeType"), str):
        raise InvalidRequest(f"{where}: a blob needs a string mimeType")
    size = obj.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidRequest(f"{where}: a blob needs a non-negative integer size")

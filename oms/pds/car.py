"""CAR v1 archives: the wire form of repositories and firehose block slices.

A CAR is a varint-prefixed DAG-CBOR header `{version: 1, roots: [cid]}` followed by
varint-prefixed sections of CID bytes plus block bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from oms.errors import InvalidRequest
from oms.pds.dagcbor import CID, cid_from_bytes, decode, encode, encode_varint

__all__ = ["car_header", "car_section", "encode_car", "read_car"]

_MAX_BLOCK = 2 * 1024 * 1024  # an ATProto record is at most 1 MB; MST nodes are small


def car_header(root: CID | None) -> bytes:
    header = encode({"version": 1, "roots": [root] if root is not None else []})
    return encode_varint(len(header)) + header


def car_section(cid: CID, block: bytes) -> bytes:
    raw = bytes(cid)
    return encode_varint(len(raw) + len(block)) + raw + block


def encode_car(root: CID | None, blocks: Iterable[tuple[CID, bytes]]) -> bytes:
    return b"".join(_chunks(root, blocks))


def _chunks(root: CID | None, blocks: Iterable[tuple[CID, bytes]]) -> Iterator[bytes]:
    yield car_header(root)
    for cid, block in blocks:
        yield car_section(cid, block)


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data) or shift > 63:
            raise InvalidRequest("CAR: truncated or oversized varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def read_car(data: bytes) -> tuple[list[CID], dict[CID, bytes]]:
    """Parse a CAR v1; raises InvalidRequest on anything malformed (input from peers)."""
    length, offset = _read_varint(data, 0)
    if length == 0 or offset + length > len(data):
        raise InvalidRequest("CAR: truncated header")
    try:
        header = decode(data[offset : offset + length])
    except Exception as e:
        raise InvalidRequest(f"CAR: header is not DAG-CBOR: {e}") from e
    version = header.get("version") if isinstance(header, dict) else None
    if not isinstance(header, dict) or type(version) is not int or version != 1:
        raise InvalidRequest("CAR: not a version 1 archive")
    roots = header.get("roots")
    if not isinstance(roots, list) or not all(isinstance(r, CID) for r in roots):
        raise InvalidRequest("CAR: header roots must be a list of CIDs")
    offset += length
    # A tag-42 link may hold any bytes: the roots must be CIDs a consumer can use.
    root_cids = [cid_from_bytes(bytes(r)) for r in roots if isinstance(r, CID)]
    blocks: dict[CID, bytes] = {}
    while offset < len(data):
        length, offset = _read_varint(data, offset)
        end = offset + length
        if length == 0 or length > _MAX_BLOCK + 64 or end > len(data):
            raise InvalidRequest("CAR: truncated or oversized block section")
        # atproto CIDs are 36 bytes (v1, one-byte codec, sha2-256)
        cid = cid_from_bytes(data[offset : offset + 36])
        blocks[cid] = data[offset + 36 : end]
        offset = end
    return root_cids, blocks

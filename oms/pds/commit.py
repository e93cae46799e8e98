"""Signed repository commits, version 3: `{did, version, data, rev, prev, sig}`.

The signature is over the DAG-CBOR of the commit without `sig` (low-S ECDSA, 64 bytes r‖s).
"""

from __future__ import annotations

from dataclasses import dataclass

from oms.errors import InvalidRequest
from oms.pds.crypto import PrivateKey, PublicKey, sign, verify
from oms.pds.dagcbor import CID, DataModel, cid_for, decode, encode

__all__ = ["Commit", "sign_commit", "verify_commit"]


@dataclass(frozen=True)
class Commit:
    did: str
    data: CID
    rev: str
    cid: CID
    block: bytes


def _unsigned(did: str, data: CID, rev: str) -> dict[str, DataModel]:
    return {"did": did, "version": 3, "data": data, "rev": rev, "prev": None}


def sign_commit(key: PrivateKey, did: str, data: CID, rev: str) -> Commit:
    unsigned = _unsigned(did, data, rev)
    block = encode({**unsigned, "sig": sign(key, encode(unsigned))})
    return Commit(did, data, rev, cid_for(block), block)


def verify_commit(block: bytes, key: PublicKey | str) -> Commit:
    """Decode a commit block and check its signature with `key` (a key or a did:key)."""
    value = decode(block)
    if not isinstance(value, dict) or value.get("version") != 3:
        raise InvalidRequest("not a version 3 repository commit")
    did, data, rev, sig = (value.get(k) for k in ("did", "data", "rev", "sig"))
    if not (isinstance(did, str) and isinstance(data, CID) and isinstance(rev, str)):
        raise InvalidRequest("commit lacks did, data or rev")
    if not isinstance(sig, bytes) or not verify(key, encode(_unsigned(did, data, rev)), sig):
        raise InvalidRequest(f"commit signature of {did} does not verify")
    return Commit(did, data, rev, cid_for(block), block)

"""did:plc operations this node signs: the genesis of a new identity, and handing it to a PLC
directory (did:plc spec v0.1)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from oms.errors import Unavailable
from oms.pds import dagcbor
from oms.pds.crypto import PrivateKey, PublicKey, did_key, sign
from oms.pds.keystore import KeyStore

__all__ = [
    "PlcDirectoryError",
    "PlcGenesis",
    "PlcRegistration",
    "create_plc_identity",
    "plc_genesis",
    "plc_registration",
]

_PDS_TYPE = "AtprotoPersonalDataServer"
_PLC_TIMEOUT = 10.0


@dataclass(frozen=True)
class PlcRegistration:
    """How new accounts get a did:plc: the directory, the node key that signs (and can
    rotate) their genesis operations, and the PDS endpoint those operations name."""

    directory: str
    node_key: PrivateKey
    pds_endpoint: str


def plc_registration(directory: str, keys: KeyStore, public_url: str) -> PlcRegistration | None:
    """From the `pds.plc_directory` setting; None when it is empty (accounts get did:web)."""
    return PlcRegistration(directory, keys.node_key(), public_url) if directory else None


class PlcDirectoryError(Unavailable):
    """The PLC directory refused or could not take an operation."""

    name = "PlcDirectoryError"


@dataclass(frozen=True)
class PlcGenesis:
    """A signed did:plc genesis operation and the DID it creates."""

    did: str
    operation: dict[str, Any]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def plc_genesis(
    *,
    handle: str,
    signing_key: PublicKey | PrivateKey,
    rotation_keys: Sequence[PublicKey | PrivateKey],
    signer: PrivateKey,
    pds_endpoint: str,
) -> PlcGenesis:
    """Build and sign a genesis operation (did:plc spec v0.1): `signer` must be one of the
    `rotation_keys`; the DID is the first 24 base32 characters of the signed op's SHA-256.
    CPU-bound: call it through `asyncio.to_thread` from async code."""
    rotation = [did_key(key) for key in rotation_keys]
    if did_key(signer) not in rotation:
        raise ValueError("the genesis operation must be signed by one of its rotation keys")
    unsigned: dict[str, Any] = {
        "type": "plc_operation",
        "rotationKeys": rotation,
        "verificationMethods": {"atproto": did_key(signing_key)},
        "alsoKnownAs": [f"at://{handle}"],
        "services": {"atproto_pds": {"type": _PDS_TYPE, "endpoint": pds_endpoint}},
        "prev": None,
    }
    signed = {**unsigned, "sig": _b64url(sign(signer, dagcbor.encode(unsigned)))}
    digest = hashlib.sha256(dagcbor.encode(signed)).digest()
    did = "did:plc:" + base64.b32encode(digest).decode("ascii").lower()[:24]
    return PlcGenesis(did, signed)


async def create_plc_identity(
    directory: str,
    *,
    handle: str,
    account_key: PublicKey | PrivateKey,
    node_key: PrivateKey,
    pds_endpoint: str,
) -> str:
    """Register a new did:plc for `handle` at `directory` and return it. The account key
    signs its repo; the node key (first) and the account key may rotate the identity.
    Raises PlcDirectoryError when the directory refuses the operation or cannot be reached."""
    genesis = await asyncio.to_thread(
        plc_genesis,
        handle=handle,
        signing_key=account_key,
        rotation_keys=[node_key, account_key],
        signer=node_key,
        pds_endpoint=pds_endpoint,
    )
    url = f"{directory.rstrip('/')}/{genesis.did}"
    try:
        async with (
            asyncio.timeout(_PLC_TIMEOUT),
            httpx.AsyncClient(timeout=_PLC_TIMEOUT, follow_redirects=False) as client,
        ):
            response = await client.post(url, json=genesis.operation)
    except TimeoutError as e:
        raise PlcDirectoryError(f"the PLC directory {directory} did not answer in time") from e
    except httpx.HTTPError as e:
        raise PlcDirectoryError(f"the PLC directory {directory} is unreachable: {e}") from e
    if not response.is_success:
        raise PlcDirectoryError(
            f"the PLC directory {directory} refused {genesis.did}: "
            f"HTTP {response.status_code} {response.text[:300]}"
        )
    return genesis.did

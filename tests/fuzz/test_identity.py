"""What other servers answer about identities: DID documents (did:plc, did:web), the
`/.well-known/atproto-did` of a handle, and did:web names. Parsed, or refused with
InvalidRequest / NotFound (OmsError); never an unexpected exception."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from oms.errors import OmsError
from oms.pds.crypto import Curve, generate_private_key, multibase_public_key
from oms.pds.identity import (
    IdentityResolver,
    account_did_document,
    host_for_did_web,
    parse_did_document,
)
from tests.fuzz.known import reported_crashes
from tests.fuzz.profile import fuzz_settings
from tests.fuzz.strategies import json_values, mutated, nasty_text

DID = "did:web:alice.localhost%3A8000"
HANDLE = "alice.localhost"
_KEY = generate_private_key(Curve.K256)
VALID = account_did_document(DID, HANDLE, _KEY, "http://localhost:8000")
_ENDPOINTS = ("http://localhost:99999", "http://[::1", "https://", "https://a.b:0", "ftp://x")


def _with_endpoint(endpoint: str) -> dict[str, Any]:
    return {**VALID, "service": [{**VALID["service"][0], "serviceEndpoint": endpoint}]}


class PeerAnswers(IdentityResolver):
    """A resolver whose every HTTP fetch answers `body` (no network, no DNS)."""

    def __init__(self, body: bytes) -> None:
        super().__init__(plc_directory="https://plc.invalid", loopback=True)
        self.body = body

    async def _get(self, target: Any, limit: int) -> bytes:
        return self.body[:limit]


def _documents() -> st.SearchStrategy[Any]:
    """Valid documents with one part replaced by something else."""
    parts = st.sampled_from(("id", "alsoKnownAs", "verificationMethod", "service", "@context"))
    entry = st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from(("#atproto", "#atproto_pds", DID + "#atproto")) | nasty_text(),
            "type": st.sampled_from(
                ("Multikey", "EcdsaSecp256r1VerificationKey2019", "AtprotoPersonalDataServer")
            )
            | nasty_text(),
            "publicKeyMultibase": st.just(multibase_public_key(_KEY)) | nasty_text(),
            "serviceEndpoint": st.sampled_from(_ENDPOINTS) | nasty_text(),
        },
    )
    replacement = st.one_of(json_values(), st.lists(entry, max_size=3), st.lists(nasty_text()))
    return st.one_of(
        st.builds(lambda k, v: {**VALID, k: v}, parts, replacement),
        st.one_of(st.sampled_from(_ENDPOINTS), nasty_text()).map(_with_endpoint),
        json_values(),
    )


@fuzz_settings()
@given(_documents())
def test_did_documents(document: Any) -> None:
    with reported_crashes(), contextlib.suppress(OmsError):
        parse_did_document(DID, document)


def _resolve(body: bytes) -> None:
    async def run() -> None:
        peer = PeerAnswers(body)
        with reported_crashes(), contextlib.suppress(OmsError):
            await peer.resolve_did(DID)
        with reported_crashes(), contextlib.suppress(OmsError):
            await peer.resolve_handle(HANDLE, localhost_port=8000)
        with reported_crashes():
            assert await peer.verify_handle(HANDLE, DID) in (True, False)

    asyncio.run(run())


@fuzz_settings(150)
@given(
    st.one_of(
        mutated(json.dumps(VALID).encode()),
        _documents().map(lambda d: json.dumps(d).encode()),
        st.integers(1, 30_000).map(lambda n: b"[" * n + b"]" * n),
        st.binary(max_size=64),
    )
)
@example(json.dumps(VALID).encode())
def test_fetched_identity_answers(body: bytes) -> None:
    _resolve(body)


@fuzz_settings(100)
@given(st.one_of(nasty_text(), mutated(DID.encode()).map(lambda b: b.decode("utf-8", "replace"))))
def test_did_web_names(did: str) -> None:
    with contextlib.suppress(OmsError):
        host_for_did_web(did)


# --- crashes the fuzzers found, fixed in oms/pds/identity.py ---------------------------------


def test_pds_endpoint_that_urlsplit_refuses() -> None:
    with pytest.raises(OmsError):
        parse_did_document(DID, _with_endpoint("http://[::1"))


def test_pds_endpoint_with_a_port_out_of_range() -> None:
    peer = PeerAnswers(json.dumps(_with_endpoint("http://localhost:99999")).encode())
    assert asyncio.run(peer.verify_handle(HANDLE, DID)) is False


def test_deeply_nested_did_document() -> None:
    with pytest.raises(OmsError):
        asyncio.run(PeerAnswers(b"[" * 30_000 + b"]" * 30_000).resolve_did(DID))

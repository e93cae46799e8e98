"""Identity: the DID documents we serve, handle changes, resolving others, did:plc genesis.

Every network peer here is a fake on 127.0.0.1: an HTTP server that answers by Host header
and acts as a PLC directory (`tests/pds/plc_directory.py`), and a DNS server answering
`_atproto` TXT queries.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.rcode
import dns.rrset
import pytest
from atproto_core.did_doc import DidDocument as SdkDidDocument
from atproto_identity.did.atproto_data import ensure_atproto_document
from cryptography.hazmat.primitives import serialization

from oms.db.database import Database
from oms.errors import InvalidRequest
from oms.pds import accounts, identity
from oms.pds.crypto import Curve, base58btc_encode, did_key, generate_private_key
from oms.pds.identity import (
    DidNotFound,
    HandleNotFound,
    IdentityResolver,
    InvalidDidDocument,
    PlcDirectoryError,
)
from oms.pds.keystore import KeyStore
from oms.pds.sequencer import events_after, last_seq
from tests.pds.plc_directory import FakeWeb, serve_fake_web

pytestmark = pytest.mark.anyio

HOSTNAME = "localhost:8000"
PUBLIC_URL = "http://localhost:8000"


async def _account(db: Database, keys: KeyStore, name: str) -> accounts.Account:
    return await accounts.create_account(
        db, keys, name=name, password="correct horse", role="artist", hostname=HOSTNAME
    )


# --- fakes on 127.0.0.1 -----------------------------------------------------------------------


@pytest.fixture
def web() -> Iterator[FakeWeb]:
    with serve_fake_web() as fake:
        yield fake


class FakeDns:
    """A UDP DNS server on 127.0.0.1 with TXT records; other names are NXDOMAIN."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records
        self.queries: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True)
            self.queries.append(name)
            texts = self.records.get(name)
            if texts:
                quoted = [f'"{t}"' for t in texts]
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 60, "IN", "TXT", quoted)
                )
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def fake_dns() -> Iterator[FakeDns]:
    server = FakeDns({})
    yield server
    server.close()


def _resolver(web: FakeWeb, fake_dns: FakeDns | None = None, **options: Any) -> IdentityResolver:
    return IdentityResolver(
        plc_directory=f"http://127.0.0.1:{web.port}",
        loopback=True,
        timeout=options.pop("timeout", 2.0),
        dns_nameservers=["127.0.0.1"],
        dns_port=fake_dns.port if fake_dns else 9,
        **options,
    )


# --- the documents we serve -------------------------------------------------------------------


async def test_an_account_document_reads_the_same_in_the_atproto_sdk(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    alice = await _account(db, keys, "alice")
    document = await identity.local_did_document(db, keys, alice.did, public_url=PUBLIC_URL)
    assert document["@context"] == [
        "https://www.w3.org/ns/did/v1",
        "https://w3id.org/security/multikey/v1",
        "https://w3id.org/security/suites/secp256k1-2019/v1",
    ]
    assert document["alsoKnownAs"] == ["at://alice.localhost"]
    sdk = ensure_atproto_document(SdkDidDocument.from_dict(document))
    assert sdk.did == "did:web:alice.localhost%3A8000"
    assert sdk.handle == "alice.localhost"
    assert sdk.signing_key == did_key(keys.account_key(alice.did))
    assert sdk.pds == PUBLIC_URL
    ours = identity.parse_did_document(alice.did, document)
    assert (ours.signing_key, ours.pds_endpoint, ours.handle) == (
        sdk.signing_key,
        sdk.pds,
        sdk.handle,
    )


async def test_the_node_has_its_own_service_document(parts: tuple[Database, KeyStore]) -> None:
    db, keys = parts
    document = await identity.did_document_for_host(
        db, keys, "LOCALHOST:8000", hostname=HOSTNAME, public_url=PUBLIC_URL
    )
    sdk = SdkDidDocument.from_dict(document)
    assert sdk.id == identity.node_did(HOSTNAME) == "did:web:localhost%3A8000"
    assert sdk.get_did_key() == did_key(keys.node_key())
    assert sdk.get_pds_endpoint() == PUBLIC_URL
    assert sdk.get_service_endpoint("#oms_node", "OmsNode") == PUBLIC_URL


async def test_a_host_names_the_account_whose_did_web_or_handle_it_is(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    alice = await _account(db, keys, "alice")
    bob = await _account(db, keys, "bob")
    for account in (alice, bob):
        host = f"{account.handle}:8000"
        document = await identity.did_document_for_host(
            db, keys, host, hostname=HOSTNAME, public_url=PUBLIC_URL
        )
        assert document["id"] == account.did
        assert await identity.did_for_host(db, host) == account.did
    # A handle has no port: any port (and any case) of alice's host names her handle.
    assert await identity.did_for_host(db, "Alice.localhost") == alice.did
    for host in ("carol.localhost:8000", "alice.localhost:9999", "../etc:80", ""):
        with pytest.raises(DidNotFound):
            await identity.did_document_for_host(
                db, keys, host, hostname=HOSTNAME, public_url=PUBLIC_URL
            )
    for host in ("carol.localhost:8000", "localhost:8000", "bad host!"):
        with pytest.raises(HandleNotFound):
            await identity.did_for_host(db, host)


async def test_a_deleted_account_has_no_identity(parts: tuple[Database, KeyStore]) -> None:
    db, keys = parts
    alice = await _account(db, keys, "alice")
    await accounts.set_status(db, alice.did, "deleted")
    with pytest.raises(DidNotFound):
        await identity.local_did_document(db, keys, alice.did, public_url=PUBLIC_URL)
    assert await identity.local_did_for_handle(db, "alice.localhost") is None


@pytest.mark.parametrize(
    ("did", "host"),
    [
        ("did:web:alice.localhost%3A8000", "alice.localhost:8000"),
        ("did:web:music.example.org", "music.example.org"),
        ("did:web:127.0.0.1%3A5000", "127.0.0.1:5000"),
    ],
)
def test_did_web_names_a_host(did: str, host: str) -> None:
    assert identity.host_for_did_web(did) == host
    assert identity.did_web_for_host(host) == did


@pytest.mark.parametrize(
    ("did", "problem"),
    [
        ("did:web:example.org:users:alice", "has a path"),
        ("did:web:example.org%3A8443", "only localhost identities may carry a port"),
        ("did:web:10.0.0.1", "does not name a host"),
        ("did:plc:abc", "not a did:web"),
    ],
)
def test_did_web_forms_atproto_does_not_use_are_refused(did: str, problem: str) -> None:
    with pytest.raises(InvalidRequest, match=problem):
        identity.host_for_did_web(did)


# --- changing a handle ------------------------------------------------------------------------


async def test_a_handle_change_updates_the_document_and_is_announced(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    alice = await _account(db, keys, "alice")
    changes = db.bus.subscribe(identity.HandleChanged)
    before = await last_seq(db)
    updated = await identity.update_handle(db, alice.did, "Alicia.localhost", hostname=HOSTNAME)
    assert (updated.did, updated.handle) == (alice.did, "alicia.localhost")
    assert changes.queue.get_nowait() == identity.HandleChanged(alice.did, "alicia.localhost")
    # The did:web (and so the host of its did.json) stays; the document names the new handle.
    document = await identity.did_document_for_host(
        db, keys, "alice.localhost:8000", hostname=HOSTNAME, public_url=PUBLIC_URL
    )
    assert document["alsoKnownAs"] == ["at://alicia.localhost"]
    assert await identity.did_for_host(db, "alicia.localhost:8000") == alice.did
    with pytest.raises(HandleNotFound):
        await identity.did_for_host(db, "alice.localhost:8000")
    [event] = await events_after(db, before)
    assert event.kind == "identity"
    assert event.did == alice.did
    assert event.body["handle"] == "alicia.localhost"


@pytest.mark.parametrize(
    ("handle", "name"),
    [
        ("bob.localhost", "HandleNotAvailable"),
        ("alice.example.org", "UnsupportedDomain"),
        ("not a handle", "InvalidHandle"),
    ],
)
async def test_a_handle_change_is_refused_with_the_lexicon_error(
    parts: tuple[Database, KeyStore], handle: str, name: str
) -> None:
    db, keys = parts
    alice = await _account(db, keys, "alice")
    await _account(db, keys, "bob")
    before = await last_seq(db)
    with pytest.raises(InvalidRequest) as refused:
        await identity.update_handle(db, alice.did, handle, hostname=HOSTNAME)
    assert refused.value.name == name
    assert (await accounts.get_account(db, alice.did)).handle == "alice.localhost"
    assert await events_after(db, before) == []


# --- reading other documents ------------------------------------------------------------------


def _document(did: str, handle: str = "x.example.org", **changes: Any) -> dict[str, Any]:
    key = generate_private_key()
    document = identity.account_did_document(did, handle, key, "https://pds.example.org/")
    document.update(changes)
    return document


def test_a_document_with_a_legacy_key_type_is_read() -> None:
    key = generate_private_key(Curve.P256)
    did = "did:web:x.example.org"
    compressed = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    document = _document(did)
    document["verificationMethod"] = [
        {
            "id": "#atproto",
            "type": "EcdsaSecp256r1VerificationKey2019",
            "controller": did,
            "publicKeyMultibase": "z" + base58btc_encode(compressed),
        }
    ]
    parsed = identity.parse_did_document(did, document)
    assert parsed.signing_key == did_key(key)
    assert parsed.pds_endpoint == "https://pds.example.org"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"id": "did:web:other.example.org"}, "is for 'did:web:other.example.org'"),
        ({"verificationMethod": []}, "has no #atproto key"),
        ({"service": []}, "names no #atproto_pds service"),
        (
            {
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": "ftp://x",
                    }
                ]
            },
            "is not an http\\(s\\) URL",
        ),
    ],
)
def test_an_unusable_document_is_refused(changes: dict[str, Any], problem: str) -> None:
    did = "did:web:x.example.org"
    with pytest.raises(InvalidDidDocument, match=problem):
        identity.parse_did_document(did, _document(did, **changes))


# --- resolving other identities ---------------------------------------------------------------


async def test_a_localhost_did_web_is_fetched_from_127_0_0_1_with_its_host(web: FakeWeb) -> None:
    did = f"did:web:alice.localhost%3A{web.port}"
    host = f"alice.localhost:{web.port}"
    web.page(host, "/.well-known/did.json", _document(did, "alice.localhost"))
    resolver = _resolver(web)
    resolved = await resolver.resolve_did(did)
    assert (resolved.did, resolved.handle) == (did, "alice.localhost")
    assert resolved.pds_endpoint == "https://pds.example.org"
    assert resolved.public_key() is not None
    assert web.requests == [("GET", host, "/.well-known/did.json")]
    # Cached: asked once, until asked for a fresh copy.
    await resolver.resolve_did(did)
    assert len(web.requests) == 1
    await resolver.resolve_did(did, fresh=True)
    assert len(web.requests) == 2


async def test_a_public_node_does_not_resolve_localhost_identities(web: FakeWeb) -> None:
    resolver = IdentityResolver(loopback=False)
    with pytest.raises(InvalidRequest, match="localhost identity"):
        await resolver.resolve_did(f"did:web:alice.localhost%3A{web.port}")
    with pytest.raises(HandleNotFound):
        await resolver.resolve_handle("alice.localhost", localhost_port=web.port)
    assert web.requests == []


async def test_unreachable_wrong_and_oversized_documents_are_errors(web: FakeWeb) -> None:
    resolver = _resolver(web, timeout=0.5)
    base = f"localhost%3A{web.port}"
    with pytest.raises(DidNotFound, match="answered HTTP 404"):
        await resolver.resolve_did(f"did:web:nobody.{base}")
    web.page(f"other.localhost:{web.port}", "/.well-known/did.json", _document("did:web:x.org"))
    with pytest.raises(InvalidDidDocument, match=r"is for 'did:web:x\.org'"):
        await resolver.resolve_did(f"did:web:other.{base}")
    web.page(f"big.localhost:{web.port}", "/.well-known/did.json", b" " * (65 * 1024))
    with pytest.raises(InvalidDidDocument, match="larger than 65536 bytes"):
        await resolver.resolve_did(f"did:web:big.{base}")
    web.page(f"text.localhost:{web.port}", "/.well-known/did.json", b"<html>")
    with pytest.raises(InvalidDidDocument, match="not JSON"):
        await resolver.resolve_did(f"did:web:text.{base}")
    with pytest.raises(DidNotFound, match="could not resolve did:web:localhost%3A1"):
        await resolver.resolve_did("did:web:localhost%3A1")
    with pytest.raises(InvalidRequest, match="only did:web and did:plc"):
        await resolver.resolve_did("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme")


async def test_a_slow_peer_times_out(web: FakeWeb) -> None:
    web.delays["/.well-known/did.json"] = 1.0
    resolver = _resolver(web, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(DidNotFound, match=r"did not answer within 0\.2s|ReadTimeout"):
        await resolver.resolve_did(f"did:web:slow.localhost%3A{web.port}")
    assert time.monotonic() - started < 0.9


async def test_a_localhost_handle_resolves_by_its_well_known_and_verifies_both_ways(
    web: FakeWeb,
) -> None:
    did = f"did:web:alice.localhost%3A{web.port}"
    host = f"alice.localhost:{web.port}"
    web.page(
        host,
        "/.well-known/did.json",
        identity.account_did_document(
            did, "alice.localhost", generate_private_key(), f"http://localhost:{web.port}"
        ),
    )
    web.page(host, "/.well-known/atproto-did", f"{did}\n".encode())
    resolver = _resolver(web)
    assert await resolver.resolve_handle("Alice.localhost", localhost_port=web.port) == did
    assert await resolver.verify_handle("alice.localhost", did)
    assert await resolver.verified_handle(did) == "alice.localhost"
    # The document claims alice.localhost, so it cannot verify another handle…
    web.page(f"mallory.localhost:{web.port}", "/.well-known/atproto-did", did.encode())
    assert not await resolver.verify_handle("mallory.localhost", did)
    # …and a handle that points elsewhere does not verify.
    other = f"did:web:bob.localhost%3A{web.port}"
    web.page(
        f"bob.localhost:{web.port}",
        "/.well-known/did.json",
        identity.account_did_document(
            other, "alice.localhost", generate_private_key(), f"http://localhost:{web.port}"
        ),
    )
    assert not await resolver.verify_handle("alice.localhost", other)
    assert await resolver.verified_handle(other) is None


async def test_a_handle_resolves_by_dns_txt_to_a_did_plc_and_verifies(
    web: FakeWeb, fake_dns: FakeDns
) -> None:
    node_key, account_key = generate_private_key(), generate_private_key()
    did = await identity.create_plc_identity(
        f"http://127.0.0.1:{web.port}",
        handle="bob.example.test",
        account_key=account_key,
        node_key=node_key,
        pds_endpoint="https://music.example.test",
    )
    fake_dns.records["_atproto.bob.example.test"] = [f"did={did}"]
    resolver = _resolver(web, fake_dns)
    assert await resolver.resolve_handle("bob.example.test") == did
    assert fake_dns.queries == ["_atproto.bob.example.test"]
    assert await resolver.verify_handle("bob.example.test", did)
    document = await resolver.resolve_did(did)
    assert document.signing_key == did_key(account_key)
    assert document.pds_endpoint == "https://music.example.test"
    # A second identity claiming the same name is not verified by it.
    fake_dns.records["_atproto.eve.example.test"] = [f"did={did}"]
    assert not await resolver.verify_handle("eve.example.test", did)
    resolver.forget("bob.example.test")
    await resolver.resolve_handle("bob.example.test")
    assert fake_dns.queries.count("_atproto.bob.example.test") == 2


# --- did:plc genesis --------------------------------------------------------------------------


async def test_a_did_plc_genesis_is_accepted_by_a_directory_that_checks_it(web: FakeWeb) -> None:
    node_key, account_key = generate_private_key(), generate_private_key(Curve.P256)
    did = await identity.create_plc_identity(
        f"http://127.0.0.1:{web.port}/",
        handle="carol.music.example.test",
        account_key=account_key,
        node_key=node_key,
        pds_endpoint="https://music.example.test",
    )
    assert did.startswith("did:plc:")
    assert len(did) == 32
    op = web.plc[did]
    assert op["rotationKeys"] == [did_key(node_key), did_key(account_key)]
    assert op["verificationMethods"] == {"atproto": did_key(account_key)}
    assert op["alsoKnownAs"] == ["at://carol.music.example.test"]
    assert op["services"] == {
        "atproto_pds": {
            "type": "AtprotoPersonalDataServer",
            "endpoint": "https://music.example.test",
        }
    }
    assert op["prev"] is None
    assert web.requests == [("POST", f"127.0.0.1:{web.port}", f"/{did}")]
    sdk = ensure_atproto_document(SdkDidDocument.from_dict(web.plc_document(did)))
    assert sdk.signing_key == did_key(account_key)


async def test_a_refused_or_unreachable_directory_says_why(web: FakeWeb) -> None:
    def create(directory: str) -> Any:
        return identity.create_plc_identity(
            directory,
            handle="dave.example.test",
            account_key=generate_private_key(),
            node_key=generate_private_key(),
            pds_endpoint="https://music.example.test",
        )

    web.refusal = "too many operations"
    with pytest.raises(
        PlcDirectoryError, match=r"refused did:plc:\w+: HTTP 400 .*too many operations"
    ):
        await create(f"http://127.0.0.1:{web.port}")
    with pytest.raises(PlcDirectoryError, match="unreachable"):
        await create("http://127.0.0.1:1")
    assert web.plc == {}


def test_a_genesis_must_be_signed_by_a_rotation_key() -> None:
    with pytest.raises(ValueError, match="signed by one of its rotation keys"):
        identity.plc_genesis(
            handle="dave.example.test",
            signing_key=generate_private_key(),
            rotation_keys=[generate_private_key()],
            signer=generate_private_key(),
            pds_endpoint="https://music.example.test",
        )

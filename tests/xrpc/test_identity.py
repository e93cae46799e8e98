"""com.atproto.identity over XRPC, and the `/.well-known` identity endpoints, in process and on a
real `oms serve` that a resolver reaches on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from atproto_core.did_doc import DidDocument as SdkDidDocument
from atproto_identity.did.atproto_data import ensure_atproto_document
from starlette.applications import Starlette
from starlette.testclient import TestClient

from oms.app import create_app
from oms.pds import identity
from oms.pds.crypto import did_key, generate_private_key
from oms.pds.identity import IdentityResolver
from oms.pds.keystore import KeyStore
from tests.conftest import free_port, make_settings, oms_env, run_oms, start_oms
from tests.pds.plc_directory import serve_fake_web
from tests.pds.test_identity import FakeDns

RESOLVE = "/xrpc/com.atproto.identity.resolveHandle"
UPDATE = "/xrpc/com.atproto.identity.updateHandle"
NODE_HOST = "localhost:8000"  # the default public URL, http://localhost:8000


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(make_settings(tmp_path / "data", pds__open_signup=True))
    ) as test_client:
        yield test_client


def _sign_up(client: TestClient, name: str) -> dict[str, Any]:
    response = client.post(
        "/xrpc/com.atproto.server.createAccount",
        json={"handle": f"{name}.localhost", "password": "correct horse battery"},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _auth(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['accessJwt']}"}


# --- resolveHandle ----------------------------------------------------------------------------


def test_resolve_handle_answers_for_local_accounts(client: TestClient) -> None:
    alice = _sign_up(client, "alice")
    bob = _sign_up(client, "bob")
    for session in (alice, bob):
        response = client.get(RESOLVE, params={"handle": session["handle"]})
        assert response.status_code == 200
        assert response.json() == {"did": session["did"]}
    assert client.get(RESOLVE, params={"handle": "ALICE.localhost"}).json()["did"] == alice["did"]


def test_an_unknown_handle_under_the_node_is_not_found_without_asking_anyone(
    client: TestClient,
) -> None:
    response = client.get(RESOLVE, params={"handle": "ghost.localhost"})
    assert response.status_code == 400
    assert response.json()["error"] == "HandleNotFound"
    invalid = client.get(RESOLVE, params={"handle": "not a handle"})
    assert (invalid.status_code, invalid.json()["error"]) == (400, "InvalidRequest")


def test_a_handle_elsewhere_is_resolved_by_dns(client: TestClient) -> None:
    dns_server = FakeDns({})
    try:
        with serve_fake_web() as web:
            did = anyio.run(
                lambda: identity.create_plc_identity(
                    f"http://127.0.0.1:{web.port}",
                    handle="carol.example.test",
                    account_key=generate_private_key(),
                    node_key=generate_private_key(),
                    pds_endpoint="https://music.example.test",
                )
            )
            dns_server.records["_atproto.carol.example.test"] = [f"did={did}"]
            assert isinstance(client.app, Starlette)
            client.app.state.identity_resolver = IdentityResolver(
                plc_directory=f"http://127.0.0.1:{web.port}",
                dns_nameservers=["127.0.0.1"],
                dns_port=dns_server.port,
            )
            response = client.get(RESOLVE, params={"handle": "carol.example.test"})
    finally:
        dns_server.close()
    assert response.status_code == 200, response.text
    assert response.json() == {"did": did}
    assert dns_server.queries == ["_atproto.carol.example.test"]


# --- updateHandle -----------------------------------------------------------------------------


def test_update_handle_moves_the_handle_and_the_document_follows(client: TestClient) -> None:
    alice = _sign_up(client, "alice")
    response = client.post(UPDATE, json={"handle": "alicia.localhost"}, headers=_auth(alice))
    assert response.status_code == 200, response.text
    assert client.get(RESOLVE, params={"handle": "alicia.localhost"}).json() == {
        "did": alice["did"]
    }
    gone = client.get(RESOLVE, params={"handle": "alice.localhost"})
    assert gone.json()["error"] == "HandleNotFound"
    document = client.get("/.well-known/did.json", headers={"Host": "alice.localhost:8000"})
    assert document.json()["alsoKnownAs"] == ["at://alicia.localhost"]
    session = client.get("/xrpc/com.atproto.server.getSession", headers=_auth(alice))
    assert session.json()["handle"] == "alicia.localhost"


@pytest.mark.parametrize(
    ("handle", "status", "error"),
    [
        ("bob.localhost", 400, "HandleNotAvailable"),
        ("alice.example.org", 400, "UnsupportedDomain"),
        ("no spaces allowed", 400, "InvalidRequest"),
    ],
)
def test_update_handle_refusals_name_the_problem(
    client: TestClient, handle: str, status: int, error: str
) -> None:
    alice = _sign_up(client, "alice")
    _sign_up(client, "bob")
    response = client.post(UPDATE, json={"handle": handle}, headers=_auth(alice))
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert client.get(RESOLVE, params={"handle": "alice.localhost"}).status_code == 200


def test_update_handle_needs_a_signed_in_account(client: TestClient) -> None:
    _sign_up(client, "alice")
    response = client.post(UPDATE, json={"handle": "mallory.localhost"})
    assert response.status_code == 401
    assert client.get(RESOLVE, params={"handle": "mallory.localhost"}).status_code == 400


# --- /.well-known -----------------------------------------------------------------------------


def test_well_known_answers_for_the_host_asked(client: TestClient) -> None:
    alice = _sign_up(client, "alice")
    atproto_did = client.get("/.well-known/atproto-did", headers={"Host": "alice.localhost:8000"})
    assert atproto_did.status_code == 200
    assert atproto_did.headers["content-type"].startswith("text/plain")
    assert atproto_did.text == alice["did"]
    document = client.get("/.well-known/did.json", headers={"Host": "alice.localhost:8000"})
    assert document.status_code == 200
    assert ensure_atproto_document(SdkDidDocument.from_dict(document.json())).handle == (
        "alice.localhost"
    )
    node = client.get("/.well-known/did.json", headers={"Host": NODE_HOST})
    assert node.json()["id"] == "did:web:localhost%3A8000"
    for host in ("ghost.localhost:8000", "localhost:8000"):
        missing = client.get("/.well-known/atproto-did", headers={"Host": host})
        assert missing.status_code == 404
    missing_doc = client.get("/.well-known/did.json", headers={"Host": "ghost.localhost:8000"})
    assert (missing_doc.status_code, missing_doc.json()["error"]) == (404, "NotFound")


# --- a real node ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_real_node_serves_identities_a_resolver_can_use(tmp_path: Path) -> None:
    port = free_port()
    public_url = f"http://localhost:{port}"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = oms_env(data_dir, OMS_SERVER_PUBLIC_URL=public_url)
    dids = {}
    for name in ("alice", "bob"):
        created = run_oms(
            "account", "create", "--handle", name, "--password", "correct horse",
            "--role", "artist", data_dir=data_dir, env=env,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        dids[name] = f"did:web:{name}.localhost%3A{port}"
        assert dids[name] in created.stdout
    server = start_oms(data_dir, "--public-url", public_url, port=port, env=env)
    try:
        server.wait_healthy()
        keys = KeyStore(data_dir / "keys")
        resolver = IdentityResolver(loopback=True, timeout=5)
        async with httpx.AsyncClient(base_url=server.url) as http:
            for name, did in dids.items():
                host = {"Host": f"{name}.localhost:{port}"}
                served = await http.get("/.well-known/did.json", headers=host)
                assert served.status_code == 200, served.text
                sdk = ensure_atproto_document(SdkDidDocument.from_dict(served.json()))
                assert (sdk.did, sdk.handle, sdk.pds) == (did, f"{name}.localhost", public_url)
                assert sdk.signing_key == did_key(keys.account_key(did))
                assert (await http.get("/.well-known/atproto-did", headers=host)).text == did
                resolved = await resolver.resolve_did(did)
                assert (resolved.signing_key, resolved.pds_endpoint) == (sdk.signing_key, sdk.pds)
                assert await resolver.verify_handle(f"{name}.localhost", did)
                answer = await http.get(RESOLVE, params={"handle": f"{name}.localhost"})
                assert answer.json() == {"did": did}
            node = await resolver.resolve_did(f"did:web:localhost%3A{port}")
            assert node.signing_key == did_key(keys.node_key())
            assert node.document["service"][1]["type"] == "OmsNode"
    finally:
        assert server.stop() == 0, server.log()

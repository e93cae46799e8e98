"""com.atproto.repo and sync over HTTP: writes by the owner, reads by anyone, bad input that
changes nothing, and what deleting and reactivating an account does to the repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cbrrr import decode_multi_dag_cbor_in_violation_of_the_spec
from starlette.testclient import TestClient

from oms.app import create_app
from tests.conftest import make_settings, sign_up

X = "/xrpc/com.atproto."
NOTE = "com.example.note"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "data", pds__open_signup=True)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _create(client: TestClient, did: str, auth: dict[str, str], **extra: Any) -> Any:
    return client.post(
        X + "repo.createRecord",
        headers=auth,
        json={"repo": did, "collection": NOTE, "record": {"$type": NOTE, "text": "hi"}, **extra},
    )


def _state(client: TestClient, did: str) -> tuple[str, int]:
    latest = client.get(X + "sync.getLatestCommit", params={"did": did}).json()
    frames = client.get(X + "sync.getRepo", params={"did": did}).content
    return latest["cid"], len(frames)


def test_the_owner_writes_and_anyone_reads(client: TestClient) -> None:
    did, auth = sign_up(client, "ada")
    created = _create(client, did, auth, rkey="first")
    assert created.status_code == 200
    body = created.json()
    assert body["uri"] == f"at://{did}/{NOTE}/first"
    assert body["validationStatus"] == "unknown"
    got = client.get(
        X + "repo.getRecord", params={"repo": "ada.localhost", "collection": NOTE, "rkey": "first"}
    ).json()
    assert got["value"] == {"$type": NOTE, "text": "hi"}
    described = client.get(X + "repo.describeRepo", params={"repo": did}).json()
    assert described["collections"] == [NOTE]
    assert described["didDoc"]["id"] == did
    assert described["handle"] == "ada.localhost"

    put = client.post(
        X + "repo.putRecord",
        headers=auth,
        json={
            "repo": did,
            "collection": NOTE,
            "rkey": "first",
            "record": {"$type": NOTE, "text": "2"},
            "swapRecord": body["cid"],
        },
    )
    assert put.status_code == 200
    deleted = client.post(
        X + "repo.deleteRecord",
        headers=auth,
        json={"repo": did, "collection": NOTE, "rkey": "first"},
    )
    assert deleted.status_code == 200
    again = client.post(
        X + "repo.deleteRecord",
        headers=auth,
        json={"repo": did, "collection": NOTE, "rkey": "first"},
    )
    assert again.status_code == 200
    assert again.json() == {}, "deleting what is not there commits nothing"


def test_bad_writes_answer_their_error_and_change_nothing(client: TestClient) -> None:
    did, auth = sign_up(client, "ada")
    other, other_auth = sign_up(client, "bob")
    first = _create(client, did, auth).json()
    _create(client, did, auth)
    before = _state(client, did)
    cases = [
        (_create(client, did, {}), 401, "AuthRequired"),
        (_create(client, did, other_auth), 403, "Forbidden"),
        (_create(client, did, auth, rkey="bad/key"), 400, "InvalidRequest"),
        (_create(client, did, auth, swapCommit=first["commit"]["cid"]), 409, "InvalidSwap"),
        (
            client.post(
                X + "repo.createRecord",
                headers={**auth, "Content-Type": "application/json"},
                content=b"{not json",
            ),
            400,
            "InvalidRequest",
        ),
        (
            client.post(
                X + "repo.createRecord",
                headers=auth,
                json={
                    "repo": did,
                    "collection": NOTE,
                    "record": {"$type": NOTE, "text": "x" * 1_100_000},
                },
            ),
            400,
            "RecordTooLarge",
        ),
        (
            client.post(
                X + "repo.applyWrites",
                headers=auth,
                json={
                    "repo": did,
                    "writes": [
                        {
                            "$type": "com.atproto.repo.applyWrites#create",
                            "collection": NOTE,
                            "value": {"$type": NOTE, "n": n},
                        }
                        for n in range(201)
                    ],
                },
            ),
            400,
            "InvalidRequest",
        ),
    ]
    for answer, status, name in cases:
        assert (answer.status_code, answer.json()["error"]) == (status, name), answer.text
        assert answer.json()["message"]
    assert _state(client, did) == before
    assert other != did


def test_a_reactivated_account_is_announced_with_a_sync_event(client: TestClient) -> None:
    did, auth = sign_up(client, "ada")
    _create(client, did, auth)
    assert client.post(X + "server.deactivateAccount", headers=auth, json={}).status_code == 200
    gone = client.get(X + "sync.getRepo", params={"did": did})
    assert (gone.status_code, gone.json()["error"]) == (400, "RepoDeactivated")
    assert client.post(X + "server.activateAccount", headers=auth).status_code == 200
    with client.websocket_connect(X + "sync.subscribeRepos?cursor=0") as ws:
        kinds = []
        while len(kinds) < 7:
            header, body = decode_multi_dag_cbor_in_violation_of_the_spec(ws.receive_bytes())
            kinds.append((header["t"], body.get("active")))
    assert kinds[-3:] == [("#account", False), ("#account", True), ("#sync", None)]

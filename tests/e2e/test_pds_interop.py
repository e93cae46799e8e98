"""A real `oms serve`, read and written by the atproto SDK (an independent implementation):
it signs in, writes records, verifies our `getRepo` against the key in our DID document, and
its firehose client decodes every frame of our `subscribeRepos`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from atproto import (
    AsyncFirehoseSubscribeReposClient,
    Client,
    models,
    parse_subscribe_repos_message,
)
from atproto_core.car import CAR
from atproto_core.did_doc import DidDocument
from atproto_crypto.verify import verify_signature

from oms.pds.dagcbor import cid_from_bytes, encode
from tests.conftest import OmsProcess

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"


def _account(server: OmsProcess, name: str) -> tuple[str, str]:
    return f"{name}.localhost", server.create_account(name, PASSWORD)


@contextlib.contextmanager
def _client(server: OmsProcess, handle: str) -> Iterator[Client]:
    client = Client(base_url=f"{server.url}/xrpc")
    try:
        # This node is a PDS, not a Bluesky AppView: there is no Bluesky profile to fetch.
        client.login(handle, PASSWORD, fetch_bsky_profile=False)
        yield client
    finally:
        client.request.close()


def _links(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _links(v) for k, v in value.items()}
    if isinstance(value, bytes) and len(value) == 36 and value.startswith(b"\x01q\x12 "):
        return cid_from_bytes(value)
    return value


def test_the_sdk_writes_records_and_verifies_the_exported_repository(
    oms_server: OmsProcess,
) -> None:
    handle, did = _account(oms_server, "ada")
    with _client(oms_server, handle) as client:
        assert client.com.atproto.server.get_session().did == did
        uris = []
        for n in range(5):
            created = client.com.atproto.repo.create_record(
                models.ComAtprotoRepoCreateRecord.Data(
                    repo=did,
                    collection="com.example.note",
                    record={"$type": "com.example.note", "text": f"note {n}"},
                )
            )
            uris.append(created.uri)
        listed = client.com.atproto.repo.list_records(
            models.ComAtprotoRepoListRecords.Params(repo=did, collection="com.example.note")
        )
        assert sorted(r.uri for r in listed.records) == sorted(uris)

        car_bytes = client.com.atproto.sync.get_repo(models.ComAtprotoSyncGetRepo.Params(did=did))
        car = CAR.from_bytes(car_bytes)
        commit = car.blocks[car.root]
        assert commit["did"] == did
        latest = client.com.atproto.sync.get_latest_commit(
            models.ComAtprotoSyncGetLatestCommit.Params(did=did)
        )
        assert latest.cid == str(car.root)

    # The signing key comes from our DID document, served at the account's own host.
    host = f"{handle}:{oms_server.port}"
    document = httpx.get(f"{oms_server.url}/.well-known/did.json", headers={"Host": host}).json()
    key = DidDocument.from_dict(document).get_did_key()
    assert key is not None
    unsigned = {k: v for k, v in commit.items() if k != "sig"}
    assert verify_signature(key, encode(_links(unsigned)), commit["sig"])


def test_the_sdk_firehose_client_decodes_every_frame(oms_server: OmsProcess) -> None:
    handle, did = _account(oms_server, "bob")
    received: list[Any] = []
    errors: list[BaseException] = []
    done = threading.Event()

    async def consume() -> None:
        firehose = AsyncFirehoseSubscribeReposClient(
            params=models.ComAtprotoSyncSubscribeRepos.Params(cursor=0),
            base_uri=f"ws://127.0.0.1:{oms_server.port}/xrpc",
        )

        async def on_message(message: Any) -> None:
            try:
                received.append(parse_subscribe_repos_message(message))
            except BaseException as e:  # the SDK swallows callback errors; keep them
                errors.append(e)
            if (
                sum(isinstance(m, models.ComAtprotoSyncSubscribeRepos.Commit) for m in received)
                >= 4
            ):
                await firehose.stop()

        await asyncio.wait_for(firehose.start(on_message), timeout=30)
        done.set()

    thread = threading.Thread(target=lambda: asyncio.run(consume()), daemon=True)
    thread.start()
    with _client(oms_server, handle) as client:
        for n in range(3):
            client.com.atproto.repo.create_record(
                models.ComAtprotoRepoCreateRecord.Data(
                    repo=did,
                    collection="com.example.note",
                    record={"$type": "com.example.note", "text": f"live {n}"},
                )
            )
    thread.join(40)
    assert done.is_set(), "the firehose client did not see the expected commits"
    assert errors == []
    kinds = [type(m).__name__ for m in received]
    assert kinds[:3] == ["Identity", "Account", "Commit"]
    commits = [m for m in received if isinstance(m, models.ComAtprotoSyncSubscribeRepos.Commit)]
    seqs = [m.seq for m in received]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    for commit in commits[1:]:
        assert commit.repo == did
        assert [op.action for op in commit.ops] == ["create"]
        blocks = CAR.from_bytes(commit.blocks)
        assert str(blocks.root) == str(commit.commit)
        assert commit.ops[0].cid in blocks.blocks

"""`kill -9` in the middle of a burst of writes: what was acknowledged survives, every
repository's root matches its records, and the firehose continues without gap or reuse."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from atmst.blockstore import MemoryBlockStore
from atmst.mst.node_store import NodeStore
from atmst.mst.node_walker import NodeWalker
from cbrrr import decode_multi_dag_cbor_in_violation_of_the_spec
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from oms.pds.car import read_car
from oms.pds.dagcbor import cid_to_str, decode
from tests.conftest import OmsProcess, kill_9_while_writing, start_oms

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
NOTE = "com.example.note"


def _session(server: OmsProcess, name: str) -> tuple[str, str]:
    server.create_account(name, PASSWORD, role="fan")
    answer = httpx.post(
        f"{server.url}/xrpc/com.atproto.server.createSession",
        json={"identifier": f"{name}.localhost", "password": PASSWORD},
    ).json()
    return answer["did"], answer["accessJwt"]


def _frames(port: int, cursor: int, until_seq: int | None, timeout: float = 15) -> list[dict]:
    """Bodies of frames from `cursor` on, until `until_seq` is seen (or quiet for a second)."""
    bodies: list[dict] = []
    deadline = time.monotonic() + timeout
    with connect(
        f"ws://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos?cursor={cursor}"
    ) as ws:
        while time.monotonic() < deadline:
            try:
                frame = ws.recv(timeout=1)
            except TimeoutError:
                if until_seq is None:
                    break
                continue
            header, body = decode_multi_dag_cbor_in_violation_of_the_spec(frame)
            assert header["op"] == 1, body
            bodies.append(body)
            if until_seq is not None and body["seq"] >= until_seq:
                break
    return bodies


def _repo_paths(server: OmsProcess, did: str) -> dict[str, str]:
    car = httpx.get(f"{server.url}/xrpc/com.atproto.sync.getRepo", params={"did": did}).content
    roots, blocks = read_car(car)
    store = MemoryBlockStore()
    for cid, data in blocks.items():
        store.put_block(bytes(cid), data)
    data_root = decode(blocks[roots[0]])["data"]  # type: ignore[index]
    walker = NodeWalker(NodeStore(store), data_root)
    return {path: cid_to_str(cid) for path, cid in walker.iter_kv()}


def _listed(server: OmsProcess, did: str) -> dict[str, str]:
    found: dict[str, str] = {}
    cursor = None
    while True:
        params = {"repo": did, "collection": NOTE, "limit": "100"}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(f"{server.url}/xrpc/com.atproto.repo.listRecords", params=params).json()
        for record in page["records"]:
            found[record["uri"].split("/", 3)[3]] = record["cid"]
        cursor = page.get("cursor")
        if not cursor:
            return found


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_oms(data)
    server.wait_healthy()
    did, token = _session(server, "ada")
    # A subscriber reads the beginning of the firehose, then goes away.
    seen = _frames(server.port, 0, until_seq=None, timeout=5)
    last_seen = seen[-1]["seq"]

    def write(client: httpx.Client, worker: int, n: int) -> str | None:
        answer = client.post(
            f"{server.url}/xrpc/com.atproto.repo.createRecord",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "repo": did,
                "collection": NOTE,
                "record": {"$type": NOTE, "text": f"{worker}-{n}"},
            },
        )
        return str(answer.json()["uri"]) if answer.status_code == 200 else None

    acknowledged = kill_9_while_writing(server, write, acknowledged_at_least=60)
    count = len(acknowledged)

    restarted = start_oms(data, port=server.port)
    try:
        restarted.wait_healthy()
        listed = _listed(restarted, did)
        for uri in acknowledged:
            assert uri.split("/", 3)[3] in listed, f"acknowledged {uri} was lost"
        # At most the writes in flight at the kill may exist unacknowledged.
        assert count <= len(listed) <= count + 4
        assert _repo_paths(restarted, did) == listed

        # The subscriber comes back with its cursor and gets exactly what it missed.
        rest = _frames(restarted.port, last_seen, until_seq=None, timeout=10)
        seqs = [body["seq"] for body in rest]
        assert seqs == list(range(last_seen + 1, last_seen + 1 + len(seqs)))
        commits = [body for body in rest if "ops" in body]
        assert len(commits) == len(listed)
        revs = [body["rev"] for body in commits]
        assert revs == sorted(revs)

        # New writes continue the sequence; no number is used twice.
        with httpx.Client() as client:
            answer = client.post(
                f"{restarted.url}/xrpc/com.atproto.repo.createRecord",
                headers={"Authorization": f"Bearer {token}"},
                json={"repo": did, "collection": NOTE, "record": {"$type": NOTE, "text": "after"}},
            )
        assert answer.status_code == 200
        after = _frames(restarted.port, seqs[-1], until_seq=seqs[-1] + 1)
        assert [body["seq"] for body in after] == [seqs[-1] + 1]
    finally:
        restarted.stop()


def test_a_node_with_idle_subscribers_stops_promptly(tmp_path: Path) -> None:
    server = start_oms(tmp_path / "data")
    server.wait_healthy()
    with connect(f"ws://127.0.0.1:{server.port}/xrpc/com.atproto.sync.subscribeRepos") as ws:
        time.sleep(0.3)
        started = time.monotonic()
        assert server.stop() == 0
        # Well inside server.shutdown_timeout (30 s): the idle firehose did not hold it up.
        assert time.monotonic() - started < 10
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)

"""The repository write path, checked against independent code: the atproto SDK parses our
CARs and verifies our commit signatures; the MST is rebuilt from scratch and compared."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from atmst.blockstore import MemoryBlockStore
from atmst.mst.node import MSTNode
from atmst.mst.node_store import NodeStore
from atmst.mst.node_wrangler import NodeWrangler
from atmst.mst.proof import verify_exclusion, verify_inclusion
from atproto_core.car import CAR
from atproto_crypto.verify import verify_signature

from oms.db.database import Database
from oms.errors import Conflict, InvalidRequest, OmsError
from oms.pds import accounts
from oms.pds.blobs import store_upload
from oms.pds.car import read_car
from oms.pds.crypto import did_key
from oms.pds.dagcbor import cid_from_bytes, cid_from_str, cid_to_str, decode, encode
from oms.pds.keystore import KeyStore
from oms.pds.lexicons import load_lexicons
from oms.pds.repo import MAX_WRITES, Repos, Write
from oms.pds.sequencer import events_after
from oms.resources import lexicons_dir

pytestmark = pytest.mark.anyio

HOST = "music.example.org"
POST = "com.example.post"


class Node:
    def __init__(self, db: Database, keys: KeyStore, repos: Repos) -> None:
        self.db, self.keys, self.repos = db, keys, repos

    async def account(self, name: str) -> str:
        created = await accounts.create_account(
            self.db, self.keys, name=name, password="correct horse", role="artist", hostname=HOST
        )
        return created.did

    async def state(self, did: str) -> tuple[str, int, int]:
        root = await self.repos.root(did)
        seq = await self.db.fetchval("SELECT max(seq) FROM repo_events")
        blocks = await self.db.fetchval("SELECT count(*) FROM repo_blocks WHERE did = ?", (did,))
        return root.commit_cid, seq, blocks


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    keys = KeyStore(tmp_path / "keys")
    keys.prepare()
    db = await Database.open(tmp_path / "oms.sqlite3")
    repos = Repos(db, keys, load_lexicons(lexicons_dir()))
    yield Node(db, keys, repos)
    repos.close()
    await db.close()


def _post(text: str) -> dict[str, object]:
    return {"$type": POST, "text": text, "createdAt": "2026-11-21T10:00:00.000Z"}


async def _car(repos: Repos, did: str, since: str | None = None) -> bytes:
    return b"".join([chunk async for chunk in repos.export_car(did, since)])


def _verify_with_sdk(car_bytes: bytes, key_did: str) -> dict[str, object]:
    car = CAR.from_bytes(car_bytes)
    commit = car.blocks[car.root]
    unsigned = {k: v for k, v in commit.items() if k != "sig"}
    assert verify_signature(key_did, encode(_ours(unsigned)), commit["sig"])
    return commit


def _ours(value: object) -> object:
    # The SDK's decoder hands CID links back as their 36 raw bytes (v1, dag-cbor, sha2-256);
    # turn them into links again to re-create the signed bytes.
    if isinstance(value, dict):
        return {k: _ours(v) for k, v in value.items()}
    if isinstance(value, bytes) and len(value) == 36 and value.startswith(b"\x01q\x12 "):
        return cid_from_bytes(value)
    return value


def _rebuilt_root(records: dict[str, str]) -> str:
    nodes = NodeStore(MemoryBlockStore())
    wrangler = NodeWrangler(nodes)
    root = nodes.get_node(None).cid
    for path, cid in records.items():
        root = wrangler.put_record(root, path, cid_from_str(cid))
    return cid_to_str(root)


async def test_a_new_account_has_a_signed_empty_repository(node: Node) -> None:
    did = await node.account("alice")
    key = did_key(node.keys.account_key(did).public_key())
    commit = _verify_with_sdk(await _car(node.repos, did), key)
    assert commit["did"] == did
    assert commit["version"] == 3
    assert cid_to_str(_ours(commit["data"])) == cid_to_str(MSTNode.empty_root().cid)  # type: ignore[arg-type]
    kinds = [e.kind for e in await events_after(node.db, 0)]
    assert kinds == ["identity", "account", "commit"]


async def test_writes_update_the_tree_the_index_and_the_firehose(node: Node) -> None:
    did = await node.account("alice")
    repos = node.repos
    first = await repos.apply_writes(
        did, [Write("create", POST, f"3k{n}aaaaaaaaa", _post(f"post {n}")) for n in range(30)]
    )
    assert [r.action for r in first.results] == ["create"] * 30
    updated = await repos.apply_writes(did, [Write("update", POST, "3k1aaaaaaaaa", _post("edit"))])
    deleted = await repos.apply_writes(did, [Write("delete", POST, "3k2aaaaaaaaa")])

    record = await repos.get_record(did, POST, "3k1aaaaaaaaa")
    assert record.value == _post("edit")
    with pytest.raises(OmsError, match="could not locate record"):
        await repos.get_record(did, POST, "3k2aaaaaaaaa")

    rows = await node.db.fetchall(
        "SELECT collection || '/' || rkey, cid FROM records WHERE did = ?", (did,)
    )
    assert len(rows) == 29
    root = await repos.root(did)
    assert root.data_cid == _rebuilt_root({row[0]: row[1] for row in rows})
    assert root.commit_cid == deleted.cid
    assert first.rev < updated.rev < deleted.rev

    # Every block stored is reachable, and the whole export verifies with the SDK.
    car = await _car(repos, did)
    _verify_with_sdk(car, did_key(node.keys.account_key(did).public_key()))
    stored = await node.db.fetchval("SELECT count(*) FROM repo_blocks WHERE did = ?", (did,))
    assert len(read_car(car)[1]) == stored

    events = [e for e in await events_after(node.db, 0) if e.kind == "commit"]
    update_event = events[-2].body
    assert update_event["since"] == first.rev
    assert update_event["ops"] == [
        {
            "action": "update",
            "path": f"{POST}/3k1aaaaaaaaa",
            "cid": cid_from_str(updated.results[0].cid or ""),
            "prev": cid_from_str(first.results[1].cid or ""),
        }
    ]
    roots, blocks = read_car(update_event["blocks"])  # type: ignore[arg-type]
    assert roots == [cid_from_str(updated.cid)]
    assert cid_from_str(updated.results[0].cid or "") in blocks
    delete_event = events[-1].body
    assert delete_event["ops"][0]["action"] == "delete"  # type: ignore[index]
    assert delete_event["prevData"] == decode(blocks[roots[0]])["data"]  # type: ignore[index]


async def test_commit_slices_carry_what_a_consumer_needs_to_invert_them(node: Node) -> None:
    did = await node.account("alice")
    for n in range(40):
        await node.repos.apply_writes(
            did, [Write("create", POST, f"3k{n:02d}aaaaaaa", _post(str(n)))]
        )
    previous = await node.repos.root(did)
    await node.repos.apply_writes(did, [Write("delete", POST, "3k17aaaaaaa")])
    event = (await events_after(node.db, 0))[-1].body
    roots, blocks = read_car(event["blocks"])  # type: ignore[arg-type]
    store = MemoryBlockStore()
    for cid, data in blocks.items():
        store.put_block(bytes(cid), data)
    nodes = NodeStore(store)
    data_root = decode(blocks[roots[0]])["data"]  # type: ignore[index]
    verify_exclusion(nodes, data_root, f"{POST}/3k17aaaaaaa")
    # Putting the deleted record back with only the slice's blocks yields the previous root.
    restored = NodeWrangler(nodes).put_record(
        data_root, f"{POST}/3k17aaaaaaa", event["ops"][0]["prev"]
    )  # type: ignore[index]
    assert cid_to_str(restored) == previous.data_cid


async def test_record_proofs_verify(node: Node) -> None:
    did = await node.account("alice")
    await node.repos.apply_writes(did, [Write("create", POST, "3kaaaaaaaaaaa", _post("hi"))])
    roots, blocks = read_car(await node.repos.record_proof_car(did, POST, "3kaaaaaaaaaaa"))
    store = MemoryBlockStore()
    for cid, data in blocks.items():
        store.put_block(bytes(cid), data)
    data_root = decode(blocks[roots[0]])["data"]  # type: ignore[index]
    verify_inclusion(NodeStore(store), data_root, f"{POST}/3kaaaaaaaaaaa")
    roots, blocks = read_car(await node.repos.record_proof_car(did, POST, "3kzzzzzzzzzzz"))
    store = MemoryBlockStore()
    for cid, data in blocks.items():
        store.put_block(bytes(cid), data)
    verify_exclusion(NodeStore(store), decode(blocks[roots[0]])["data"], f"{POST}/3kzzzzzzzzzzz")  # type: ignore[index]


async def test_export_since_a_revision_sends_only_newer_blocks(node: Node) -> None:
    did = await node.account("alice")
    first = await node.repos.apply_writes(did, [Write("create", POST, "3kaaaaaaaaaaa", _post("1"))])
    second = await node.repos.apply_writes(
        did, [Write("create", POST, "3kbbbbbbbbbbb", _post("2"))]
    )
    _, newer = read_car(await _car(node.repos, did, since=first.rev))
    _, everything = read_car(await _car(node.repos, did))
    assert cid_from_str(second.cid) in newer
    assert cid_from_str(first.results[0].cid or "") not in newer
    assert len(newer) < len(everything)


@pytest.mark.parametrize(
    ("writes", "error", "message"),
    [
        (
            [Write("create", "not a nsid", "3kaaaaaaaaaaa", _post("x"))],
            InvalidRequest,
            "valid NSID",
        ),
        ([Write("create", POST, "bad/key", _post("x"))], InvalidRequest, "record key"),
        (
            [Write("create", POST, "3kaaaaaaaaaaa", {"$type": "com.other", "a": 1})],
            InvalidRequest,
            "does not match",
        ),
        (
            [Write("create", POST, "3kaaaaaaaaaaa", {"text": "x" * (1024 * 1024)})],
            InvalidRequest,
            "the limit is",
        ),
        (
            [Write("create", POST, f"3k{n:03d}aaaaaa", _post("x")) for n in range(MAX_WRITES + 1)],
            InvalidRequest,
            "the limit is 200",
        ),
        (
            [Write("create", POST, "3kexisting000", _post("again"))],
            InvalidRequest,
            "already exists",
        ),
        (
            [Write("update", POST, "3kexisting000", _post("x"), check_swap=True, swap_record=None)],
            Conflict,
            "is at",
        ),
        ([Write("create", POST, "3kaaaaaaaaaaa", {"n": 1.5})], InvalidRequest, "float"),
    ],
)
async def test_bad_writes_change_nothing(
    node: Node, writes: list[Write], error: type[Exception], message: str
) -> None:
    did = await node.account("alice")
    await node.repos.apply_writes(did, [Write("create", POST, "3kexisting000", _post("x"))])
    before = await node.state(did)
    with pytest.raises(error, match=message):
        await node.repos.apply_writes(did, writes)
    assert await node.state(did) == before


async def test_a_stale_swap_commit_is_refused(node: Node) -> None:
    did = await node.account("alice")
    first = await node.repos.apply_writes(did, [Write("create", POST, "3kaaaaaaaaaaa", _post("1"))])
    await node.repos.apply_writes(did, [Write("create", POST, "3kbbbbbbbbbbb", _post("2"))])
    before = await node.state(did)
    with pytest.raises(Conflict) as refused:
        await node.repos.apply_writes(
            did, [Write("create", POST, "3kccccccccccc", _post("3"))], swap_commit=first.cid
        )
    assert refused.value.name == "InvalidSwap"
    assert await node.state(did) == before


async def test_records_of_known_collections_are_validated(node: Node) -> None:
    did = await node.account("alice")
    with pytest.raises(InvalidRequest, match="validate=false"):
        await node.repos.apply_writes(
            did, [Write("create", POST, "3kaaaaaaaaaaa", _post("x"))], validate=True
        )
    result = await node.repos.apply_writes(
        did, [Write("create", POST, "3kaaaaaaaaaaa", _post("x"))], validate=None
    )
    assert result.results[0].validation_status == "unknown"


async def _png_blob(node: Node, did: str, tmp_path: Path) -> dict[str, object]:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

    ref = await store_upload(node.db, tmp_path / "blobs", did, "image/png", chunks(), 10_000)
    return ref.to_json()


async def _blob_state(node: Node, did: str, blob: dict[str, object]) -> str:
    link = blob["ref"]["$link"]  # type: ignore[index]
    return str(
        await node.db.fetchval("SELECT state FROM blobs WHERE did = ? AND cid = ?", (did, link))
    )


async def test_records_keep_the_blobs_they_link(node: Node, tmp_path: Path) -> None:
    did = await node.account("alice")
    art = await _png_blob(node, did, tmp_path)
    record = {**_post("with art"), "art": art}
    await node.repos.apply_writes(did, [Write("create", POST, "3kaaaaaaaaaaa", record)])
    assert await _blob_state(node, did, art) == "referenced"
    await node.repos.apply_writes(did, [Write("update", POST, "3kaaaaaaaaaaa", _post("no art"))])
    assert await _blob_state(node, did, art) == "released"
    await node.repos.apply_writes(did, [Write("update", POST, "3kaaaaaaaaaaa", record)])
    assert await _blob_state(node, did, art) == "referenced"
    await node.repos.apply_writes(did, [Write("delete", POST, "3kaaaaaaaaaaa")])
    assert await _blob_state(node, did, art) == "released"


async def test_a_record_linking_a_blob_never_uploaded_changes_nothing(node: Node) -> None:
    did = await node.account("alice")
    before = await node.state(did)
    stranger = {
        "$type": "blob",
        "ref": {"$link": "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"},
        "mimeType": "image/png",
        "size": 10,
    }
    with pytest.raises(OmsError) as refused:
        await node.repos.apply_writes(
            did, [Write("create", POST, "3kaaaaaaaaaaa", {**_post("x"), "art": stranger})]
        )
    assert refused.value.name == "BlobNotFound"
    assert await node.state(did) == before


async def test_deleting_an_account_removes_its_repository(node: Node, tmp_path: Path) -> None:
    did = await node.account("alice")
    art = await _png_blob(node, did, tmp_path)
    await node.repos.apply_writes(
        did, [Write("create", POST, "3kaaaaaaaaaaa", {**_post("x"), "art": art})]
    )
    await accounts.set_status(node.db, did, "deleted")
    for table in ("repo_blocks", "records", "repo_roots", "record_blobs"):
        count = await node.db.fetchval(f"SELECT count(*) FROM {table} WHERE did = ?", (did,))
        assert count == 0, table
    assert await _blob_state(node, did, art) == "released"
    last = (await events_after(node.db, 0))[-1]
    assert (last.kind, last.body["active"], last.body["status"]) == ("account", False, "deleted")
    with pytest.raises(InvalidRequest, match="stays deleted"):
        await accounts.set_status(node.db, did, "active")

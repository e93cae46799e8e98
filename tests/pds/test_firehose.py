"""The firehose: replay then live without loss or repetition, cursors, slow consumers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cbrrr import decode_multi_dag_cbor_in_violation_of_the_spec

from oms.db.database import Database
from oms.pds import accounts
from oms.pds.firehose import Firehose, FirehoseError
from oms.pds.keystore import KeyStore
from oms.pds.lexicons import load_lexicons
from oms.pds.repo import Repos, Write
from oms.pds.sequencer import events_after, prune_events
from oms.resources import lexicons_dir

pytestmark = pytest.mark.anyio

POST = "com.example.post"


class Node:
    def __init__(self, db: Database, repos: Repos, firehose: Firehose, did: str) -> None:
        self.db, self.repos, self.firehose, self.did = db, repos, firehose, did
        self.n = 0

    async def write(self, count: int = 1) -> None:
        for _ in range(count):
            self.n += 1
            await self.repos.apply_writes(
                self.did,
                [Write("create", POST, f"3k{self.n:011d}", {"text": str(self.n)})],
            )


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    keys = KeyStore(tmp_path / "keys")
    keys.prepare()
    db = await Database.open(tmp_path / "oms.sqlite3")
    repos = Repos(db, keys, load_lexicons(lexicons_dir()))
    account = await accounts.create_account(
        db, keys, name="alice", password="correct horse", role="artist", hostname="x.org"
    )
    firehose = Firehose(db, replay_hours=72)
    await firehose.start()
    yield Node(db, repos, firehose, account.did)
    await firehose.stop()
    repos.close()
    await db.close()


def _seq(frame: bytes) -> tuple[str, int]:
    # A frame is two concatenated DAG-CBOR objects: the header, then the body.
    header, body = decode_multi_dag_cbor_in_violation_of_the_spec(frame)
    assert isinstance(header, dict)
    assert isinstance(body, dict)
    return str(header.get("t", header.get("op"))), int(body.get("seq", -1))


async def _collect(stream: AsyncIterator[bytes], count: int) -> list[tuple[str, int]]:
    got = []
    async with asyncio.timeout(10):
        async for frame in stream:
            got.append(_seq(frame))
            if len(got) == count:
                break
    return got


async def test_live_subscribers_get_every_new_event_in_order(node: Node) -> None:
    stream = node.firehose.subscribe(None)
    reader = asyncio.create_task(_collect(stream, 5))
    await asyncio.sleep(0.05)
    await node.write(5)
    frames = await reader
    seqs = [seq for _, seq in frames]
    assert [kind for kind, _ in frames] == ["#commit"] * 5
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5


async def test_a_cursor_replays_then_hands_over_to_live_without_gaps(node: Node) -> None:
    await node.write(20)
    # Writes keep landing while the subscriber replays: nothing lost, nothing repeated.
    writer = asyncio.create_task(node.write(30))
    frames = await _collect(node.firehose.subscribe(0), 3 + 50)
    await writer
    seqs = [seq for _, seq in frames]
    assert seqs == list(range(1, 54)), "identity, account, genesis commit, then 50 writes"


async def test_a_cursor_ahead_of_the_node_is_refused(node: Node) -> None:
    with pytest.raises(FirehoseError) as error:
        await _collect(node.firehose.subscribe(10_000), 1)
    assert error.value.name == "FutureCursor"


async def test_an_outdated_cursor_is_told_and_replay_starts_at_the_window(node: Node) -> None:
    await node.write(3)
    async with node.db.transaction() as tx:
        await tx.execute("UPDATE repo_events SET sequenced_at = 0 WHERE seq <= 4")
    frames = await _collect(node.firehose.subscribe(0), 3)
    assert frames[0] == ("#info", -1)
    assert [seq for _, seq in frames[1:]] == [5, 6]


async def test_a_slow_consumer_is_cut_off_without_slowing_others(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("oms.pds.firehose._QUEUE_FRAMES", 5)
    slow = node.firehose.subscribe(None)
    fast = node.firehose.subscribe(None)
    first_slow = asyncio.create_task(anext(slow))  # registers, then never reads again
    fast_reader = asyncio.create_task(_collect(fast, 20))
    await asyncio.sleep(0.05)
    await node.write(20)
    assert len(await fast_reader) == 20
    await first_slow

    async def drain() -> None:
        async with asyncio.timeout(5):
            async for _ in slow:
                pass

    with pytest.raises(FirehoseError) as error:
        await drain()
    assert error.value.name == "ConsumerTooSlow"


async def test_pruning_keeps_the_window_and_the_sequence(node: Node) -> None:
    await node.write(5)
    async with node.db.transaction() as tx:
        await tx.execute("UPDATE repo_events SET sequenced_at = 0")
    assert await prune_events(node.db, older_than_ms=1) == 7
    remaining = [e.seq for e in await events_after(node.db, 0)]
    assert remaining == [8]
    await node.write(1)
    assert [e.seq for e in await events_after(node.db, 0)] == [8, 9]

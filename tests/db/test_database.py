from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from oms.db.database import Database
from oms.db.migrations import known_migrations
from oms.errors import StartupError
from oms.events import Event, EventBus

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Noted(Event):
    value: int


async def test_open_applies_every_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite3"
    db = await Database.open(path)
    versions = [r[0] for r in await db.fetchall("SELECT version FROM schema_migrations")]
    assert versions == [m.version for m in known_migrations()]
    await db.close()
    db = await Database.open(path)
    assert await db.fetchval("SELECT count(*) FROM schema_migrations") == len(versions)
    assert await db.fetchval("PRAGMA journal_mode") == "wal"
    assert await db.integrity_check() == []
    await db.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite3"
    db = await Database.open(path)
    await db.close()
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    with pytest.raises(StartupError, match="newer than this OMS knows"):
        await Database.open(path)


async def test_events_are_published_only_after_commit(tmp_path: Path) -> None:
    bus = EventBus()
    seen = bus.subscribe(Noted)
    db = await Database.open(tmp_path / "oms.sqlite3", bus=bus)
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO node_state VALUES ('a', '1', 0)")
        tx.publish(Noted(1))
        assert seen.queue.empty()
    assert seen.queue.get_nowait() == Noted(1)

    async def change_mind() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO node_state VALUES ('b', '2', 0)")
            tx.publish(Noted(2))
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError):
        await change_mind()
    assert seen.queue.empty()
    assert await db.fetchval("SELECT count(*) FROM node_state WHERE key = 'b'") == 0
    await db.close()


async def test_concurrent_writers_are_serialized(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "oms.sqlite3")
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO node_state VALUES ('counter', '0', 0)")

    async def increment() -> None:
        # A read-modify-write that yields mid-transaction loses updates unless writes serialize.
        async with db.transaction() as tx:
            row = await tx.fetchone("SELECT value FROM node_state WHERE key = 'counter'")
            assert row is not None
            await asyncio.sleep(0)
            await tx.execute(
                "UPDATE node_state SET value = ? WHERE key = 'counter'", (str(int(row[0]) + 1),)
            )

    await asyncio.gather(*(increment() for _ in range(50)))
    assert await db.fetchval("SELECT value FROM node_state WHERE key = 'counter'") == "50"
    await db.close()


async def test_readers_cannot_write(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "oms.sqlite3")
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
        await db.fetchall("INSERT INTO node_state VALUES ('x', 'y', 0)")
    await db.close()

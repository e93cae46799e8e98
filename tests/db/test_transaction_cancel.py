"""A write cancelled while its BEGIN or COMMIT runs leaves the writer usable: the statement
runs on the writer's thread whatever the caller does, so the transaction must be ended."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from oms.db.database import Database

pytestmark = pytest.mark.anyio


async def _cancelled_at_every_step(
    write: Callable[[], Coroutine[Any, Any, object]], runs: int, steps: int
) -> int:
    """Start `write()` `runs` times, cancelling it after 0 … steps-1 loop turns; how many
    finished before the cancellation landed."""
    finished = 0
    for run in range(runs):
        task = asyncio.create_task(write())
        for _ in range(run % steps):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
            finished += 1
        except asyncio.CancelledError:
            pass
    return finished


async def test_a_write_cancelled_during_begin_leaves_no_transaction_open(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "oms.sqlite3")
    try:
        # Another process holds the write lock, so BEGIN IMMEDIATE waits (busy_timeout).
        other = sqlite3.connect(tmp_path / "oms.sqlite3", check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        entered = threading.Event()

        async def write() -> None:
            async with db.transaction() as tx:
                entered.set()
                await tx.execute("CREATE TABLE never (x INTEGER) STRICT")

        task = asyncio.create_task(write())
        await asyncio.sleep(0.2)  # the writer's thread is inside BEGIN IMMEDIATE now
        task.cancel()
        await asyncio.sleep(0.05)
        other.rollback()  # BEGIN now succeeds on the writer's thread
        other.close()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not entered.is_set()

        async with db.transaction() as tx:  # the writer is usable: no transaction left open
            await tx.execute("CREATE TABLE after_cancel (x INTEGER) STRICT")
        names = await db.fetchall("SELECT name FROM sqlite_master WHERE name LIKE '%cancel%'")
        assert [row[0] for row in names] == ["after_cancel"]
        assert await db.fetchval("SELECT count(*) FROM sqlite_master WHERE name = 'never'") == 0
    finally:
        await db.close()


async def test_writes_cancelled_at_any_step_leave_the_writer_usable(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "oms.sqlite3")
    try:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE t (x INTEGER) STRICT")

        async def write() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (1)")

        # cancelled before, during and after BEGIN, the body, COMMIT
        finished = await _cancelled_at_every_step(write, 60, 12)
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (2)")
        assert await db.fetchval("SELECT count(*) FROM t WHERE x = 2") == 1
        assert await db.fetchval("SELECT count(*) FROM t WHERE x = 1") >= finished
    finally:
        await db.close()


async def test_a_single_trip_write_commits_or_rolls_back_whole(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "oms.sqlite3")
    try:
        await db.write(lambda c: c.execute("CREATE TABLE t (x INTEGER NOT NULL) STRICT"))

        def two_rows(connection: sqlite3.Connection) -> int:
            connection.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
            return 2

        assert await db.write(two_rows) == 2

        def half(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT INTO t VALUES (3)")
            connection.execute("INSERT INTO t VALUES (NULL)")  # fails: the 3 goes too

        with pytest.raises(sqlite3.IntegrityError):
            await db.write(half)
        assert [r[0] for r in await db.fetchall("SELECT x FROM t ORDER BY x")] == [1, 2]

        # Cancelled at any point, a write is all there or not at all, and the writer goes on.
        finished = await _cancelled_at_every_step(
            lambda: db.write(lambda c: c.execute("INSERT INTO t VALUES (5)")), 30, 6
        )
        await db.write(lambda c: c.execute("INSERT INTO t VALUES (6)"))
        assert await db.fetchval("SELECT count(*) FROM t WHERE x = 5") >= finished
        assert await db.fetchval("SELECT count(*) FROM t WHERE x = 6") == 1
    finally:
        await db.close()


async def test_a_failed_commit_leaves_no_transaction_open(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "oms.sqlite3")
    try:
        await db.write(lambda c: c.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY) STRICT"))
        await db.write(
            lambda c: c.execute(
                "CREATE TABLE child (parent INTEGER REFERENCES parent (id)"
                " DEFERRABLE INITIALLY DEFERRED) STRICT"
            )
        )
        # A deferred foreign key is checked at COMMIT, which then fails.
        orphan = "INSERT INTO child VALUES (42)"
        with pytest.raises(sqlite3.IntegrityError):
            await db.write(lambda c: c.execute(orphan))
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as tx:
                await tx.execute(orphan)
        # Both left the writer outside any transaction: the next writes work.
        await db.write(lambda c: c.execute("INSERT INTO parent VALUES (1)"))
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO child VALUES (1)")
        assert await db.fetchval("SELECT count(*) FROM child") == 1
    finally:
        await db.close()

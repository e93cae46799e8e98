"""A write cancelled while its BEGIN or COMMIT runs leaves the writer usable: the statement
runs on the writer's thread whatever the caller does, so the transaction must be ended."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from oms.db.database import Database

pytestmark = pytest.mark.anyio


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
        finished = 0
        for step in range(60):  # cancelled before, during and after BEGIN, the body, COMMIT

            async def write() -> None:
                async with db.transaction() as tx:
                    await tx.execute("INSERT INTO t VALUES (1)")

            task = asyncio.create_task(write())
            for _ in range(step % 12):
                await asyncio.sleep(0)
            task.cancel()
            try:
                await task
                finished += 1
            except asyncio.CancelledError:
                pass
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (2)")
        assert await db.fetchval("SELECT count(*) FROM t WHERE x = 2") == 1
        assert await db.fetchval("SELECT count(*) FROM t WHERE x = 1") >= finished
    finally:
        await db.close()

"""The node's SQLite database: one writer connection behind a lock, read-only readers.

A write is `async with db.transaction() as tx:` — BEGIN IMMEDIATE … COMMIT under the writer
lock; events the transaction published reach the bus only after COMMIT succeeded. A write that
is one function of the connection and publishes nothing is `await db.write(fn)`: the same
transaction in a single trip to the writer's thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from oms.db.migrations import apply_migrations
from oms.events import Event, EventBus
from oms.metrics import DB_WRITE_SECONDS

__all__ = ["Database", "Transaction"]

Params = Sequence[Any] | dict[str, Any]
T = TypeVar("T")

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    # Another process (the CLI, a backup) may hold the write lock for a moment.
    "PRAGMA busy_timeout=10000",
)


class Transaction:
    """The writer connection inside one BEGIN IMMEDIATE … COMMIT, plus its pending events."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self.events: list[Event] = []

    async def execute(self, sql: str, params: Params = ()) -> aiosqlite.Cursor:
        return await self._connection.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._connection.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._connection.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._connection.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` with the writer's connection on the writer's thread: a batch of statements
        in one hop instead of one hop each."""
        return await _on_thread(self._connection, fn)

    def publish(self, event: Event) -> None:
        """Queue an event; it is published only if and after the transaction commits."""
        self.events.append(event)


class Database:
    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        readers: list[aiosqlite.Connection],
        bus: EventBus,
    ) -> None:
        self.path = path
        self.bus = bus
        self._writer = writer
        self._write_lock = asyncio.Lock()
        self._all_readers = readers
        self._closed = False
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._readers.put_nowait(reader)

    @classmethod
    async def open(cls, path: Path, *, bus: EventBus | None = None, readers: int = 2) -> Database:
        """Open (creating if needed) and migrate the database at `path`."""
        reader_uri = f"{path.resolve().as_uri()}?mode=ro"  # noqa: ASYNC240 - no I/O, a name
        writer = await _connect(str(path), uri=False)
        try:
            for pragma in _PRAGMAS:
                await writer.execute(pragma)
            await apply_migrations(writer)
            reader_connections = [
                await _connect(reader_uri, uri=True) for _ in range(max(1, readers))
            ]
        except BaseException:
            await writer.close()
            raise
        for reader in reader_connections:
            await reader.execute("PRAGMA busy_timeout=10000")
            await reader.execute("PRAGMA query_only=ON")
        return cls(path, writer, reader_connections, bus or EventBus())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            # A checkpoint on close leaves a self-contained file behind (no -wal to carry).
            await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self._writer.close()
        for reader in self._all_readers:
            await reader.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        started = time.perf_counter()
        tx = Transaction(self._writer)
        async with self._write_lock:
            # BEGIN, COMMIT and ROLLBACK run on the writer's thread even when the caller is
            # cancelled meanwhile; each is awaited to its end, so no cancellation leaves the
            # connection inside a transaction that every later write would trip over.
            if await _to_completion(self._writer.execute("BEGIN IMMEDIATE")):
                await _to_completion(self._writer.execute("ROLLBACK"))
                raise asyncio.CancelledError
            try:
                yield tx
            except BaseException:
                await _to_completion(self._writer.execute("ROLLBACK"))
                raise
            try:
                cancelled = await _to_completion(self._writer.execute("COMMIT"))
            except BaseException:  # a failed COMMIT must not leave the writer inside it
                await _to_completion(_on_thread(self._writer, _roll_back))
                raise
            DB_WRITE_SECONDS.observe(time.perf_counter() - started)
        for event in tx.events:
            self.bus.publish(event)
        if cancelled:  # committed, and its events published; the caller still stops
            raise asyncio.CancelledError

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(connection)` inside BEGIN IMMEDIATE … COMMIT, all on the writer's thread in one
        trip (a `transaction()` takes three: BEGIN, the work, COMMIT); rolled back, and its
        error raised, if `fn` raises. A caller cancelled meanwhile still gets the transaction
        finished (committed or rolled back) before the cancellation goes on."""
        started = time.perf_counter()
        async with self._write_lock:
            outcome = asyncio.ensure_future(_on_thread(self._writer, lambda c: _atomic(c, fn)))
            cancelled = await _to_completion(outcome)
            DB_WRITE_SECONDS.observe(time.perf_counter() - started)
        if cancelled:
            raise asyncio.CancelledError
        return outcome.result()

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read-only connection; reads in one `async with` share one consistent snapshot
        only inside an explicit BEGIN (single statements are each consistent on their own)."""
        connection = await self._readers.get()
        try:
            yield connection
        finally:
            self._readers.put_nowait(connection)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self.reader() as connection, connection.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self.reader() as connection, connection.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def fetchall_in(
        self, sql: str, values: Sequence[Any], suffix: str = ""
    ) -> list[sqlite3.Row]:
        """Rows of `{sql} IN (?, ?, …){suffix}` with one placeholder per value (`sql` ends
        with the column compared); none, without a query, for no values."""
        if not values:
            return []
        marks = ", ".join("?" * len(values))
        return await self.fetchall(f"{sql} IN ({marks}){suffix}", tuple(values))

    async def integrity_check(self) -> list[str]:
        """Problems `PRAGMA integrity_check` reports; empty when the file is sound."""
        rows = await self.fetchall("PRAGMA integrity_check")
        problems = [str(row[0]) for row in rows]
        return [] if problems == ["ok"] else problems


async def _on_thread(connection: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """`fn(sqlite3 connection)` on `connection`'s thread. (`_execute` is aiosqlite's own queue
    entry; the version range in pyproject.toml pins it.)"""
    result: T = await connection._execute(fn, connection._conn)  # type: ignore[no-untyped-call]
    return result


def _atomic(connection: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = fn(connection)
        connection.execute("COMMIT")
    except BaseException:
        _roll_back(connection)
        raise
    return result


def _roll_back(connection: sqlite3.Connection) -> None:
    """ROLLBACK unless SQLite ended the transaction itself (a failed COMMIT may have)."""
    if connection.in_transaction:
        connection.execute("ROLLBACK")


async def _to_completion(statement: Awaitable[Any]) -> bool:
    """Await `statement` to its end through cancellations; True if the awaiting task was
    cancelled meanwhile (the caller re-raises once the connection is in a clean state).
    The statement's own error is raised."""
    future = asyncio.ensure_future(statement)
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                raise
            cancelled = True
    future.result()
    return cancelled


async def _connect(database: str, *, uri: bool) -> aiosqlite.Connection:
    # isolation_level=None: transactions are ours (BEGIN IMMEDIATE), never implicit.
    connection = await aiosqlite.connect(database, uri=uri, isolation_level=None)
    connection.row_factory = sqlite3.Row
    return connection

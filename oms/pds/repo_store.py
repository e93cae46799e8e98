"""SQL of the repositories: roots, blocks, the record index. Private to `oms.pds`.

`BlockReader` reads committed blocks synchronously (for the MST library, in a worker
thread) through its own read-only connection.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from atmst.blockstore import BlockStore

from oms.db.database import Database, Transaction
from oms.pds.dagcbor import CID, cid_from_bytes, cid_to_str

__all__ = [
    "BlockReader",
    "CommitChange",
    "RepoBlocks",
    "Root",
    "fetch_root",
    "insert_blocks",
    "upsert_root",
    "write_commit",
]


_INSERT_BLOCK = "INSERT OR IGNORE INTO repo_blocks (did, cid, rev, bytes) VALUES (?, ?, ?, ?)"
_DELETE_BLOCK = "DELETE FROM repo_blocks WHERE did = ? AND cid = ?"
_UPSERT_ROOT = (
    "INSERT INTO repo_roots (did, commit_cid, rev, data_cid, updated_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (did) DO UPDATE SET commit_cid = excluded.commit_cid, rev = excluded.rev,"
    " data_cid = excluded.data_cid, updated_at = excluded.updated_at"
)
_UPSERT_RECORD = (
    "INSERT INTO records (did, collection, rkey, cid, rev, created_at) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (did, collection, rkey) DO UPDATE SET cid = excluded.cid, rev = excluded.rev"
)
_DELETE_RECORD = "DELETE FROM records WHERE did = ? AND collection = ? AND rkey = ?"


class Root:
    __slots__ = ("commit_cid", "data_cid", "did", "rev")

    def __init__(self, did: str, commit_cid: str, rev: str, data_cid: str) -> None:
        self.did = did
        self.commit_cid = commit_cid
        self.rev = rev
        self.data_cid = data_cid


async def fetch_root(db: Database | Transaction, did: str) -> Root | None:
    row = await db.fetchone(
        "SELECT did, commit_cid, rev, data_cid FROM repo_roots WHERE did = ?", (did,)
    )
    return None if row is None else Root(row[0], row[1], row[2], row[3])


async def upsert_root(tx: Transaction, root: Root, now_ms: int) -> None:
    await tx.execute(_UPSERT_ROOT, (root.did, root.commit_cid, root.rev, root.data_cid, now_ms))


async def insert_blocks(tx: Transaction, did: str, rev: str, blocks: dict[CID, bytes]) -> None:
    await tx.executemany(
        _INSERT_BLOCK, [(did, cid_to_str(cid), rev, data) for cid, data in blocks.items()]
    )


@dataclass(frozen=True)
class CommitChange:
    """The rows one commit writes: new and dropped blocks, records (cid None: deleted), root."""

    did: str
    rev: str
    new_blocks: dict[CID, bytes]
    removed_blocks: set[str]
    records: list[tuple[str, str, str | None]]
    root: Root
    now: int


def write_commit(connection: sqlite3.Connection, change: CommitChange) -> None:
    """All of a commit's rows, on the writer's thread (see `Transaction.run`)."""
    did = change.did
    connection.executemany(
        _INSERT_BLOCK,
        [(did, cid_to_str(cid), change.rev, data) for cid, data in change.new_blocks.items()],
    )
    connection.executemany(_DELETE_BLOCK, [(did, cid) for cid in change.removed_blocks])
    for collection, rkey, cid in change.records:
        if cid is None:
            connection.execute(_DELETE_RECORD, (did, collection, rkey))
        else:
            connection.execute(_UPSERT_RECORD, (did, collection, rkey, cid, change.rev, change.now))
    root = change.root
    connection.execute(
        _UPSERT_ROOT, (root.did, root.commit_cid, root.rev, root.data_cid, change.now)
    )


class BlockReader:
    """A private read-only connection for synchronous block reads from worker threads."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
        self._connection.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.Lock()

    def get(self, did: str, cid: str) -> bytes | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT bytes FROM repo_blocks WHERE did = ? AND cid = ?", (did, cid)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class RepoBlocks(BlockStore):  # type: ignore[misc]
    """One repository's blocks for the MST library: this write's new blocks over committed ones."""

    def __init__(self, reader: BlockReader, did: str) -> None:
        self.reader = reader
        self.did = did
        self.pending: dict[bytes, bytes] = {}

    def put_block(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def get_block(self, key: bytes) -> bytes:
        value = self.pending.get(key)
        if value is None:
            value = self.reader.get(self.did, cid_to_str(cid_from_bytes(key)))
        if value is None:
            raise KeyError(f"block {cid_to_str(cid_from_bytes(key))} of {self.did} is missing")
        return value

    def del_block(self, key: bytes) -> None:
        self.pending.pop(key, None)

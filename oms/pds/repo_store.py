"""SQL of the repositories: roots, blocks, the record index. Private to `oms.pds`.

`BlockReader` reads committed blocks synchronously (for the MST library, in a worker
thread) through its own read-only connection.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from atmst.blockstore import BlockStore

from oms.db.database import Database, Transaction
from oms.pds.dagcbor import CID, cid_from_bytes, cid_to_str

__all__ = [
    "BlockReader",
    "RepoBlocks",
    "Root",
    "delete_blocks",
    "fetch_root",
    "insert_blocks",
    "upsert_root",
]


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
    await tx.execute(
        "INSERT INTO repo_roots (did, commit_cid, rev, data_cid, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (did) DO UPDATE SET commit_cid = excluded.commit_cid, rev = excluded.rev,"
        " data_cid = excluded.data_cid, updated_at = excluded.updated_at",
        (root.did, root.commit_cid, root.rev, root.data_cid, now_ms),
    )


async def insert_blocks(tx: Transaction, did: str, rev: str, blocks: dict[CID, bytes]) -> None:
    await tx.executemany(
        "INSERT OR IGNORE INTO repo_blocks (did, cid, rev, bytes) VALUES (?, ?, ?, ?)",
        [(did, cid_to_str(cid), rev, data) for cid, data in blocks.items()],
    )


async def delete_blocks(tx: Transaction, did: str, cids: set[str]) -> None:
    await tx.executemany(
        "DELETE FROM repo_blocks WHERE did = ? AND cid = ?", [(did, cid) for cid in cids]
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

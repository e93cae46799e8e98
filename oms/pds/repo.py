"""Signed repositories: one write is one transaction — validate, MST, signed commit, blocks,
record index, sequenced firehose event — and the reads the sync and repo methods need.

The MST work (atmst) and signing run in a worker thread while the writer lock is held, so a
repository's root only ever moves from one committed state to the next.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from atmst.blockstore import BlockStore
from atmst.mst.diff import mst_diff
from atmst.mst.node import MSTNode
from atmst.mst.node_store import NodeStore
from atmst.mst.node_walker import NodeWalker
from atmst.mst.node_wrangler import NodeWrangler
from atmst.mst.proof import find_rpath_and_build_proof

from oms.db.database import Database, Transaction
from oms.errors import Conflict, InvalidRequest, NotFound
from oms.pds import repo_store
from oms.pds.blobs import reference_blobs, release_account_blobs, release_blobs
from oms.pds.car import car_header, car_section, encode_car
from oms.pds.commit import Commit, sign_commit
from oms.pds.dagcbor import (
    CID,
    DataModel,
    JsonValue,
    cid_for,
    cid_from_str,
    cid_to_str,
    decode,
    encode,
    from_json,
    to_json,
)
from oms.pds.keystore import KeyStore
from oms.pds.lexicons import Lexicons
from oms.pds.sequencer import (
    EventSequenced,
    insert_event,
    now_iso,
    sequence_commit,
    sequence_sync,
)
from oms.pds.syntax import is_valid_nsid, is_valid_record_key
from oms.pds.tid import TidClock, next_tid

__all__ = [
    "MAX_RECORD_BYTES",
    "MAX_WRITES",
    "CommitResult",
    "Record",
    "Repos",
    "Write",
    "WriteResult",
    "delete_repository",
    "ensure_repos",
    "init_repo",
    "sequence_current_state",
]

MAX_WRITES = 200
MAX_RECORD_BYTES = 1024 * 1024
# The sync spec's limit on a #commit event's block slice.
MAX_COMMIT_BLOCKS_BYTES = 2_000_000

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class Write:
    """One operation of a write. `swap_record` (a CID string, or None for "must not exist")
    applies only when `check_swap` is set."""

    action: Action
    collection: str
    rkey: str
    value: dict[str, JsonValue] | None = None
    check_swap: bool = False
    swap_record: str | None = None


@dataclass(frozen=True)
class WriteResult:
    action: Action
    uri: str
    cid: str | None
    validation_status: str | None


@dataclass(frozen=True)
class CommitResult:
    did: str
    cid: str
    rev: str
    results: list[WriteResult]
    seq: int


@dataclass(frozen=True)
class Record:
    uri: str
    cid: str
    value: JsonValue


@dataclass
class _Prepared:
    write: Write
    path: str
    cid: CID | None = None
    block: bytes | None = None
    validation_status: str | None = None
    blobs: list[str] = field(default_factory=list)


@dataclass
class _Computed:
    commit: Commit
    new_blocks: dict[CID, bytes]
    removed_nodes: set[str]
    ops: list[dict[str, DataModel]]
    event_blocks: bytes
    previous: dict[str, CID | None] = field(default_factory=dict)


def _uri(did: str, path: str) -> str:
    return f"at://{did}/{path}"


class Repos:
    """The node's repositories: created with accounts, written only through `apply_writes`."""

    def __init__(self, db: Database, keys: KeyStore, lexicons: Lexicons) -> None:
        self.db = db
        self.keys = keys
        self.lexicons = lexicons
        self._reader = repo_store.BlockReader(db.path)
        self._clock = TidClock()
        self._stores: dict[str, tuple[repo_store.RepoBlocks, NodeStore]] = {}

    def close(self) -> None:
        self._reader.close()

    def _node_store(self, did: str) -> tuple[repo_store.RepoBlocks, NodeStore]:
        # A NodeStore per repository keeps its LRU of decoded MST nodes across writes; nodes
        # are content-addressed, so a cached node is never stale.
        found = self._stores.get(did)
        if found is None:
            if len(self._stores) > 256:
                self._stores.pop(next(iter(self._stores)))
            blocks = repo_store.RepoBlocks(self._reader, did)
            found = (blocks, NodeStore(blocks))
            self._stores[did] = found
        return found

    def _next_rev(self, previous: str | None) -> str:
        if previous is not None:
            self._clock.advance_past(previous)
        return self._clock.next()

    # --- writing ------------------------------------------------------------------------

    def _prepare(self, did: str, write: Write, validate: bool | None) -> _Prepared:
        if not is_valid_nsid(write.collection):
            raise InvalidRequest(f"collection {write.collection!r} is not a valid NSID")
        if not is_valid_record_key(write.rkey):
            raise InvalidRequest(f"record key {write.rkey!r} is not valid")
        prepared = _Prepared(write, f"{write.collection}/{write.rkey}")
        if write.action == "delete":
            return prepared
        value = dict(write.value or {})
        declared = value.setdefault("$type", write.collection)
        if declared != write.collection:
            raise InvalidRequest(
                f"record $type {declared!r} does not match collection {write.collection!r}"
            )
        known = self.lexicons.has(write.collection)
        if validate is True and not known:
            raise InvalidRequest(f"no lexicon for {write.collection}; send validate=false")
        if known and validate is not False:
            self.lexicons.validate_record_key(write.collection, write.rkey)
            self.lexicons.validate_record(write.collection, value)
            prepared.validation_status = "valid"
        else:
            prepared.validation_status = "unknown"
        block = encode(from_json(value))
        if len(block) > MAX_RECORD_BYTES:
            raise InvalidRequest(
                f"record {prepared.path} is {len(block)} bytes; the limit is {MAX_RECORD_BYTES}",
                name="RecordTooLarge",
            )
        prepared.block = block
        prepared.cid = cid_for(block)
        prepared.blobs = sorted(set(_blob_links(value)))
        return prepared

    async def apply_writes(
        self,
        did: str,
        writes: list[Write],
        *,
        validate: bool | None = None,
        swap_commit: str | None = None,
    ) -> CommitResult:
        if not writes:
            raise InvalidRequest("a write needs at least one operation")
        if len(writes) > MAX_WRITES:
            raise InvalidRequest(f"{len(writes)} writes in one commit; the limit is {MAX_WRITES}")
        prepared = [self._prepare(did, w, validate) for w in writes]
        paths = [p.path for p in prepared]
        if len(set(paths)) != len(paths):
            raise InvalidRequest("a commit may touch each record only once")
        key = self.keys.account_key(did)
        async with self.db.transaction() as tx:
            root = await repo_store.fetch_root(tx, did)
            if root is None:
                raise NotFound(f"no repository for {did}", name="RepoNotFound")
            if swap_commit is not None and swap_commit != root.commit_cid:
                raise Conflict(
                    f"the repository is at {root.commit_cid}, not {swap_commit}", name="InvalidSwap"
                )
            blocks, nodes = self._node_store(did)
            blocks.pending.clear()
            rev = self._next_rev(root.rev)
            try:
                computed = await asyncio.to_thread(
                    self._compute, did, key, root, rev, prepared, blocks, nodes
                )
            finally:
                blocks.pending.clear()
            await _update_blob_references(tx, did, prepared, computed.previous)
            change = repo_store.CommitChange(
                did=did,
                rev=rev,
                new_blocks=computed.new_blocks,
                removed_blocks=computed.removed_nodes,
                records=[
                    (p.write.collection, p.write.rkey, cid_to_str(p.cid) if p.cid else None)
                    for p in prepared
                ],
                root=repo_store.Root(
                    did, cid_to_str(computed.commit.cid), rev, cid_to_str(computed.commit.data)
                ),
                now=int(time.time() * 1000),
            )
            event = _commit_event(
                did,
                computed.commit,
                root.rev,
                cid_from_str(root.data_cid),
                computed.ops,
                computed.event_blocks,
            )

            def write(connection: sqlite3.Connection) -> int:
                repo_store.write_commit(connection, change)
                return insert_event(connection, did, "commit", event)

            # One hop to the writer thread for all of the commit's rows.
            seq = await tx.run(write)
            tx.publish(EventSequenced(seq, did, "commit"))
        results = [
            WriteResult(
                p.write.action,
                _uri(did, p.path),
                cid_to_str(p.cid) if p.cid is not None else None,
                p.validation_status,
            )
            for p in prepared
        ]
        return CommitResult(did, cid_to_str(computed.commit.cid), rev, results, seq)

    def _compute(
        self,
        did: str,
        key: object,
        root: repo_store.Root,
        rev: str,
        prepared: list[_Prepared],
        blocks: repo_store.RepoBlocks,
        nodes: NodeStore,
    ) -> _Computed:
        """MST changes, the signed commit and the event's block slice (runs in a thread)."""
        old_data = cid_from_str(root.data_cid)
        data = old_data
        previous: dict[str, CID | None] = {}
        for p in prepared:
            previous[p.path] = NodeWalker(nodes, old_data).find_rpath(p.path)
            _check_write(did, p, previous[p.path])
        wrangler = NodeWrangler(nodes)
        ops: list[dict[str, DataModel]] = []
        for p in prepared:
            prior = previous[p.path]
            if p.write.action == "delete":
                if prior is None:
                    continue
                data = wrangler.del_record(data, p.path)
                ops.append({"action": "delete", "path": p.path, "cid": None, "prev": prior})
            else:
                assert p.cid is not None
                data = wrangler.put_record(data, p.path, p.cid)
                op: dict[str, DataModel] = {
                    "action": "create" if prior is None else "update",
                    "path": p.path,
                    "cid": p.cid,
                }
                if prior is not None:
                    op["prev"] = prior
                ops.append(op)
        if not ops:
            raise InvalidRequest("nothing to change: every record to delete is already absent")
        new_data = data
        created, deleted = mst_diff(nodes, old_data, new_data)
        commit = sign_commit(key, did, new_data, rev)  # type: ignore[arg-type]
        new_blocks: dict[CID, bytes] = {cid: nodes.get_node(cid).serialised for cid in created}
        for p in prepared:
            if p.cid is not None and p.block is not None:
                new_blocks[p.cid] = p.block
        new_blocks[commit.cid] = commit.block
        inversion = self._inversion_blocks(nodes, new_data, old_data, ops)
        event_blocks = dict(new_blocks)
        for cid in inversion:
            if cid not in event_blocks:
                event_blocks[cid] = nodes.get_node(cid).serialised
        car = encode_car(commit.cid, event_blocks.items())
        if len(car) > MAX_COMMIT_BLOCKS_BYTES:
            raise InvalidRequest(
                f"this commit's blocks come to {len(car)} bytes; the limit is "
                f"{MAX_COMMIT_BLOCKS_BYTES}: split it into smaller writes"
            )
        removed = {cid_to_str(c) for c in deleted}
        removed |= {cid_to_str(c) for c in previous.values() if c is not None}
        removed.add(root.commit_cid)
        # A record block still used by another path (identical records) must stay.
        still_used = {cid_to_str(p.cid) for p in prepared if p.cid is not None}
        removed -= still_used
        return _Computed(commit, new_blocks, removed, ops, car, previous)

    @staticmethod
    def _inversion_blocks(
        nodes: NodeStore, new_data: CID, old_data: CID, ops: list[dict[str, DataModel]]
    ) -> set[CID]:
        """The existing MST nodes a consumer needs to invert the ops (sync 1.1): the nodes
        read while undoing them on the new tree, which must lead back to the old root."""
        recorder = _RecordingNodes(nodes)
        wrangler = NodeWrangler(recorder)
        data = new_data
        for op in reversed(ops):
            path = op["path"]
            assert isinstance(path, str)
            prev = op.get("prev")
            if op["action"] == "create":
                data = wrangler.del_record(data, path)
            else:
                assert isinstance(prev, CID)
                data = wrangler.put_record(data, path, prev)
        if data != old_data:
            raise RuntimeError("MST inversion did not lead back to the previous root")
        return recorder.read

    # --- reading ------------------------------------------------------------------------

    async def root(self, did: str) -> repo_store.Root:
        root = await repo_store.fetch_root(self.db, did)
        if root is None:
            raise NotFound(f"could not find repo for DID: {did}", name="RepoNotFound")
        return root

    async def get_record(
        self, did: str, collection: str, rkey: str, cid: str | None = None
    ) -> Record:
        row = await self.db.fetchone(
            "SELECT r.cid, b.bytes FROM records r JOIN repo_blocks b"
            " ON b.did = r.did AND b.cid = r.cid"
            " WHERE r.did = ? AND r.collection = ? AND r.rkey = ?",
            (did, collection, rkey),
        )
        if row is None or (cid is not None and row[0] != cid):
            raise NotFound(
                f"could not locate record: at://{did}/{collection}/{rkey}", name="RecordNotFound"
            )
        return Record(_uri(did, f"{collection}/{rkey}"), row[0], to_json(decode(row[1])))

    async def list_records(
        self, did: str, collection: str, *, limit: int, cursor: str | None, reverse: bool
    ) -> tuple[list[Record], str | None]:
        # Newest first by default (rkeys are mostly TIDs); `reverse` lists oldest first.
        query = _LIST_OLDEST_FIRST if reverse else _LIST_NEWEST_FIRST
        rows = await self.db.fetchall(query, (did, collection, cursor, limit))
        records = [
            Record(_uri(did, f"{collection}/{row[0]}"), row[1], to_json(decode(row[2])))
            for row in rows
        ]
        next_cursor = rows[-1][0] if len(rows) == limit else None
        return records, next_cursor

    async def collections(self, did: str) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT DISTINCT collection FROM records WHERE did = ? ORDER BY collection", (did,)
        )
        return [row[0] for row in rows]

    async def export_car(self, did: str, since: str | None = None) -> AsyncIterator[bytes]:
        """The repository as a CAR stream (all blocks, or those added after revision `since`)."""
        root = await self.root(did)
        yield car_header(cid_from_str(root.commit_cid))
        last = ""
        while True:
            rows = await self.db.fetchall(
                "SELECT cid, bytes FROM repo_blocks WHERE did = ?1 AND cid > ?2"
                " AND (?3 IS NULL OR rev > ?3) ORDER BY cid LIMIT 500",
                (did, last, since),
            )
            if not rows:
                return
            yield b"".join(car_section(cid_from_str(row[0]), bytes(row[1])) for row in rows)
            last = rows[-1][0]

    async def record_proof_car(self, did: str, collection: str, rkey: str) -> bytes:
        """Commit, MST path and (if present) the record: proof of inclusion or exclusion."""
        root = await self.root(did)
        blocks, nodes = self._node_store(did)
        path = f"{collection}/{rkey}"
        value, proof = await asyncio.to_thread(
            find_rpath_and_build_proof, nodes, cid_from_str(root.data_cid), path
        )
        wanted: list[CID] = [cid_from_str(root.commit_cid), *proof]
        if value is not None:
            wanted.append(value)
        found = await asyncio.to_thread(lambda: [(c, blocks.get_block(bytes(c))) for c in wanted])
        return encode_car(cid_from_str(root.commit_cid), found)

    async def blocks_car(self, did: str, cids: Iterable[str]) -> bytes:
        await self.root(did)
        found: list[tuple[CID, bytes]] = []
        missing = []
        for cid in cids:
            data = await self.db.fetchval(
                "SELECT bytes FROM repo_blocks WHERE did = ? AND cid = ?", (did, cid)
            )
            if data is None:
                missing.append(cid)
            else:
                found.append((cid_from_str(cid), bytes(data)))
        if missing:
            raise NotFound(f"blocks not found: {', '.join(missing[:5])}", name="BlockNotFound")
        return encode_car(None, found)


_LIST = (
    "SELECT r.rkey, r.cid, b.bytes FROM records r JOIN repo_blocks b"
    " ON b.did = r.did AND b.cid = r.cid WHERE r.did = ?1 AND r.collection = ?2"
)
_LIST_NEWEST_FIRST = _LIST + " AND (?3 IS NULL OR r.rkey < ?3) ORDER BY r.rkey DESC LIMIT ?4"
_LIST_OLDEST_FIRST = _LIST + " AND (?3 IS NULL OR r.rkey > ?3) ORDER BY r.rkey ASC LIMIT ?4"


async def init_repo(tx: Transaction, keys: KeyStore, did: str) -> Commit:
    """The empty, signed repository of a new account, in the caller's transaction."""
    key = keys.account_key(did)
    empty = MSTNode.empty_root()
    commit = await asyncio.to_thread(sign_commit, key, did, empty.cid, next_tid())
    blocks = {empty.cid: empty.serialised, commit.cid: commit.block}
    await repo_store.insert_blocks(tx, did, commit.rev, blocks)
    await repo_store.upsert_root(
        tx,
        repo_store.Root(did, cid_to_str(commit.cid), commit.rev, cid_to_str(empty.cid)),
        int(time.time() * 1000),
    )
    car = encode_car(commit.cid, blocks.items())
    await sequence_commit(tx, did, _commit_event(did, commit, None, empty.cid, [], car))
    return commit


async def ensure_repos(db: Database, keys: KeyStore) -> int:
    """Create the repositories of accounts that have none (made before repositories existed)."""
    rows = await db.fetchall(
        "SELECT a.did FROM accounts a LEFT JOIN repo_roots r ON r.did = a.did WHERE r.did IS NULL"
    )
    for row in rows:
        async with db.transaction() as tx:
            await init_repo(tx, keys, row[0])
    return len(rows)


async def delete_repository(tx: Transaction, did: str) -> None:
    """Remove a deleted account's repository: blocks, record index, root, blob references.
    (Its `#account` event with status `deleted` tells peers to drop their copies.)"""
    for table in ("repo_blocks", "records", "repo_roots"):
        await tx.execute(f"DELETE FROM {table} WHERE did = ?", (did,))  # noqa: S608 - fixed names
    await release_account_blobs(tx, did)


async def sequence_current_state(tx: Transaction, did: str) -> None:
    """A `#sync` event carrying the repository's current commit: peers that dropped the
    repository while it was inactive resynchronise from it."""
    root = await repo_store.fetch_root(tx, did)
    if root is None:
        return
    commit_cid = cid_from_str(root.commit_cid)
    block = await tx.fetchone(
        "SELECT bytes FROM repo_blocks WHERE did = ? AND cid = ?", (did, root.commit_cid)
    )
    assert block is not None
    await sequence_sync(
        tx,
        did,
        {
            "did": did,
            "rev": root.rev,
            "blocks": encode_car(commit_cid, [(commit_cid, bytes(block[0]))]),
            "time": now_iso(),
        },
    )


def _commit_event(
    did: str,
    commit: Commit,
    since: str | None,
    prev_data: CID,
    ops: list[dict[str, DataModel]],
    car: bytes,
) -> dict[str, DataModel]:
    return {
        "rebase": False,
        "tooBig": False,
        "repo": did,
        "commit": commit.cid,
        "rev": commit.rev,
        "since": since,
        "blocks": car,
        "ops": ops,  # type: ignore[dict-item]
        "blobs": [],
        "prevData": prev_data,
        "time": now_iso(),
    }


async def _update_blob_references(
    tx: Transaction, did: str, prepared: list[_Prepared], previous: dict[str, CID | None]
) -> None:
    """Records let go of the blobs they linked and take the ones they link now; a record may
    only link blobs its author uploaded, else the write rolls back (BlobNotFound)."""
    for p in prepared:
        collection, rkey = p.write.collection, p.write.rkey
        if previous.get(p.path) is not None:
            await release_blobs(tx, did, collection, rkey)
        if p.blobs:
            await reference_blobs(tx, did, collection, rkey, p.blobs)


def _blob_links(value: object) -> Iterator[str]:
    """The CIDs of the blobs a record links (`{"$type": "blob", "ref": {"$link": cid}}`)."""
    if isinstance(value, dict):
        ref = value.get("ref")
        if value.get("$type") == "blob" and isinstance(ref, dict) and "$link" in ref:
            yield str(ref["$link"])
            return
        for item in value.values():
            yield from _blob_links(item)
    elif isinstance(value, list):
        for item in value:
            yield from _blob_links(item)


def _check_write(did: str, p: _Prepared, prior: CID | None) -> None:
    w = p.write
    uri = _uri(did, p.path)
    if w.check_swap and (cid_to_str(prior) if prior else None) != w.swap_record:
        raise Conflict(
            f"{uri} is at {cid_to_str(prior) if prior else 'nothing'}, not "
            f"{w.swap_record or 'nothing'}",
            name="InvalidSwap",
        )
    if w.action == "create" and prior is not None:
        raise InvalidRequest(f"{uri} already exists", name="RecordAlreadyExists")


class _Scratch(BlockStore):  # type: ignore[misc]
    """Reads a repository's blocks; keeps what is written to itself (undo work is discarded)."""

    def __init__(self, under: BlockStore) -> None:
        self.under = under
        self.written: dict[bytes, bytes] = {}

    def put_block(self, key: bytes, value: bytes) -> None:
        self.written[key] = value

    def get_block(self, key: bytes) -> bytes:
        value = self.written.get(key)
        return self.under.get_block(key) if value is None else value

    def del_block(self, key: bytes) -> None:
        self.written.pop(key, None)


class _RecordingNodes(NodeStore):  # type: ignore[misc]
    """A repository's nodes, sharing its cache of decoded nodes, that remembers which
    existing nodes were read; the nodes it creates go to a scratch store."""

    def __init__(self, nodes: NodeStore) -> None:
        super().__init__(_Scratch(nodes.bs))
        self.cache = nodes.cache
        self.created: set[CID] = set()
        self.read: set[CID] = set()

    def get_node(self, cid: CID | None) -> MSTNode:
        if cid is not None and cid not in self.created:
            self.read.add(cid)
        return super().get_node(cid)

    def stored_node(self, node: MSTNode) -> MSTNode:
        self.created.add(node.cid)
        return super().stored_node(node)

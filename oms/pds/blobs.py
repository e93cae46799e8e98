"""The blob store: uploaded files kept once per CID under `<data>/blobs/`, owned per account,
referenced by records, and collected once nothing needs them.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import hashlib
import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

from oms.db.database import Database, Transaction
from oms.errors import InvalidRequest, NotFound, PayloadTooLarge
from oms.pds.dagcbor import CID, Codec, cid_from_bytes, cid_from_str, cid_to_str, to_json

__all__ = [
    "DEFAULT_TEMP_GRACE_MS",
    "OCTET_STREAM",
    "BlobPage",
    "BlobRef",
    "StoredBlob",
    "blob_path",
    "collect_garbage",
    "list_blobs",
    "missing_blobs",
    "open_blob",
    "owned_blobs",
    "reference_blobs",
    "release_account_blobs",
    "release_blobs",
    "remove_account_blobs",
    "served_mime_type",
    "store_upload",
]

log = logging.getLogger(__name__)

OCTET_STREAM = "application/octet-stream"
# An upload no record referenced within this long is discarded.
DEFAULT_TEMP_GRACE_MS = 3_600_000

# Uploads are written here first: inside blobs/ so the final rename stays on one filesystem.
# The fan-out folders are two base32 characters, so the name cannot collide with one.
_TMP = "tmp"
# Every raw sha2-256 CID starts `bafkrei` plus a character that still holds fixed header bits;
# characters 8 and 9 are pure digest, so they spread files evenly over 1,024 folders.
_FANOUT = slice(8, 10)
# Chunks are gathered to about this much before one write (and hash) in a worker thread.
_FLUSH_BYTES = 1024 * 1024
# Enough of the file's start for every signature below.
_SNIFF_BYTES = 16
_SHA2_256 = 0x12
# SQLite's default limit on host parameters is far higher; this keeps statements small.
_BATCH = 500


@dataclass(frozen=True)
class BlobRef:
    """What an upload returns and a record embeds: the blob's CID, MIME type and size."""

    cid: CID
    mime_type: str
    size: int

    @property
    def link(self) -> str:
        return cid_to_str(self.cid)

    def to_json(self) -> dict[str, object]:
        """The data-model JSON form (`{"$type": "blob", "ref": {"$link": …}, …}`)."""
        return {
            "$type": "blob",
            "ref": to_json(self.cid),
            "mimeType": self.mime_type,
            "size": self.size,
        }


class StoredBlob(NamedTuple):
    path: Path
    mime_type: str
    size: int


@dataclass(frozen=True)
class BlobPage:
    cids: list[str]
    cursor: str | None


# --- what the bytes are --------------------------------------------------------------------


def _is_id3(head: bytes) -> bool:
    return head.startswith(b"ID3")


def _is_mpeg_frame(head: bytes) -> bool:
    # 11 sync bits, then version, then a layer that is not the reserved 00 (that one is ADTS).
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0


def _is_adts(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


def _is_riff(head: bytes, form: bytes) -> bool:
    return head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == form


_SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "audio/flac": lambda h: h.startswith(b"fLaC"),
    "audio/wav": lambda h: _is_riff(h, b"WAVE"),
    "audio/ogg": lambda h: h.startswith(b"OggS"),
    "audio/webm": lambda h: h.startswith(b"\x1a\x45\xdf\xa3"),
    "audio/mp4": lambda h: h[4:8] == b"ftyp",
    "audio/aiff": lambda h: h.startswith(b"FORM") and h[8:12] in (b"AIFF", b"AIFC"),
    "audio/mpeg with an ID3 tag": _is_id3,
    "audio/mpeg": _is_mpeg_frame,
    "audio/aac (ADTS)": _is_adts,
    "image/jpeg": lambda h: h.startswith(b"\xff\xd8\xff"),
    "image/png": lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/webp": lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP",
    "image/gif": lambda h: h[:6] in (b"GIF87a", b"GIF89a"),
}

_MP3 = frozenset({"audio/mpeg with an ID3 tag", "audio/mpeg"})
_FLAC = frozenset({"audio/flac", "audio/mpeg with an ID3 tag"})
_WAV = frozenset({"audio/wav"})
_OGG = frozenset({"audio/ogg"})
_MP4 = frozenset({"audio/mp4"})
_AAC = frozenset({"audio/aac (ADTS)", "audio/mp4", "audio/mpeg with an ID3 tag"})
_AIFF = frozenset({"audio/aiff"})

# Declared type -> what its content may look like. Only these types are ever served as
# themselves; every other type is kept as declared but served as application/octet-stream.
_CHECKED: dict[str, frozenset[str]] = {
    "audio/mpeg": _MP3,
    "audio/mp3": _MP3,
    "audio/flac": _FLAC,
    "audio/x-flac": _FLAC,
    "audio/wav": _WAV,
    "audio/x-wav": _WAV,
    "audio/wave": _WAV,
    "audio/vnd.wave": _WAV,
    "audio/ogg": _OGG,
    "audio/opus": _OGG,
    "audio/vorbis": _OGG,
    "audio/webm": frozenset({"audio/webm"}),
    "audio/mp4": _MP4,
    "audio/x-m4a": _MP4,
    "audio/m4a": _MP4,
    "audio/aac": _AAC,
    "audio/x-aac": _AAC,
    "audio/aacp": _AAC,
    "audio/aiff": _AIFF,
    "audio/x-aiff": _AIFF,
    "image/jpeg": frozenset({"image/jpeg"}),
    "image/png": frozenset({"image/png"}),
    "image/webp": frozenset({"image/webp"}),
    "image/gif": frozenset({"image/gif"}),
}

_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
# Types a browser would run or render as a document: nothing good comes of storing them under
# that name, since a record would carry the name to every client that shows the blob.
_ACTIVE = re.compile(
    r"(text|application)/(x?html|xhtml\+xml|xml|(x-)?javascript|ecmascript)|.+\+xml"
)


def _declared_type(raw: str) -> str | None:
    """The upload's declared type; None when the client declared none (no header, or `*/*`
    as the atproto SDK sends by default): the content then says what it is."""
    mime = raw.split(";", 1)[0].strip().lower()
    if not mime or mime == "*/*":
        return None
    if not _MIME.fullmatch(mime):
        raise InvalidRequest(f"{raw[:100]!r} is not a MIME type")
    if _ACTIVE.fullmatch(mime):
        raise InvalidRequest(
            f"{mime} is active web content, which this node does not store as such; "
            f"upload it as {OCTET_STREAM}"
        )
    return mime


def _looks_like(head: bytes) -> str:
    for name, matches in _SIGNATURES.items():
        if matches(head):
            return name
    try:
        # Not final: the sample may end inside a multi-byte character.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "unrecognised binary data"
    if text and all(c.isprintable() or c in "\t\r\n\f" for c in text):
        return "text"
    return "unrecognised binary data"


def _content_type(head: bytes) -> str:
    """The type an undeclared upload's first bytes show, or application/octet-stream."""
    for name, matches in _SIGNATURES.items():
        if matches(head):
            return name.split(" ", 1)[0]  # "audio/mpeg with an ID3 tag" -> "audio/mpeg"
    return OCTET_STREAM


def _settle_type(declared: str | None, head: bytes) -> str:
    """The type to store an upload under, once its first bytes are in: the declared one if
    the content agrees (InvalidRequest if it contradicts it), else what the content shows."""
    if declared is None:
        return _content_type(head)
    _check_content(declared, head)
    return declared


def _check_content(declared: str, head: bytes) -> None:
    accepted = _CHECKED.get(declared)
    if accepted is None or any(_SIGNATURES[name](head) for name in accepted):
        return
    raise InvalidRequest(
        f"the upload is declared {declared} but its content is {_looks_like(head)}"
    )


def served_mime_type(mime_type: str) -> str:
    """The Content-Type to serve a stored blob with: its own for the audio and image types
    whose content was checked at upload, `application/octet-stream` for everything else."""
    return mime_type if mime_type in _CHECKED else OCTET_STREAM


# --- files ---------------------------------------------------------------------------------


def _cid_text(cid: CID | str) -> str:
    # Parsing also proves the text is a CID, so it is safe to use in a path.
    return cid_to_str(cid if isinstance(cid, CID) else cid_from_str(cid))


def blob_path(blobs_dir: Path, cid: CID | str) -> Path:
    """Where the bytes of `cid` live (whether or not they are stored)."""
    text = _cid_text(cid)
    return blobs_dir / text[_FANOUT] / text


class _TempFile:
    """An upload being written and hashed in worker threads; removed unless placed."""

    def __init__(self, path: Path, handle: IO[bytes]) -> None:
        self.path = path
        self._handle = handle
        self._hash = hashlib.sha256()

    @classmethod
    def create(cls, folder: Path) -> _TempFile:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"upload-{secrets.token_hex(12)}.part"
        return cls(path, path.open("xb"))

    def write(self, chunks: list[bytes]) -> None:
        data = b"".join(chunks)
        self._hash.update(data)
        self._handle.write(data)

    def finish(self) -> bytes:
        """Flush to disk and close; the sha2-256 digest of everything written."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        return self._hash.digest()

    def discard(self) -> None:
        self._handle.close()
        self.path.unlink(missing_ok=True)


def _place(temp: Path, final: Path) -> bool:
    """Move a finished upload to its final name; True when no file was there before."""
    final.parent.mkdir(exist_ok=True)
    existed = final.exists()
    # Replacing an existing file is harmless (same bytes, same name) and heals a damaged one;
    # readers holding the old file open keep reading it.
    os.replace(temp, final)
    return not existed


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _sweep_temp(folder: Path, older_than_s: float) -> int:
    # Partial uploads left behind by a crash; a live upload touches its file as it writes.
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < older_than_s:
                    entry.unlink()
                    removed += 1
    return removed


# --- uploads -------------------------------------------------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


async def store_upload(
    db: Database,
    blobs_dir: Path,
    did: str,
    mime_type: str,
    chunks: AsyncIterator[bytes],
    max_bytes: int,
) -> BlobRef:
    """Stream an upload by `did` into the store and record it as a temporary blob.

    Refuses an empty upload, one over `max_bytes` (as soon as it passes the limit) and one
    whose content contradicts its declared audio or image type. The same bytes uploaded again
    give the same CID and share one file. A re-upload of a blob a record already references
    keeps the MIME type it was stored with.
    """
    declared = _declared_type(mime_type)
    stored: str | None = None
    temp = await asyncio.to_thread(_TempFile.create, blobs_dir / _TMP)
    try:
        size = 0
        head = b""
        pending: list[bytes] = []
        pending_bytes = 0
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"the upload is over the node's limit of {max_bytes} bytes",
                    name="BlobTooLarge",
                )
            if stored is None:
                head += chunk[: _SNIFF_BYTES - len(head)]
                if len(head) >= _SNIFF_BYTES:
                    stored = _settle_type(declared, head)
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes >= _FLUSH_BYTES:
                await asyncio.to_thread(temp.write, pending)
                pending, pending_bytes = [], 0
        if size == 0:
            raise InvalidRequest("the upload is empty")
        if stored is None:
            stored = _settle_type(declared, head)
        if pending:
            await asyncio.to_thread(temp.write, pending)
        digest = await asyncio.to_thread(temp.finish)
        cid = cid_from_bytes(bytes([1, Codec.RAW, _SHA2_256, len(digest)]) + digest)
        stored_type = await _record_upload(db, blobs_dir, temp.path, did, cid, stored, size)
    except BaseException:
        await asyncio.to_thread(temp.discard)
        raise
    return BlobRef(cid, stored_type, size)


async def _record_upload(
    db: Database, blobs_dir: Path, temp: Path, did: str, cid: CID, mime_type: str, size: int
) -> str:
    final = blob_path(blobs_dir, cid)
    now = _now_ms()
    # The file is placed under the writer lock, like collect_garbage's check-then-delete, so a
    # sweep can never delete a file between its placing here and its row's insert.
    async with db.transaction() as tx:
        created = await asyncio.to_thread(_place, temp, final)
        try:
            row = await tx.fetchone(
                "INSERT INTO blobs (did, cid, mime_type, size, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'temp', ?, ?)"
                " ON CONFLICT (did, cid) DO UPDATE SET"
                "  mime_type = iif(state = 'referenced', mime_type, excluded.mime_type),"
                "  state = iif(state = 'referenced', state, 'temp'),"
                "  updated_at = excluded.updated_at"
                " RETURNING mime_type",
                (did, cid_to_str(cid), mime_type, size, now, now),
            )
        except BaseException:
            if created:
                await asyncio.to_thread(_unlink, [final])
            raise
    await asyncio.to_thread(_fsync_dir, final.parent)
    assert row is not None
    stored: str = row["mime_type"]
    return stored


# --- references from records ---------------------------------------------------------------


def _distinct(cids: Iterable[CID | str]) -> list[str]:
    return list(dict.fromkeys(_cid_text(cid) for cid in cids))


def _marks(count: int) -> str:
    return ", ".join("?" * count)


async def missing_blobs(
    db_or_tx: Database | Transaction, did: str, cids: Iterable[CID | str]
) -> list[str]:
    """The CIDs among `cids` that `did` has not uploaded (or that were collected already)."""
    wanted = _distinct(cids)
    present: set[str] = set()
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        rows = await db_or_tx.fetchall(
            f"SELECT cid FROM blobs WHERE did = ? AND cid IN ({_marks(len(batch))})",  # noqa: S608
            (did, *batch),
        )
        present.update(row["cid"] for row in rows)
    return [cid for cid in wanted if cid not in present]


async def reference_blobs(
    tx: Transaction, did: str, collection: str, rkey: str, cids: Iterable[CID | str]
) -> None:
    """Record that the record `collection/rkey` of `did` references `cids`, which keeps them.

    Call it inside the write transaction that writes the record; for an update, call
    `release_blobs` first. Raises InvalidRequest (BlobNotFound) naming a CID that `did` has not
    uploaded, so the whole write rolls back.
    """
    wanted = _distinct(cids)
    if not wanted:
        return
    missing = await missing_blobs(tx, did, wanted)
    if missing:
        raise InvalidRequest(
            f"blob {missing[0]} was not uploaded by {did} (or was discarded unreferenced); "
            "upload it again with com.atproto.repo.uploadBlob",
            name="BlobNotFound",
        )
    now = _now_ms()
    await tx.executemany(
        "INSERT OR IGNORE INTO record_blobs (did, collection, rkey, cid) VALUES (?, ?, ?, ?)",
        [(did, collection, rkey, cid) for cid in wanted],
    )
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        await tx.execute(
            "UPDATE blobs SET state = 'referenced', updated_at = ?"  # noqa: S608
            f" WHERE did = ? AND state <> 'referenced' AND cid IN ({_marks(len(batch))})",
            (now, did, *batch),
        )


async def release_blobs(tx: Transaction, did: str, collection: str, rkey: str) -> list[str]:
    """Forget the references of record `collection/rkey` (deleted or about to be rewritten);
    returns the CIDs it referenced. Blobs no other record references are collected at the
    next sweep unless a record references them again before it."""
    rows = await tx.fetchall(
        "DELETE FROM record_blobs WHERE did = ? AND collection = ? AND rkey = ? RETURNING cid",
        (did, collection, rkey),
    )
    released = sorted({row["cid"] for row in rows})
    now = _now_ms()
    for start in range(0, len(released), _BATCH):
        batch = released[start : start + _BATCH]
        await tx.execute(
            "UPDATE blobs SET state = 'released', updated_at = ?"  # noqa: S608
            f" WHERE did = ? AND state = 'referenced' AND cid IN ({_marks(len(batch))})"
            " AND NOT EXISTS (SELECT 1 FROM record_blobs r"
            "  WHERE r.did = blobs.did AND r.cid = blobs.cid)",
            (now, did, *batch),
        )
    return released


async def release_account_blobs(tx: Transaction, did: str) -> None:
    """Drop every reference an account's records hold (the account is deleted); its blobs are
    collected at the next sweep, its unreferenced uploads after their grace."""
    await tx.execute("DELETE FROM record_blobs WHERE did = ?", (did,))
    await tx.execute(
        "UPDATE blobs SET state = 'released', updated_at = ?"
        " WHERE did = ? AND state = 'referenced'",
        (_now_ms(), did),
    )


# --- collection ----------------------------------------------------------------------------


async def collect_garbage(
    db: Database, blobs_dir: Path, now_ms: int, temp_grace_ms: int = DEFAULT_TEMP_GRACE_MS
) -> int:
    """Delete the blobs nobody needs: uploads no record referenced within `temp_grace_ms`, and
    blobs whose last referencing record went away. Returns how many (account, blob) rows went.

    A file goes only after its last row (any account's) is gone, and the check and the delete
    happen under the writer lock, so an upload of the same bytes racing the sweep keeps its file.
    """
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            "DELETE FROM blobs"
            " WHERE ((state = 'temp' AND updated_at <= ?) OR state = 'released')"
            " AND NOT EXISTS (SELECT 1 FROM record_blobs r"
            "  WHERE r.did = blobs.did AND r.cid = blobs.cid)"
            " RETURNING cid",
            (now_ms - temp_grace_ms,),
        )
    removed = len(rows)
    deleted_files = await _unlink_unheld(db, blobs_dir, {row["cid"] for row in rows})
    stale = await asyncio.to_thread(_sweep_temp, blobs_dir / _TMP, (now_ms - temp_grace_ms) / 1000)
    if removed or stale:
        log.info(
            "blob sweep removed %d blob rows, %d files and %d abandoned partial uploads",
            removed,
            deleted_files,
            stale,
        )
    return removed


# --- reading -------------------------------------------------------------------------------


async def open_blob(db: Database, blobs_dir: Path, did: str, cid: CID | str) -> StoredBlob:
    """Where blob `cid` of `did` is, and its MIME type and size; NotFound (BlobNotFound) if
    `did` holds no such blob. Blobs not yet referenced by a record are served too."""
    text = _cid_text(cid)
    row: sqlite3.Row | None = await db.fetchone(
        "SELECT mime_type, size FROM blobs WHERE did = ? AND cid = ?", (did, text)
    )
    path = blob_path(blobs_dir, text)
    if row is None:
        raise NotFound(f"{did} has no blob {text}", name="BlobNotFound")
    if not await asyncio.to_thread(path.is_file):
        log.error("blob %s of %s has a row but no file at %s", text, did, path)
        raise NotFound(f"{did} has no blob {text}", name="BlobNotFound")
    return StoredBlob(path, row["mime_type"], row["size"])


async def list_blobs(
    db: Database,
    did: str,
    since_rev: str | None = None,
    limit: int = 500,
    cursor: str | None = None,
) -> BlobPage:
    """A page of the CIDs `did`'s records reference, in CID order after `cursor`.

    `since_rev` keeps blobs referenced by a record written at a later revision (the record
    index's `rev`); a blob referenced by both an older and a newer record is listed.
    """
    sql = "SELECT cid FROM blobs WHERE did = ? AND state = 'referenced' AND cid > ?"
    params: list[object] = [did, cursor or ""]
    if since_rev:
        sql += (
            " AND EXISTS (SELECT 1 FROM record_blobs b JOIN records r"
            "  ON r.did = b.did AND r.collection = b.collection AND r.rkey = b.rkey"
            "  WHERE b.did = blobs.did AND b.cid = blobs.cid AND r.rev > ?)"
        )
        params.append(since_rev)
    sql += " ORDER BY cid LIMIT ?"
    params.append(limit)
    rows = await db.fetchall(sql, params)
    cids = [row["cid"] for row in rows]
    return BlobPage(cids, cids[-1] if len(cids) == limit else None)


# --- an account's own blobs (data rights) ---------------------------------------------------


async def owned_blobs(db: Database, blobs_dir: Path, did: str) -> list[tuple[str, StoredBlob]]:
    """Every blob `did` holds (referenced by its records or uploaded and not yet collected)
    whose file is present, by CID: what an export of the account carries."""
    rows = await db.fetchall(
        "SELECT cid, mime_type, size FROM blobs WHERE did = ? ORDER BY cid", (did,)
    )

    def present() -> list[tuple[str, StoredBlob]]:
        found = []
        for row in rows:
            path = blob_path(blobs_dir, row["cid"])
            if path.is_file():
                found.append((str(row["cid"]), StoredBlob(path, row["mime_type"], row["size"])))
            else:
                log.error("blob %s of %s has a row but no file at %s", row["cid"], did, path)
        return found

    return await asyncio.to_thread(present)


async def _unlink_unheld(db: Database, blobs_dir: Path, cids: set[str]) -> int:
    """Delete the files of `cids` that no account holds any more; how many went. Checked and
    deleted under the writer lock, so an upload of the same bytes by another account keeps
    its file."""
    candidates = sorted(cids)
    deleted = 0
    for start in range(0, len(candidates), _BATCH):
        batch = candidates[start : start + _BATCH]
        async with db.transaction() as tx:
            kept = await tx.fetchall(
                f"SELECT DISTINCT cid FROM blobs WHERE cid IN ({_marks(len(batch))})",  # noqa: S608
                batch,
            )
            still_held = {row["cid"] for row in kept}
            orphans = [blob_path(blobs_dir, cid) for cid in batch if cid not in still_held]
            await asyncio.to_thread(_unlink, orphans)
            deleted += len(orphans)
    return deleted


async def remove_account_blobs(db: Database, blobs_dir: Path, did: str) -> int:
    """Forget every blob of `did`, a deleted account, now rather than at the next sweep:
    referenced, released and unreferenced uploads alike. A file goes unless another account
    holds the same bytes. Returns how many blob rows went."""
    async with db.transaction() as tx:
        account = await tx.fetchone("SELECT status FROM accounts WHERE did = ?", (did,))
        if account is not None and account["status"] != "deleted":
            raise InvalidRequest(
                f"{did} is {account['status']}; only a deleted account's blobs are removed"
            )
        await tx.execute("DELETE FROM record_blobs WHERE did = ?", (did,))
        rows = await tx.fetchall("DELETE FROM blobs WHERE did = ? RETURNING cid", (did,))
    await _unlink_unheld(db, blobs_dir, {row["cid"] for row in rows})
    if rows:
        log.info("removed the %d blobs of deleted account %s", len(rows), did)
    return len(rows)

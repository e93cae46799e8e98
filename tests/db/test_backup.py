from __future__ import annotations

import asyncio
import sqlite3
import tarfile
from pathlib import Path

import pytest

from oms.db.backup import create_backup, restore_backup
from oms.db.database import Database
from oms.errors import InvalidRequest
from tests.conftest import back_up_while

pytestmark = pytest.mark.anyio


def _rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT key, value FROM node_state ORDER BY key").fetchall()


async def test_a_backup_taken_during_writes_restores_a_consistent_snapshot(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "blobs").mkdir()
    (data / "blobs" / "bafyblob").write_bytes(b"audio")
    (data / "keys").mkdir(mode=0o700)
    (data / "keys" / "node.pem").write_bytes(b"key")
    db = await Database.open(data / "oms.sqlite3")

    async def write(stop: asyncio.Event) -> None:
        # Each transaction writes a pair of rows; a consistent snapshot never has half a pair.
        n = 0
        while not stop.is_set():
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO node_state VALUES (?, 'a', 0)", (f"{n:06d}a",))
                await asyncio.sleep(0)
                await tx.execute("INSERT INTO node_state VALUES (?, 'b', 0)", (f"{n:06d}b",))
            n += 1

    archive = tmp_path / "backup.tar"
    await back_up_while(data, archive, write)
    live = _rows(data / "oms.sqlite3")
    await db.close()

    restored = tmp_path / "restored"
    restore_backup(archive, restored)
    rows = _rows(restored / "oms.sqlite3")
    assert 0 < len(rows) < len(live)
    assert len(rows) % 2 == 0
    assert rows == live[: len(rows)]
    assert (restored / "blobs" / "bafyblob").read_bytes() == b"audio"
    assert (restored / "keys" / "node.pem").stat().st_mode & 0o777 == 0o600
    assert (restored / "keys").stat().st_mode & 0o777 == 0o700
    check = await Database.open(restored / "oms.sqlite3")
    assert await check.integrity_check() == []
    await check.close()


async def test_restore_refuses_a_non_empty_directory_unless_forced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = await Database.open(data / "oms.sqlite3")
    await db.close()
    archive = tmp_path / "backup.tar"
    create_backup(data, archive)
    target = tmp_path / "target"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    with pytest.raises(InvalidRequest, match="is not empty"):
        restore_backup(archive, target)
    assert (target / "precious.txt").read_text() == "keep me"
    restore_backup(archive, target, force=True)
    assert (target / "oms.sqlite3").is_file()
    kept = list(tmp_path.glob("target.before-restore-*"))
    assert len(kept) == 1
    assert (kept[0] / "precious.txt").read_text() == "keep me"


async def test_restore_rejects_what_is_not_an_oms_backup(tmp_path: Path) -> None:
    not_tar = tmp_path / "notes.txt"
    not_tar.write_text("hello")
    with pytest.raises(InvalidRequest, match="not a readable tar archive"):
        restore_backup(not_tar, tmp_path / "a")
    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tar:
        tar.add(not_tar, arcname="notes.txt")
    with pytest.raises(InvalidRequest, match="is not an OMS backup"):
        restore_backup(other, tmp_path / "b")
    with pytest.raises(InvalidRequest, match="does not exist"):
        restore_backup(tmp_path / "missing.tar", tmp_path / "c")
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".oms-restore")] == []


async def test_backup_needs_a_database(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="no OMS database"):
        create_backup(tmp_path, tmp_path / "x.tar")

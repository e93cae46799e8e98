"""Backups of a data directory as one tar archive, consistent while the node serves writes.

The database is copied with SQLite's online backup API (a transaction-consistent snapshot);
the content-addressed folders are copied after it, so every file the snapshot refers to is
there (they are written before the rows that name them, and never changed in place). The
journal folder (writes acknowledged before they reach the database, moved in later) is copied
before the snapshot: each entry in the copy is then either in the snapshot, which records how
far its journal is moved, or replayed when the restored node starts.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path

from oms.errors import InvalidRequest

__all__ = ["DATABASE_FILE", "FILE_DIRS", "JOURNAL_DIR", "create_backup", "restore_backup"]

DATABASE_FILE = "oms.sqlite3"
FILE_DIRS = ("keys", "blobs", "hls")
JOURNAL_DIR = "journal"
_MANIFEST = "oms-backup.json"
_FORMAT = 1


def _snapshot_database(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        src.execute("PRAGMA busy_timeout=10000")
        dst = sqlite3.connect(target)
        try:
            # Whole-database steps: a snapshot of one moment, even with a writer active.
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def _copy_journal(source: Path, target: Path) -> None:
    if not source.is_dir():
        return
    target.mkdir()
    for entry in sorted(source.iterdir()):
        try:
            shutil.copyfile(entry, target / entry.name)
        except FileNotFoundError:
            continue  # deleted meanwhile: wholly moved into the database already


def create_backup(data_dir: Path, archive: Path) -> dict[str, object]:
    """Write `archive` (a tar file) from `data_dir`; returns the manifest it contains."""
    database = data_dir / DATABASE_FILE
    if not database.is_file():
        raise InvalidRequest(f"no OMS database in {data_dir} (expected {DATABASE_FILE})")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="oms-backup-", dir=archive.parent) as scratch:
        journal = Path(scratch) / JOURNAL_DIR
        _copy_journal(data_dir / JOURNAL_DIR, journal)
        snapshot = Path(scratch) / DATABASE_FILE
        _snapshot_database(database, snapshot)
        folders = [d for d in FILE_DIRS if (data_dir / d).is_dir()]
        manifest: dict[str, object] = {
            "format": _FORMAT,
            "created_at": int(time.time() * 1000),
            "source": str(data_dir),
            "folders": folders,
        }
        partial = archive.with_name(archive.name + ".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(snapshot, arcname=DATABASE_FILE)
            if journal.is_dir():
                tar.add(journal, arcname=JOURNAL_DIR)
            for folder in folders:
                tar.add(data_dir / folder, arcname=folder)
            body = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(_MANIFEST)
            info.size = len(body)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(body))
        os.replace(partial, archive)
    return manifest


def restore_backup(archive: Path, data_dir: Path, *, force: bool = False) -> dict[str, object]:
    """Unpack `archive` into `data_dir`, which must be empty unless `force` (then it is moved
    aside to `<data_dir>.before-restore-<time>`). Nothing is touched until the archive checks out.
    """
    if not archive.is_file():
        raise InvalidRequest(f"backup archive {archive} does not exist")
    if data_dir.exists() and any(data_dir.iterdir()) and not force:
        raise InvalidRequest(
            f"{data_dir} is not empty; restore into an empty directory or pass --force "
            "(the current contents are then kept beside it)"
        )
    parent = data_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".oms-restore-", dir=parent))
    try:
        manifest = _unpack(archive, staging)
        problems = _integrity(staging / DATABASE_FILE)
        if problems:
            raise InvalidRequest(f"the database in {archive} is damaged: {problems[0]}")
        if data_dir.exists():
            if any(data_dir.iterdir()):
                aside = data_dir.with_name(f"{data_dir.name}.before-restore-{int(time.time())}")
                data_dir.rename(aside)
            else:
                data_dir.rmdir()
        staging.rename(data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    keys = data_dir / "keys"
    if keys.is_dir():
        keys.chmod(0o700)
        for key in keys.rglob("*"):
            key.chmod(0o700 if key.is_dir() else 0o600)
    return manifest


def _unpack(archive: Path, target: Path) -> dict[str, object]:
    try:
        with tarfile.open(archive, "r") as tar:
            names = tar.getnames()
            if _MANIFEST not in names or DATABASE_FILE not in names:
                raise InvalidRequest(f"{archive} is not an OMS backup (no {_MANIFEST})")
            member = tar.extractfile(_MANIFEST)
            assert member is not None
            manifest: dict[str, object] = json.loads(member.read())
            if manifest.get("format") != _FORMAT:
                raise InvalidRequest(
                    f"{archive} has backup format {manifest.get('format')}, expected {_FORMAT}"
                )
            # The "data" filter refuses absolute paths, links out of the tree and devices.
            tar.extractall(target, filter="data")
    except tarfile.TarError as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InvalidRequest(f"{archive} is not a readable tar archive ({reason})") from e
    (target / _MANIFEST).unlink()
    return manifest


def _integrity(database: Path) -> list[str]:
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as e:
        return [str(e)]
    finally:
        connection.close()
    problems = [str(row[0]) for row in rows]
    return [] if problems == ["ok"] else problems

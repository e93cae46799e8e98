"""The listening journal: what is acknowledged is in the journal file before the database;
a crash leaves it to be replayed exactly once; a failed write leaves no half line; a failed
move is retried; a backup taken while reports stream in restores every report once."""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import sqlite3
import tarfile
from pathlib import Path

import pytest

from oms.analytics import journal, store
from oms.analytics.journal import Journal, Position, decode, encode, unmoved
from oms.analytics.recorder import Listening
from oms.analytics.reports import Report
from oms.db.backup import JOURNAL_DIR, restore_backup
from oms.db.database import Database
from tests.conftest import back_up_while

pytestmark = pytest.mark.anyio

T0 = 1_790_000_000_000


def _report(n: int, *, listener: str = "dev:0123456789abcdef01234567") -> Report:
    return Report(
        received_at=T0 + n,
        session=f"session-{n:06d}",
        track_uri="at://did:web:ada.localhost/fm.oms.track/3kabc",
        track_cid="bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a",
        length_s=200 if n % 3 else None,
        listener=listener,
        ranges=((0, 10), (20, 25 + n % 7)),
        beyond_s=0,
        position_s=None if n % 2 else 25,
        events="play@0" if n % 2 else "",
        sent_at=T0 + n - 5,
        client="web",
        source="release",
        referrer="blog.example.org",
        rendition="aac128",
        country="PT",
        address="0123456789abcdef",
    )


def _sessions(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT session FROM listening_reports ORDER BY id").fetchall()
    return [str(row[0]) for row in rows]


def test_a_line_reads_back_as_the_report_it_was() -> None:
    for n in range(6):
        report = _report(n)
        line = encode(report)
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        assert decode(line) == report


@pytest.mark.parametrize(
    "line",
    [
        b"not json\n",
        b"{}\n",
        b"[1, 2, 3]\n",
        encode(_report(1)).replace(b'"web"', b"7"),  # a number where text belongs
        encode(_report(1)).replace(b"[[0,10],[20,26]]", b"[[0]]"),  # a range with one end
        encode(_report(1)).replace(str(T0 + 1).encode(), b'"soon"', 1),  # text, not a time
    ],
)
def test_a_line_that_is_not_a_report_is_refused(line: bytes) -> None:
    with pytest.raises(ValueError, match="not a journal line"):
        decode(line)


def test_replay_skips_a_bad_line_and_a_torn_last_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [encode(_report(n)) for n in range(3)]
    (tmp_path / "listening-00000004.jsonl").write_bytes(
        lines[0] + b"garbage\n" + lines[1] + lines[2][:40]  # the crash cut the last write short
    )
    (tmp_path / "listening-00000005.jsonl").write_bytes(lines[2])
    with caplog.at_level(logging.WARNING, logger="oms.analytics.journal"):
        found = list(unmoved(tmp_path, Position(4, 0)))
    assert [r.session for r, _ in found] == ["session-000000", "session-000001", "session-000002"]
    first_end = len(lines[0])
    assert found[0][1] == Position(4, first_end)
    assert found[2][1] == Position(5, len(lines[2]))
    assert "skipped the line" in caplog.text
    assert "incomplete last line" in caplog.text
    # From a position on: only what lies beyond it; older generations are never read.
    assert [r.session for r, _ in unmoved(tmp_path, Position(4, first_end))] == [
        "session-000001",
        "session-000002",
    ]
    assert [r.session for r, _ in unmoved(tmp_path, Position(5, 0))] == ["session-000002"]


def test_the_journal_moves_to_a_new_file_and_deletes_those_wholly_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "ROTATE_BYTES", 3 * len(encode(_report(0))))
    file = Journal(tmp_path, 1)
    ends = [file.append(_report(n)) for n in range(8)]
    assert journal.generations(tmp_path) == [1, 2, 3]
    assert file.generation == 3
    file.moved(ends[2])  # the last report of generation 1
    assert journal.generations(tmp_path) == [2, 3]
    file.moved(ends[4])  # part of generation 2: kept
    assert journal.generations(tmp_path) == [2, 3]
    file.moved(ends[7])
    assert journal.generations(tmp_path) == [3]
    file.close()
    reread = [r.session for r, _ in unmoved(tmp_path, ends[5])]
    assert reread == ["session-000006", "session-000007"]


def test_a_write_cut_short_leaves_no_half_line(tmp_path: Path) -> None:
    file = Journal(tmp_path, 1)
    file.append(_report(0))
    size = (tmp_path / "listening-00000001.jsonl").stat().st_size
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # The file may grow by 10 bytes: the kernel writes part of the line, then refuses.
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 10, hard))
    try:
        with pytest.raises(OSError, match="wrote 10 of"):
            file.append(_report(1))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert (tmp_path / "listening-00000001.jsonl").stat().st_size == size
    file.append(_report(2))
    file.close()
    assert [r.session for r, _ in unmoved(tmp_path, Position(1, 0))] == [
        "session-000000",
        "session-000002",
    ]


async def test_what_a_crash_left_unmoved_is_replayed_once(tmp_path: Path) -> None:
    folder, path = tmp_path / JOURNAL_DIR, tmp_path / "oms.sqlite3"
    db = await Database.open(path)
    listening = Listening(db, own_host="localhost")
    assert await listening.open(folder) == 0
    listening._append(_report(0))
    await listening.flush()
    for n in range(1, 4):
        listening._append(_report(n))  # acknowledged; the crash comes before any move
    assert listening._mover is not None
    listening._mover.cancel()
    await asyncio.gather(listening._mover, return_exceptions=True)
    assert _sessions(path) == ["session-000000"]
    await db.close()

    db = await Database.open(path)
    again = Listening(db, own_host="localhost")
    assert await again.open(folder) == 3
    assert _sessions(path) == [f"session-{n:06d}" for n in range(4)]
    assert len(journal.generations(folder)) == 1  # the replayed files are gone
    await again.close()
    third = Listening(db, own_host="localhost")
    assert await third.open(folder) == 0
    await third.close()
    assert len(_sessions(path)) == 4
    await db.close()


async def test_a_failed_move_is_retried_and_flush_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await Database.open(tmp_path / "oms.sqlite3")
    listening = Listening(db, own_host="localhost")
    await listening.open(tmp_path / JOURNAL_DIR)
    append = store.append

    def full_disk(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "append", full_disk)
    listening._append(_report(0))
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        await listening.flush()
    assert _sessions(tmp_path / "oms.sqlite3") == []
    monkeypatch.setattr(store, "append", append)
    for _ in range(100):  # the retry comes by itself
        if _sessions(tmp_path / "oms.sqlite3"):
            break
        await asyncio.sleep(0.02)
    assert _sessions(tmp_path / "oms.sqlite3") == ["session-000000"]
    await listening.close()
    await db.close()


async def test_a_backup_taken_while_reports_stream_in_restores_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "ROTATE_BYTES", 20 * len(encode(_report(0))))
    data = tmp_path / "data"
    data.mkdir()
    db = await Database.open(data / "oms.sqlite3")
    listening = Listening(db, own_host="localhost")
    await listening.open(data / JOURNAL_DIR)
    sent = 0

    async def player(stop: asyncio.Event) -> None:
        nonlocal sent
        while not stop.is_set():
            listening._append(_report(sent))
            sent += 1
            await asyncio.sleep(0 if sent % 5 else 0.001)

    archive = tmp_path / "backup.tar"
    await back_up_while(data, archive, player)
    await listening.close()
    await db.close()

    restored = tmp_path / "restored"
    restore_backup(archive, restored)
    with tarfile.open(archive) as tar:
        assert any(name.startswith(f"{JOURNAL_DIR}/") for name in tar.getnames())
    db = await Database.open(restored / "oms.sqlite3")
    replay = Listening(db, own_host="localhost")
    await replay.open(restored / JOURNAL_DIR)
    await replay.close()
    await db.close()
    kept = _sessions(restored / "oms.sqlite3")
    # Every report up to some moment, each once: none lost between the copy and the snapshot.
    assert 0 < len(kept) < sent
    assert kept == [f"session-{n:06d}" for n in range(len(kept))]


def test_decode_names_the_field_that_is_wrong() -> None:
    values = json.loads(encode(_report(2)))
    values[5] = None  # the listener
    with pytest.raises(ValueError, match="listener"):
        decode(json.dumps(values).encode())

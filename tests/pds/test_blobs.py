from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from oms.db.database import Database
from oms.errors import InvalidRequest, NotFound, PayloadTooLarge
from oms.events import EventBus
from oms.pds import blobs
from oms.pds.dagcbor import Codec, cid_for, cid_to_str

pytestmark = pytest.mark.anyio

ALICE = "did:web:alice.music.example.org"
BOB = "did:web:bob.music.example.org"
HOUR_MS = 3_600_000
MB = 1024 * 1024

FLAC = b"fLaC\x00\x00\x00\x22" + bytes(range(256)) * 8
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "oms.sqlite3", bus=EventBus())
    yield database
    await database.close()


@pytest.fixture
def blobs_dir(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def upload(
    db: Database, blobs_dir: Path, data: bytes, mime: str = "audio/flac", did: str = ALICE
) -> blobs.BlobRef:
    return await blobs.store_upload(db, blobs_dir, did, mime, chunked(data), 50 * MB)


def now_ms() -> int:
    return int(time.time() * 1000)


def stored_files(blobs_dir: Path) -> list[Path]:
    return sorted(p for p in blobs_dir.rglob("*") if p.is_file() and p.parent.name != "tmp")


def temp_files(blobs_dir: Path) -> list[Path]:
    return list((blobs_dir / "tmp").glob("*")) if (blobs_dir / "tmp").exists() else []


async def rows(db: Database) -> list[tuple[str, str, str, str, int]]:
    found = await db.fetchall("SELECT did, cid, state, mime_type, size FROM blobs ORDER BY did")
    return [tuple(row) for row in found]


async def reference(db: Database, did: str, rkey: str, cids: Iterable[str]) -> None:
    async with db.transaction() as tx:
        await blobs.reference_blobs(tx, did, "fm.oms.track", rkey, cids)


async def release(db: Database, did: str, rkey: str) -> list[str]:
    async with db.transaction() as tx:
        return await blobs.release_blobs(tx, did, "fm.oms.track", rkey)


async def db_shift_times(db: Database, delta_ms: int) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE blobs SET created_at = created_at + ?, updated_at = updated_at + ?",
            (delta_ms, delta_ms),
        )


# --- uploads -------------------------------------------------------------------------------


async def test_an_upload_is_streamed_to_disk_and_named_by_its_raw_cid(
    db: Database, blobs_dir: Path
) -> None:
    data = FLAC + os.urandom(3 * MB)
    sizes_seen_on_disk: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 256 * 1024):
            if start >= 2 * MB:
                # Half the file is already on disk while the rest is still on its way.
                sizes_seen_on_disk.append(sum(p.stat().st_size for p in temp_files(blobs_dir)))
            yield data[start : start + 256 * 1024]

    ref = await blobs.store_upload(db, blobs_dir, ALICE, "audio/flac", body(), 50 * MB)

    assert ref.cid == cid_for(data, Codec.RAW)
    assert ref.link.startswith("bafkrei")
    assert (ref.mime_type, ref.size) == ("audio/flac", len(data))
    assert ref.to_json() == {
        "$type": "blob",
        "ref": {"$link": ref.link},
        "mimeType": "audio/flac",
        "size": len(data),
    }
    assert max(sizes_seen_on_disk) >= MB
    [path] = stored_files(blobs_dir)
    assert path == blobs.blob_path(blobs_dir, ref.cid)
    assert path.read_bytes() == data
    assert temp_files(blobs_dir) == []
    assert await rows(db) == [(ALICE, ref.link, "temp", "audio/flac", len(data))]


async def test_the_same_bytes_give_the_same_cid_and_one_file(db: Database, blobs_dir: Path) -> None:
    first = await upload(db, blobs_dir, FLAC)
    again = await upload(db, blobs_dir, FLAC)
    other = await upload(db, blobs_dir, FLAC, did=BOB)
    assert first.cid == again.cid == other.cid
    assert len(stored_files(blobs_dir)) == 1
    assert [(did, state) for did, _, state, _, _ in await rows(db)] == [
        (ALICE, "temp"),
        (BOB, "temp"),
    ]


async def test_an_upload_over_the_limit_stops_mid_stream_and_leaves_nothing(
    db: Database, blobs_dir: Path
) -> None:
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield FLAC
        for _ in range(100):
            sent += 1
            yield os.urandom(256 * 1024)

    with pytest.raises(PayloadTooLarge) as caught:
        await blobs.store_upload(db, blobs_dir, ALICE, "audio/flac", body(), 2 * MB)
    assert caught.value.name == "BlobTooLarge"
    assert caught.value.status == 413
    assert sent <= 9, "reading stops once the limit is passed"
    assert temp_files(blobs_dir) == []
    assert stored_files(blobs_dir) == []
    assert await rows(db) == []


async def test_exactly_the_limit_is_accepted(db: Database, blobs_dir: Path) -> None:
    data = FLAC + bytes(5000 - len(FLAC))
    ref = await blobs.store_upload(db, blobs_dir, ALICE, "audio/flac", chunked(data, 7), 5000)
    assert ref.size == 5000


async def test_an_empty_upload_is_refused(db: Database, blobs_dir: Path) -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        await upload(db, blobs_dir, b"")
    assert temp_files(blobs_dir) == []
    assert await rows(db) == []


@pytest.mark.parametrize(
    ("declared", "content", "looks_like"),
    [
        ("audio/mpeg", b"just some words, nothing musical\n" * 10, "text"),
        ("audio/mpeg", PNG, "image/png"),
        ("audio/flac", b"OggS\x00\x02" + bytes(40), "audio/ogg"),
        ("image/png", b"\xff\xd8\xff\xe0" + bytes(40), "image/jpeg"),
        ("audio/wav", b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(20), "image/webp"),
        ("audio/mpeg", b"\x00\x01\x02\x03\x80\x81\x82", "unrecognised binary data"),
    ],
)
async def test_content_that_contradicts_its_declared_type_is_refused(
    db: Database, blobs_dir: Path, declared: str, content: bytes, looks_like: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await upload(db, blobs_dir, content, declared)
    assert declared in caught.value.message
    assert looks_like in caught.value.message
    assert temp_files(blobs_dir) == []
    assert stored_files(blobs_dir) == []
    assert await rows(db) == []


@pytest.mark.parametrize(
    ("declared", "content"),
    [
        ("audio/mpeg", b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(100)),
        ("audio/mpeg", b"\xff\xfb\x90\x64" + bytes(100)),
        ("audio/flac", FLAC),
        ("audio/x-flac", FLAC),
        ("audio/wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(100)),
        ("audio/x-wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(100)),
        ("audio/ogg", b"OggS\x00\x02" + bytes(100)),
        ("audio/opus", b"OggS\x00\x02" + bytes(100)),
        ("audio/mp4", b"\x00\x00\x00\x20ftypM4A " + bytes(100)),
        ("audio/x-m4a", b"\x00\x00\x00\x20ftypM4A " + bytes(100)),
        ("audio/aac", b"\xff\xf1\x50\x80" + bytes(100)),
        ("audio/aiff", b"FORM\x00\x00\x00\x20AIFFCOMM" + bytes(100)),
        ("image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(100)),
        ("image/png", PNG),
        ("image/webp", b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(100)),
        ("image/gif", b"GIF89a" + bytes(100)),
        ("audio/flac; charset=binary", FLAC),
    ],
)
async def test_content_matching_its_declared_type_is_stored(
    db: Database, blobs_dir: Path, declared: str, content: bytes
) -> None:
    ref = await upload(db, blobs_dir, content, declared)
    assert ref.mime_type == declared.split(";")[0]
    assert blobs.served_mime_type(ref.mime_type) == ref.mime_type


async def test_a_short_upload_is_checked_too(db: Database, blobs_dir: Path) -> None:
    assert (await upload(db, blobs_dir, b"GIF89a", "image/gif")).size == 6
    with pytest.raises(InvalidRequest, match="image/gif"):
        await upload(db, blobs_dir, b"hello", "image/gif")


@pytest.mark.parametrize(
    ("declared", "stored"),
    [
        ("application/octet-stream", "application/octet-stream"),
        ("", "application/octet-stream"),
        ("text/plain", "text/plain"),
        ("application/x-cue", "application/x-cue"),
        ("Audio/X-Unheard-Of", "audio/x-unheard-of"),
    ],
)
async def test_unchecked_types_are_stored_as_declared_but_served_inert(
    db: Database, blobs_dir: Path, declared: str, stored: str
) -> None:
    ref = await upload(db, blobs_dir, b"<script>alert(1)</script>", declared)
    assert ref.mime_type == stored
    assert blobs.served_mime_type(ref.mime_type) == "application/octet-stream"


@pytest.mark.parametrize(
    "declared",
    ["text/html", "image/svg+xml", "application/javascript", "application/xhtml+xml", "text/xml"],
)
async def test_active_web_content_types_are_refused(
    db: Database, blobs_dir: Path, declared: str
) -> None:
    with pytest.raises(InvalidRequest, match="active web content"):
        await upload(db, blobs_dir, b"<svg onload=alert(1)>", declared)
    assert await rows(db) == []


@pytest.mark.parametrize("declared", ["*/*", ""])
async def test_an_undeclared_upload_is_stored_as_its_content_shows(
    db: Database, blobs_dir: Path, declared: str
) -> None:
    # The atproto SDK sends `*/*` unless told otherwise: audio still arrives as audio.
    assert (await upload(db, blobs_dir, FLAC, declared)).mime_type == "audio/flac"
    text = await upload(db, blobs_dir, b"plain words", declared)
    assert text.mime_type == "application/octet-stream"


async def test_a_malformed_mime_type_is_refused(db: Database, blobs_dir: Path) -> None:
    with pytest.raises(InvalidRequest, match="not a MIME type"):
        await upload(db, blobs_dir, FLAC, "audio flac")


# --- references and collection -------------------------------------------------------------


async def test_referencing_a_blob_the_account_did_not_upload_is_refused(
    db: Database, blobs_dir: Path
) -> None:
    mine = await upload(db, blobs_dir, FLAC, did=BOB)
    unknown = cid_to_str(cid_for(b"never uploaded", Codec.RAW))
    assert await blobs.missing_blobs(db, ALICE, [mine.cid, unknown]) == [mine.link, unknown]
    assert await blobs.missing_blobs(db, BOB, [mine.cid, unknown]) == [unknown]
    for cid in (unknown, mine.link):
        with pytest.raises(InvalidRequest) as caught:
            await reference(db, ALICE, "3k2a", [cid])
        assert caught.value.name == "BlobNotFound"
        assert cid in caught.value.message
    assert await db.fetchall("SELECT * FROM record_blobs") == []


async def test_a_referenced_blob_outlives_the_grace_and_goes_with_its_last_record(
    db: Database, blobs_dir: Path
) -> None:
    ref = await upload(db, blobs_dir, FLAC)
    await reference(db, ALICE, "track1", [ref.cid])
    await reference(db, ALICE, "track2", [ref.link, ref.link])
    assert (await rows(db))[0][2] == "referenced"

    assert await blobs.collect_garbage(db, blobs_dir, now_ms() + 48 * HOUR_MS) == 0
    assert (await blobs.open_blob(db, blobs_dir, ALICE, ref.link)).size == len(FLAC)

    assert await release(db, ALICE, "track1") == [ref.link]
    assert await blobs.collect_garbage(db, blobs_dir, now_ms()) == 0, "track2 still uses it"
    assert await release(db, ALICE, "track2") == [ref.link]
    assert (await rows(db))[0][2] == "released"

    assert await blobs.collect_garbage(db, blobs_dir, now_ms()) == 1
    assert await rows(db) == []
    assert stored_files(blobs_dir) == []
    with pytest.raises(NotFound) as caught:
        await blobs.open_blob(db, blobs_dir, ALICE, ref.link)
    assert caught.value.name == "BlobNotFound"


async def test_a_record_rewritten_in_one_transaction_keeps_its_blob(
    db: Database, blobs_dir: Path
) -> None:
    ref = await upload(db, blobs_dir, FLAC)
    await reference(db, ALICE, "track1", [ref.cid])
    async with db.transaction() as tx:
        await blobs.release_blobs(tx, ALICE, "fm.oms.track", "track1")
        await blobs.reference_blobs(tx, ALICE, "fm.oms.track", "track1", [ref.cid])
    assert await blobs.collect_garbage(db, blobs_dir, now_ms() + 48 * HOUR_MS) == 0
    assert len(stored_files(blobs_dir)) == 1


async def test_a_rolled_back_write_references_nothing(db: Database, blobs_dir: Path) -> None:
    ref = await upload(db, blobs_dir, FLAC)

    async def failing_write() -> None:
        async with db.transaction() as tx:
            await blobs.reference_blobs(tx, ALICE, "fm.oms.track", "track1", [ref.cid])
            raise RuntimeError("the commit failed to sign")

    with pytest.raises(RuntimeError):
        await failing_write()
    assert (await rows(db))[0][2] == "temp"
    assert await blobs.collect_garbage(db, blobs_dir, now_ms() + 2 * HOUR_MS) == 1


async def test_an_unreferenced_upload_is_kept_for_an_hour_then_collected(
    db: Database, blobs_dir: Path
) -> None:
    before = now_ms()
    ref = await upload(db, blobs_dir, FLAC)
    assert await blobs.collect_garbage(db, blobs_dir, before + HOUR_MS - 60_000) == 0
    assert (await blobs.open_blob(db, blobs_dir, ALICE, ref.cid)).path.exists()
    assert await blobs.collect_garbage(db, blobs_dir, now_ms() + HOUR_MS + 1) == 1
    assert await rows(db) == []
    assert stored_files(blobs_dir) == []


async def test_uploading_again_restarts_the_grace(db: Database, blobs_dir: Path) -> None:
    await upload(db, blobs_dir, FLAC)
    await db_shift_times(db, -2 * HOUR_MS)
    await upload(db, blobs_dir, FLAC)
    assert await blobs.collect_garbage(db, blobs_dir, now_ms()) == 0
    assert len(stored_files(blobs_dir)) == 1


async def test_a_file_shared_by_accounts_goes_only_with_the_last_row(
    db: Database, blobs_dir: Path
) -> None:
    alice = await upload(db, blobs_dir, FLAC)
    bob = await upload(db, blobs_dir, FLAC, did=BOB)
    await reference(db, BOB, "track1", [bob.cid])

    assert await blobs.collect_garbage(db, blobs_dir, now_ms() + 2 * HOUR_MS) == 1
    assert [did for did, *_ in await rows(db)] == [BOB]
    assert len(stored_files(blobs_dir)) == 1
    with pytest.raises(NotFound):
        await blobs.open_blob(db, blobs_dir, ALICE, alice.cid)
    assert (await blobs.open_blob(db, blobs_dir, BOB, bob.cid)).path.read_bytes() == FLAC

    await release(db, BOB, "track1")
    assert await blobs.collect_garbage(db, blobs_dir, now_ms()) == 1
    assert stored_files(blobs_dir) == []


async def test_an_upload_racing_a_sweep_of_the_same_bytes_keeps_its_file(
    db: Database, blobs_dir: Path
) -> None:
    for round_ in range(15):
        data = FLAC + round_.to_bytes(4, "big")
        await upload(db, blobs_dir, data, did=BOB)
        await db_shift_times(db, -2 * HOUR_MS)  # Bob's copy is due for collection
        _, ref = await asyncio.gather(
            blobs.collect_garbage(db, blobs_dir, now_ms()), upload(db, blobs_dir, data)
        )
        # Whatever the interleaving, Alice's fresh upload has its row and its file.
        stored = await blobs.open_blob(db, blobs_dir, ALICE, ref.cid)
        assert stored.path.read_bytes() == data
    for row in await db.fetchall("SELECT did, cid FROM blobs"):
        assert blobs.blob_path(blobs_dir, row["cid"]).exists()


async def test_the_sweep_removes_abandoned_partial_uploads(db: Database, blobs_dir: Path) -> None:
    await upload(db, blobs_dir, FLAC)
    stale = blobs_dir / "tmp" / "upload-crashed.part"
    stale.write_bytes(b"half a file")
    fresh = blobs_dir / "tmp" / "upload-live.part"
    fresh.write_bytes(b"arriving")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    await blobs.collect_garbage(db, blobs_dir, now_ms())
    assert temp_files(blobs_dir) == [fresh]


# --- reading -------------------------------------------------------------------------------


async def test_open_blob_refuses_what_is_not_there(db: Database, blobs_dir: Path) -> None:
    with pytest.raises(InvalidRequest, match="invalid CID"):
        await blobs.open_blob(db, blobs_dir, ALICE, "../../etc/passwd")
    with pytest.raises(NotFound):
        await blobs.open_blob(db, blobs_dir, ALICE, cid_for(b"nothing", Codec.RAW))


async def test_list_blobs_pages_through_referenced_blobs(db: Database, blobs_dir: Path) -> None:
    refs = [await upload(db, blobs_dir, FLAC + bytes([n])) for n in range(5)]
    await upload(db, blobs_dir, FLAC + b"never referenced")
    await upload(db, blobs_dir, FLAC + bytes([9]), did=BOB)
    for n, ref in enumerate(refs):
        await reference(db, ALICE, f"track{n}", [ref.cid])
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO records (did, collection, rkey, cid, rev, created_at)"
            " VALUES (?, 'fm.oms.track', ?, 'bafyrecord', ?, 0)",
            [(ALICE, f"track{n}", f"3k2a{n}aaaaaaaa") for n in range(5)],
        )

    expected = sorted(ref.link for ref in refs)
    first = await blobs.list_blobs(db, ALICE, limit=3)
    assert first.cids == expected[:3]
    assert first.cursor == expected[2]
    rest = await blobs.list_blobs(db, ALICE, limit=3, cursor=first.cursor)
    assert (rest.cids, rest.cursor) == (expected[3:], None)

    newer = await blobs.list_blobs(db, ALICE, since_rev="3k2a2aaaaaaaa")
    assert newer.cids == sorted([refs[3].link, refs[4].link])
    assert (await blobs.list_blobs(db, BOB)).cids == []

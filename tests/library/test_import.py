"""`oms import` in-process: a folder of real generated audio becomes signed track and release
records (tags prefilled, albums in track order), duplicates and bad files are told apart,
a second run resumes without duplicating anything, and a node's indexer follows commits that
another process wrote."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mutagen.flac import FLAC, Picture
from PIL import Image

from oms.db.database import Database
from oms.library.importer import (
    Artist,
    FileOutcome,
    Importer,
    ImportOptions,
    find_artist,
    release_date,
)
from oms.library.index import PROCESS_MEDIA, CatalogIndexer
from oms.library.records import LICENSES
from oms.media.ffmpeg_binary import locate_ffmpeg
from oms.media.probe import ProbeLimits
from oms.pds import accounts
from oms.pds.keystore import KeyStore
from oms.pds.lexicons import load_lexicons
from oms.pds.repo import Repos
from oms.resources import lexicons_dir

pytestmark = pytest.mark.anyio

TRACK = "fm.oms.track"
RELEASE = "fm.oms.release"
GOOD = {
    "Night Album/01 First.flac",
    "Night Album/02 Second.flac",
    "Night Album/Disc 2/01 Third.mp3",
    "singles/deep/cold_water.flac",
}
DUPLICATE = "singles/copy of first.flac"
BAD = {
    "bad/text.mp3": "the upload is declared audio/mpeg but its content is text",
    "bad/empty.wav": "empty file: 0 bytes",
    "bad/cut.flac": "truncated FLAC: decoding stopped at",
}


def _tone(ffmpeg: Path, out: Path, frequency: int, *extra: str, seconds: float = 3) -> Path:
    """Short distinct audio: a tone over seeded noise (so FLAC cannot shrink it to nothing)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = (
        f"sine=frequency={frequency}:duration={seconds}:sample_rate=44100[a];"
        f"anoisesrc=color=pink:duration={seconds}:sample_rate=44100:amplitude=0.2:seed={frequency}[b];"
        "[a][b]amix=inputs=2,aformat=channel_layouts=stereo"
    )
    subprocess.run(
        [str(ffmpeg), "-v", "error", "-y", "-filter_complex", graph, *extra, str(out)],
        check=True,
        timeout=60,
    )
    return out


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 320), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def build_folder(ffmpeg: Path, root: Path) -> Path:
    """A back catalog as collectives keep them: an album over two discs (tags out of file
    order), untagged singles in nested folders, a copy, and three files that are no audio."""
    album = root / "Night Album"
    second = _tone(ffmpeg, album / "02 Second.flac", 330)
    tags = FLAC(second)
    tags.update(
        {
            "title": "Second",
            "artist": "Ada",
            "album": "Night Album",
            "tracknumber": "2",
            "date": "2021-05-04",
            "genre": "Ambient; Dub",
            "isrc": "GB-AYE-21-00002",
            "lyrics": "Lights on the water",
        }
    )
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/png", _png()
    tags.add_picture(picture)
    tags.save()
    _tone(
        ffmpeg, album / "01 First.flac", 440,
        *("-metadata", "title=First", "-metadata", "artist=Ada; Bo Chen"),
        *("-metadata", "album=Night Album", "-metadata", "track=1"),
    )  # fmt: skip
    _tone(
        ffmpeg, album / "Disc 2" / "01 Third.mp3", 550,
        *("-metadata", "title=Third", "-metadata", "album=Night Album"),
        *("-metadata", "track=1", "-metadata", "disc=2"),
    )  # fmt: skip
    _tone(ffmpeg, root / "singles" / "deep" / "cold_water.flac", 660)
    shutil.copy(album / "01 First.flac", root / DUPLICATE)
    bad = root / "bad"
    bad.mkdir()
    (bad / "text.mp3").write_text("these are liner notes, not a song\n")
    (bad / "empty.wav").write_bytes(b"")
    whole = _tone(ffmpeg, root / "whole.tmp", 770, "-f", "flac").read_bytes()
    (root / "whole.tmp").unlink()
    (bad / "cut.flac").write_bytes(whole[: len(whole) // 2])
    (root / "notes.txt").write_text("not audio: ignored")
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    return root


@pytest.fixture(scope="module")
def ffmpeg() -> Path:
    return locate_ffmpeg().path


@pytest.fixture(scope="module")
def folder(ffmpeg: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_folder(ffmpeg, tmp_path_factory.mktemp("catalog"))


@dataclass(frozen=True)
class Stored:
    uri: str
    cid: str
    value: dict[str, Any]


@dataclass
class Node:
    data_dir: Path
    db: Database
    repos: Repos
    importer: Importer
    artist: Artist

    async def records(self, collection: str) -> list[Stored]:
        found, _ = await self.repos.list_records(
            self.artist.did, collection, limit=1000, cursor=None, reverse=True
        )
        return [Stored(r.uri, r.cid, r.value) for r in found if isinstance(r.value, dict)]

    async def run(self, folder: Path, **options: Any) -> tuple[list[FileOutcome], Any]:
        seen: list[FileOutcome] = []
        report = await self.importer.import_folder(
            self.artist, folder, ImportOptions(**options), on_file=seen.append
        )
        assert sorted(seen, key=lambda o: o.path) == list(report.files)
        return seen, report


async def _open(data_dir: Path) -> tuple[Database, Repos]:
    keys = KeyStore(data_dir / "keys")
    keys.prepare()
    keys.node_key()
    db = await Database.open(data_dir / "oms.sqlite3")
    return db, Repos(db, keys, load_lexicons(lexicons_dir()))


@pytest.fixture
async def node(tmp_path: Path, ffmpeg: Path) -> AsyncIterator[Node]:
    data_dir = tmp_path / "data"
    (data_dir / "blobs").mkdir(parents=True)
    db, repos = await _open(data_dir)
    await accounts.create_account(
        db, repos.keys, name="ada", password="correct horse", role="artist", hostname="x.org"
    )
    artist = await find_artist(db, repos, "ada", "x.org")
    importer = Importer(db, repos, data_dir / "blobs", ffmpeg, ProbeLimits(), 50 * 1024 * 1024)
    try:
        yield Node(data_dir, db, repos, importer, artist)
    finally:
        repos.close()
        await db.close()


def _by_path(outcomes: Any) -> dict[str, FileOutcome]:
    return {o.path: o for o in outcomes}


async def test_a_folder_becomes_tracks_and_an_ordered_release(node: Node, folder: Path) -> None:
    seen, report = await node.run(folder, license="cc-by-4.0")
    outcomes = _by_path(seen)
    assert set(outcomes) == GOOD | {DUPLICATE} | set(BAD)  # no .txt, no hidden file
    assert {p for p, o in outcomes.items() if o.status == "published"} == GOOD
    assert outcomes[DUPLICATE].status == "skipped"
    assert outcomes[DUPLICATE].detail == "duplicate of Night Album/01 First.flac"
    for path, reason in BAD.items():
        assert outcomes[path].status == "failed"
        assert outcomes[path].detail.startswith(reason), outcomes[path].detail
    assert report.failed

    tracks = {r.value["title"]: r for r in await node.records(TRACK)}
    assert set(tracks) == {"First", "Second", "Third", "cold water"}  # no record for a bad file
    second = tracks["Second"].value
    assert second["artists"] == [{"name": "Ada", "role": "primary", "did": node.artist.did}]
    assert second["trackNumber"] == 2
    assert second["genres"] == ["Ambient", "Dub"]
    assert second["isrc"] == "GBAYE2100002"
    assert second["releaseDate"] == "2021-05-04T00:00:00.000Z"
    assert second["lyrics"] == {"plain": "Lights on the water"}
    assert second["license"] == "cc-by-4.0"
    assert second["audio"]["mimeType"] == "audio/flac"
    assert second["artwork"]["mimeType"] == "image/png"
    assert 2900 <= second["durationMs"] <= 3100
    first = tracks["First"].value
    assert first["artists"] == [
        {"name": "Ada", "role": "primary", "did": node.artist.did},
        {"name": "Bo Chen", "role": "primary"},
    ]
    untagged = tracks["cold water"].value  # the title falls back to the file name
    assert untagged["artists"] == [{"name": "ada", "did": node.artist.did, "role": "primary"}]
    assert "release" not in untagged

    [release] = await node.records(RELEASE)
    value = release.value
    assert value["title"] == "Night Album"
    assert value["kind"] == "album"
    assert value["releaseDate"] == "2021-05-04T00:00:00.000Z"
    assert value["artwork"] == second["artwork"]
    assert value["tracks"] == [
        {"uri": tracks[title].uri, "cid": tracks[title].cid}
        for title in ("First", "Second", "Third")  # disc 1 by number, then disc 2
    ]
    assert [r.status for r in report.releases] == ["published"]


async def test_a_second_run_resumes_an_interrupted_one(node: Node, folder: Path) -> None:
    task: asyncio.Task[Any] | None = None

    def interrupt(outcome: FileOutcome) -> None:
        if outcome.status == "published" and task is not None:
            task.cancel()

    task = asyncio.create_task(
        node.importer.import_folder(node.artist, folder, ImportOptions(), on_file=interrupt)
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    before = await node.records(TRACK)
    assert 1 <= len(before) < len(GOOD)
    assert await node.records(RELEASE) == []  # releases come after all the tracks

    seen, report = await node.run(folder)
    outcomes = _by_path(seen)
    published = {p for p, o in outcomes.items() if o.status == "published"}
    already = {p for p, o in outcomes.items() if o.detail.startswith("already published as")}
    assert published | already == GOOD
    assert len(already) == len(before)
    tracks = await node.records(TRACK)
    assert len(tracks) == len(GOOD)  # nothing twice
    [release] = await node.records(RELEASE)
    assert len(release.value["tracks"]) == 3

    seen, report = await node.run(folder)  # and again: nothing to do
    assert {o.path for o in seen if o.status == "skipped"} == GOOD | {DUPLICATE}
    assert not report.published
    assert [r.status for r in report.releases] == ["unchanged"]
    assert len(await node.records(TRACK)) == len(GOOD)
    assert [r.cid for r in await node.records(RELEASE)] == [release.cid]


async def test_an_album_completed_later_keeps_its_order(
    node: Node, folder: Path, tmp_path: Path
) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(folder / "Night Album", partial / "Night Album", ignore=_skip("02 Second.flac"))
    await node.run(partial)
    [release] = await node.records(RELEASE)
    assert len(release.value["tracks"]) == 2
    _, report = await node.run(folder)
    assert [r.status for r in report.releases] == ["updated"]
    [release] = await node.records(RELEASE)
    titles = {r.uri: r.value["title"] for r in await node.records(TRACK)}
    listed = release.value["tracks"]
    assert [titles[t["uri"]] for t in listed] == ["First", "Second", "Third"]


def _skip(name: str) -> Any:
    return lambda _, names: [n for n in names if n == name]


async def test_a_dry_run_publishes_nothing(node: Node, folder: Path) -> None:
    _, report = await node.run(folder, dry_run=True)
    assert {o.path for o in report.files if o.status == "ok"} == GOOD
    assert {o.path for o in report.files if o.status == "failed"} == set(BAD)
    assert [(r.title, r.status, r.tracks) for r in report.releases] == [
        ("Night Album", "planned", 3)
    ]
    assert await node.records(TRACK) == []
    assert await node.db.fetchval("SELECT count(*) FROM blobs") == 0


async def test_an_unknown_artist_or_an_empty_folder_is_refused(node: Node, tmp_path: Path) -> None:
    from oms.errors import InvalidRequest, NotFound

    with pytest.raises(NotFound):
        await find_artist(node.db, node.repos, "nobody", "x.org")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(InvalidRequest, match="no audio files"):
        await node.run(tmp_path / "empty")


async def test_a_serving_node_indexes_commits_written_by_another_process(
    node: Node, folder: Path
) -> None:
    # A second handle on the same database file has its own writer and its own event bus, as
    # the serving node has when `oms import` runs beside it: no in-process event reaches it.
    serving_db = await Database.open(node.data_dir / "oms.sqlite3")
    indexer = CatalogIndexer(serving_db, load_lexicons(lexicons_dir()), poll_seconds=0.1)
    await indexer.start()
    try:
        _, report = await node.run(folder / "Night Album")
        cids = sorted(f.audio_cid for f in report.published if f.audio_cid)
        assert len(cids) == 3
        for _ in range(100):
            if await indexer.position() >= report.last_seq:
                break
            await asyncio.sleep(0.05)
        assert await indexer.position() >= report.last_seq
        # ... and queued the transcodes, as it does for its own commits.
        rows = await serving_db.fetchall(
            "SELECT dedupe_key FROM jobs WHERE kind = ? AND state = 'queued'", (PROCESS_MEDIA,)
        )
        assert sorted(r[0] for r in rows) == [f"{node.artist.did} {cid}" for cid in cids]
        listed = await serving_db.fetchval(
            "SELECT count(*) FROM release_tracks rt JOIN releases r ON r.uri = rt.release_uri"
            " WHERE r.title = 'Night Album'"
        )
        assert listed == 3
    finally:
        await indexer.stop()
        await serving_db.close()


def test_the_licences_offered_are_the_lexicons() -> None:
    track = json.loads((lexicons_dir() / "fm" / "oms" / "track.json").read_text())
    known = track["defs"]["main"]["record"]["properties"]["license"]["knownValues"]
    assert list(LICENSES) == known


def test_release_dates_from_tags() -> None:
    assert release_date("2021") == "2021-01-01T00:00:00.000Z"
    assert release_date("2021-05") == "2021-05-01T00:00:00.000Z"
    assert release_date("2021-02-30") is None
    assert release_date(None) is None

"""End to end: `oms import` as an operator runs it — the real binary on a folder of generated
audio, with no node running (it transcodes itself) and beside a serving node (which picks the
commits up and transcodes them). Real processes, real SQLite files, loopback only.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import m3u8
import pytest

from oms.media.ffmpeg_binary import locate_ffmpeg
from tests.conftest import oms_env, query_node, run_oms, start_oms
from tests.library.test_import import BAD, DUPLICATE, GOOD, build_folder

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_folder(locate_ffmpeg().path, tmp_path_factory.mktemp("catalog"))


def _lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """`status path: detail` lines by path, for the lines that name a file."""
    found = {}
    for line in result.stdout.splitlines():
        status, _, rest = line.partition(" ")
        path, _, detail = rest.strip().partition(": ")
        if status in ("published", "skipped", "failed"):
            found[path] = f"{status}: {detail}"
    return found


def _artist(data_dir: Path, **env: str) -> str:
    created = run_oms(
        *("account", "create", "--handle", "ada", "--password", PASSWORD, "--role", "artist"),
        data_dir=data_dir,
        env=oms_env(data_dir, **env),
    )
    assert created.returncode == 0, created.stderr
    return created.stdout.split("(")[-1].rstrip(")\n")


def test_import_publishes_and_transcodes_with_no_node_running(tmp_path: Path, folder: Path) -> None:
    data = tmp_path / "data"
    did = _artist(data)
    result = run_oms("import", str(folder), "--artist", "ada", "--jobs", "2", data_dir=data)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # some files failed; the good ones still landed
    assert "Traceback" not in output
    lines = _lines(result)
    assert {p for p, line in lines.items() if line.startswith("published")} == GOOD
    assert lines["Night Album/02 Second.flac"] == 'published: "Second" by Ada'
    assert lines[DUPLICATE] == "skipped: duplicate of Night Album/01 First.flac"
    for path, reason in BAD.items():
        assert lines[path].startswith(f"failed: {reason}"), lines[path]
    assert "8 files: 4 published, 1 skipped, 3 failed; 1 release" in result.stdout
    assert "release    'Night Album' published (3 tracks)" in result.stdout
    assert "transcoding 4 tracks here..." in result.stdout
    assert "4 of 4 tracks ready to play" in result.stdout

    # Playable with no server ever started: every ladder is complete on disk.
    media = query_node(data, "SELECT audio_cid, status, error FROM media ORDER BY audio_cid")
    assert [(status, error) for _, status, error in media] == [("ready", None)] * 4
    for cid, _, _ in media:
        master = m3u8.load(str(data / "hls" / did / cid / "master.m3u8"))
        assert master.playlists[0].uri == "aac128/index.m3u8"
    ordered = query_node(
        data,
        "SELECT t.title FROM release_tracks rt JOIN tracks t ON t.uri = rt.track_uri"
        " ORDER BY rt.position",
    )
    assert [title for (title,) in ordered] == ["First", "Second", "Third"]
    records = query_node(data, "SELECT collection, count(*) FROM records GROUP BY collection")

    # Run again: everything is there already, nothing is written twice.
    again = run_oms("import", str(folder), "--artist", "ada.localhost", data_dir=data)
    assert again.returncode == 1, again.stdout + again.stderr
    lines = _lines(again)
    assert {p for p, line in lines.items() if "already published as at://" in line} == GOOD
    assert "8 files: 0 published, 5 skipped, 3 failed; 1 release" in again.stdout
    assert "release    'Night Album' unchanged (3 tracks)" in again.stdout
    assert "4 of 4 tracks ready to play" in again.stdout
    assert (
        query_node(data, "SELECT collection, count(*) FROM records GROUP BY collection") == records
    )
    assert query_node(data, "SELECT count(*) FROM jobs WHERE kind = 'media.process'") == [(4,)]


def test_import_beside_a_serving_node(tmp_path: Path, folder: Path) -> None:
    server = start_oms(tmp_path / "data")
    try:
        server.wait_healthy()
        did = server.create_account("ada", PASSWORD)
        result = run_oms(
            "import", str(folder / "Night Album"), "--artist", "ada",
            data_dir=server.data_dir, env=server.env(),
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "transcoding 3 tracks by the node serving this data dir..." in result.stdout
        assert "3 of 3 tracks ready to play" in result.stdout
        # The node, which wrote none of these commits, indexed and transcoded them.
        in_path = did.replace("%", "%25")
        titles = query_node(server.data_dir, "SELECT audio_cid FROM tracks")
        assert len(titles) == 3
        for (cid,) in titles:
            answer = httpx.get(f"{server.url}/hls/{in_path}/{cid}/master.m3u8")
            assert answer.status_code == 200, answer.text
            assert answer.text.startswith("#EXTM3U")
        assert "Traceback" not in server.log()
    finally:
        assert server.stop() == 0

"""End to end: `oms serve --demo` as a newcomer runs it — a fresh data dir, the real binary,
and music to play within a minute: generated audio published under a demo artist, indexed,
transcoded and listed on the home page. A second start finds it and publishes nothing.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from oms.library.demo import DEMO_PIECES
from oms.media.ffmpeg_binary import locate_ffmpeg
from tests.conftest import OmsProcess, query_node, run_oms, start_oms

pytestmark = pytest.mark.slow


def _wait_playable(server: OmsProcess, count: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = query_node(server.data_dir, "SELECT count(*) FROM media WHERE status = 'ready'")
        indexed = query_node(server.data_dir, "SELECT count(*) FROM tracks")
        if ready == [(count,)] and indexed == [(count,)]:
            return
        assert server.process.poll() is None, server.log()
        time.sleep(0.5)
    raise AssertionError(f"the demo tracks were not playable after {timeout} s:\n{server.log()}")


def _mean_volume_db(url: str) -> float:
    """ffmpeg's mean volume of an HLS rendition, fetched over HTTP like a player would."""
    result = subprocess.run(
        [str(locate_ffmpeg().path), "-hide_banner", "-nostats", "-i", url,
         "-af", "volumedetect", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    line = next(x for x in result.stderr.splitlines() if "mean_volume:" in x)
    return float(line.split("mean_volume:")[1].split("dB")[0])


def test_serve_demo_gives_a_new_node_music_to_play(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_oms(data, "--demo")
    try:
        server.wait_healthy(timeout=120)  # the album is made and published before serving
        assert f"demo: published {len(DEMO_PIECES)} tracks by @demo.localhost" in server.log()
        _wait_playable(server, len(DEMO_PIECES))

        rows = query_node(
            data,
            "SELECT t.title, t.duration_ms, t.license, t.audio_cid, a.did FROM tracks t"
            " JOIN accounts a ON a.did = t.did ORDER BY t.track_number",
        )
        assert [r[0] for r in rows] == [p.title for p in DEMO_PIECES]
        for (_, duration_ms, license_, _, _), piece in zip(rows, DEMO_PIECES, strict=True):
            assert abs(duration_ms - piece.seconds * 1000) < 100
            assert license_ == "cc0-1.0"
        assert len({r[4] for r in rows}) == 1  # one demo artist

        home = httpx.get(f"{server.url}/", timeout=10).text
        assert "Open Air Sketches" in home
        assert all(p.title in home for p in DEMO_PIECES)
        releases = query_node(data, "SELECT title FROM releases")
        assert releases == [("Open Air Sketches",)]
        assert query_node(data, "SELECT count(*) FROM releases WHERE artwork_cid IS NOT NULL") == [
            (1,)
        ]

        # Music, not silence: the stream a player gets has sound in it.
        did, cid = rows[0][4], rows[0][3]
        master = f"{server.url}/hls/{did.replace('%', '%25')}/{cid}/master.m3u8"
        assert httpx.get(master, timeout=10).status_code == 200
        rendition = master.replace("master.m3u8", "aac128/index.m3u8")
        assert -40 < _mean_volume_db(rendition) < -6
        assert "Traceback" not in server.log()
    finally:
        assert server.stop() == 0

    again = start_oms(data, "--demo")
    try:
        again.wait_healthy(timeout=60)
        assert f"demo: already there: {len(DEMO_PIECES)} tracks by @demo.localhost" in again.log()
        tracks = query_node(data, "SELECT count(*) FROM records WHERE collection = 'fm.oms.track'")
        assert tracks == [(len(DEMO_PIECES),)]
    finally:
        assert again.stop() == 0


def test_serve_demo_refuses_a_demo_account_that_is_not_an_artist(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = run_oms(
        "account", "create", "--handle", "demo", "--password", "a long passphrase",
        "--role", "fan", data_dir=data,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    server = start_oms(data, "--demo")
    assert server.process.wait(60) == 1
    log = server.log()
    assert "oms: error: @demo.localhost is a fan account" in log, log
    assert "Traceback" not in log
    assert query_node(data, "SELECT count(*) FROM records WHERE collection = 'fm.oms.track'") == [
        (0,)
    ]

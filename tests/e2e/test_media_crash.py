"""`kill -9` of a node in the middle of transcoding: after a restart the job finishes, exactly
one complete ladder exists, and nothing of the interrupted attempt is left anywhere."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import m3u8
import pytest

from oms.media.ffmpeg_binary import locate_ffmpeg
from tests.conftest import OmsProcess, query_node, start_oms

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
SECONDS = 240  # about five seconds of transcoding on two cores: time enough to kill it


def _audio(folder: Path) -> bytes:
    path = folder / "long.flac"
    subprocess.run(
        [
            str(locate_ffmpeg().path), "-v", "error", "-f", "lavfi",
            "-i", f"sine=frequency=440:duration={SECONDS}:sample_rate=44100", "-ac", "2",
            str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path.read_bytes()


def _publish(server: OmsProcess, audio: bytes) -> tuple[str, dict[str, str], str]:
    server.create_account("ada", PASSWORD)
    session = httpx.post(
        f"{server.url}/xrpc/com.atproto.server.createSession",
        json={"identifier": "ada.localhost", "password": PASSWORD},
    ).json()
    did, auth = session["did"], {"Authorization": f"Bearer {session['accessJwt']}"}
    blob = httpx.post(
        f"{server.url}/xrpc/com.atproto.repo.uploadBlob",
        content=audio,
        headers={**auth, "Content-Type": "audio/flac"},
        timeout=60,
    ).json()["blob"]
    created = httpx.post(
        f"{server.url}/xrpc/com.atproto.repo.createRecord",
        headers=auth,
        json={
            "repo": did,
            "collection": "fm.oms.track",
            "record": {
                "$type": "fm.oms.track",
                "title": "Long Tone",
                "artists": [{"name": "Ada", "did": did, "role": "primary"}],
                "audio": blob,
                "license": "cc-by-4.0",
                "createdAt": "2024-05-01T12:00:00.000Z",
            },
        },
    )
    assert created.status_code == 200, created.text
    return did, auth, str(created.json()["uri"])


def _status(server: OmsProcess, uri: str, auth: dict[str, str]) -> dict[str, Any] | None:
    answer = httpx.get(
        f"{server.url}/xrpc/fm.oms.media.getStatus", params={"uri": uri}, headers=auth
    )
    if answer.status_code == 404 and answer.json()["error"] == "TrackNotFound":
        return None  # not indexed yet
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _wait_status(
    server: OmsProcess, uri: str, auth: dict[str, str], done: Any, seconds: float
) -> dict[str, Any]:
    started = time.monotonic()
    while True:
        body = _status(server, uri, auth)
        if body is not None and done(body):
            return body
        assert time.monotonic() - started < seconds, f"status still {body}\n{server.log()}"
        time.sleep(0.05)


def _writers_into(folder: Path) -> list[int]:
    """Processes whose command line names `folder` (an ffmpeg still writing a ladder)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if str(folder).encode() in cmdline:
            found.append(int(proc.name))
    return found


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_transcode_killed_with_9_finishes_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    audio = _audio(tmp_path)
    server = start_oms(data)
    try:
        server.wait_healthy()
        did, auth, uri = _publish(server, audio)
        # Well into the ladder pass: segments of every rendition are on disk in the partial.
        running = _wait_status(
            server, uri, auth, lambda b: b["status"] == "processing" and b["progress"] >= 10, 60
        )
        assert running["status"] == "processing"
    finally:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
    partials = data / "hls" / ".partial"
    assert any(p.suffix == ".m4s" for p in _files(partials)), "killed before any segment"
    # The ffmpeg of the killed node dies with it: nothing goes on writing into the partial.
    started = time.monotonic()
    while _writers_into(partials):
        assert time.monotonic() - started < 5, (
            f"ffmpeg outlived its node: {_writers_into(partials)}"
        )
        time.sleep(0.05)
    assert query_node(data, "SELECT status FROM media") == [("processing",)]

    restarted = start_oms(data, port=server.port)
    try:
        restarted.wait_healthy()
        ready = _wait_status(
            restarted, uri, auth, lambda b: b["status"] in ("ready", "failed"), 120
        )
        assert ready["status"] == "ready", ready
        assert ready["progress"] == 100
        assert ready["durationMs"] == pytest.approx(SECONDS * 1000, abs=100)
        assert "error" not in ready
        cid = ready["cid"]

        # Exactly one ladder, complete: every playlist's every file, and nothing else.
        hls = data / "hls"
        assert sorted(p.name for p in hls.iterdir() if p.name != ".partial") == [did]
        assert [p.name for p in (hls / did).iterdir()] == [cid]
        ladder = hls / did / cid
        master = m3u8.load(str(ladder / "master.m3u8"))
        assert sorted(v.uri for v in master.playlists) == [
            "aac128/index.m3u8", "aac256/index.m3u8", "aac64/index.m3u8", "flac/index.m3u8",
        ]  # fmt: skip
        expected = {ladder / "master.m3u8", ladder / "waveform.json"}
        for variant in master.playlists:
            playlist = ladder / variant.uri
            media = m3u8.load(str(playlist))
            assert media.is_endlist
            assert sum(s.duration for s in media.segments) == pytest.approx(SECONDS, abs=0.5)
            folder = playlist.parent
            expected |= {playlist, folder / media.segment_map[0].uri}
            expected |= {folder / s.uri for s in media.segments}
        assert set(_files(ladder)) == expected
        assert all(p.stat().st_size > 0 for p in expected)

        # Nothing of the killed attempt is left: no partial ladder, no upload temp file.
        assert _files(partials) == []
        assert _files(data / "blobs" / "tmp") == []
        jobs = query_node(data, "SELECT kind, state FROM jobs WHERE kind LIKE 'media.%'")
        assert jobs == [("media.process", "done")]
        log = restarted.log()
        assert "removed 1 partial media ladders left by a crash" in log
        assert "resumed 1 interrupted background jobs" in log

        # And it plays.
        in_path = did.replace("%", "%25")
        answer = httpx.get(f"{restarted.url}/hls/{in_path}/{cid}/master.m3u8")
        assert answer.status_code == 200
        segment = httpx.get(f"{restarted.url}/hls/{in_path}/{cid}/aac128/seg-00001.m4s")
        assert segment.status_code == 200
        assert len(segment.content) > 1000
    finally:
        restarted.stop()

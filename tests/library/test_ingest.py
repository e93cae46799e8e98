"""The media pipeline behind a track record: a real upload over XRPC becomes a complete HLS
ladder (and only a complete one), bad audio fails with its reason and leaves nothing, and
the ladder goes when no track uses the audio any more."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import m3u8
import pytest
from mutagen.flac import FLAC, Picture
from PIL import Image
from starlette.testclient import TestClient

from oms.app import create_app
from oms.context import AppContext
from tests.conftest import (
    make_settings,
    publish_track,
    query_node,
    sign_up,
    tone_flac,
    upload_blob,
)

X = "/xrpc/com.atproto."


@pytest.fixture(scope="module")
def flac(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return tone_flac(tmp_path_factory.mktemp("audio") / "tone.flac", 8)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, pds__open_signup=True)
    with TestClient(create_app(settings)) as client:
        yield client, data_dir


def _media(data_dir: Path) -> list[tuple[Any, ...]]:
    return query_node(data_dir, "SELECT status, error, audio_cid FROM media")


def _wait(data_dir: Path, done: Any, seconds: float = 60) -> list[tuple[Any, ...]]:
    started = time.monotonic()
    while True:
        rows = _media(data_dir)
        if done(rows):
            return rows
        assert time.monotonic() - started < seconds, f"media still {rows}"
        time.sleep(0.1)


def _serves_the_ladder(client: TestClient, stream_url: str) -> None:
    """What a player (and a CDN) sees: the master and media playlists parse, every address in
    them answers, segments take Range requests, and every file may be cached for good."""
    master_url = stream_url.removeprefix("http://localhost:8000")
    answer = client.get(master_url, headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200, f"{master_url}: {answer.text}"
    assert answer.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["access-control-allow-origin"] == "*"
    master = m3u8.loads(answer.text)
    assert master.is_variant
    base = master_url.rsplit("/", 1)[0]
    for variant in master.playlists:
        media = m3u8.loads(client.get(f"{base}/{variant.uri}").text)
        folder = variant.uri.rsplit("/", 1)[0]
        served = sum(len(client.get(f"{base}/{folder}/{s.uri}").content) for s in media.segments)
        init = client.get(f"{base}/{folder}/{media.segment_map[0].uri}")
        assert init.status_code == 200
        seconds = sum(s.duration for s in media.segments)
        measured = (served + len(init.content)) * 8 / seconds
        assert abs(variant.stream_info.average_bandwidth - measured) <= 0.1 * measured
    first = f"{base}/aac128/seg-00001.m4s"
    part = client.get(first, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert len(part.content) == 100
    assert client.head(first).status_code == 200
    assert client.get(f"{base}/../../etc/passwd").status_code == 404
    assert client.get(f"{base}/aac128/other.bin").status_code == 404
    assert client.options(first).headers["access-control-allow-headers"] == "Range"


def _publish(
    client: TestClient, audio: bytes, title: str, visibility: str = "public"
) -> tuple[str, dict[str, str], str]:
    did, auth = sign_up(client, "ada")
    blob = upload_blob(client, auth, audio)
    return did, auth, publish_track(client, auth, did, blob, title, visibility=visibility)


@pytest.mark.slow
def test_a_track_record_becomes_a_complete_ladder_and_goes_with_its_last_track(
    node: tuple[TestClient, Path], flac: bytes
) -> None:
    client, data_dir = node
    did, auth, uri = _publish(client, flac, "Tone")
    rows = _wait(data_dir, lambda rows: rows and rows[0][0] in ("ready", "failed"))
    assert rows[0][:2] == ("ready", None)
    cid = rows[0][2]
    ladder = data_dir / "hls" / did / cid
    assert (ladder / "master.m3u8").is_file()
    assert (ladder / "waveform.json").is_file()
    names = sorted(p.name for p in ladder.iterdir() if p.is_dir())
    assert names == ["aac128", "aac256", "aac64", "flac"]  # a lossless source gets FLAC
    assert not list((data_dir / "hls" / ".partial").rglob("*.m4s"))

    view = client.get("/xrpc/fm.oms.catalog.getTrack", params={"uri": uri}).json()["track"]
    in_path = did.replace("%", "%25")  # did:web:ada.localhost%3A8000, escaped in a URL
    assert view["streamUrl"].endswith(f"/hls/{in_path}/{cid}/master.m3u8")
    # ffmpeg's sine is at -18 dBFS: players are told to raise it to -14 LUFS, as far as the
    # true peak allows (-1 dBTP).
    loudness = view["loudness"]
    expected = min(
        -14_000 - loudness["integratedMilliLufs"], -1_000 - loudness["truePeakMilliDbtp"]
    )
    assert loudness["gainMilliDb"] == pytest.approx(expected, abs=2)
    assert loudness["gainMilliDb"] > 0
    assert view["waveformUrl"].endswith(f"/hls/{in_path}/{cid}/waveform.json")

    _serves_the_ladder(client, view["streamUrl"])

    rkey = uri.rsplit("/", 1)[1]
    deleted = client.post(
        X + "repo.deleteRecord",
        headers=auth,
        json={"repo": did, "collection": "fm.oms.track", "rkey": rkey},
    )
    assert deleted.status_code == 200
    _wait(data_dir, lambda rows: rows == [])
    started = time.monotonic()
    while ladder.exists():
        assert time.monotonic() - started < 10, "the unused ladder was not removed"
        time.sleep(0.05)


@pytest.mark.slow
def test_truncated_audio_fails_with_its_reason_and_leaves_nothing(
    node: tuple[TestClient, Path], flac: bytes
) -> None:
    client, data_dir = node
    did, _, uri = _publish(client, flac[: len(flac) // 2], "Half A Tone")
    rows = _wait(data_dir, lambda rows: rows and rows[0][0] in ("ready", "failed"))
    status, error, cid = rows[0]
    assert status == "failed"
    assert "truncated" in error
    assert not (data_dir / "hls" / did / cid).exists()
    assert not any((data_dir / "hls" / ".partial").rglob("*.*"))
    view = client.get("/xrpc/fm.oms.catalog.getTrack", params={"uri": uri}).json()["track"]
    assert "streamUrl" not in view
    assert client.get("/healthz").status_code == 200  # the node keeps serving


@pytest.mark.slow
def test_an_unlisted_stream_needs_its_signed_address(
    node: tuple[TestClient, Path], flac: bytes
) -> None:
    client, data_dir = node
    _, _, uri = _publish(client, flac, "Secret Tone", visibility="unlisted")
    _wait(data_dir, lambda rows: rows and rows[0][0] == "ready")
    view = client.get("/xrpc/fm.oms.catalog.getTrack", params={"uri": uri}).json()["track"]
    signed = view["streamUrl"].removeprefix("http://localhost:8000")
    bare, _, token = signed.partition("?t=")
    assert token
    assert client.get(bare).status_code == 403
    assert client.get(f"{bare}?t=1.forged").status_code == 403
    master = client.get(signed)
    assert master.status_code == 200
    assert master.headers["cache-control"].startswith("private")
    variant = next(line for line in master.text.splitlines() if line.endswith(f"?t={token}"))
    base = bare.rsplit("/", 1)[0]
    media = client.get(f"{base}/{variant}")
    assert media.status_code == 200
    segment = next(line for line in media.text.splitlines() if ".m4s" in line)
    assert segment.endswith(f"?t={token}")
    folder = variant.split("/", 1)[0]
    assert client.get(f"{base}/{folder}/{segment}").status_code == 200
    assert client.get(f"{base}/{folder}/{segment.split('?')[0]}").status_code == 403


@pytest.mark.slow
def test_the_picture_embedded_in_the_audio_becomes_the_tracks_artwork(
    node: tuple[TestClient, Path], flac: bytes, tmp_path: Path
) -> None:
    client, data_dir = node
    tagged = tmp_path / "tagged.flac"
    tagged.write_bytes(flac)
    cover = io.BytesIO()
    Image.new("RGB", (400, 400), (10, 120, 200)).save(cover, "JPEG")
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/jpeg", cover.getvalue()
    audio = FLAC(tagged)
    audio.add_picture(picture)
    audio.save()
    _, _, uri = _publish(client, tagged.read_bytes(), "Covered Tone")
    rows = _wait(data_dir, lambda rows: rows and rows[0][0] in ("ready", "failed"))
    assert rows[0][:2] == ("ready", None)
    view = client.get("/xrpc/fm.oms.catalog.getTrack", params={"uri": uri}).json()["track"]
    small = client.get(view["artwork"]["small"].removeprefix("http://localhost:8000"))
    assert small.status_code == 200
    assert Image.open(io.BytesIO(small.content)).size == (300, 300)
    large = client.get(view["artwork"]["large"].removeprefix("http://localhost:8000"))
    assert Image.open(io.BytesIO(large.content)).size == (300, 300)  # never upscaled


def test_media_a_crash_left_processing_is_queued_again_at_start(
    node: tuple[TestClient, Path], flac: bytes
) -> None:
    client, data_dir = node
    _publish(client, flac, "Tone")
    _wait(data_dir, lambda rows: rows and rows[0][0] in ("ready", "failed"))
    context: AppContext = client.app_state["context"]
    assert context.media is not None

    async def crashed_midway() -> None:
        async with context.db.transaction() as tx:
            await tx.execute("UPDATE media SET status = 'processing', progress = 42")

    client.portal.call(crashed_midway)
    assert client.portal.call(context.media.requeue_interrupted) == 1
    assert _media(data_dir)[0][0] == "queued"
    assert client.portal.call(context.media.requeue_interrupted) == 0

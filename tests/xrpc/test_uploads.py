"""fm.oms.media.describeUpload: an uploaded blob's audio, tags and cover, before publishing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.media.ffmpeg_binary import locate_ffmpeg
from oms.pds.lexicons import Lexicons
from oms.resources import lexicons_dir
from tests.conftest import make_settings, publish_track, sign_up, upload_blob
from tests.media.conftest import _tag_flac, generate, png_bytes

LEXICONS = Lexicons.load(lexicons_dir())
METHOD = "fm.oms.media.describeUpload"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("uploads")
    ffmpeg = locate_ffmpeg().path
    tagged = generate(ffmpeg, root / "tide.flac", 3, "-c:a", "flac", "-sample_fmt", "s16")
    _tag_flac(tagged, png_bytes())
    bare = generate(ffmpeg, root / "bare.mp3", 2, "-c:a", "libmp3lame", "-b:a", "128k")
    short = generate(ffmpeg, root / "blip.flac", 0.3, "-c:a", "flac")
    return {"tagged": tagged, "bare": bare, "short": short}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, dict]]:
    data = tmp_path_factory.mktemp("node") / "data"
    with TestClient(create_app(make_settings(data, pds__open_signup=True))) as client:
        did, auth = sign_up(client, "ana")
        yield client, did, auth


def _upload(client: TestClient, auth: dict[str, str], data: bytes, mime: str) -> dict[str, Any]:
    return upload_blob(client, auth, data, mime)


def _describe(client: TestClient, auth: dict[str, str], cid: str, **params: str) -> Any:
    return client.get(f"/xrpc/{METHOD}", params={"cid": cid, **params}, headers=auth)


def test_tags_and_cover_prefill_a_track(node: tuple, files: dict[str, Path]) -> None:
    client, did, auth = node
    blob = _upload(client, auth, files["tagged"].read_bytes(), "audio/flac")
    answer = _describe(client, auth, blob["ref"]["$link"], filename="tide.flac")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    LEXICONS.validate_output(METHOD, body)
    assert body["audio"]["lossless"] is True
    assert body["audio"]["codec"] == "flac"
    assert 2900 <= body["audio"]["durationMs"] <= 3100
    tags = body["tags"]
    assert tags["title"] == "Slow Tide"
    assert tags["artists"] == ["Dee Ek", "Eli Fo"]
    assert tags["album"] == "Shorelines"
    assert tags["trackNumber"] == 7
    assert tags["genres"] == ["Jazz", "Fusion"]
    assert tags["isrc"] == "GBAYE1900001"
    assert tags["lyrics"] == "Water rises"
    assert body["artwork"]["mimeType"] == "image/png"
    assert "duplicateOf" not in body
    # the cover is now a blob of the uploader: a track record may reference it
    cover = client.get(
        "/xrpc/com.atproto.sync.getBlob",
        params={"did": did, "cid": body["artwork"]["ref"]["$link"]},
    )
    assert cover.status_code == 200
    assert cover.content == png_bytes()


def test_untagged_audio_takes_its_title_from_the_file_name(
    node: tuple, files: dict[str, Path]
) -> None:
    client, _, auth = node
    blob = _upload(client, auth, files["bare"].read_bytes(), "audio/mpeg")
    body = _describe(client, auth, blob["ref"]["$link"], filename="../02 Night_Walk.mp3").json()
    LEXICONS.validate_output(METHOD, body)
    assert body["tags"]["title"] == "02 Night Walk"
    assert "artwork" not in body
    assert body["audio"]["lossless"] is False


def test_audio_already_published_is_named(node: tuple, files: dict[str, Path]) -> None:
    client, did, auth = node
    blob = _upload(client, auth, files["bare"].read_bytes(), "audio/mpeg")
    uri = publish_track(client, auth, did, blob, "Night Walk")
    for _ in range(100):
        body = _describe(client, auth, blob["ref"]["$link"]).json()
        if "duplicateOf" in body:
            break
        time.sleep(0.05)
    assert body["duplicateOf"] == uri


def test_unusable_audio_is_refused_with_its_reason(node: tuple, files: dict[str, Path]) -> None:
    client, _, auth = node
    blob = _upload(client, auth, files["short"].read_bytes(), "audio/flac")
    answer = _describe(client, auth, blob["ref"]["$link"])
    assert answer.status_code == 400
    assert answer.json()["error"] == "InvalidMedia"
    assert "short" in answer.json()["message"]
    whole = files["tagged"].read_bytes()
    cut = _upload(client, auth, whole[: len(whole) // 2], "audio/flac")
    answer = _describe(client, auth, cut["ref"]["$link"])
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("truncated FLAC: decoding stopped at")
    image = _upload(client, auth, png_bytes(), "image/png")
    answer = _describe(client, auth, image["ref"]["$link"])
    assert answer.status_code == 400
    assert "not audio" in answer.json()["message"]


def test_only_the_uploader_may_describe_a_blob(node: tuple, files: dict[str, Path]) -> None:
    client, _, auth = node
    blob = _upload(client, auth, files["tagged"].read_bytes(), "audio/flac")
    _, other = sign_up(client, "eve")
    answer = _describe(client, other, blob["ref"]["$link"])
    assert answer.status_code == 404
    assert answer.json()["error"] == "BlobNotFound"
    assert _describe(client, {}, blob["ref"]["$link"]).status_code == 401

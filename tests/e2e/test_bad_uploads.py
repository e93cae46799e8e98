"""Bad input over XRPC, the way artists' clients send it: each file is refused with a specific
reason (uploadBlob's answer, or fm.oms.media.getStatus once the record exists), leaves no
temporary file behind, and the node goes on serving: a good track afterwards becomes ready."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mutagen.flac import FLAC, Picture
from starlette.testclient import TestClient

from oms.app import create_app
from oms.media.ffmpeg_binary import locate_ffmpeg
from oms.media.tags import read_tags
from oms.pds.lexicons import Lexicons
from oms.resources import lexicons_dir
from tests.conftest import make_settings, publish_track, sign_up, upload_blob

pytestmark = pytest.mark.slow

X = "/xrpc/com.atproto."
STATUS = "/xrpc/fm.oms.media.getStatus"
LEXICONS = Lexicons.load(lexicons_dir())
LIMIT_MB = 2


def _generate(out: Path, seconds: float, *codec: str) -> bytes:
    subprocess.run(
        [
            str(locate_ffmpeg().path), "-v", "error", "-y", "-f", "lavfi",
            "-i", f"sine=frequency=440:duration={seconds}:sample_rate=44100", "-ac", "2",
            *codec, str(out),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    return out.read_bytes()


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("audio")
    return {
        "flac": _generate(folder / "tone.flac", 3),
        "other": _generate(folder / "other.flac", 4),
        "good": _generate(folder / "good.flac", 2),
        "long": _generate(folder / "long.flac", 60),
        "mp3": _generate(folder / "tone.mp3", 3, "-b:a", "64k"),
    }


@dataclass
class Node:
    client: TestClient
    data_dir: Path
    names: list[str] = field(default_factory=list)

    def artist(self) -> tuple[str, dict[str, str]]:
        self.names.append(f"artist{len(self.names)}")
        return sign_up(self.client, self.names[-1])

    def upload(self, auth: dict[str, str], content: Any, mime: str) -> Any:
        return self.client.post(
            X + "repo.uploadBlob", content=content, headers={**auth, "Content-Type": mime}
        )

    def blob(self, auth: dict[str, str], content: bytes, mime: str = "audio/flac") -> Any:
        return upload_blob(self.client, auth, content, mime)

    def publish(self, did: str, auth: dict[str, str], blob: Any, title: str) -> str:
        return publish_track(self.client, auth, did, blob, title)

    def status(self, uri: str, auth: dict[str, str]) -> dict[str, Any] | None:
        answer = self.client.get(STATUS, params={"uri": uri}, headers=auth)
        if answer.status_code == 404 and answer.json()["error"] == "TrackNotFound":
            return None
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        LEXICONS.validate_output("fm.oms.media.getStatus", body)
        return body

    def settled(self, uri: str, auth: dict[str, str], seconds: float = 60) -> dict[str, Any]:
        started = time.monotonic()
        while True:
            body = self.status(uri, auth)
            if body is not None and body["status"] in ("ready", "failed"):
                return body
            assert time.monotonic() - started < seconds, f"status still {body}"
            time.sleep(0.05)

    def failure(self, uri: str, auth: dict[str, str]) -> str:
        body = self.settled(uri, auth)
        assert body["status"] == "failed", body
        assert "streamUrl" not in body
        assert not (self.data_dir / "hls" / body["did"] / body["cid"]).exists()
        return str(body["error"])

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(f"{(self.data_dir / 'oms.sqlite3').as_uri()}?mode=ro", uri=True)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def assert_clean(self) -> None:
        """No upload temp file, no partial ladder; and the node still answers."""
        assert _files(self.data_dir / "blobs" / "tmp") == []
        assert _files(self.data_dir / "hls" / ".partial") == []
        assert self.client.get("/healthz").status_code == 200


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    data_dir = tmp_path_factory.mktemp("bad-uploads") / "data"
    settings = make_settings(data_dir, pds__open_signup=True, pds__blob_max_mb=LIMIT_MB)
    with TestClient(create_app(settings)) as client:
        yield Node(client, data_dir)


def test_a_text_file_named_mp3(node: Node) -> None:
    did, auth = node.artist()
    text = b"These are the lyrics, not the song.\n" * 50
    refused = node.upload(auth, text, "audio/mpeg")
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "InvalidRequest",
        "message": "the upload is declared audio/mpeg but its content is text",
    }
    # A client that declares nothing specific gets it stored; a record claiming it is audio
    # then fails in the pipeline, with the reason.
    blob = node.blob(auth, text, "application/octet-stream")
    uri = node.publish(did, auth, {**blob, "mimeType": "audio/mpeg"}, "Lyrics.mp3")
    assert node.failure(uri, auth) == "not an audio file: ffmpeg recognises no audio format in it"
    node.assert_clean()


def test_a_truncated_flac(node: Node, audio: dict[str, bytes]) -> None:
    did, auth = node.artist()
    uri = node.publish(did, auth, node.blob(auth, audio["flac"][: len(audio["flac"]) // 2]), "Cut")
    assert node.failure(uri, auth).startswith("truncated FLAC: decoding stopped at 0:01 of 0:03")
    node.assert_clean()


def test_an_empty_file(node: Node) -> None:
    _, auth = node.artist()
    refused = node.upload(auth, b"", "audio/flac")
    assert refused.status_code == 400
    assert refused.json() == {"error": "InvalidRequest", "message": "the upload is empty"}
    node.assert_clean()


def test_a_file_over_the_blob_limit(node: Node) -> None:
    _, auth = node.artist()
    limit = LIMIT_MB * 1024 * 1024
    big = b"fLaC" + bytes(limit)
    refused = node.upload(auth, big, "audio/flac")
    assert refused.status_code == 413
    assert refused.json() == {
        "error": "BlobTooLarge",
        "message": f"the upload ({len(big)} bytes) is larger than the node's limit of "
        f"{LIMIT_MB} MB a file (pds.blob_max_mb) ({limit} bytes)",
    }

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused once past the limit
        for start in range(0, len(big), 256 * 1024):
            yield big[start : start + 256 * 1024]

    streamed = node.upload(auth, chunks(), "audio/flac")
    assert streamed.status_code == 413
    assert streamed.json()["message"] == (
        f"the upload is larger than the node's limit of {LIMIT_MB} MB a file (pds.blob_max_mb) "
        f"({limit} bytes)"
    )
    node.assert_clean()


def test_a_ten_hour_file(node: Node, audio: dict[str, bytes]) -> None:
    """A FLAC whose STREAMINFO says 10 hours (44,100 Hz x 36,000 s samples): what a real
    ten-hour master declares, in a few kilobytes."""
    did, auth = node.artist()
    flac = bytearray(audio["other"])
    assert flac[:4] == b"fLaC"
    assert flac[4] & 0x7F == 0  # STREAMINFO comes first
    field_at = 8 + 10  # rate (20 bits), channels (3), depth (5), total samples (36)
    packed = int.from_bytes(flac[field_at : field_at + 8], "big")
    packed = (packed & ~(2**36 - 1)) | (44_100 * 36_000)
    flac[field_at : field_at + 8] = packed.to_bytes(8, "big")
    uri = node.publish(did, auth, node.blob(auth, bytes(flac)), "Drone For Ten Hours")
    assert node.failure(uri, auth) == "duration 10:00:00 is over the 3:00:00 limit"
    node.assert_clean()


def test_tags_mutagen_cannot_parse_do_not_stop_the_audio(
    node: Node, audio: dict[str, bytes], tmp_path: Path
) -> None:
    """Tags are a courtesy: a FLAC whose Vorbis comment block lies about its length (mutagen
    gives up on the file; ffmpeg plays it) and that embeds a picture still becomes a stream."""
    path = tmp_path / "garbled.flac"
    path.write_bytes(audio["flac"])
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/png", b"\x89PNG\r\n\x1a\n" + bytes(64)
    tagged = FLAC(path)
    tagged["title"] = "Garbled"
    tagged.add_picture(picture)
    tagged.save()
    data = bytearray(path.read_bytes())
    at = 4
    while data[at] & 0x7F != 4:  # to the VORBIS_COMMENT block
        assert not data[at] & 0x80, "no Vorbis comment block"
        at += 4 + int.from_bytes(data[at + 1 : at + 4], "big")
    data[at + 4 : at + 8] = (0xFFFFFF00).to_bytes(4, "little")  # the vendor string's length
    path.write_bytes(data)
    assert read_tags(path).problems[0].startswith("unreadable tags: error: file said")

    did, auth = node.artist()
    uri = node.publish(did, auth, node.blob(auth, bytes(data)), "Garbled")
    body = node.settled(uri, auth)
    assert body["status"] == "ready", body
    assert body["durationMs"] == pytest.approx(3000, abs=50)
    node.assert_clean()


def test_the_same_audio_published_twice(node: Node, audio: dict[str, bytes]) -> None:
    """Two records of one artist may reference one blob: one media row, one transcode, one
    ladder; getStatus answers for either; deleting one keeps the other's stream."""
    did, auth = node.artist()
    first = node.blob(auth, audio["mp3"], "audio/mpeg")
    again = node.blob(auth, audio["mp3"], "audio/mpeg")
    assert again == first  # the same bytes are the same blob
    cid = first["ref"]["$link"]
    one = node.publish(did, auth, first, "Tone")
    done = node.settled(one, auth)
    assert done["status"] == "ready"
    two = node.publish(did, auth, again, "Tone (Again)")
    started = time.monotonic()
    while (body := node.status(two, auth)) is None:
        assert time.monotonic() - started < 5
        time.sleep(0.02)
    assert body["status"] == "ready"
    assert body["tracks"] == [one, two]
    assert node.status(one, auth) == body
    jobs = node.query(
        "SELECT state, attempts FROM jobs WHERE kind = 'media.process' AND dedupe_key = ?",
        f"{did} {cid}",
    )
    assert jobs == [("done", 1)]  # transcoded once
    assert node.query("SELECT count(*) FROM media WHERE did = ?", did) == [(1,)]

    rkey = one.rsplit("/", 1)[1]
    deleted = node.client.post(
        X + "repo.deleteRecord",
        headers=auth,
        json={"repo": did, "collection": "fm.oms.track", "rkey": rkey},
    )
    assert deleted.status_code == 200
    started = time.monotonic()
    while node.status(one, auth) is not None:
        assert time.monotonic() - started < 5
        time.sleep(0.02)
    time.sleep(0.5)  # time for a removal job, if one were (wrongly) queued
    body = node.status(two, auth)
    assert body is not None
    assert (body["status"], body["tracks"]) == ("ready", [two])
    ladder = node.data_dir / "hls" / did / cid
    assert (ladder / "master.m3u8").is_file()
    assert node.query("SELECT count(*) FROM jobs WHERE kind = 'media.remove'") == [(0,)]
    in_path = did.replace("%", "%25")
    assert node.client.get(f"/hls/{in_path}/{cid}/master.m3u8").status_code == 200
    node.assert_clean()


def test_a_track_deleted_while_its_audio_is_processed_leaves_no_ladder(
    node: Node, audio: dict[str, bytes]
) -> None:
    did, auth = node.artist()
    blob = node.blob(auth, audio["long"])
    cid = blob["ref"]["$link"]
    uri = node.publish(did, auth, blob, "Gone Soon")
    started = time.monotonic()
    while (body := node.status(uri, auth)) is None or body["status"] != "processing":
        assert body is None or body["status"] == "queued", body
        assert time.monotonic() - started < 30
        time.sleep(0.01)
    deleted = node.client.post(
        X + "repo.deleteRecord",
        headers=auth,
        json={"repo": did, "collection": "fm.oms.track", "rkey": uri.rsplit("/", 1)[1]},
    )
    assert deleted.status_code == 200
    key = f"{did} {cid}"
    started = time.monotonic()
    while node.query(
        "SELECT 1 FROM jobs WHERE dedupe_key = ? AND state IN ('queued', 'running')", key
    ):
        assert time.monotonic() - started < 60
        time.sleep(0.05)
    assert node.query("SELECT count(*) FROM media WHERE did = ?", did) == [(0,)]
    assert not (node.data_dir / "hls" / did / cid).exists()
    assert _files(node.data_dir / "hls" / did) == []
    node.assert_clean()


def test_after_all_that_a_good_track_becomes_ready(node: Node, audio: dict[str, bytes]) -> None:
    did, auth = node.artist()
    uri = node.publish(did, auth, node.blob(auth, audio["good"]), "Good")
    body = node.settled(uri, auth)
    assert body["status"] == "ready", body
    assert node.client.get(body["streamUrl"].removeprefix("http://localhost:8000")).is_success
    failed = node.query("SELECT error FROM media WHERE status = 'failed' ORDER BY error")
    assert [row[0].split(":")[0] for row in failed] == [
        "duration 10",
        "not an audio file",
        "truncated FLAC",
    ]
    node.assert_clean()

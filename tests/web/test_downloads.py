"""`/download/<did>/<cid>`: the original master of a track whose artist allows downloads, as
a named attachment with Range and ETag; refused clearly otherwise."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.pds.lexicons import Lexicons
from oms.resources import lexicons_dir
from tests.conftest import make_settings, sign_up

X = "/xrpc/com.atproto."
LEXICONS = Lexicons.load(lexicons_dir())
BASE = "http://localhost:8000"


@dataclass
class Published:
    uri: str
    cid: str
    audio: bytes
    view: dict[str, Any]


@dataclass
class Node:
    client: TestClient
    did: str
    auth: dict[str, str]

    def publish(
        self, title: str, artist: str, mime: str = "audio/flac", **fields: Any
    ) -> Published:
        head = {"audio/flac": b"fLaC", "audio/mpeg": b"ID3\x04"}[mime]
        audio = head + os.urandom(20_000)
        blob = self.client.post(
            X + "repo.uploadBlob", content=audio, headers={**self.auth, "Content-Type": mime}
        ).json()["blob"]
        record = {
            "$type": "fm.oms.track",
            "title": title,
            "artists": [
                {"name": "Someone Featured", "role": "featured"},
                {"name": artist, "did": self.did, "role": "primary"},
            ],
            "audio": blob,
            "license": "cc-by-4.0",
            "createdAt": "2024-05-01T12:00:00.000Z",
            **fields,
        }
        created = self.client.post(
            X + "repo.createRecord",
            headers=self.auth,
            json={"repo": self.did, "collection": "fm.oms.track", "record": record},
        )
        assert created.status_code == 200, created.text
        uri = created.json()["uri"]
        started = time.monotonic()
        while (
            answer := self.client.get("/xrpc/fm.oms.catalog.getTrack", params={"uri": uri})
        ).status_code != 200:
            assert time.monotonic() - started < 5, answer.text
            time.sleep(0.02)
        body = answer.json()
        LEXICONS.validate_output("fm.oms.catalog.getTrack", body)
        return Published(uri, blob["ref"]["$link"], audio, body["track"])


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    data_dir = tmp_path_factory.mktemp("downloads") / "data"
    with TestClient(create_app(make_settings(data_dir, pds__open_signup=True))) as client:
        did, auth = sign_up(client, "bjork")
        yield Node(client, did, auth)


def _path(url: str) -> str:
    assert url.startswith(BASE), url
    return url.removeprefix(BASE)


def test_a_downloadable_track_serves_its_original_as_a_named_attachment(node: Node) -> None:
    track = node.publish('Jóga / Live: "Take 2"', "Björk", downloadable=True)
    in_path = node.did.replace("%", "%25")
    assert track.view["downloadUrl"] == f"{BASE}/download/{in_path}/{track.cid}"
    url = _path(track.view["downloadUrl"])
    answer = node.client.get(url)
    assert answer.status_code == 200, answer.text
    assert answer.content == track.audio
    assert answer.headers["content-type"] == "audio/flac"
    name = "Björk - Jóga _ Live_ _Take 2.flac"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="Bjork - Joga _ Live_ _Take 2.flac"; '
        f"filename*=UTF-8''{quote(name, safe='')}"
    )
    etag = answer.headers["etag"]
    assert etag == f'"{track.cid}"'
    assert answer.headers["accept-ranges"] == "bytes"

    part = node.client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == track.audio[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(track.audio)}"
    # A resumed download of a changed file would get the whole file; this one is unchanged.
    resumed = node.client.get(url, headers={"Range": "bytes=19000-", "If-Range": etag})
    assert resumed.status_code == 206
    assert resumed.content == track.audio[19000:]
    assert node.client.get(url, headers={"If-None-Match": etag}).status_code == 304
    head = node.client.head(url)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(track.audio))


def test_an_ascii_name_has_no_extended_form_and_mp3_keeps_its_extension(node: Node) -> None:
    track = node.publish("..Intro", "DJ Koze", mime="audio/mpeg", downloadable=True)
    answer = node.client.get(_path(track.view["downloadUrl"]))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "audio/mpeg"
    assert answer.headers["content-disposition"] == 'attachment; filename="DJ Koze - ..Intro.mp3"'


def test_downloads_the_artist_does_not_allow_are_refused(node: Node) -> None:
    track = node.publish("Stream Only", "Björk")
    assert track.view["downloadable"] is False
    assert "downloadUrl" not in track.view
    answer = node.client.get(f"/download/{node.did.replace('%', '%25')}/{track.cid}")
    assert answer.status_code == 403
    assert answer.json() == {
        "error": "Forbidden",
        "message": "the artist does not allow downloading this track",
    }


def test_unknown_audio_is_not_found(node: Node) -> None:
    in_path = node.did.replace("%", "%25")
    unknown = "bafkreidovowin34rac7ckdqel4t5eorwpq3rzllt7pipihljcnnupznioq"
    answer = node.client.get(f"/download/{in_path}/{unknown}")
    assert answer.status_code == 404
    assert answer.json()["message"] == "no track on this node uses this audio"
    assert node.client.get(f"/download/not-a-did/{unknown}").status_code == 404
    assert node.client.get(f"/download/{in_path}/..%2F..%2Fetc").status_code == 404


def test_an_unlisted_download_needs_its_signed_address(node: Node) -> None:
    track = node.publish("Demo", "Björk", visibility="unlisted", downloadable=True)
    signed = _path(track.view["downloadUrl"])
    bare, _, token = signed.partition("?t=")
    assert token
    assert track.view.get("streamUrl", f"?t={token}").endswith(f"?t={token}")
    for refused in (bare, f"{bare}?t=1.forged", f"{bare}?t={token[:-2]}xx"):
        answer = node.client.get(refused)
        assert answer.status_code == 403
        assert answer.json()["message"] == "this download needs a valid, unexpired address"
    answer = node.client.get(signed)
    assert answer.status_code == 200
    assert answer.content == track.audio
    assert answer.headers["cache-control"].startswith("private")

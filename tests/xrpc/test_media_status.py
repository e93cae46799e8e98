"""fm.oms.media.getStatus over HTTP: an artist follows their audio from upload to a playable
stream (or to the reason it failed); every answer matches the lexicon; the media of unlisted
tracks stays hidden from everyone but their artist."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.pds.lexicons import Lexicons
from oms.resources import lexicons_dir
from tests.conftest import make_settings, publish_track, sign_up, tone_flac, upload_blob

X = "/xrpc/com.atproto."
STATUS = "fm.oms.media.getStatus"
LEXICONS = Lexicons.load(lexicons_dir())


@pytest.fixture(scope="module")
def flac(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return tone_flac(tmp_path_factory.mktemp("audio") / "tone.flac", 3, frequency=330)


@dataclass
class Node:
    client: TestClient

    def status(self, auth: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
        answer = self.client.get(f"/xrpc/{STATUS}", params=params, headers=auth or {})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        LEXICONS.validate_output(STATUS, body)
        return body

    def fails(
        self, status: int, auth: dict[str, str] | None = None, **params: str
    ) -> dict[str, str]:
        answer = self.client.get(f"/xrpc/{STATUS}", params=params, headers=auth or {})
        assert answer.status_code == status, answer.text
        body: dict[str, str] = answer.json()
        return body

    def upload(self, auth: dict[str, str], audio: bytes) -> dict[str, Any]:
        return upload_blob(self.client, auth, audio)

    def publish(
        self, did: str, auth: dict[str, str], blob: dict[str, Any], title: str, **fields: Any
    ) -> str:
        return publish_track(self.client, auth, did, blob, title, **fields)

    def settled(
        self, uri: str, auth: dict[str, str] | None = None, seconds: float = 60
    ) -> dict[str, Any]:
        """getStatus of `uri` once the catalog has it and processing has ended."""
        started = time.monotonic()
        seen: set[str] = set()
        while True:
            answer = self.client.get(f"/xrpc/{STATUS}", params={"uri": uri}, headers=auth or {})
            if answer.status_code == 200:
                body: dict[str, Any] = answer.json()
                LEXICONS.validate_output(STATUS, body)
                seen.add(body["status"])
                assert 0 <= body["progress"] <= 100
                if body["status"] in ("ready", "failed"):
                    body["seen"] = seen
                    return body
            else:
                # Only until the catalog has indexed the new record (within a second).
                assert answer.json()["error"] == "TrackNotFound", answer.text
            assert time.monotonic() - started < seconds, f"still {answer.text}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    data_dir = tmp_path_factory.mktemp("media-status") / "data"
    with TestClient(create_app(make_settings(data_dir, pds__open_signup=True))) as client:
        yield Node(client)


def test_a_track_is_followed_from_queued_to_ready(node: Node, flac: bytes) -> None:
    did, auth = sign_up(node.client, "ada")
    blob = node.upload(auth, flac)
    cid = blob["ref"]["$link"]
    uri = node.publish(did, auth, blob, "Tone")
    body = node.settled(uri)
    assert body["status"] == "ready", body
    assert body["seen"] <= {"queued", "processing", "ready"}
    assert body["progress"] == 100
    assert "error" not in body
    assert (body["did"], body["cid"], body["tracks"]) == (did, cid, [uri])
    assert body["durationMs"] == pytest.approx(3000, abs=50)
    assert body["readyAt"] >= body["updatedAt"][:19]
    in_path = did.replace("%", "%25")
    assert body["streamUrl"] == f"http://localhost:8000/hls/{in_path}/{cid}/master.m3u8"
    master = node.client.get(body["streamUrl"].removeprefix("http://localhost:8000"))
    assert master.status_code == 200
    assert master.text.startswith("#EXTM3U")
    # The same media, asked by its blob: anonymously, and naming the repository.
    del body["seen"]
    assert node.status(cid=cid) == body
    assert node.status(cid=cid, did=did) == body


def test_a_failure_says_why(node: Node, flac: bytes) -> None:
    did, auth = sign_up(node.client, "bea")
    uri = node.publish(did, auth, node.upload(auth, flac[: len(flac) // 2]), "Half A Tone")
    body = node.settled(uri)
    assert body["status"] == "failed"
    assert body["error"].startswith("truncated FLAC: decoding stopped at 0:01 of 0:03"), body
    assert body["progress"] < 100
    assert "streamUrl" not in body
    assert "durationMs" not in body


def test_unlisted_media_is_only_shown_to_its_artist(node: Node, flac: bytes) -> None:
    did, auth = sign_up(node.client, "cleo")
    _, other = sign_up(node.client, "dora")
    # Other bytes than the public tracks': this audio is used by an unlisted track only.
    blob = node.upload(auth, _padded(flac, 16))
    cid = blob["ref"]["$link"]
    uri = node.publish(did, auth, blob, "Secret", visibility="unlisted")
    body = node.settled(uri, auth)
    assert body["status"] == "ready"
    assert body["tracks"] == [uri]
    assert "?t=" in body["streamUrl"]
    assert node.client.get(body["streamUrl"].removeprefix("http://localhost:8000")).is_success
    # Anyone else: as if there were nothing.
    for who in (None, other):
        assert node.fails(404, who, uri=uri)["error"] == "TrackNotFound"
        assert node.fails(404, who, cid=cid)["error"] == "MediaNotFound"
        assert node.fails(404, who, cid=cid, did=did)["error"] == "MediaNotFound"
    assert node.status(auth, cid=cid)["tracks"] == [uri]


def test_a_blob_of_several_accounts_answers_for_the_asker(node: Node, flac: bytes) -> None:
    """Two accounts upload the same bytes (one CID): a cid alone means the caller's own media,
    else the one a public track uses; each repository's tracks stay its own."""
    audio = _padded(flac, 32)
    eve, eve_auth = sign_up(node.client, "eve")
    fay, fay_auth = sign_up(node.client, "fay")
    public = node.publish(eve, eve_auth, node.upload(eve_auth, audio), "Shared")
    hidden = node.publish(
        fay, fay_auth, node.upload(fay_auth, audio), "Hidden", visibility="unlisted"
    )
    node.settled(public)
    node.settled(hidden, fay_auth)
    cid = node.status(uri=public)["cid"]
    anonymous = node.status(cid=cid)
    assert (anonymous["did"], anonymous["tracks"]) == (eve, [public])
    own = node.status(fay_auth, cid=cid)
    assert (own["did"], own["tracks"]) == (fay, [hidden])
    assert node.status(fay_auth, cid=cid, did=eve)["tracks"] == [public]


def test_bad_params_are_clear_errors(node: Node) -> None:
    uri = "at://did:web:nobody.localhost/fm.oms.track/3kaaaaaaaaaaa"
    cid = "bafkreidovowin34rac7ckdqel4t5eorwpq3rzllt7pipihljcnnupznioq"
    neither = node.fails(400)
    assert neither["message"] == "give either uri (a track's AT-URI) or cid (an audio blob's CID)"
    assert node.fails(400, uri=uri, cid=cid)["message"] == neither["message"]
    both = node.fails(400, uri=uri, did="did:web:nobody.localhost")
    assert both["message"] == "did goes with cid; a track's uri already names its repository"
    assert node.fails(400, cid="not-a-cid")["error"] == "InvalidRequest"
    assert node.fails(404, uri=uri) == {
        "error": "TrackNotFound",
        "message": f"no track {uri} in the catalog",
    }
    assert node.fails(404, cid=cid) == {
        "error": "MediaNotFound",
        "message": f"this node is not processing the audio {cid}",
    }
    assert node.fails(401, {"Authorization": "Bearer nonsense"}, cid=cid)["error"] == (
        "InvalidToken"
    )


def _padded(flac: bytes, size: int) -> bytes:
    """The same audio as other bytes (another CID): a PADDING block after STREAMINFO."""
    assert flac[4] & 0x80 == 0, "STREAMINFO is not the last metadata block"
    streaminfo_end = 4 + 4 + 34
    padding = bytes([0x01]) + size.to_bytes(3, "big") + bytes(size)
    return flac[:streaminfo_end] + padding + flac[streaminfo_end:]

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.context import AppContext
from oms.media.ffmpeg_binary import locate_ffmpeg
from oms.pds import blobs
from oms.pds.accounts import create_account
from oms.pds.dagcbor import Codec, cid_for, cid_to_str
from tests.conftest import make_settings

PASSWORD = "correct horse battery staple"
MB = 1024 * 1024


@dataclass
class Node:
    client: TestClient
    context: AppContext
    did: str
    token: str
    data_dir: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def upload(self, body: bytes, mime: str, **headers: str) -> dict[str, object]:
        response = self.client.post(
            "/xrpc/com.atproto.repo.uploadBlob",
            content=body,
            headers={**self.auth, "Content-Type": mime, **headers},
        )
        assert response.status_code == 200, response.text
        blob: dict[str, object] = response.json()["blob"]
        return blob

    def stored_files(self) -> list[Path]:
        return [p for p in (self.data_dir / "blobs").rglob("*") if p.is_file()]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, pds__blob_max_mb=1)
    with TestClient(create_app(settings)) as client:
        context: AppContext = client.app_state["context"]
        account = client.portal.call(
            functools.partial(
                create_account,
                context.db,
                context.keys,
                name="alice",
                password=PASSWORD,
                role="artist",
                hostname=settings.hostname,
            )
        )
        session = client.post(
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": account.handle, "password": PASSWORD},
        )
        assert session.status_code == 200, session.text
        yield Node(client, context, account.did, session.json()["accessJwt"], data_dir)


def _sine(tmp_path_factory: pytest.TempPathFactory, suffix: str) -> bytes:
    out = tmp_path_factory.mktemp("audio") / f"sine.{suffix}"
    subprocess.run(
        [
            str(locate_ffmpeg().path),
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1",
            str(out),
        ],
        check=True,
        timeout=60,
    )
    return out.read_bytes()


@pytest.fixture(scope="module")
def flac(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _sine(tmp_path_factory, "flac")


@pytest.fixture(scope="module")
def mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _sine(tmp_path_factory, "mp3")


def test_a_flac_upload_comes_back_whole_and_by_range(node: Node, flac: bytes) -> None:
    blob = node.upload(flac, "audio/flac")
    cid = cid_to_str(cid_for(flac, Codec.RAW))
    assert blob == {
        "$type": "blob",
        "ref": {"$link": cid},
        "mimeType": "audio/flac",
        "size": len(flac),
    }

    url = "/xrpc/com.atproto.sync.getBlob"
    params = {"did": node.did, "cid": cid}
    whole = node.client.get(url, params=params)
    assert whole.status_code == 200
    assert whole.content == flac
    assert whole.headers["content-type"] == "audio/flac"
    assert whole.headers["content-length"] == str(len(flac))
    assert whole.headers["etag"] == f'"{cid}"'
    assert "immutable" in whole.headers["cache-control"]
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert whole.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert "content-disposition" not in whole.headers

    part = node.client.get(url, params=params, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.content == flac[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(flac)}"
    tail = node.client.get(url, params=params, headers={"Range": "bytes=-10"})
    assert (tail.status_code, tail.content) == (206, flac[-10:])

    beyond = node.client.get(url, params=params, headers={"Range": f"bytes={len(flac)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(flac)}"

    head = node.client.head(url, params=params)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(flac))

    cached = node.client.get(url, params=params, headers={"If-None-Match": f'"{cid}"'})
    assert cached.status_code == 304
    assert cached.content == b""


def test_an_mp3_upload_is_accepted_once_however_often_it_is_sent(node: Node, mp3: bytes) -> None:
    first = node.upload(mp3, "audio/mpeg")
    second = node.upload(mp3, "audio/mpeg")
    assert first == second
    assert first["mimeType"] == "audio/mpeg"
    assert len(node.stored_files()) == 1


def test_text_declared_as_audio_is_refused_and_nothing_is_kept(node: Node) -> None:
    response = node.client.post(
        "/xrpc/com.atproto.repo.uploadBlob",
        content=b"Definitely an mp3, trust me.\n" * 100,
        headers={**node.auth, "Content-Type": "audio/mpeg"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "InvalidRequest"
    assert "audio/mpeg" in response.json()["message"]
    assert "text" in response.json()["message"]
    assert node.stored_files() == []


def test_an_upload_over_the_limit_is_refused(node: Node) -> None:
    too_big = b"fLaC" + bytes(2 * MB)
    declared = node.client.post(
        "/xrpc/com.atproto.repo.uploadBlob",
        content=too_big,
        headers={**node.auth, "Content-Type": "audio/flac"},
    )
    assert declared.status_code == 413
    assert declared.json()["error"] == "BlobTooLarge"

    def unannounced() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
        for start in range(0, len(too_big), 64 * 1024):
            yield too_big[start : start + 64 * 1024]

    streamed = node.client.post(
        "/xrpc/com.atproto.repo.uploadBlob",
        content=unannounced(),
        headers={**node.auth, "Content-Type": "audio/flac"},
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"] == "BlobTooLarge"
    assert node.stored_files() == []


def test_uploading_needs_a_signed_in_account(node: Node, flac: bytes) -> None:
    anonymous = node.client.post(
        "/xrpc/com.atproto.repo.uploadBlob", content=flac, headers={"Content-Type": "audio/flac"}
    )
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "AuthRequired"
    forged = node.client.post(
        "/xrpc/com.atproto.repo.uploadBlob",
        content=flac,
        headers={"Content-Type": "audio/flac", "Authorization": "Bearer not.a.token"},
    )
    assert forged.status_code == 401
    assert node.stored_files() == []


def test_other_content_is_only_ever_served_as_a_download(node: Node) -> None:
    blob = node.upload(b"<html><script>alert(1)</script></html>", "text/plain")
    assert blob["mimeType"] == "text/plain"
    cid = blob["ref"]["$link"]  # type: ignore[index]
    response = node.client.get(
        "/xrpc/com.atproto.sync.getBlob", params={"did": node.did, "cid": cid}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == "attachment"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_get_blob_names_what_is_missing(node: Node) -> None:
    cid = cid_to_str(cid_for(b"never uploaded", Codec.RAW))
    missing = node.client.get(
        "/xrpc/com.atproto.sync.getBlob", params={"did": node.did, "cid": cid}
    )
    assert (missing.status_code, missing.json()["error"]) == (404, "BlobNotFound")
    nobody = node.client.get(
        "/xrpc/com.atproto.sync.getBlob", params={"did": "did:web:nobody.example.org", "cid": cid}
    )
    assert (nobody.status_code, nobody.json()["error"]) == (404, "RepoNotFound")


def test_list_blobs_shows_what_records_reference(node: Node, flac: bytes, mp3: bytes) -> None:
    kept = node.upload(flac, "audio/flac")["ref"]["$link"]  # type: ignore[index]
    node.upload(mp3, "audio/mpeg")

    async def reference() -> None:
        async with node.context.db.transaction() as tx:
            await blobs.reference_blobs(tx, node.did, "fm.oms.track", "3k2aaaaaaaaaa", [kept])

    node.client.portal.call(reference)
    listed = node.client.get("/xrpc/com.atproto.sync.listBlobs", params={"did": node.did})
    assert listed.status_code == 200
    assert listed.json() == {"cids": [kept]}
    paged = node.client.get(
        "/xrpc/com.atproto.sync.listBlobs", params={"did": node.did, "limit": 1}
    )
    assert paged.json() == {"cids": [kept], "cursor": kept}
    after = node.client.get(
        "/xrpc/com.atproto.sync.listBlobs", params={"did": node.did, "limit": 1, "cursor": kept}
    )
    assert after.json() == {"cids": []}

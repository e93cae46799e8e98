"""The serving node indexes its own commits: a track created over XRPC reaches the catalog
within a second, and leaves it as fast when deleted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from tests.conftest import make_settings, query_node, sign_up

X = "/xrpc/com.atproto."


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "data", pds__open_signup=True)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _catalog_titles(data_dir: Path) -> list[str]:
    return [row[0] for row in query_node(data_dir, "SELECT title FROM tracks")]


def _wait_for(data_dir: Path, expected: list[str]) -> float:
    started = time.monotonic()
    while _catalog_titles(data_dir) != expected:
        assert time.monotonic() - started < 1.0, "the catalog did not follow within a second"
        time.sleep(0.01)
    return time.monotonic() - started


def test_the_catalog_follows_commits_made_over_xrpc(client: TestClient, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    did, auth = sign_up(client, "ada", "correct horse")  # made an artist, who publishes
    blob = client.post(
        X + "repo.uploadBlob",
        content=b"fLaC" + bytes(256),
        headers={**auth, "Content-Type": "audio/flac"},
    ).json()["blob"]
    record = {
        "$type": "fm.oms.track",
        "title": "Over The Wire",
        "artists": [{"name": "Ada", "did": did, "role": "primary"}],
        "audio": blob,
        "license": "cc-by-4.0",
        "visibility": "public",
        "createdAt": "2024-05-01T12:00:00.000Z",
    }
    created = client.post(
        X + "repo.createRecord",
        headers=auth,
        json={"repo": did, "collection": "fm.oms.track", "record": record},
    )
    assert created.status_code == 200, created.text
    _wait_for(data_dir, ["Over The Wire"])
    rkey = created.json()["uri"].rsplit("/", 1)[1]
    deleted = client.post(
        X + "repo.deleteRecord",
        headers=auth,
        json={"repo": did, "collection": "fm.oms.track", "rkey": rkey},
    )
    assert deleted.status_code == 200, deleted.text
    _wait_for(data_dir, [])

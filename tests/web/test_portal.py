"""The creator portal's pages, in process: who may open them and what they show."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from tests.conftest import make_settings, publish_track, upload_blob
from tests.web.test_sessions import make_account, sign_in

CAT = b"fLaC" + bytes(64)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path / "data"))) as test_client:
        yield test_client


def _publish(client: TestClient, csrf: str, did: str, title: str, **fields: Any) -> str:
    headers = {"X-CSRF-Token": csrf}
    blob = upload_blob(client, headers, CAT + title.encode())
    return publish_track(client, headers, did, blob, title, **fields)


def _wait_for(client: TestClient, path: str, text: str) -> str:
    for _ in range(200):
        page = client.get(path).text
        if text in page:
            return page
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared on {path}")


def test_the_portal_needs_a_signed_in_artist(client: TestClient) -> None:
    for path in ("/portal", "/portal/upload", "/portal/events", "/portal/tracks/3jzfcijpj2z2a"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/signin?next=%2Fportal")
    make_account(client, "fan", role="fan")
    sign_in(client, "fan")
    for path in ("/portal", "/portal/upload", "/portal/events"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "portal is for the collective" in answer.text
    assert 'href="/portal"' not in client.get("/").text


def test_dashboard_lists_every_track_with_its_state(client: TestClient) -> None:
    did = make_account(client, "ada")
    csrf = sign_in(client, "ada")
    _publish(client, csrf, did, "Open Song")
    hidden = _publish(client, csrf, did, "Secret Song", visibility="unlisted")
    # the uploads are not real audio: processing fails, and the dashboard says why
    page = _wait_for(client, "/portal?status=failed", "Secret Song")
    assert "Open Song" in page
    assert "unlisted" in page
    assert "Failed (2)" in page
    assert 'class="problem"' in page
    assert "Ready (0)" in client.get("/portal").text
    assert "Secret Song" not in client.get("/portal?status=ready").text
    # the editor of one's own track, with the record for the scripts
    editor = client.get(f"/portal/tracks/{hidden.rsplit('/', 1)[1]}")
    assert editor.status_code == 200
    assert 'value="Secret Song"' in editor.text
    assert '<option value="unlisted" selected>' in editor.text
    assert hidden in editor.text


def test_another_artists_track_is_not_editable(client: TestClient) -> None:
    bo = make_account(client, "bo")
    bo_csrf = sign_in(client, "bo")
    uri = _publish(client, bo_csrf, bo, "Bo's Song")
    client.cookies.clear()
    make_account(client, "ada")
    sign_in(client, "ada")
    answer = client.get(f"/portal/tracks/{uri.rsplit('/', 1)[1]}")
    assert answer.status_code == 404
    assert client.get("/portal/tracks/..%2F..%2Fetc").status_code == 404


def test_record_json_cannot_close_its_script_element(client: TestClient) -> None:
    did = make_account(client, "ada")
    csrf = sign_in(client, "ada")
    uri = _publish(client, csrf, did, "</script><script>alert(1)</script>")
    editor = client.get(f"/portal/tracks/{uri.rsplit('/', 1)[1]}").text
    assert "</script><script>alert(1)" not in editor
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in editor  # the title, escaped

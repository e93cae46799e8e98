"""Data rights from the browser: the archive of everything an account has on the node, and
deleting the account (repository, blobs, sessions, catalog entries and stream ladders)."""

from __future__ import annotations

import io
import json
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from atproto_core.car import CAR
from starlette.testclient import TestClient

from oms.app import create_app
from oms.context import AppContext
from oms.pds.blobs import blob_path
from oms.pds.car import read_car
from oms.pds.dagcbor import decode
from oms.pds.sessions import ACCOUNT_FAILURE_LIMIT
from tests.conftest import make_settings, publish_track, sign_up, tone_flac, upload_blob
from tests.web.test_sessions import PASSWORD, app_session, form_csrf, make_account, sign_in

X = "/xrpc/com.atproto."
SEARCH = "/xrpc/fm.oms.catalog.searchTracks"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    data_dir = tmp_path / "data"
    with TestClient(create_app(make_settings(data_dir, pds__open_signup=True))) as client:
        yield client, data_dir


def _bearer(client: TestClient, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {app_session(client, name)['accessJwt']}"}


def _searched(client: TestClient, title: str, *, present: bool, seconds: float = 5) -> None:
    started = time.monotonic()
    while True:
        tracks = client.get(SEARCH, params={"q": title}).json()["tracks"]
        if bool(tracks) == present:
            return
        assert time.monotonic() - started < seconds, f"searchTracks {title!r}: {tracks}"
        time.sleep(0.05)


def _artist_with_a_track(
    client: TestClient, audio: bytes, title: str = "Nightjar"
) -> tuple[str, dict[str, str], dict[str, Any], dict[str, Any]]:
    """ada, an artist with one published track and one picture not yet used by a record."""
    did = make_account(client, "ada", role="artist")
    auth = _bearer(client, "ada")
    audio_blob = upload_blob(client, auth, audio)
    picture = upload_blob(client, auth, PNG, "image/png")
    publish_track(client, auth, did, audio_blob, title)
    _searched(client, title, present=True)
    return did, auth, audio_blob, picture


def _export(client: TestClient, csrf: str) -> zipfile.ZipFile:
    answer = client.post("/account/export", data={"csrf": csrf})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].startswith(
        'attachment; filename="oms-export-ada.localhost-'
    )
    assert answer.headers["cache-control"] == "no-store"
    return zipfile.ZipFile(io.BytesIO(answer.content))


def test_the_data_page_offers_the_archive_and_deletion(node: tuple[TestClient, Path]) -> None:
    client, _ = node
    assert client.get("/account/data", follow_redirects=False).headers["location"] == (
        "/signin?next=%2Faccount%2Fdata"
    )
    assert client.post("/account/export", follow_redirects=False).status_code == 303
    assert client.post("/account/delete", follow_redirects=False).status_code == 303
    _artist_with_a_track(client, b"fLaC" + bytes(512))
    sign_in(client, "ada")
    page = client.get("/account/data")
    assert page.status_code == 200
    for name in ("repo.car", "blobs/&lt;cid&gt;", "account.json", "listening.json"):
        assert f"<code>{name}</code>" in page.text
    assert "records in fm.oms.track" in page.text
    assert "2 (0.0 MB)" in page.text
    assert 'action="/account/export"' in page.text
    assert 'action="/account/delete"' in page.text


def test_the_archive_holds_the_repository_blobs_and_account(
    node: tuple[TestClient, Path],
) -> None:
    client, data_dir = node
    audio = b"fLaC" + bytes(range(256)) * 8
    did, auth, audio_blob, picture = _artist_with_a_track(client, audio)
    client.post(X + "server.createAppPassword", json={"name": "my player"}, headers=auth)
    csrf = sign_in(client, "ada")

    assert client.post("/account/export", data={}).status_code == 403
    assert client.post("/account/export", data={"csrf": "forged"}).status_code == 403

    archive = _export(client, csrf)
    cids = {audio_blob["ref"]["$link"], picture["ref"]["$link"]}
    assert sorted(archive.namelist()) == sorted(
        ["README.txt", "account.json", "listening.json", "statements.json", "repo.car"]
        + [f"blobs/{cid}" for cid in cids]
    )

    car = archive.read("repo.car")
    assert car == client.get(X + "sync.getRepo", params={"did": did}).content
    _, blocks = read_car(car)
    records = [decode(block) for block in blocks.values()]
    assert any(isinstance(r, dict) and r.get("title") == "Nightjar" for r in records)
    # An independent reader (the atproto SDK) agrees, and finds the signed commit at the root.
    parsed = CAR.from_bytes(car)
    assert parsed.blocks[parsed.root]["did"] == did
    assert any(b.get("$type") == "fm.oms.track" for b in parsed.blocks.values() if "$type" in b)

    assert archive.read(f"blobs/{audio_blob['ref']['$link']}") == audio
    assert archive.read(f"blobs/{picture['ref']['$link']}") == PNG

    account = json.loads(archive.read("account.json"))
    assert (account["did"], account["handle"], account["role"]) == (did, "ada.localhost", "artist")
    assert account["createdAt"].endswith("+00:00")
    assert [p["name"] for p in account["appPasswords"]] == ["my player"]
    assert "password" not in json.dumps(account["appPasswords"]).replace('"my player"', "")
    assert any(s["current"] and s["kind"] == "browser" for s in account["sessions"])
    assert any(s["kind"] == "app" for s in account["sessions"])
    assert {b["cid"]: b["mimeType"] for b in account["blobs"]} == {
        audio_blob["ref"]["$link"]: "audio/flac",
        picture["ref"]["$link"]: "image/png",
    }
    assert json.loads(archive.read("listening.json")) == []
    assert json.loads(archive.read("statements.json")) == []
    readme = archive.read("README.txt").decode()
    for name in ("repo.car", "blobs/<cid>", "account.json", "listening.json", "statements.json"):
        assert f"\n{name} " in readme
    assert "every report your players sent while you were signed in" in readme
    assert "keeps no royalty statements for this account yet" in readme
    assert not any((data_dir / "tmp").iterdir())  # nothing of the archive stays on disk


def test_nothing_of_the_archive_is_on_disk_while_it_downloads(
    node: tuple[TestClient, Path],
) -> None:
    client, data_dir = node
    _artist_with_a_track(client, b"fLaC" + bytes(3 * 1024 * 1024))
    csrf = sign_in(client, "ada")
    with client.stream("POST", "/account/export", data={"csrf": csrf}) as answer:
        assert answer.status_code == 200
        size = int(answer.headers["content-length"])
        first = next(answer.iter_bytes())
        assert first.startswith(b"PK")
        assert list((data_dir / "tmp").iterdir()) == []
    assert size > 3 * 1024 * 1024


def _account_status(data_dir: Path, did: str) -> str:
    connection = sqlite3.connect(f"{(data_dir / 'oms.sqlite3').as_uri()}?mode=ro", uri=True)
    try:
        row = connection.execute("SELECT status FROM accounts WHERE did = ?", (did,)).fetchone()
    finally:
        connection.close()
    return str(row[0])


def test_deleting_the_account_takes_everything_of_it(node: tuple[TestClient, Path]) -> None:
    client, data_dir = node
    did, auth, audio_blob, picture = _artist_with_a_track(client, b"fLaC" + bytes(512))
    # A fan who uploaded the same picture keeps it.
    fan, fan_auth = sign_up(client, "bea")
    upload_blob(client, fan_auth, PNG, "image/png")
    csrf = sign_in(client, "ada")
    form = {"csrf": csrf, "handle": "@Ada.localhost", "password": PASSWORD}

    assert client.post("/account/delete", data={**form, "csrf": "forged"}).status_code == 403
    wrong_handle = client.post("/account/delete", data={**form, "handle": "bea.localhost"})
    assert wrong_handle.status_code == 400
    assert "Type your handle, @ada.localhost, to confirm" in wrong_handle.text
    wrong = client.post("/account/delete", data={**form, "password": "not my password"})
    assert wrong.status_code == 401
    assert "Wrong password." in wrong.text
    assert _account_status(data_dir, did) == "active"

    done = client.post("/account/delete", data=form)
    assert done.status_code == 200
    assert "Your account is deleted" in done.text
    assert "@ada.localhost" in done.text
    assert 'action="/signout"' not in done.text  # the page already shows nobody signed in
    cleared = next(h for h in done.headers.get_list("set-cookie") if "oms_session=" in h)
    assert "Max-Age=0" in cleared or "expires=" in cleared.lower()
    assert client.get("/account/data", follow_redirects=False).status_code == 303

    assert _account_status(data_dir, did) == "deleted"
    gone = client.get(X + "sync.getRepo", params={"did": did})
    assert (gone.status_code, gone.json()["error"]) == (404, "RepoNotFound")
    assert client.get(X + "server.getSession", headers=auth).status_code == 401
    again = client.post(
        X + "server.createSession", json={"identifier": "ada.localhost", "password": PASSWORD}
    )
    assert again.status_code == 401
    _searched(client, "Nightjar", present=False, seconds=0.5)  # the page waited for the index

    context: AppContext = client.app_state["context"]
    assert not blob_path(context.blobs_dir, audio_blob["ref"]["$link"]).exists()
    assert blob_path(context.blobs_dir, picture["ref"]["$link"]).read_bytes() == PNG
    cid = picture["ref"]["$link"]
    assert client.get(X + "sync.getBlob", params={"did": did, "cid": cid}).status_code == 404
    assert client.get(X + "sync.getBlob", params={"did": fan, "cid": cid}).content == PNG


def test_wrong_passwords_on_the_delete_form_count_against_the_sign_in_throttle(
    node: tuple[TestClient, Path],
) -> None:
    client, data_dir = node
    did = make_account(client, "ada", role="fan")
    csrf = sign_in(client, "ada")
    form = {"csrf": csrf, "handle": "ada.localhost", "password": "not my password"}
    for _ in range(ACCOUNT_FAILURE_LIMIT):
        assert client.post("/account/delete", data=form).status_code == 401
    limited = client.post("/account/delete", data={**form, "password": PASSWORD})
    assert limited.status_code == 429
    assert 0 < int(limited.headers["retry-after"]) <= 15 * 60
    assert "Too many failed sign-ins" in limited.text
    assert _account_status(data_dir, did) == "active"
    # Signing in counts the same failures: the browser's sign-in form and the apps' XRPC.
    client.cookies.clear()
    page = client.get("/signin").text
    signin = client.post(
        "/signin", data={"identifier": "ada", "password": PASSWORD, "csrf": form_csrf(page)}
    )
    assert signin.status_code == 429
    app = client.post(
        X + "server.createSession", json={"identifier": "ada.localhost", "password": PASSWORD}
    )
    assert app.status_code == 429


def test_the_last_active_admin_cannot_delete_their_account(node: tuple[TestClient, Path]) -> None:
    client, data_dir = node
    root = make_account(client, "root", role="admin")
    csrf = sign_in(client, "root")
    form = {"csrf": csrf, "handle": "root.localhost", "password": PASSWORD}
    refused = client.post("/account/delete", data=form)
    assert refused.status_code == 409
    assert "You are the node&#39;s last active admin" in refused.text
    assert _account_status(data_dir, root) == "active"

    make_account(client, "second", role="admin")
    assert client.post("/account/delete", data=form).status_code == 200
    assert _account_status(data_dir, root) == "deleted"


@pytest.mark.slow
def test_deletion_removes_the_stream_ladders_of_the_accounts_audio(
    node: tuple[TestClient, Path], tmp_path: Path
) -> None:
    client, data_dir = node
    audio = tone_flac(tmp_path / "tone.flac", 2)
    did, _, audio_blob, _ = _artist_with_a_track(client, audio)
    ladder = data_dir / "hls" / did / audio_blob["ref"]["$link"]
    started = time.monotonic()
    while not (ladder / "master.m3u8").is_file():
        assert time.monotonic() - started < 60, "the track's ladder was never made"
        time.sleep(0.1)
    csrf = sign_in(client, "ada")
    form = {"csrf": csrf, "handle": "ada.localhost", "password": PASSWORD}
    assert client.post("/account/delete", data=form).status_code == 200
    started = time.monotonic()
    while ladder.exists():
        assert time.monotonic() - started < 10, "the ladder outlived its account"
        time.sleep(0.1)

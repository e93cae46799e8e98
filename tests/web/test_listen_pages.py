"""The fan pages without JavaScript: what a search engine, a link preview or a browser with
scripts off gets — the catalog, server-rendered, with each track's player data (the same
trackView XRPC answers) in its row."""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.web.listen import start_seconds
from tests.conftest import make_settings, publish_track, sign_up, upload_blob
from tests.web.test_sessions import PASSWORD, form_csrf, sign_in

X = "/xrpc/com.atproto.repo."


@dataclass
class Catalog:
    client: TestClient
    did: str
    auth: dict[str, str]
    tracks: dict[str, str]  # title -> AT-URI
    release: str


def _record(client: TestClient, auth: dict[str, str], did: str, collection: str, value: Any) -> str:
    created = client.post(
        X + "createRecord",
        headers=auth,
        json={"repo": did, "collection": collection, "record": value},
    )
    assert created.status_code == 200, created.text
    return str(created.json()["uri"])


def _settle(client: TestClient) -> None:
    indexer = client.app_state["context"].catalog_indexer
    client.portal.call(indexer.settle_within, 5.0)


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    settings = make_settings(tmp_path / "data", pds__open_signup=True)
    with TestClient(create_app(settings)) as client:
        did, auth = sign_up(client, "ada")
        tracks = {}
        songs = (
            (
                "Harbour Lights",
                "Ambient",
                150_000,
                "cc-by-4.0",
                {"lyrics": {"plain": "lights on the water"}},
            ),
            ("Night Train", "Techno", 420_000, "cc0-1.0", {}),
            ("Long Walk", "Ambient", 600_000, "all-rights-reserved", {}),
        )
        for number, (title, genre, ms, license, extra) in enumerate(songs, start=1):
            blob = upload_blob(client, auth, b"fLaC" + os.urandom(4000))
            tracks[title] = publish_track(
                client,
                auth,
                did,
                blob,
                title,
                genres=[genre],
                durationMs=ms,
                license=license,
                trackNumber=number,
                **extra,
            )
        release = _record(
            client,
            auth,
            did,
            "fm.oms.release",
            {
                "$type": "fm.oms.release",
                "title": "Coastlines",
                "kind": "album",
                "artists": [{"name": "Ada", "did": did, "role": "primary"}],
                "tracks": [
                    {"uri": tracks[t], "cid": _cid(client, tracks[t])}
                    for t in ("Harbour Lights", "Night Train")
                ],
                "createdAt": "2024-05-01T12:00:00.000Z",
            },
        )
        _settle(client)
        yield Catalog(client, did, auth, tracks, release)


def _cid(client: TestClient, uri: str) -> str:
    _, _, did, collection, rkey = uri.split("/")
    answer = client.get(
        X + "getRecord", params={"repo": did, "collection": collection, "rkey": rkey}
    )
    return str(answer.json()["cid"])


def _rkey(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def _rows(page: str) -> list[dict[str, Any]]:
    """The player data of every track row on a page, in order."""
    return [json.loads(html.unescape(m)) for m in re.findall(r"data-track='([^']*)'", page)]


def _titles(page: str) -> list[str]:
    return [row["title"] for row in _rows(page)]


def test_home_shows_new_releases_trending_genres_and_artists(catalog: Catalog) -> None:
    page = catalog.client.get("/")
    assert page.status_code == 200
    text = page.text
    assert "Coastlines" in text
    assert 'href="/artist/ada.localhost"' in text
    assert 'href="/search?genre=Ambient"' in text
    assert sorted(_titles(text)) == ["Harbour Lights", "Long Walk", "Night Train"]
    # Each row carries what getTrack answers for it, so the player needs no second request.
    view = catalog.client.get(
        "/xrpc/fm.oms.catalog.getTrack", params={"uri": catalog.tracks["Night Train"]}
    ).json()["track"]
    (row,) = [r for r in _rows(text) if r["uri"] == view["uri"]]
    assert row == view


def test_search_finds_and_filters(catalog: Catalog) -> None:
    client = catalog.client
    assert _titles(client.get("/search", params={"q": "harbour"}).text) == ["Harbour Lights"]
    assert sorted(_titles(client.get("/search", params={"genre": "Ambient"}).text)) == [
        "Harbour Lights",
        "Long Walk",
    ]
    assert _titles(client.get("/search", params={"duration": "short"}).text) == ["Harbour Lights"]
    assert _titles(client.get("/search", params={"duration": "long"}).text) == ["Long Walk"]
    assert _titles(client.get("/search", params={"license": "cc0-1.0"}).text) == ["Night Train"]
    found = client.get("/search", params={"q": "coastlines"}).text
    assert "Releases" in found
    assert re.search(r'href="/release/ada\.localhost/[^"]+"', found)
    # An unknown sort falls back to relevance rather than failing.
    assert client.get("/search", params={"q": "night", "sort": "bogus"}).status_code == 200
    nothing = client.get("/search", params={"q": "zzzqqq"})
    assert nothing.status_code == 200
    assert "No tracks match" in nothing.text


def test_artist_release_and_track_pages(catalog: Catalog) -> None:
    client = catalog.client
    artist = client.get("/artist/ada.localhost")
    assert artist.status_code == 200
    assert "Coastlines" in artist.text
    release = client.get(f"/release/ada.localhost/{_rkey(catalog.release)}")
    assert release.status_code == 200
    assert _titles(release.text) == ["Harbour Lights", "Night Train"]
    track = client.get(f"/track/ada.localhost/{_rkey(catalog.tracks['Harbour Lights'])}")
    assert track.status_code == 200
    assert "lights on the water" in track.text
    assert "<h1>Harbour Lights</h1>" in track.text
    assert f'href="/release/ada.localhost/{_rkey(catalog.release)}"' in track.text


def test_a_share_link_starts_where_it_was_shared(catalog: Catalog) -> None:
    path = f"/track/ada.localhost/{_rkey(catalog.tracks['Long Walk'])}"
    page = catalog.client.get(path, params={"t": "1m23s"}).text
    assert 'data-start-seconds="83"' in page
    assert "data-start-seconds" not in catalog.client.get(path, params={"t": "soon"}).text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1m23s", 83), ("83", 83), ("83s", 83), ("1h2m", 3720), ("0m12s", 12), ("", None),
     ("abc", None), ("1m-3s", None), (None, None)],
)  # fmt: skip
def test_start_times(text: str | None, seconds: int | None) -> None:
    assert start_seconds(text) == seconds


def test_missing_things_are_404_pages(catalog: Catalog) -> None:
    client = catalog.client
    accept = {"Accept": "text/html"}
    for path in (
        "/artist/nobody.localhost",
        "/track/ada.localhost/3zzzzzzzzzzzz",
        "/release/ada.localhost/3zzzzzzzzzzzz",
        "/playlist/ada.localhost/3zzzzzzzzzzzz",
        "/embed/track/ada.localhost/3zzzzzzzzzzzz",
    ):
        answer = client.get(path, headers=accept)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")


def test_the_library_asks_strangers_to_sign_in_and_shows_a_listener_their_music(
    catalog: Catalog,
) -> None:
    client = catalog.client
    anonymous = client.get("/library")
    assert anonymous.status_code == 200
    assert "/signin?next=%2Flibrary" in anonymous.text
    assert "data-offline-list" in anonymous.text

    fan, fan_auth = sign_up(client, "fan", role="fan")
    liked = catalog.tracks["Night Train"]
    like = _record(
        client,
        fan_auth,
        fan,
        "fm.oms.like",
        {
            "$type": "fm.oms.like",
            "subject": {"uri": liked, "cid": _cid(client, liked)},
            "createdAt": "2024-06-01T00:00:00.000Z",
        },
    )
    _record(
        client,
        fan_auth,
        fan,
        "fm.oms.graph.follow",
        {
            "$type": "fm.oms.graph.follow",
            "subject": catalog.did,
            "createdAt": "2024-06-01T00:00:00.000Z",
        },
    )
    items = [
        {"track": {"uri": catalog.tracks[t], "cid": _cid(client, catalog.tracks[t])}}
        for t in ("Long Walk", "Harbour Lights")
    ]
    items.insert(
        1,
        {
            "track": {
                "uri": f"at://{catalog.did}/fm.oms.track/3gone",
                "cid": items[0]["track"]["cid"],
            }
        },
    )
    playlist = _record(
        client,
        fan_auth,
        fan,
        "fm.oms.playlist",
        {
            "$type": "fm.oms.playlist",
            "name": "Evening",
            "items": items,
            "createdAt": "2024-06-01T00:00:00.000Z",
        },
    )
    _settle(client)
    sign_in(client, "fan")
    mine = client.get("/library")
    assert mine.headers["cache-control"] == "private, no-cache"
    assert _titles(mine.text) == ["Night Train"]
    assert f'data-like="{like}"' in mine.text
    assert "Evening" in mine.text
    assert 'href="/artist/ada.localhost"' in mine.text
    # The playlist page keeps the record's order; the owner may remove entries.
    page = client.get(f"/playlist/fan.localhost/{_rkey(playlist)}")
    assert page.status_code == 200
    assert _titles(page.text) == ["Long Walk", "Harbour Lights"]
    assert "1 no longer available" in page.text
    assert re.findall(r'data-action="playlist-remove" data-index="(\d+)"', page.text) == ["0", "2"]
    # The artist page knows the fan follows it.
    artist = client.get("/artist/ada.localhost").text
    assert 'aria-pressed="true">Following' in artist


def test_the_embed_can_be_framed_by_any_site(catalog: Catalog) -> None:
    client = catalog.client
    answer = client.get(f"/embed/track/ada.localhost/{_rkey(catalog.tracks['Night Train'])}")
    assert answer.status_code == 200
    assert "frame-ancestors *" in answer.headers["content-security-policy"]
    assert "x-frame-options" not in answer.headers
    assert _titles(answer.text) == ["Night Train"]
    album = client.get(f"/embed/release/ada.localhost/{_rkey(catalog.release)}")
    assert _titles(album.text) == ["Harbour Lights", "Night Train"]
    # Other pages may not be framed.
    assert client.get("/").headers["x-frame-options"] == "DENY"


def test_the_player_installs_as_an_app(catalog: Catalog) -> None:
    client = catalog.client
    manifest = client.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["start_url"] == "/"
    assert body["display"] == "standalone"
    for icon in body["icons"]:
        assert client.get(icon["src"]).status_code == 200, icon["src"]
    worker = client.get("/sw.js")
    assert worker.status_code == 200
    assert worker.headers["service-worker-allowed"] == "/"
    assert worker.headers["cache-control"] == "no-cache"
    assert worker.headers["content-type"].startswith("text/javascript")


def test_scripts_and_pages_travel_compressed(catalog: Catalog) -> None:
    client = catalog.client
    script = client.get("/static/js/nav.js", headers={"Accept-Encoding": "gzip"})
    assert script.headers["content-encoding"] == "gzip"
    page = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"


def test_signing_up_from_the_web_signs_the_listener_in(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", pds__open_signup=True)
    with TestClient(create_app(settings)) as client:
        form = client.get("/signup?next=/library")
        assert form.status_code == 200
        csrf = form_csrf(form.text)
        fields = {"csrf": csrf, "handle": "newfan", "password": PASSWORD, "next": "/library"}
        differ = client.post("/signup", data={**fields, "confirm": "something else"})
        assert differ.status_code == 400
        assert "The two passwords differ." in differ.text
        done = client.post(
            "/signup",
            data={**fields, "csrf": form_csrf(differ.text), "confirm": PASSWORD},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/library"
        assert "@newfan.localhost" in client.get("/library").text


def test_a_closed_node_asks_for_an_invite(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path / "data"))) as client:
        form = client.get("/signup")
        assert 'name="invite" required' in form.text
        refused = client.post(
            "/signup",
            data={
                "csrf": form_csrf(form.text),
                "handle": "stranger",
                "password": PASSWORD,
                "confirm": PASSWORD,
            },
        )
        assert refused.status_code in (400, 403)
        assert "invite" in refused.text.lower()

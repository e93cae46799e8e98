"""fm.oms.catalog over HTTP: every answer matches its lexicon, records written over XRPC are
found by search, browsing and discovery, and bad input is a clear 400 or 404."""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

from oms.app import create_app
from oms.db.database import Database
from oms.library.discovery import refresh_discovery
from oms.pds.lexicons import Lexicons
from oms.resources import lexicons_dir
from oms.xrpc.routes import METHODS
from tests.conftest import make_settings, sign_up

X = "/xrpc/com.atproto."
C = "fm.oms.catalog."
LEXICONS = Lexicons.load(lexicons_dir())


@dataclass
class Node:
    client: TestClient
    data_dir: Path
    uris: dict[str, str]
    dids: dict[str, str]

    def get(self, method: str, **params: Any) -> Any:
        answer = self.client.get(f"/xrpc/{C}{method}", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        LEXICONS.validate_output(C + method, body)
        return body

    def fails(self, method: str, status: int, **params: Any) -> dict[str, str]:
        answer = self.client.get(f"/xrpc/{C}{method}", params=params)
        assert answer.status_code == status, answer.text
        body: dict[str, str] = answer.json()
        return body


def _create(
    client: TestClient, did: str, auth: dict[str, str], collection: str, record: dict[str, Any],
    rkey: str | None = None,
) -> str:  # fmt: skip
    body: dict[str, Any] = {"repo": did, "collection": collection, "record": record}
    if rkey is not None:
        body["rkey"] = rkey
    answer = client.post(X + "repo.createRecord", headers=auth, json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["uri"])


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _wait_for_index(client: TestClient) -> None:
    # Every write above is sequenced; the catalog follows within a second.
    started = time.monotonic()
    while True:
        found = client.get(f"/xrpc/{C}searchTracks", params={"q": "lullaby"}).json()["tracks"]
        if found:
            return
        assert time.monotonic() - started < 1.0, "the catalog did not follow within a second"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    data_dir = tmp_path_factory.mktemp("catalog") / "data"
    settings = make_settings(data_dir, pds__open_signup=True)
    with TestClient(create_app(settings)) as client:
        bjork, bjork_auth = sign_up(client, "bjork")
        koze, koze_auth = sign_up(client, "koze")
        fans = [sign_up(client, f"fan{i}") for i in range(3)]
        audio = {}
        picture = io.BytesIO()
        Image.new("RGB", (800, 800), (200, 40, 90)).save(picture, "JPEG")
        artwork = client.post(
            X + "repo.uploadBlob",
            content=picture.getvalue(),
            headers={**bjork_auth, "Content-Type": "image/jpeg"},
        ).json()["blob"]
        for did, auth in ((bjork, bjork_auth), (koze, koze_auth)):
            audio[did] = client.post(
                X + "repo.uploadBlob",
                content=b"fLaC" + bytes(256),
                headers={**auth, "Content-Type": "audio/flac"},
            ).json()["blob"]
        now = datetime.now(UTC)

        def track(did: str, auth: dict[str, str], title: str, **fields: Any) -> str:
            record = {
                "$type": "fm.oms.track",
                "title": title,
                "artists": [{"name": "Björk" if did == bjork else "DJ Koze", "did": did,
                             "role": "primary"}],
                "audio": audio[did],
                "license": "cc-by-4.0",
                "visibility": "public",
                "createdAt": _iso(now - timedelta(days=10)),
                **fields,
            }  # fmt: skip
            return _create(client, did, auth, "fm.oms.track", record)

        uris = {
            "joga": track(bjork, bjork_auth, "Jóga", genres=["Electronic"], durationMs=305_000,
                          trackNumber=1, artwork=artwork),
            "hunter": track(bjork, bjork_auth, "Hunter", genres=["Electronic"],
                            durationMs=255_000, trackNumber=2),
            "lullaby": track(bjork, bjork_auth, "Lullaby For Sleepless Nights",
                             genres=["Ambient"], tags=["calm"], durationMs=200_000),
            "pick": track(koze, koze_auth, "Pick Up", genres=["House"], tags=["calm"],
                          durationMs=420_000, license="all-rights-reserved"),
            "secret": track(koze, koze_auth, "Secret Sketch", genres=["House"],
                            visibility="unlisted"),
        }  # fmt: skip
        uris["homogenic"] = _create(
            client, bjork, bjork_auth, "fm.oms.release",
            {
                "$type": "fm.oms.release", "title": "Homogenic", "kind": "album",
                "artists": [{"name": "Björk", "did": bjork, "role": "primary"}],
                "tracks": [
                    {"uri": uris["joga"], "cid": _cid(client, uris["joga"])},
                    {"uri": uris["hunter"], "cid": _cid(client, uris["hunter"])},
                ],
                "artwork": artwork, "label": "One Little Independent",
                "releaseDate": "1997-09-22T00:00:00.000Z", "createdAt": _iso(now),
            },
        )  # fmt: skip
        # Jóga just got its tracks' release title; rewrite so the search row carries it.
        _create(
            client, bjork, bjork_auth, "fm.oms.artist.profile",
            {
                "$type": "fm.oms.artist.profile", "displayName": "Björk", "location": "Reykjavík",
                "bio": "Singer, songwriter.", "genres": ["Electronic", "Art pop"],
                "links": [{"label": "Site", "uri": "https://bjork.com"}],
                "createdAt": _iso(now),
            },
            rkey="self",
        )  # fmt: skip
        # Every fan likes Jóga and Hunter today (co-engagement); one likes Pick Up.
        for did, auth in fans:
            for name in ("joga", "hunter"):
                _create(client, did, auth, "fm.oms.like", {
                    "$type": "fm.oms.like",
                    "subject": {"uri": uris[name], "cid": _cid(client, uris[name])},
                    "createdAt": _iso(now - timedelta(hours=2)),
                })  # fmt: skip
        _create(client, fans[0][0], fans[0][1], "fm.oms.like", {
            "$type": "fm.oms.like",
            "subject": {"uri": uris["pick"], "cid": _cid(client, uris["pick"])},
            "createdAt": _iso(now - timedelta(days=20)),
        })  # fmt: skip
        _wait_for_index(client)
        started = time.monotonic()
        while client.get(f"/xrpc/{C}getArtist", params={"actor": bjork}).status_code != 200:
            assert time.monotonic() - started < 1.0
            time.sleep(0.01)
        yield Node(client, data_dir, uris, {"bjork": bjork, "koze": koze})


def _cid(client: TestClient, uri: str) -> str:
    did, collection, rkey = uri.removeprefix("at://").split("/")
    answer = client.get(
        X + "repo.getRecord", params={"repo": did, "collection": collection, "rkey": rkey}
    )
    return str(answer.json()["cid"])


async def _refresh_discovery(data_dir: Path) -> None:
    db = await Database.open(data_dir / "oms.sqlite3")
    try:
        refreshed = await refresh_discovery(db)
    finally:
        await db.close()
    assert refreshed.pairs == 2  # Jóga <-> Hunter


def _titles(body: dict[str, Any], key: str = "tracks") -> list[str]:
    return [t["title"] for t in body[key]]


def test_every_method_served_has_a_lexicon_and_every_oms_lexicon_is_served() -> None:
    for nsid in METHODS:
        assert LEXICONS.method_kind(nsid) in ("query", "procedure"), nsid
    for nsid in LEXICONS.nsids():
        if nsid.startswith("fm.oms.") and LEXICONS.method_kind(nsid) in ("query", "procedure"):
            assert nsid in METHODS, f"{nsid} has a lexicon but no handler"


def test_search_tracks_answers_what_a_player_needs(node: Node) -> None:
    body = node.get("searchTracks", q="joga")
    assert _titles(body) == ["Jóga"]
    joga = body["tracks"][0]
    assert joga["uri"] == node.uris["joga"]
    assert joga["artists"] == [{"name": "Björk", "did": node.dids["bjork"], "role": "primary"}]
    assert joga["durationMs"] == 305_000
    assert joga["release"] == {"uri": node.uris["homogenic"], "title": "Homogenic"}
    assert joga["counts"] == {"plays": 0, "listeners": 0, "likes": 3}
    base = str(node.client.base_url).rstrip("/")
    assert joga["origin"]["kind"] == "local"
    service = joga["origin"]["service"]
    in_path = node.dids["bjork"].replace("%", "%25")  # a did:web with a port, escaped
    assert joga["artwork"]["medium"].startswith(f"{service}/img/{in_path}/")
    assert joga["artwork"]["medium"].endswith("/600.jpg")
    # No stream: the media pipeline refuses this fake audio (its bytes are no audio format).
    assert "streamUrl" not in joga
    assert base  # the test client answers at its own base; the node names its public URL
    assert sorted(_titles(node.get("searchTracks", q="BJÖRK"))) == [
        "Hunter", "Jóga", "Lullaby For Sleepless Nights",
    ]  # fmt: skip
    assert _titles(node.get("searchTracks", q="bjrok")) != []  # a typo still finds her
    assert _titles(node.get("searchTracks", genre="house")) == ["Pick Up"]
    assert _titles(node.get("searchTracks", license="all-rights-reserved")) == ["Pick Up"]
    assert sorted(_titles(node.get("searchTracks", minDuration=300_000))) == ["Jóga", "Pick Up"]
    assert _titles(node.get("searchTracks", artist="dj koze")) == ["Pick Up"]
    for hostile in ['"', "*", "NEAR(a b)", "-", "a OR", "))"]:
        node.get("searchTracks", q=hostile)
    assert node.get("searchTracks", q="secret")["tracks"] == []


def test_search_tracks_pages_with_a_cursor(node: Node) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, "sort": "newest", **({"cursor": cursor} if cursor else {})}
        body = node.get("searchTracks", **params)
        seen += _titles(body)
        cursor = body.get("cursor")
        if cursor is None:
            break
    assert len(seen) == 4 == len(set(seen))


def test_bad_params_are_clear_errors(node: Node) -> None:
    assert node.fails("searchTracks", 400, sort="loudest")["error"] == "InvalidRequest"
    assert node.fails("searchTracks", 400, limit=1000)["error"] == "InvalidRequest"
    assert node.fails("searchTracks", 400, cursor="x")["message"] == (
        "cursor is not one this node gave out"
    )
    assert node.fails("searchTracks", 400, minDuration="long")["error"] == "InvalidRequest"
    assert node.fails("getTrack", 400)["message"] == 'Params must have the property "uri"'
    missing = f"at://{node.dids['bjork']}/fm.oms.track/3kaaaaaaaaaaa"
    assert node.fails("getTrack", 404, uri=missing)["error"] == "TrackNotFound"
    assert node.fails("getSimilarTracks", 404, uri=missing)["error"] == "TrackNotFound"
    assert node.fails("getArtist", 404, actor="nobody.localhost")["error"] == "ArtistNotFound"
    assert node.fails("getRadio", 400)["message"] == (
        "a radio needs a seed: track (an AT-URI) or genre"
    )
    assert node.fails("getRadio", 400, genre="ambient", cursor="r1")["error"] == "InvalidRequest"


def test_get_track_and_tracks(node: Node) -> None:
    secret = node.get("getTrack", uri=node.uris["secret"])["track"]
    assert secret["visibility"] == "unlisted"  # reachable by address
    body = node.get(
        "getTracks",
        uris=[
            node.uris["pick"],
            node.uris["joga"],
            "at://did:web:x.test/fm.oms.track/3kaaaaaaaaaaa",
        ],
    )
    assert _titles(body) == ["Pick Up", "Jóga"]


def test_release_artist_genres_and_new_releases(node: Node) -> None:
    release = node.get("getRelease", uri=node.uris["homogenic"])
    assert release["release"]["title"] == "Homogenic"
    assert release["release"]["trackCount"] == 2
    assert release["release"]["durationMs"] == 305_000 + 255_000
    assert release["release"]["label"] == "One Little Independent"
    assert _titles(release) == ["Jóga", "Hunter"]

    for actor in (node.dids["bjork"], "bjork.localhost"):
        page = node.get("getArtist", actor=actor)
        assert page["artist"]["displayName"] == "Björk"
        assert page["artist"]["handle"] == "bjork.localhost"
        assert page["artist"]["counts"] == {"tracks": 3, "releases": 1, "likes": 6}
        assert [r["title"] for r in page["releases"]] == ["Homogenic"]
        assert _titles(page, "topTracks")[:2] in (["Jóga", "Hunter"], ["Hunter", "Jóga"])
    # An artist who published without a profile is named by their handle.
    koze = node.get("getArtist", actor=node.dids["koze"])["artist"]
    assert koze["displayName"] == "koze.localhost"
    assert "profile" not in koze

    genres = node.get("listGenres")["genres"]
    assert genres[0] == {"name": "Electronic", "trackCount": 2}
    assert {g["name"] for g in genres} == {"Electronic", "Ambient", "House"}

    assert [r["title"] for r in node.get("getNewReleases")["releases"]] == ["Homogenic"]
    assert node.get("getNewReleases", genre="house")["releases"] == []


def test_search_artists_and_releases_forgive_accents_and_typos(node: Node) -> None:
    assert [a["displayName"] for a in node.get("searchArtists", q="bjork")["artists"]] == ["Björk"]
    assert [a["displayName"] for a in node.get("searchArtists", q="reykjav")["artists"]] == [
        "Björk"
    ]
    assert [a["displayName"] for a in node.get("searchArtists", q="bjoerk")["artists"]] == ["Björk"]
    assert _titles(node.get("searchReleases", q="homo"), "releases") == ["Homogenic"]
    assert _titles(node.get("searchReleases", q="homogenci"), "releases") == ["Homogenic"]
    assert _titles(node.get("searchReleases", q="independent"), "releases") == ["Homogenic"]
    assert node.get("searchReleases", q='"*')["releases"] == []


def test_discovery_trending_similar_and_radio(node: Node) -> None:
    asyncio.run(_refresh_discovery(node.data_dir))  # what the scheduled job does
    trending = _titles(node.get("getTrending"))
    assert set(trending[:2]) == {"Jóga", "Hunter"}  # liked today by everyone
    assert trending[-1] == "Pick Up"  # its only like is three weeks old: not growing
    # Every listener of Jóga also took to Hunter: that comes first; the rest share genres.
    similar = _titles(node.get("getSimilarTracks", uri=node.uris["joga"]))
    assert similar[0] == "Hunter"
    assert "Jóga" not in similar
    assert "Secret Sketch" not in similar
    # Nobody liked Lullaby: its own artist comes first, then Pick Up (only the tag "calm").
    lullaby = _titles(node.get("getSimilarTracks", uri=node.uris["lullaby"]))
    assert sorted(lullaby[:2]) == ["Hunter", "Jóga"]
    assert lullaby[2:] == ["Pick Up"]

    radio = node.get("getRadio", genre="electronic", limit=5)
    # Endless: the genre's two tracks lead, the node's other public tracks join them, and
    # round after round they come again, never the same twice in a row.
    titles = _titles(radio)
    assert len(titles) == 5
    assert set(titles[:2]) == {"Jóga", "Hunter"}
    assert "Secret Sketch" not in titles
    assert all(a != b for a, b in itertools.pairwise(titles))
    again = node.get("getRadio", genre="electronic", limit=5)
    assert _titles(again) == titles  # a cursor-less start is the same queue
    more = node.get("getRadio", genre="electronic", limit=5, cursor=radio["cursor"])
    assert len(more["tracks"]) == 5
    assert more["cursor"] != radio["cursor"]
    seeded = node.get("getRadio", track=node.uris["joga"], limit=3)
    assert "Jóga" not in _titles(seeded)
    assert "cursor" in seeded


def test_artwork_is_served_in_sizes_never_upscaled(node: Node) -> None:
    joga = node.get("getTrack", uri=node.uris["joga"])["track"]
    local = {k: v.removeprefix("http://localhost:8000") for k, v in joga["artwork"].items()}
    medium = node.client.get(local["medium"])
    assert medium.status_code == 200
    assert medium.headers["content-type"] == "image/jpeg"
    assert medium.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert Image.open(io.BytesIO(medium.content)).size == (600, 600)
    # The picture is 800 px: "large" (1200) is the largest copy there is, not an upscale.
    large = node.client.get(local["large"])
    assert Image.open(io.BytesIO(large.content)).size == (600, 600)
    assert Image.open(io.BytesIO(node.client.get(local["thumb"]).content)).size == (64, 64)
    # Only images a catalog entry uses are served, in the sizes of the lexicon.
    audio_cid = "bafkreidovowin34rac7ckdqel4t5eorwpq3rzllt7pipihljcnnupznioq"
    other = local["medium"].rsplit("/", 2)[0] + f"/{audio_cid}/600.jpg"
    assert node.client.get(other).status_code == 404
    assert node.client.get(local["medium"].replace("/600.jpg", "/601.jpg")).status_code == 404

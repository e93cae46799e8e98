"""The web player and the embed report what was heard to fm.oms.analytics.reportListening, in
headless Chromium against a real `oms serve` with an album imported by `oms import`: the
requests the pages make, and the reports the node stored in its database."""

from __future__ import annotations

import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Frame, Page, Response, expect

from oms.db.backup import DATABASE_FILE
from tests.conftest import OmsProcess, journal_moved, start_oms
from tests.web.conftest import AUDIO, album_tracks, import_album, wait_playing_past

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ALBUM = ("Low Tide", "High Water", "Slack Water")
SECONDS = 20
METHOD = "/xrpc/fm.oms.analytics.reportListening"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OmsProcess]:
    """One node for the module, with a three-track lossless album by @ada imported."""
    root = tmp_path_factory.mktemp("listening")
    server = start_oms(root / "data")
    try:
        server.wait_healthy()
        server.create_account("ada", "correct horse battery", role="artist")
        import_album(server, root / "album", ALBUM, album="Estuary", seconds=SECONDS)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tracks(node: OmsProcess) -> dict[str, dict[str, Any]]:
    """The album's trackViews by title."""
    return album_tracks(node, ALBUM)


@dataclass
class Sent:
    """One report a page sent with fetch, and the node's answer."""

    body: dict[str, Any]
    headers: dict[str, str]
    status: int


@dataclass
class Reports:
    """The reports the pages of a browser context sent with fetch (beacons sent while a page
    unloads are not visible to the browser's observers: those are checked in the database)."""

    sent: list[Sent] = field(default_factory=list)

    def watch(self, response: Response) -> None:
        if response.url.endswith(METHOD):
            request = response.request
            self.sent.append(Sent(request.post_data_json, request.headers, response.status))

    def of(self, session: str) -> list[Sent]:
        return [s for s in self.sent if s.body["sessionId"] == session]


@pytest.fixture
def reports(context: BrowserContext) -> Reports:
    watched = Reports()
    context.on("response", watched.watch)
    return watched


def _rkey(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def _wait_for_player(page: Page | Frame) -> None:
    """Until the embed's script runs: its page shows the track before (rendered by the node)."""
    page.wait_for_function("() => Boolean(window.omsPlayer)", timeout=5_000)


def _is_report(kind: str) -> Callable[[Response], bool]:
    """A predicate for the answer to a report carrying a `kind` event."""

    def matches(response: Response) -> bool:
        if not response.url.endswith(METHOD):
            return False
        events = response.request.post_data_json.get("events", [])
        return any(event["kind"] == kind for event in events)

    return matches


def _pause(page: Page, pause: Callable[[], None]) -> tuple[float, dict[str, Any]]:
    """Pause with `pause()`; the position it stopped at and the report the pause sent (which
    the node accepted)."""
    with page.expect_response(_is_report("pause")) as answer:
        pause()
    response = answer.value
    assert response.status == 200, response.text()
    body: dict[str, Any] = response.request.post_data_json
    return body["positionMs"] / 1000, body


def _heard(sent: list[Sent]) -> list[tuple[float, float]]:
    """The union of the ranges of `sent`, in seconds."""
    pairs = sorted((r["startMs"] / 1000, r["endMs"] / 1000) for s in sent for r in s.body["ranges"])
    union: list[tuple[float, float]] = []
    for start, end in pairs:
        if union and start <= union[-1][1] + 0.1:
            union[-1] = (union[-1][0], max(union[-1][1], end))
        else:
            union.append((start, end))
    return union


def _stored(node: OmsProcess, where: str, *params: object) -> list[sqlite3.Row]:
    """The node's rows of listening_reports `where`, read-only beside the running node, once
    every report it acknowledged is moved from its journal into the database."""
    path = node.data_dir / DATABASE_FILE
    deadline = time.monotonic() + 5
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        while not journal_moved(node.data_dir, db) and time.monotonic() < deadline:
            time.sleep(0.02)
        query = f"SELECT * FROM listening_reports WHERE {where} ORDER BY id"
        return db.execute(query, params).fetchall()


def _of_session(node: OmsProcess, session: str) -> list[sqlite3.Row]:
    return _stored(node, "session = ?", session)


def _coverage(rows: list[sqlite3.Row]) -> list[tuple[int, int]]:
    """The seconds the rows say were heard: their [start, end) pairs joined."""
    pairs = sorted(pair for row in rows for pair in struct.iter_unpack("<II", row["ranges"]))
    union: list[tuple[int, int]] = []
    for start, end in pairs:
        if union and start <= union[-1][1]:
            union[-1] = (union[-1][0], max(union[-1][1], end))
        else:
            union.append((start, end))
    return union


def _wait_stored(
    find: Callable[[], list[sqlite3.Row]], done: Callable[[list[sqlite3.Row]], bool]
) -> list[sqlite3.Row]:
    """Rows from `find()` once `done(rows)` (or after 15 s): for reports whose answer no page
    sees (beacons)."""
    deadline = time.monotonic() + 15
    rows = find()
    while not done(rows) and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = find()
    return rows


def _play_release(page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]]) -> None:
    release = _rkey(tracks[ALBUM[0]]["release"]["uri"])
    page.goto(f"{node.public_url}/release/ada.localhost/{release}")
    page.locator("[data-tracklist] [data-action='play-all']").first.click()
    expect(page.locator("#player-title")).to_have_text(ALBUM[0])


def test_playing_then_pausing_reports_what_was_heard(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]], reports: Reports
) -> None:
    _play_release(page, node, tracks)
    wait_playing_past(page, 3)
    paused_at, report = _pause(page, lambda: page.click("#player-play"))

    track = tracks[ALBUM[0]]
    session = report["sessionId"]
    assert report["track"] == {"uri": track["uri"], "cid": track["cid"]}
    assert report["client"] == "web"
    assert report["device"] == page.evaluate("localStorage.getItem('oms.device')")
    assert report["context"]["page"] == "release"
    assert report["context"]["timeZone"]
    assert report["context"]["locale"]
    assert "referrer" not in report["context"]  # the listener came from no other site
    assert report["rendition"] in {"aac64", "aac128", "aac256", "flac"}
    sent = reports.of(session)
    assert all(s.status == 200 for s in sent)
    assert all("x-csrf-token" not in s.headers for s in sent)  # nobody is signed in
    for s in sent:
        for stretch in s.body["ranges"]:
            assert isinstance(stretch["startMs"], int)
            assert isinstance(stretch["endMs"], int)
            assert stretch["endMs"] > stretch["startMs"]
        assert all(isinstance(e["positionMs"], int) for e in s.body["events"])
    [(start, end)] = _heard(sent)
    assert start < 0.5
    assert abs(end - paused_at) < 1
    kinds = [e["kind"] for s in sent for e in s.body["events"]]
    assert kinds[0] == "play"
    assert kinds[-1] == "pause"

    rows = _of_session(node, session)
    assert len(rows) == len(sent)
    assert {(r["client"], r["source"], r["track_uri"]) for r in rows} == {
        ("web", "release", track["uri"])
    }
    assert all(r["listener"].startswith("dev:") for r in rows)
    [(first, last)] = _coverage(rows)
    assert first == 0
    assert abs(last - paused_at) <= 1


def test_a_track_counts_for_the_page_it_was_queued_from(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]]
) -> None:
    _play_release(page, node, tracks)
    wait_playing_past(page, 0.5)
    page.locator("a[href='/artist/ada.localhost']").first.click()
    expect(page).to_have_url(f"{node.public_url}/artist/ada.localhost")
    page.click("#player-next")  # the album's next track, started from the artist's page
    expect(page.locator("#player-title")).to_have_text(ALBUM[1])
    wait_playing_past(page, 1)
    _, report = _pause(page, lambda: page.click("#player-play"))

    assert report["track"]["uri"] == tracks[ALBUM[1]]["uri"]
    assert report["context"]["page"] == "release"
    assert {r["source"] for r in _of_session(node, report["sessionId"])} == {"release"}


def test_a_seek_starts_a_new_range(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]], reports: Reports
) -> None:
    _play_release(page, node, tracks)
    wait_playing_past(page, 2)
    with page.expect_response(_is_report("seek")) as answer:
        # the position it leaves, read in the same task as the seek
        left_at = page.evaluate(
            f"(() => {{ const at = {AUDIO}.currentTime; omsPlayer.seek(12); return at; }})()"
        )

    assert answer.value.status == 200
    wait_playing_past(page, 14)
    paused_at, report = _pause(page, lambda: page.evaluate("omsPlayer.pause()"))

    sent = reports.of(report["sessionId"])
    (before_start, before_end), (after_start, after_end) = _heard(sent)
    assert before_start < 0.5
    assert abs(before_end - left_at) < 1
    assert 11.5 < after_start < 12.5
    assert abs(after_end - paused_at) < 1
    seeks = [e for s in sent for e in s.body["events"] if e["kind"] == "seek"]
    assert [abs(e["positionMs"] - 12_000) < 500 for e in seeks] == [True]

    stored = _coverage(_of_session(node, report["sessionId"]))
    assert len(stored) == 2
    assert stored[0][0] == 0
    assert stored[1][0] in (11, 12)


def test_leaving_the_page_delivers_what_was_heard(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]], reports: Reports
) -> None:
    track = tracks[ALBUM[2]]
    since = int(time.time() * 1000)
    page.goto(f"{node.public_url}/track/ada.localhost/{_rkey(track['uri'])}")
    page.locator(".track-hero [data-action='play']").click()
    wait_playing_past(page, 3)
    left_at = float(page.evaluate(f"{AUDIO}.currentTime"))
    page.close(run_before_unload=True)

    def heard_to_the_end(rows: list[sqlite3.Row]) -> bool:
        return bool(rows) and _coverage(rows)[-1][1] >= int(left_at)

    def find() -> list[sqlite3.Row]:
        return _stored(node, "track_uri = ? AND received_at >= ?", track["uri"], since)

    rows = _wait_stored(find, heard_to_the_end)
    assert heard_to_the_end(rows), _coverage(rows)
    assert {r["source"] for r in rows} == {"track"}
    # More reports arrived than the page sent with fetch: the last went as the page closed.
    assert len(rows) > len([s for s in reports.sent if s.body["track"]["uri"] == track["uri"]])


def test_a_signed_in_listener_is_known_by_the_account(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]], reports: Reports
) -> None:
    did = node.create_account("lena", "correct horse battery", role="fan")
    page.goto(f"{node.public_url}/signin?next=/library")
    page.fill("#identifier", "lena")
    page.fill("#password", "correct horse battery")
    page.click("main button[type=submit]")
    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    token = page.locator("meta[name='csrf-token']").get_attribute("content")
    assert token

    track = tracks[ALBUM[1]]
    page.goto(f"{node.public_url}/track/ada.localhost/{_rkey(track['uri'])}")
    page.locator(".track-hero [data-action='play']").click()
    wait_playing_past(page, 2)
    _, report = _pause(page, lambda: page.click("#player-play"))

    sent = reports.of(report["sessionId"])
    assert sent
    assert all(s.headers.get("x-csrf-token") == token for s in sent)
    rows = _of_session(node, report["sessionId"])
    assert rows
    assert {r["listener"] for r in rows} == {did}
    assert {r["source"] for r in rows} == {"track"}


@pytest.fixture
def artist_site(node: OmsProcess, tracks: dict[str, dict[str, Any]]) -> Iterator[str]:
    """An artist's own site, served from loopback under another name (Chromium refuses a
    public page framing a local one): /link.html links to the node's embed of the album's
    first track, /frame.html frames it."""
    embed = f"{node.public_url}/embed/track/ada.localhost/{_rkey(tracks[ALBUM[0]]['uri'])}"
    pages = {
        "/link.html": f'<!doctype html><title>Ada</title><a href="{embed}">Listen</a>',
        "/frame.html": f'<!doctype html><title>Ada</title><iframe src="{embed}"></iframe>',
    }

    class ArtistPages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ArtistPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://artist.localhost:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _check_embed_report(
    node: OmsProcess, report: dict[str, Any], track: dict[str, Any], site: str
) -> None:
    assert report["client"] == "embed"
    assert report["context"]["page"] == "embed"
    assert report["context"]["referrer"] == site
    assert report["track"]["uri"] == track["uri"]
    rows = _of_session(node, report["sessionId"])
    assert rows
    assert {(r["client"], r["source"], r["referrer"]) for r in rows} == {
        ("embed", "embed", "artist.localhost")
    }


def test_the_embed_reports_as_the_embed_with_the_linking_site(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]], artist_site: str
) -> None:
    page.goto(f"{artist_site}/link.html")
    page.click("a")
    expect(page.locator("#embed-title")).to_have_text(ALBUM[0])
    _wait_for_player(page)
    page.click("#player-play")
    wait_playing_past(page, 2)
    _, report = _pause(page, lambda: page.click("#player-play"))
    _check_embed_report(node, report, tracks[ALBUM[0]], artist_site)


def test_the_embed_framed_by_another_site_reports_that_site(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]], artist_site: str
) -> None:
    page.goto(f"{artist_site}/frame.html")
    embed = page.frame_locator("iframe")
    expect(embed.locator("#embed-title")).to_have_text(ALBUM[0])
    frame = next(f for f in page.frames if f.url.startswith(node.public_url))
    _wait_for_player(frame)
    embed.locator("#player-play").click()
    wait_playing_past(frame, 2)
    _, report = _pause(page, lambda: embed.locator("#player-play").click())
    _check_embed_report(node, report, tracks[ALBUM[0]], artist_site)


def test_repeat_one_plays_the_track_again_as_a_new_session(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]], reports: Reports
) -> None:
    _play_release(page, node, tracks)
    page.click("#player-repeat")
    page.click("#player-repeat")
    expect(page.locator("#player-repeat")).to_have_attribute("data-repeat", "one")
    wait_playing_past(page, 0.5)
    with page.expect_response(_is_report("ended"), timeout=15_000) as ended:
        page.evaluate(f"omsPlayer.seek({SECONDS - 3})")
    first = ended.value.request.post_data_json
    wait_playing_past(page, 1)
    expect(page.locator("#player-title")).to_have_text(ALBUM[0])
    _, second = _pause(page, lambda: page.click("#player-play"))

    assert first["track"] == second["track"]
    assert first["sessionId"] != second["sessionId"]
    # The end belongs to the first listen; the second starts from the top.
    first_kinds = [e["kind"] for s in reports.of(first["sessionId"]) for e in s.body["events"]]
    second_events = [e for s in reports.of(second["sessionId"]) for e in s.body["events"]]
    assert first_kinds[-1] == "ended"
    assert [e["kind"] for e in second_events] == ["play", "pause"]
    assert second_events[0]["positionMs"] < 500
    [(start, _)] = _heard(reports.of(second["sessionId"]))
    assert start < 0.5
    history = page.evaluate("JSON.parse(localStorage.getItem('oms.history'))")
    assert [entry["uri"] for entry in history] == [first["track"]["uri"]]


def test_a_report_the_node_could_not_take_is_sent_from_the_next_page(
    context: BrowserContext,
    page: Page,
    node: OmsProcess,
    tracks: dict[str, dict[str, Any]],
    reports: Reports,
) -> None:
    # The node answers 503 (being restarted behind its proxy) while the listener pauses.
    context.route(f"**{METHOD}", lambda route: route.fulfill(status=503, body=""))
    _play_release(page, node, tracks)
    wait_playing_past(page, 2)
    page.click("#player-play")
    page.wait_for_function(
        "() => (localStorage.getItem('oms.pendingReports') || '').includes('\"pause\"')"
    )
    kept = page.evaluate("JSON.parse(localStorage.getItem('oms.pendingReports'))")
    session = kept[-1]["sessionId"]
    assert _of_session(node, session) == []
    context.unroute(f"**{METHOD}")

    later = context.new_page()
    with later.expect_response(_is_report("pause")) as answer:
        later.goto(f"{node.public_url}/search")
    assert answer.value.status == 200
    assert answer.value.request.post_data_json["sessionId"] == session
    rows = _of_session(node, session)
    assert rows
    assert _coverage(rows)[0][0] == 0
    later.close()


def test_playing_a_track_again_once_it_ended_is_a_new_session(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]], reports: Reports
) -> None:
    # The embed has no radio: once its only track ends, it stays there until played again.
    page.goto(f"{node.public_url}/embed/track/ada.localhost/{_rkey(tracks[ALBUM[1]]['uri'])}")
    _wait_for_player(page)
    page.click("#player-play")
    wait_playing_past(page, 0.5)
    with page.expect_response(_is_report("ended"), timeout=15_000) as ended:
        page.evaluate(f"omsPlayer.seek({SECONDS - 3})")
    first = ended.value.request.post_data_json
    expect(page.locator("#embed")).to_have_attribute("data-state", "paused")
    page.click("#player-play")
    wait_playing_past(page, 1)
    _, second = _pause(page, lambda: page.click("#player-play"))

    assert first["sessionId"] != second["sessionId"]
    second_events = [e for s in reports.of(second["sessionId"]) for e in s.body["events"]]
    assert [e["kind"] for e in second_events] == ["play", "pause"]
    [(start, _)] = _heard(reports.of(second["sessionId"]))
    assert start < 0.5
    assert _of_session(node, first["sessionId"])[-1]["events"].endswith(f"ended@{SECONDS}")

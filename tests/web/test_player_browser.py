"""A listener uses the web player in headless Chromium against a real `oms serve` with an album
imported by `oms import`: plays (HLS segments are fetched, time advances), seeks on the
waveform, skips, edits the queue, switches quality, keeps listening while moving between pages,
reloads, opens a share link with a start time, uses the keyboard, and plays the embed."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import OmsProcess, start_oms
from tests.media.conftest import png_bytes
from tests.web.conftest import AUDIO, album_tracks, import_album, wait_playing_past

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ALBUM = ("First Light", "Second Wave", "Third Tide")
SECONDS = 20


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OmsProcess]:
    """One node for the module, with a three-track lossless album by @ada imported."""
    root = tmp_path_factory.mktemp("player")
    server = start_oms(root / "data")
    try:
        server.wait_healthy()
        server.create_account("ada", "correct horse battery", role="artist")
        import_album(
            server, root / "album", ALBUM, album="Shorelines", seconds=SECONDS,
            cover=png_bytes(400, 400, "teal"),
        )  # fmt: skip
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tracks(node: OmsProcess) -> dict[str, dict[str, Any]]:
    """The album's trackViews by title."""
    return album_tracks(node, ALBUM)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where page screenshots go: $OMS_ARTIFACTS_DIR, else a temporary folder."""
    folder = os.environ.get("OMS_ARTIFACTS_DIR")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _rkey(track: dict[str, Any]) -> str:
    return str(track["uri"]).rsplit("/", 1)[1]


def _time(page: Page) -> float:
    return float(page.evaluate(f"{AUDIO}.currentTime"))


def _play_album(page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]]) -> None:
    release = tracks["First Light"]["release"]["uri"].rsplit("/", 1)[1]
    page.goto(f"{node.public_url}/release/ada.localhost/{release}")
    page.locator("[data-tracklist] [data-action='play-all']").first.click()
    expect(page.locator("#player-title")).to_have_text("First Light")
    wait_playing_past(page, 0.5)


def _queue_titles(page: Page) -> list[str]:
    return page.locator("#player-queue-list .player-queue-title").all_inner_texts()


def test_play_fetches_segments_and_marks_the_track(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]], shots: Path
) -> None:
    segments: list[str] = []
    page.on("request", lambda r: segments.append(r.url) if r.url.endswith(".m4s") else None)
    page.goto(f"{node.public_url}/")
    expect(page.locator("#player-title")).to_have_text("Nothing playing")
    page.screenshot(path=shots / "home.png")
    row = page.locator("[data-tracklist] [data-track]").first
    title = row.locator(".track-title").inner_text()
    row.locator("[data-action='play']").click()
    wait_playing_past(page, 1.5)
    assert any("/hls/" in url for url in segments)
    expect(page.locator("#player-title")).to_have_text(title)
    expect(page.locator("#player")).to_have_attribute("data-state", "playing")
    expect(row).to_have_class(re.compile(r"\bis-playing\b"))
    expect(row.locator("[data-action='play']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#live")).to_contain_text(f"Now playing: {title}")
    expect(page.locator("#player-rendition")).to_contain_text("AAC")
    page.screenshot(path=shots / "home-playing.png")


def test_seeking_on_the_waveform_and_the_seek_bar(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]]
) -> None:
    _play_album(page, node, tracks)
    page.click("#player-play")
    expect(page.locator("#player")).to_have_attribute("data-state", "paused")
    waveform = page.locator("#player-waveform")
    box = waveform.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.wait_for_function(f"() => Math.abs({AUDIO}.currentTime - {SECONDS / 2}) < 1")
    expect(page.locator("#player-seek")).to_have_value(re.compile(r"^(9|10)$"))
    expect(page.locator("#player-elapsed")).to_have_text(re.compile(r"^0:(09|10)$"))
    # the seek bar, from the keyboard: End goes to the end of the track, Home to the start
    page.focus("#player-seek")
    page.keyboard.press("Home")
    page.wait_for_function(f"() => {AUDIO}.currentTime < 1")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => Math.abs({AUDIO}.currentTime - 2) < 1")


def test_next_previous_and_editing_the_queue(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]]
) -> None:
    _play_album(page, node, tracks)
    page.click("#player-next")
    expect(page.locator("#player-title")).to_have_text("Second Wave")
    wait_playing_past(page, 0.2)
    page.click("#player-prev")  # at the start of a track: back to the one before
    expect(page.locator("#player-title")).to_have_text("First Light")

    # "play next" and "add to queue" from a track's menu
    row = page.locator("[data-track]", has_text="Third Tide").first
    row.locator("summary").click()
    row.locator("[data-action='play-next']").click()
    row = page.locator("[data-track]", has_text="Second Wave").first
    row.locator("summary").click()
    row.locator("[data-action='add-to-queue']").click()
    page.click("#player-queue-toggle")
    expect(page.locator("#player-queue")).to_be_visible()
    expect(page.locator("#player-queue-list li")).to_have_count(5)
    assert _queue_titles(page) == [
        "First Light", "Third Tide", "Second Wave", "Third Tide", "Second Wave"
    ]  # fmt: skip
    # reorder and remove
    page.get_by_role("button", name="Move down: Third Tide").first.click()
    assert _queue_titles(page)[:3] == ["First Light", "Second Wave", "Third Tide"]
    page.get_by_role("button", name="Remove: Second Wave").last.click()
    assert _queue_titles(page) == ["First Light", "Second Wave", "Third Tide", "Third Tide"]
    page.get_by_role("button", name="Remove: Third Tide").last.click()
    assert _queue_titles(page) == list(ALBUM)
    page.click("#player-next")
    expect(page.locator("#player-title")).to_have_text("Second Wave")
    expect(page.locator("#player-queue-list li[aria-current='true']")).to_contain_text(
        "Second Wave"
    )


def test_switching_quality_changes_the_rendition(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]]
) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if "/hls/" in r.url else None)
    _play_album(page, node, tracks)
    for choice, folder, label in (
        ("AAC 64k", "/aac64/", "AAC 64k"),
        ("Lossless (FLAC)", "/flac/", "FLAC"),
    ):
        requested.clear()
        page.click("#player-quality")
        page.get_by_role("menuitemradio", name=choice).click()
        expect(page.locator("#player-rendition")).to_have_text(label, timeout=10_000)
        assert any(folder in url and url.endswith(".m4s") for url in requested), requested
    wait_playing_past(page, _time(page) + 0.5)
    assert page.evaluate("localStorage.getItem('oms.quality')") == "lossless"


def test_moving_between_pages_keeps_the_music_playing(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]], shots: Path
) -> None:
    _play_album(page, node, tracks)
    page.evaluate(f"window.playerAudio = {AUDIO}")
    page.screenshot(path=shots / "release.png")
    for link, shot in (
        ("a[href='/artist/ada.localhost']", "artist.png"),
        (f"a[href='/track/ada.localhost/{_rkey(tracks['Second Wave'])}']", "track.png"),
        ("a[href='/library']", "library.png"),
    ):
        before = _time(page)
        page.locator(link).first.click()
        page.wait_for_function(f"() => {AUDIO}.currentTime > {before + 0.5}")
        # same document (no reload: the marker survives), same element, still playing
        assert page.evaluate(f"window.playerAudio === {AUDIO}")
        assert page.evaluate(f"!{AUDIO}.paused")
        page.screenshot(path=shots / shot)
    page.fill("#search-q", "Third")
    page.press("#search-q", "Enter")
    expect(page).to_have_url(f"{node.public_url}/search?q=Third")
    expect(page.locator("[data-track]", has_text="Third Tide").first).to_be_visible()
    assert page.evaluate("window.playerAudio !== undefined")
    page.screenshot(path=shots / "search.png")


def test_a_reload_restores_the_queue_and_position_paused(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]]
) -> None:
    _play_album(page, node, tracks)
    page.click("#player-next")
    expect(page.locator("#player-title")).to_have_text("Second Wave")
    page.evaluate("omsPlayer.seek(8)")
    page.wait_for_function(f"() => {AUDIO}.currentTime >= 8")
    page.click("#player-play")
    page.reload()
    expect(page.locator("#player-title")).to_have_text("Second Wave")
    expect(page.locator("#player")).to_have_attribute("data-state", "paused")
    expect(page.locator("#player-elapsed")).to_have_text("0:08")
    page.click("#player-queue-toggle")
    assert _queue_titles(page) == list(ALBUM)
    page.click("#player-play")
    wait_playing_past(page, 8)


def test_a_share_link_with_a_start_time(
    context: BrowserContext, page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]]
) -> None:
    track = tracks["Third Tide"]
    page.goto(f"{node.public_url}/track/ada.localhost/{_rkey(track)}?t=0m12s")
    expect(page.locator("#player-title")).to_have_text("Third Tide")
    page.wait_for_function(f"() => Math.abs({AUDIO}.currentTime - 12) < 1")
    assert page.evaluate(f"{AUDIO}.paused")
    page.click(".track-hero [data-action='play']")
    wait_playing_past(page, 12.3)
    # sharing the playing track puts its position in the link
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator(".track-hero summary").click()
    page.locator(".track-hero [data-action='share']").click()
    expect(page.locator("#live")).to_have_text("Link copied.")
    link = page.evaluate("navigator.clipboard.readText()")
    assert link.startswith(f"{node.public_url}/track/ada.localhost/{_rkey(track)}?t=0m1")


def test_keyboard_shortcuts(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]]
) -> None:
    _play_album(page, node, tracks)
    page.locator("body").click(position={"x": 5, "y": 200})  # focus off any button
    page.keyboard.press(" ")
    expect(page.locator("#player")).to_have_attribute("data-state", "paused")
    page.keyboard.press(" ")
    expect(page.locator("#player")).to_have_attribute("data-state", "playing")
    page.keyboard.press("n")
    expect(page.locator("#player-title")).to_have_text("Second Wave")
    page.keyboard.press("?")
    expect(page.locator("#player-help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#player-help")).to_be_hidden()
    page.keyboard.press("/")
    expect(page.locator("#search-q")).to_be_focused()
    page.keyboard.press("n")  # typing into the search box is not a shortcut
    expect(page.locator("#player-title")).to_have_text("Second Wave")


def test_the_embed_plays(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]], shots: Path
) -> None:
    track = tracks["First Light"]
    page.goto(f"{node.public_url}/embed/track/ada.localhost/{_rkey(track)}")
    expect(page.locator("#embed-title")).to_have_text("First Light")
    page.screenshot(path=shots / "embed-track.png")
    page.click("#player-play")
    wait_playing_past(page, 1)
    release = track["release"]["uri"].rsplit("/", 1)[1]
    page.goto(f"{node.public_url}/embed/release/ada.localhost/{release}")
    page.get_by_role("button", name="Third Tide").click()
    expect(page.locator("#embed-title")).to_have_text("Third Tide")
    wait_playing_past(page, 1)
    page.screenshot(path=shots / "embed-release.png")


def test_synced_lyrics_follow_the_music(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]]
) -> None:
    track = tracks["Third Tide"]
    did, rkey = track["did"], _rkey(track)
    session = httpx.post(
        f"{node.url}/xrpc/com.atproto.server.createSession",
        json={"identifier": "ada.localhost", "password": "correct horse battery"},
    ).json()
    auth = {"Authorization": f"Bearer {session['accessJwt']}"}
    params = {"repo": did, "collection": "fm.oms.track", "rkey": rkey}
    record = httpx.get(f"{node.url}/xrpc/com.atproto.repo.getRecord", params=params).json()
    value = {**record["value"], "lyrics": {"synced": [
        {"timeMs": 0, "text": "first line"}, {"timeMs": 1500, "text": "second line"}]}}  # fmt: skip
    put = httpx.post(
        f"{node.url}/xrpc/com.atproto.repo.putRecord",
        headers=auth,
        json={**params, "record": value},
    )
    assert put.status_code == 200, put.text
    page.goto(f"{node.public_url}/track/ada.localhost/{rkey}")
    lines = page.locator("[data-lyrics-for] li")
    expect(lines).to_have_count(2)
    expect(page.locator("[data-lyrics-for] li.is-current")).to_have_count(0)
    page.locator(".track-hero [data-action='play']").click()
    expect(page.locator("[data-lyrics-for] li.is-current")).to_contain_text("second line")
    expect(page.locator("[data-lyrics-for] li[aria-current='true']")).to_have_count(1)


def test_a_listener_likes_follows_and_makes_a_playlist(
    page: Page, node: OmsProcess, tracks: dict[str, dict[str, Any]]
) -> None:
    node.create_account("fan", "correct horse battery", role="fan")
    page.goto(f"{node.public_url}/signin?next=/library")
    page.fill("#identifier", "fan")
    page.fill("#password", "correct horse battery")
    page.click("main button[type=submit]")
    expect(page.get_by_role("heading", name="Your library")).to_be_visible()

    release = tracks["First Light"]["release"]["uri"].rsplit("/", 1)[1]
    page.goto(f"{node.public_url}/release/ada.localhost/{release}")
    first = page.locator(".track-row", has_text="First Light")
    first.locator("[data-action='like']").click()
    expect(first.locator("[data-action='like']")).to_have_attribute("aria-pressed", "true")
    second = page.locator(".track-row", has_text="Second Wave")
    second.locator(".track-menu summary").click()
    second.locator("[data-action='add-to-playlist']").click()
    dialog = page.locator("#playlist-dialog")
    dialog.locator("input").fill("Evening")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("#live")).to_contain_text("Made the playlist Evening")

    page.locator("a", has_text="Ada Lovelace").first.click()
    follow = page.locator("[data-action='follow']")
    follow.click()
    expect(follow).to_have_text("Following")

    page.locator("header a", has_text="Library").click()
    expect(page.locator("#liked .track-title")).to_have_text(["First Light"])
    expect(page.locator("#playlists a", has_text="Evening")).to_be_visible()
    expect(page.get_by_role("heading", name="Artists you follow")).to_be_visible()

    page.locator("#playlists a", has_text="Evening").click()
    expect(page.locator(".track-row .track-title")).to_have_text(["Second Wave"])
    page.locator("[data-action='playlist-remove']").click()
    expect(page.locator(".track-row")).to_have_count(0)
    # Undoing the like leaves the library without it.
    page.goto(f"{node.public_url}/release/ada.localhost/{release}")
    liked = page.locator(".track-row", has_text="First Light").locator("[data-action='like']")
    liked.click()
    expect(liked).to_have_attribute("aria-pressed", "false")
    page.goto(f"{node.public_url}/library")
    expect(page.locator("#liked .track-title")).to_have_count(0)

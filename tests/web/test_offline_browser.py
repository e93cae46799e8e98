"""A listener saves a track for offline listening in headless Chromium against a real
`oms serve`, sees it in the library with its size, then stops the node and still plays it, in
the open page and after reloading the library from the service worker; removing it deletes the
saved copy. A track its artist keeps from downloads cannot be saved."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from mutagen.flac import FLAC, Picture
from playwright.sync_api import Browser, Page, expect

from tests.conftest import OmsProcess, publish_track, tone_flac, upload_blob
from tests.media.conftest import png_bytes

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PASSWORD = "correct horse battery"
SAVED_CACHE = "oms-offline"


@pytest.fixture
def node(oms_server: OmsProcess) -> OmsProcess:
    """A node this test stops itself (to go offline); stopped at the end in any case."""
    return oms_server


def _with_cover(path: Path) -> bytes:
    tags = FLAC(path)
    picture = Picture()
    picture.type = 3  # front cover
    picture.mime = "image/png"
    picture.data = png_bytes(400, 400, "teal")
    tags.add_picture(picture)
    tags.save()
    return path.read_bytes()


def _ready_track(client: httpx.Client, uri: str) -> dict[str, Any]:
    """The track's view once its stream is made (the media pipeline runs in the background)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = client.get("/xrpc/fm.oms.catalog.getTrack", params={"uri": uri})
        if answer.status_code == 200:
            track: dict[str, Any] = answer.json()["track"]
            if "waveformUrl" in track:
                return track
        time.sleep(0.2)
    raise AssertionError(f"the stream of {uri} was not made in time")


def _publish(server: OmsProcess, folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A downloadable track with a cover and one its artist keeps from being downloaded."""
    did = server.create_account("ada", PASSWORD)
    with httpx.Client(base_url=server.url) as client:
        session = client.post(
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": "ada.localhost", "password": PASSWORD},
        )
        assert session.status_code == 200, session.text
        headers = {"Authorization": f"Bearer {session.json()['accessJwt']}"}
        tone_flac(folder / "keep.flac", 14, 440)
        keep = upload_blob(client, headers, _with_cover(folder / "keep.flac"))
        stream = upload_blob(client, headers, tone_flac(folder / "stream.flac", 8, 330))
        uris = [
            publish_track(client, headers, did, keep, "Keep Me", downloadable=True,
                          durationMs=14_000),
            publish_track(client, headers, did, stream, "Stream Only", downloadable=False,
                          durationMs=8_000),
        ]  # fmt: skip
        saved, refused = (_ready_track(client, uri) for uri in uris)
    return saved, refused


def _page_of(server: OmsProcess, track: dict[str, Any]) -> str:
    return f"{server.public_url}/track/ada.localhost/{track['uri'].rsplit('/', 1)[1]}"


def _saved_urls(page: Page) -> list[str]:
    urls: list[str] = page.evaluate(
        "async (name) => (await (await caches.open(name)).keys()).map((r) => r.url)", SAVED_CACHE
    )
    return urls


def _expect_playing(page: Page) -> None:
    """The player's audio element moves on: the saved segments are being heard."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('audio')].some((a) => a.currentTime > 1 && !a.paused)",
        timeout=20_000,
    )


def test_what_cannot_be_saved_leaves_nothing_behind(
    browser: Browser, node: OmsProcess, tmp_path: Path
) -> None:
    saved, refused = _publish(node, tmp_path)
    page = browser.new_page()

    # A track its artist keeps from downloads offers no save, and saving it is refused.
    page.goto(_page_of(node, refused))
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    expect(page.locator('.track-hero [data-action="save-offline"]')).to_have_count(0)
    refusal = page.evaluate(
        """async (track) => {
            const { saveTrack } = await import("/static/js/offline/store.js");
            return saveTrack(track).then(() => "saved", (error) => error.message);
        }""",
        refused,
    )
    assert "doesn't allow" in refusal

    # A save that fails partway (the node lost a segment) keeps none of the files it got.
    audio_cid = saved["streamUrl"].split("/")[-2]
    segment = next((node.data_dir / "hls").rglob(f"{audio_cid}/aac128/seg-00002.m4s"))
    segment.unlink()
    page.goto(_page_of(node, saved))
    hero = page.locator(".track-hero")
    hero.locator("summary").click()
    hero.get_by_role("button", name="Save for offline").click()
    expect(hero.locator('[data-action="save-offline"]')).to_have_text("Can't save")
    expect(page.locator("#live")).to_contain_text("“Keep Me” was not saved. The node answered 404")
    assert _saved_urls(page) == []
    page.close()


def test_a_saved_track_plays_without_the_node(
    browser: Browser, node: OmsProcess, tmp_path: Path
) -> None:
    saved, _ = _publish(node, tmp_path)
    artifacts = Path(os.environ.get("OMS_ARTIFACTS_DIR") or tmp_path / "screenshots")
    artifacts.mkdir(parents=True, exist_ok=True)
    # A context of its own: the track page is the first this browser sees of the node, so
    # the service worker starts while it loads (and must still keep its scripts).
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    # Saving it, from the track's menu.
    page.goto(_page_of(node, saved))
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    hero = page.locator(".track-hero")
    hero.locator("summary").click()
    hero.get_by_role("button", name="Save for offline").click()
    saved_button = hero.locator('[data-action="save-offline"]')
    expect(saved_button).to_have_text("Saved", timeout=30_000)
    expect(saved_button).to_have_attribute("aria-pressed", "true")
    expect(hero).to_have_class(re.compile(r"\bis-saved\b"))
    urls = _saved_urls(page)
    assert saved["streamUrl"] in urls
    assert saved["artwork"]["small"] in urls
    assert saved["waveformUrl"] in urls
    assert not any("/aac64/" in url or "/flac/" in url for url in urls)  # one rendition only
    assert any(url.endswith("/aac128/seg-00002.m4s") for url in urls)

    # The library lists it, with its size and rendition (the page is swapped in, not loaded).
    page.get_by_role("link", name="Library", exact=True).click()
    rows = page.locator("[data-offline-list] .track-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Keep Me")
    expect(rows.first.locator(".offline-row-meta")).to_have_text(
        re.compile(r"^\d+ kB · AAC 128 kbps$")
    )
    expect(page.locator(".offline-summary")).to_contain_text("1 track ·")
    page.screenshot(path=str(artifacts / "offline-library.png"), full_page=True)

    # The node goes away; the saved track plays in the open page...
    node.stop()
    assert node.process.poll() is not None
    # The node's streams are cacheable for a year, so the browser's HTTP cache holds what the
    # save fetched; emptied, only the saved copy can answer (as after the browser evicts it).
    context.new_cdp_session(page).send("Network.clearBrowserCache")
    rows.first.get_by_role("button", name="Play Keep Me").click()
    _expect_playing(page)

    # ...and after the library page is reloaded from the service worker.
    page.goto(f"{node.public_url}/library")
    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    row = page.locator("[data-offline-list] .track-row")
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Play Keep Me").click()
    _expect_playing(page)

    # Removing it forgets every file and the list says nothing is saved.
    row.get_by_role("button", name="Remove Keep Me from this device").click()
    expect(page.locator("[data-offline-list]")).to_contain_text("No tracks saved")
    assert _saved_urls(page) == []
    assert problems == []
    context.close()

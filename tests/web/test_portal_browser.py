"""An artist uses the creator portal in headless Chromium against a real `oms serve`: signs
in, drops files (good, bad and duplicate), checks the prefilled tags, publishes an album,
watches the streams being made, edits, changes visibility in bulk, and deletes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mutagen.flac import FLAC
from playwright.sync_api import Browser, Page, expect

from oms.media.ffmpeg_binary import locate_ffmpeg
from tests.conftest import OmsProcess
from tests.media.conftest import generate

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PASSWORD = "correct horse battery"


def _album(folder: Path) -> dict[str, Path]:
    ffmpeg = locate_ffmpeg().path
    files = {}
    for number, title in ((2, "Second Wave"), (1, "First Light")):
        path = generate(ffmpeg, folder / f"{number:02d}.flac", 3, "-c:a", "flac")
        tags = FLAC(path)
        tags["title"] = title
        tags["artist"] = "Ada Lovelace"
        tags["album"] = "Shorelines"
        tags["tracknumber"] = str(number)
        tags["genre"] = "Ambient"
        tags.save()
        files[title] = path
    text = folder / "notes.mp3"
    text.write_text("these are my lyrics, not audio\n" * 20)
    empty = folder / "empty.flac"
    empty.write_bytes(b"")
    copy = folder / "copy of first.flac"
    copy.write_bytes(files["First Light"].read_bytes())
    return {**files, "text": text, "empty": empty, "copy": copy}


def _sign_in(page: Page, server: OmsProcess) -> None:
    page.goto(f"{server.public_url}/portal")
    expect(page).to_have_url(f"{server.public_url}/signin?next=%2Fportal")
    page.fill("#identifier", "ada")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Your music")).to_be_visible()


def _record(server: OmsProcess, did: str, uri: str) -> dict:
    answer = httpx.get(
        f"{server.url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": did, "collection": "fm.oms.track", "rkey": uri.rsplit("/", 1)[1]},
    )
    assert answer.status_code == 200, answer.text
    value: dict = answer.json()["value"]
    return value


def test_an_artist_publishes_an_album_through_the_portal(
    browser: Browser, oms_server: OmsProcess, tmp_path: Path
) -> None:
    server = oms_server
    did = server.create_account("ada", PASSWORD, role="artist")
    files = _album(tmp_path)
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    _sign_in(page, server)

    page.click("text=Upload music")
    page.set_input_files("#files", [str(p) for p in files.values()])
    cards = page.locator(".upload-card")
    expect(cards).to_have_count(5)
    ready = page.locator('.upload-card[data-state="ready"]')
    expect(ready).to_have_count(2, timeout=20_000)
    invalid = page.locator('.upload-card[data-state="invalid"]')
    expect(invalid).to_have_count(3, timeout=20_000)
    expect(page.locator('.upload-card:has-text("empty.flac") .state')).to_contain_text("empty")
    expect(page.locator('.upload-card:has-text("notes.mp3") .state')).to_contain_text(
        "Cannot publish"
    )
    expect(page.locator('.upload-card:has-text("copy of first.flac") .state')).to_contain_text(
        "already in this upload"
    )
    # tags prefill the forms; the album is offered as a release, in its track order
    expect(page.locator("#as-release")).to_be_checked()
    expect(page.locator("#release-title")).to_have_value("Shorelines")
    titles = ready.locator('input[name="title"]')
    expect(titles.nth(0)).to_have_value("First Light")
    expect(titles.nth(1)).to_have_value("Second Wave")
    expect(ready.nth(0).locator('input[name="artists"]')).to_have_value("Ada Lovelace")
    expect(ready.nth(0).locator('input[name="genres"]')).to_have_value("Ambient")
    titles.nth(1).fill("Second Wave (edit)")
    page.click("#publish")
    expect(page.locator("#summary")).to_contain_text("Published 2 tracks", timeout=20_000)
    streaming = page.locator('.upload-card[data-state="streaming"]')
    expect(streaming).to_have_count(2, timeout=60_000)

    # the dashboard lists both, ready, and the release in order
    page.goto(f"{server.public_url}/portal")
    rows = page.locator("table.tracks tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator('.media-status[data-status="ready"]')).to_have_count(2)
    page.click("text=Shorelines")
    order = page.locator("#order li")
    expect(order.nth(0)).to_contain_text("First Light")
    expect(order.nth(1)).to_contain_text("Second Wave (edit)")

    # the release editor: take a track out, then add it back first
    release_url = page.url
    order.nth(1).locator("button.remove").click()
    page.click("text=Save release")
    expect(page.locator("#result")).to_have_text("Saved.")
    page.goto(release_url)
    expect(page.locator("#order li")).to_have_count(1)
    page.select_option("#add-track", label="Second Wave (edit)")
    page.click("#add-button")
    page.locator("#order li").nth(1).locator("button.up").click()
    page.click("text=Save release")
    expect(page.locator("#result")).to_have_text("Saved.")
    page.goto(release_url)
    expect(page.locator("#order li").nth(0)).to_contain_text("Second Wave (edit)")
    expect(page.locator("#order li").nth(1)).to_contain_text("First Light")

    # edit a track
    page.goto(f"{server.public_url}/portal")
    page.click("text=First Light")
    page.fill("#title", "First Light (remaster)")
    page.fill("#splits", "ada.localhost = 100")
    page.click("text=Save changes")
    expect(page.locator("#result")).to_have_text("Saved.")
    record_uri = page.evaluate("JSON.parse(document.getElementById('record').textContent).uri")
    value = _record(server, did, record_uri)
    assert value["title"] == "First Light (remaster)"
    assert value["splits"] == [{"did": did, "shareBps": 10000}]
    assert value["artists"][0]["did"] == did
    page.fill("#splits", "ada.localhost = 60")
    page.click("text=Save changes")
    expect(page.locator("#result")).to_contain_text("add up to 60%")

    # bulk: make both unlisted
    page.goto(f"{server.public_url}/portal")
    page.check("#select-all")
    page.select_option("#bulk-action", "unlisted")
    page.click("text=Apply to selected")
    expect(page.locator("#bulk-result")).to_contain_text("Done: 2 tracks")
    assert _record(server, did, record_uri)["visibility"] == "unlisted"

    # delete one from its editor
    page.goto(f"{server.public_url}/portal")
    page.click("text=First Light (remaster)")
    page.click("text=Delete this track")
    expect(page).to_have_url(f"{server.public_url}/portal")
    expect(page.locator("table.tracks tbody tr")).to_have_count(1)
    assert problems == []

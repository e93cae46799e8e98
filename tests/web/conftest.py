"""What the browser tests share: Debian's Chromium driven by Playwright (never a downloaded
browser), one per test module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from mutagen.flac import FLAC, Picture
from playwright.sync_api import Browser, BrowserContext, Frame, Page, sync_playwright

from oms.media.ffmpeg_binary import locate_ffmpeg
from tests.conftest import OmsProcess, run_oms
from tests.media.conftest import generate


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "the browser tests need Chromium: run ./install.sh --dev"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            # Tests press play themselves; no test depends on autoplay being refused.
            args=["--autoplay-policy=no-user-gesture-required"],
        )
        yield launched
        launched.close()


# The player's <audio> element, as the pages' scripts find it.
AUDIO = "document.getElementById('player-audio')"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test: nothing queued, saved or pending, no device id."""
    opened = browser.new_context(viewport={"width": 1280, "height": 800})
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page of the test's profile; a script error on it fails the test."""
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    assert problems == []


def wait_playing_past(page: Page | Frame, seconds: float) -> None:
    page.wait_for_function(
        f"() => !{AUDIO}.paused && {AUDIO}.currentTime > {seconds}", timeout=15_000
    )


def album_tracks(server: OmsProcess, titles: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The trackViews of an imported album (`titles`, all of them present) by title."""
    answer = httpx.get(f"{server.url}/xrpc/fm.oms.catalog.searchTracks", params={"q": ""})
    assert answer.status_code == 200, answer.text
    found = {t["title"]: t for t in answer.json()["tracks"]}
    assert set(titles) <= set(found)
    return found


def import_album(
    server: OmsProcess,
    folder: Path,
    titles: Sequence[str],
    *,
    album: str,
    seconds: float,
    cover: bytes | None = None,
) -> None:
    """Generated FLAC files of `titles` (tagged as `album` by @ada, the first with `cover` as
    its front cover), published by `oms import` on `server` as @ada's."""
    folder.mkdir()
    for number, title in enumerate(titles, start=1):
        path = generate(locate_ffmpeg().path, folder / f"{number:02d}.flac", seconds)
        tags = FLAC(path)
        tags.update(title=title, artist="Ada Lovelace", album=album, genre="Ambient")
        tags["tracknumber"] = str(number)
        if number == 1 and cover is not None:
            picture = Picture()
            picture.type, picture.mime, picture.data = 3, "image/png", cover
            tags.add_picture(picture)
        tags.save()
    imported = run_oms(
        "import", "--artist", "ada", "--license", "cc-by-4.0", str(folder),
        data_dir=server.data_dir, env=server.env(), timeout=120,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stdout + imported.stderr

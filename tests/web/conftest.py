"""What the browser tests share: Debian's Chromium driven by Playwright (never a downloaded
browser), one per test module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright


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

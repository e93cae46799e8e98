"""The web player in headless Chromium against a real `oms serve` on loopback, each figure from
the browser's own performance APIs with an empty cache, against a baseline from the same run:

(a) Bytes transferred for the home page before any audio (navigation + every resource's
    `transferSize`, gzip as served), plus hls.js light, which the player fetches on the first
    play: against hls.js light alone, the least any hls.js player page transfers.
    Target < 250 KB.
(b) Time to first audio: from the click on a track's play button (`performance.now()` in the
    page) to the audio element's first `timeupdate` past 0 — against a bare page that only
    loads hls.js light and plays the same master playlist on a click. Target < 500 ms.
(c) Largest Contentful Paint of the home page (the `largest-contentful-paint` entry) against
    the node's sign-in page (one heading and a form, same styles). Target < 1 s.

Runs alternate ours/baseline in fresh browser contexts; medians are printed.

Run: .venv/bin/python bench/web_player.py [--runs 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from mutagen.flac import FLAC
from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oms.media.ffmpeg_binary import locate_ffmpeg  # noqa: E402

OMS = str(ROOT / ".venv" / "bin" / "oms")
PASSWORD = "correct horse battery"
MUSIC = (
    "sine=frequency={freq}:sample_rate=44100:duration={seconds}[tone];"
    "anoisesrc=color=pink:sample_rate=44100:duration={seconds}:amplitude=0.3:seed={seed}[noise];"
    "[tone][noise]amix=inputs=2:normalize=0,aformat=channel_layouts=stereo"
)
# The baseline player: hls.js light and nothing else, started by a click.
BARE_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>bare</title>
</head><body><button id="play">play</button><audio></audio>
<script type="module">
import Hls from "{hls}";
document.getElementById("play").addEventListener("click", () => {{
  window.clickedAt = performance.now();
  const audio = document.querySelector("audio");
  audio.addEventListener("timeupdate", function first() {{
    if (audio.currentTime > 0) {{ window.firstAudioAt = performance.now();
      audio.removeEventListener("timeupdate", first); }}
  }});
  const hls = new Hls({{ enableWorker: false }});
  hls.loadSource("{master}"); hls.attachMedia(audio); audio.play();
}});
</script></body></html>"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def oms(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [OMS, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"oms {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def make_tracks(folder: Path, count: int, seconds: int) -> None:
    ffmpeg = str(locate_ffmpeg().path)
    for number in range(1, count + 1):
        path = folder / f"{number:02d}.flac"
        graph = MUSIC.format(freq=220 + 55 * number, seconds=seconds, seed=number)
        subprocess.run(
            [ffmpeg, "-v", "error", "-y", "-filter_complex", graph, "-c:a", "flac", str(path)],
            check=True,
        )
        tags = FLAC(path)
        tags.update(
            title=f"Bench Tune {number}", artist="Bench", album="Bench Album",
            tracknumber=str(number), genre="Ambient",
        )  # fmt: skip
        tags.save()


def start_node(scratch: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    (scratch / "oms.toml").write_text("")
    env |= {"OMS_CONFIG": str(scratch / "oms.toml"), "OMS_DATA_DIR": str(scratch / "data")}
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [OMS, "serve", "--port", str(port), "--public-url", url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url, env
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("oms serve did not start")


def serve_bare_page(html: str, script: bytes) -> tuple[ThreadingHTTPServer, str]:
    """The baseline page and hls.js light (gzip, like the node serves it) from one origin
    (a module script needs CORS from another)."""
    files = {
        "/": (html.encode(), "text/html; charset=utf-8"),
        "/hls.light.min.mjs": (gzip.compress(script), "text/javascript"),
    }

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in files:
                self.send_error(404)
                return
            body, kind = files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            if kind == "text/javascript":
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


TRANSFERRED = """() => {
  const [nav] = performance.getEntriesByType("navigation");
  const resources = performance.getEntriesByType("resource");
  return {
    total: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
    hls: resources.filter((r) => r.name.includes("/vendor/hls.js/"))
      .reduce((sum, r) => sum + r.transferSize, 0),
    audio: resources.filter((r) => r.name.includes("/hls/")).length,
  };
}"""

LCP = """() => new Promise((resolve) => {
  new PerformanceObserver((list) => {
    const entries = list.getEntries();
    resolve(entries[entries.length - 1].startTime);
  }).observe({ type: "largest-contentful-paint", buffered: true });
})"""

# Click the first play button of the page and time the first audible frame.
PLAY_OURS = """() => new Promise((resolve) => {
  const button = document.querySelector('[data-tracklist] [data-action="play"]');
  const clickedAt = performance.now();
  const started = () => {
    for (const audio of document.querySelectorAll("audio")) {
      if (audio.currentTime > 0 && !audio.paused) return resolve(performance.now() - clickedAt);
    }
    requestAnimationFrame(started);
  };
  button.click();
  started();
})"""


def home_bytes(browser: Browser, url: str) -> dict[str, int]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url, wait_until="networkidle")
    measured: dict[str, int] = page.evaluate(TRANSFERRED)
    context.close()
    return measured


def hls_bytes(browser: Browser, url: str) -> int:
    """hls.js light as the player fetches it (gzip), in an empty cache."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(url, wait_until="networkidle")
    page.evaluate(PLAY_OURS)
    sizes: dict[str, int] = page.evaluate(TRANSFERRED)
    context.close()
    return sizes["hls"]


def lcp(browser: Browser, url: str) -> float:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url, wait_until="load")
    value = float(page.evaluate(LCP))
    context.close()
    return value


def first_audio_ours(browser: Browser, url: str) -> float:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url, wait_until="networkidle")
    value = float(page.evaluate(PLAY_OURS))
    context.close()
    return value


def first_audio_bare(browser: Browser, url: str) -> float:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url, wait_until="networkidle")
    page.click("#play")
    page.wait_for_function("window.firstAudioAt !== undefined", timeout=15_000)
    value = float(page.evaluate("window.firstAudioAt - window.clickedAt"))
    context.close()
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("needs Chromium: ./install.sh --dev")
    with tempfile.TemporaryDirectory() as name:
        scratch = Path(name)
        process, url, env = start_node(scratch)
        try:
            oms("account", "create", "--handle", "bench", "--password", PASSWORD,
                "--role", "artist", env=env)  # fmt: skip
            music = scratch / "music"
            music.mkdir()
            make_tracks(music, 6, 30)
            oms("import", "--artist", "bench", "--license", "cc-by-4.0", str(music), env=env)
            tracks = httpx.get(f"{url}/xrpc/fm.oms.catalog.searchTracks", params={"q": "bench"})
            master = tracks.json()["tracks"][0]["streamUrl"]
            script = (ROOT / "web/static/vendor/hls.js/hls.light.min.mjs").read_bytes()
            bare_server, bare_url = serve_bare_page(
                BARE_PAGE.format(hls="/hls.light.min.mjs", master=master), script
            )
            results: dict[str, list[float]] = {k: [] for k in
                ("bytes", "bytes_base", "tfa", "tfa_base", "lcp", "lcp_base")}  # fmt: skip
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium,
                    headless=True,
                    args=["--autoplay-policy=no-user-gesture-required"],
                )
                for _ in range(args.runs):
                    home = home_bytes(browser, url)
                    lazily = hls_bytes(browser, url) if home["hls"] == 0 else 0
                    results["bytes"].append(home["total"] + lazily)
                    results["bytes_base"].append(home_bytes(browser, bare_url)["total"])
                    results["tfa"].append(first_audio_ours(browser, url))
                    results["tfa_base"].append(first_audio_bare(browser, bare_url))
                    results["lcp"].append(lcp(browser, url))
                    results["lcp_base"].append(lcp(browser, f"{url}/signin"))
                browser.close()
            bare_server.shutdown()
        finally:
            process.terminate()
            process.wait(30)
    median = {k: statistics.median(v) for k, v in results.items()}
    print(json.dumps({k: [round(x, 1) for x in v] for k, v in results.items()}))
    print(
        f"home page bytes before audio (incl. hls.js light): {median['bytes'] / 1024:.1f} KB;"
        f" hls.js light alone {median['bytes_base'] / 1024:.1f} KB;"
        f" ratio {median['bytes'] / median['bytes_base']:.2f}x (target < 250 KB)"
    )
    print(
        f"time to first audio: {median['tfa']:.0f} ms; bare hls.js page {median['tfa_base']:.0f}"
        f" ms; ratio {median['tfa'] / median['tfa_base']:.2f}x (target < 500 ms)"
    )
    print(
        f"home page LCP: {median['lcp']:.0f} ms; sign-in page {median['lcp_base']:.0f} ms;"
        f" ratio {median['lcp'] / median['lcp_base']:.2f}x (target < 1000 ms)"
    )


if __name__ == "__main__":
    main()

"""The portal's server-sent events on a real `oms serve`: an artist's browser hears its media
being processed, hears nothing of others', and an open stream never holds up a stop."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import OmsProcess, publish_track, tone_flac, upload_blob

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"


def _browser(server: OmsProcess, name: str) -> tuple[httpx.Client, str]:
    """A cookie-keeping client signed in through the form; the session's CSRF token."""
    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=True)
    page = client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    answer = client.post(
        "/signin", data={"identifier": name, "password": PASSWORD, "csrf": token[1]}
    )
    assert answer.status_code == 200, answer.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', answer.text)
    assert csrf, "a signed-in page carries the session's CSRF token"
    return client, csrf[1]


def _listen(client: httpx.Client, into: queue.Queue[tuple[str, dict]]) -> None:
    event = ""
    try:
        with client.stream("GET", "/portal/events", timeout=None) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            into.put(("open", {}))
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    into.put((event, json.loads(line[6:])))
    except httpx.HTTPError:
        pass
    into.put(("closed", {}))


def test_progress_streams_to_its_artist_and_a_stop_is_not_held_up(
    oms_server: OmsProcess, tmp_path: Path
) -> None:
    audio = tone_flac(tmp_path / "live.flac", 20, frequency=330)
    ada = oms_server.create_account("ada", PASSWORD)
    oms_server.create_account("bo", PASSWORD)
    ada_client, ada_csrf = _browser(oms_server, "ada")
    bo_client, _ = _browser(oms_server, "bo")
    heard: dict[str, queue.Queue[tuple[str, dict]]] = {"ada": queue.Queue(), "bo": queue.Queue()}
    for name, client in (("ada", ada_client), ("bo", bo_client)):
        threading.Thread(target=_listen, args=(client, heard[name]), daemon=True).start()
        assert heard[name].get(timeout=10)[0] == "open"

    blob = upload_blob(ada_client, {"X-CSRF-Token": ada_csrf}, audio)
    publish_track(ada_client, {"X-CSRF-Token": ada_csrf}, ada, blob, "Live")
    cid = blob["ref"]["$link"]
    statuses = []
    while not statuses or statuses[-1] not in ("ready", "failed"):
        event, data = heard["ada"].get(timeout=60)
        assert event == "media", (event, data)
        assert data["cid"] == cid
        statuses.append(data["status"])
    assert statuses[0] in ("queued", "processing")
    assert statuses[-1] == "ready"
    assert "processing" in statuses
    assert heard["bo"].empty(), "another artist hears nothing of ada's media"

    started = time.monotonic()
    assert oms_server.stop() == 0
    assert time.monotonic() - started < 5, "an open event stream held up the stop"
    assert heard["ada"].get(timeout=5)[0] == "closed"
    ada_client.close()
    bo_client.close()

"""`kill -9` in the middle of a stream of listening reports: every report the node
acknowledged is counted after the restart, and players retrying their reports after the crash
count nothing twice."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from oms.analytics.fraud import FraudRules
from oms.analytics.rollups import roll_up
from oms.db.database import Database
from tests.conftest import OmsProcess, kill_9_while_writing, oms_env, start_oms

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
# Every worker reports from loopback, one address: the burst rule's cap (100 sessions in ten
# minutes) is lifted above what the test sends, or the sessions past it are rightly flagged.
BURST_CAP = 100_000
REPORT = "/xrpc/fm.oms.analytics.reportListening"


def _publish(server: OmsProcess) -> dict[str, str]:
    server.create_account("ada", PASSWORD)
    token = httpx.post(
        f"{server.url}/xrpc/com.atproto.server.createSession",
        json={"identifier": "ada.localhost", "password": PASSWORD},
    ).json()
    auth = {"Authorization": f"Bearer {token['accessJwt']}"}
    blob = httpx.post(
        f"{server.url}/xrpc/com.atproto.repo.uploadBlob",
        content=b"fLaC" + bytes(256),
        headers={**auth, "Content-Type": "audio/flac"},
    ).json()["blob"]
    record = {
        "$type": "fm.oms.track",
        "title": "Kept",
        "artists": [{"name": "Ada", "did": token["did"], "role": "primary"}],
        "audio": blob,
        "license": "cc-by-4.0",
        "durationMs": 180_000,
        "createdAt": "2024-05-01T12:00:00.000Z",
    }
    created = httpx.post(
        f"{server.url}/xrpc/com.atproto.repo.createRecord",
        headers=auth,
        json={"repo": token["did"], "collection": "fm.oms.track", "record": record},
    ).json()
    track = {"uri": created["uri"], "cid": created["cid"]}
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/xrpc/fm.oms.catalog.getTrack",
                    params={"uri": track["uri"]}).status_code != 200:  # fmt: skip
        assert time.monotonic() < deadline, "the catalog did not index the track"
        time.sleep(0.05)
    return track


def _report(track: dict[str, str], session: str) -> dict[str, Any]:
    return {
        "sessionId": session,
        "track": track,
        "ranges": [{"startMs": 0, "endMs": 40_000}],
        "client": "web",
        "device": f"device-{session}",
        "sentAt": datetime.now(UTC).isoformat(),
    }


async def _count(data: Path) -> tuple[int, set[str], int]:
    """Plays (OMS rule) after a rollup, the sessions the raw store holds, and flagged ones."""
    db = await Database.open(data / "oms.sqlite3")
    try:
        await roll_up(db, rules=FraudRules(burst_sessions=BURST_CAP))
        plays = await db.fetchval("SELECT coalesce(sum(plays_oms), 0) FROM listening_daily")
        stored = {r[0] for r in await db.fetchall("SELECT session FROM listening_reports")}
        flagged = await db.fetchval("SELECT count(*) FROM listening_flags")
        return int(plays), stored, int(flagged)
    finally:
        await db.close()


def test_acknowledged_listening_survives_kill_9_and_retries_count_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = oms_env(data, OMS_ANALYTICS_BURST_SESSIONS=str(BURST_CAP))
    server = start_oms(data, env=env)
    server.wait_healthy()
    track = _publish(server)

    def listen(client: httpx.Client, worker: int, n: int) -> str | None:
        session = f"w{worker}-session-{n:05d}"
        answer = client.post(f"{server.url}{REPORT}", json=_report(track, session))
        return session if answer.status_code == 200 else None

    acked = kill_9_while_writing(server, listen, acknowledged_at_least=80)

    restarted = start_oms(data, port=server.port, env=env)
    restarted.wait_healthy()
    with httpx.Client(timeout=5) as client:  # every player retries what it sent
        for session in acked:
            assert client.post(f"{restarted.url}{REPORT}",
                               json=_report(track, session)).status_code == 200  # fmt: skip
    assert restarted.stop() == 0

    plays, stored, flagged = asyncio.run(_count(data))
    assert set(acked) <= stored, "an acknowledged report was lost"
    assert flagged == 0
    # A report may have been stored without its answer reaching the player: each counts once.
    assert plays == len(stored)
    assert len(stored) - len(acked) <= 4 * 2

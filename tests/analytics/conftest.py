"""A node with two artists' tracks (fake audio, lengths from the records) and a fan, for the
analytics tests: `Stage.report(...)` posts a listening report as a player would."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.context import AppContext
from tests.conftest import make_settings, publish_track, sign_up, upload_blob

REPORT = "/xrpc/fm.oms.analytics.reportListening"
_ids = itertools.count(1)


def iso(ms: int | None = None) -> str:
    moment = datetime.now(UTC) if ms is None else datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def session_id() -> str:
    return f"session-{next(_ids):06d}"


@dataclass
class Stage:
    client: TestClient
    artist: str
    artist_auth: dict[str, str]
    other: str
    other_auth: dict[str, str]
    fan: str
    fan_auth: dict[str, str]
    admin_auth: dict[str, str]
    tracks: dict[str, str] = field(default_factory=dict)  # name -> uri
    cids: dict[str, str] = field(default_factory=dict)

    @property
    def context(self) -> AppContext:
        context: AppContext = self.client.app_state["context"]
        return context

    def body(self, track: str, ranges: list[tuple[int, int]], **extra: Any) -> dict[str, Any]:
        return {
            "sessionId": extra.pop("sessionId", None) or session_id(),
            "track": {"uri": self.tracks[track], "cid": self.cids[track]},
            "ranges": [{"startMs": a, "endMs": b} for a, b in ranges],
            "client": "web",
            "device": "device-0001",
            "sentAt": iso(),
            **extra,
        }

    def report(
        self, track: str, ranges: list[tuple[int, int]], *, headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> httpx.Response:  # fmt: skip
        return self.client.post(REPORT, json=self.body(track, ranges, **extra), headers=headers)

    def flush(self) -> None:
        """Wait until every acknowledged report is moved from the journal into the database."""
        self.client.portal.call(self.context.listening.flush)

    def roll_up(self) -> None:
        from oms.analytics.rollups import roll_up

        self.flush()
        self.client.portal.call(lambda: roll_up(self.context.db, rules=self.context.fraud_rules))


def build_stage(data_dir: Path, **settings: object) -> Iterator[Stage]:
    with TestClient(
        create_app(make_settings(data_dir, pds__open_signup=True, **settings))
    ) as client:
        artist, artist_auth = sign_up(client, "ada")
        other, other_auth = sign_up(client, "bo")
        fan, fan_auth = sign_up(client, "cy", role="fan")
        _, admin_auth = sign_up(client, "root", role="admin")
        stage = Stage(client, artist, artist_auth, other, other_auth, fan, fan_auth, admin_auth)
        audio = upload_blob(client, artist_auth, b"fLaC" + bytes(256))
        other_audio = upload_blob(client, other_auth, b"fLaC" + bytes(300))
        for name, did, auth, blob, length in (
            ("song", artist, artist_auth, audio, 200_000),
            ("short", artist, artist_auth, audio, 40_000),
            ("theirs", other, other_auth, other_audio, 180_000),
        ):
            stage.tracks[name] = publish_track(
                client, auth, did, blob, name.title(), durationMs=length, visibility="public"
            )
        indexer = stage.context.catalog_indexer
        assert indexer is not None
        client.portal.call(indexer.settle_within, 5.0)
        for name, uri in stage.tracks.items():
            found = client.get("/xrpc/fm.oms.catalog.getTrack", params={"uri": uri})
            assert found.status_code == 200, found.text
            stage.cids[name] = found.json()["track"]["cid"]
        yield stage


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[Stage]:
    yield from build_stage(tmp_path / "data")

"""fm.oms.analytics.reportListening and the queries, over the real app: what a report counts
for, what is refused (and how clearly), and who may read the figures."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest

from oms.analytics.coverage import unpack
from tests.analytics.conftest import REPORT, Stage, iso

X = "/xrpc/fm.oms.analytics."


def _stats(stage: Stage, track: str, auth: dict[str, str] | None = None) -> dict[str, Any]:
    answer = stage.client.get(
        X + "getTrackStats",
        params={"uri": stage.tracks[track]},
        headers=auth or stage.artist_auth,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _raw(stage: Stage) -> list[sqlite3.Row]:
    stage.flush()
    connection = sqlite3.connect(stage.context.db.path)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute("SELECT * FROM listening_reports ORDER BY id").fetchall()
    finally:
        connection.close()


def test_a_report_is_kept_normalized_and_counts_once_rolled_up(stage: Stage) -> None:
    sid = "listen-0001"
    first = stage.report("song", [(0, 10_400), (10_400, 20_000)], sessionId=sid,
                         context={"page": "release", "timeZone": "Europe/Lisbon",
                                  "referrer": "https://blog.example.org/post"},
                         rendition="aac128")  # fmt: skip
    assert first.status_code == 200, first.text
    rows = _raw(stage)
    assert len(rows) == 1
    assert unpack(rows[0]["ranges"]) == ((0, 20),)
    assert rows[0]["source"] == "release"
    assert rows[0]["referrer"] == "blog.example.org"
    assert rows[0]["country"] == "PT"
    assert rows[0]["listener"].startswith("dev:")
    assert "device-0001" not in rows[0]["listener"]
    assert len(rows[0]["address"]) == 16  # a salted hash, not the address
    assert stage.report("song", [(20_000, 45_000)], sessionId=sid).status_code == 200
    stage.roll_up()
    stats = _stats(stage, "song")
    summary = stats["summary"]
    assert summary["sessions"] == 1
    assert summary["listeners"] == 1
    assert summary["secondsHeard"] == 45
    assert summary["plays"] == {"oms": 1, "lastfm": 0, "teal": 0}
    assert summary["flagged"] == 0
    assert stats["mix"]["source"] == [{"value": "release", "sessions": 1, "plays": 1}]
    assert stats["mix"]["country"][0]["value"] == "PT"
    assert stats["mix"]["rendition"][0]["value"] == "aac128"
    today = [d for d in stats["days"] if d["plays"]]
    assert len(today) == 1
    assert today[0]["secondsHeard"] == 45
    # The public counts follow the rollup.
    track = stage.client.get(
        "/xrpc/fm.oms.catalog.getTrack", params={"uri": stage.tracks["song"]}
    ).json()["track"]
    assert track["counts"]["plays"] == 1
    assert track["counts"]["listeners"] == 1


def test_an_address_hashes_alike_all_day_and_unlike_the_next_day(stage: Stage) -> None:
    listening = stage.context.listening
    day = int(time.time() * 1000) // 86_400_000 * 86_400_000

    def address_hash(address: str, at_ms: int) -> str:
        body = stage.body("song", [(0, 5_000)], sentAt=iso(at_ms))
        report = stage.client.portal.call(
            lambda: listening.report(body, listener=None, address=address, now_ms=at_ms)
        )
        return report.address

    morning = address_hash("192.0.2.7", day + 3_600_000)
    assert address_hash("192.0.2.7", day + 80_000_000) == morning
    assert address_hash("192.0.2.8", day + 80_000_000) != morning
    assert address_hash("192.0.2.7", day + 86_400_000 + 60_000) != morning
    assert address_hash("192.0.2.7", day + 3_600_000) == morning  # the day's salt is kept


def test_a_repeated_or_overlapping_report_never_counts_twice(stage: Stage) -> None:
    body = stage.body("song", [(0, 40_000)], sessionId="again-0001")
    for _ in range(3):
        assert stage.client.post(REPORT, json=body).status_code == 200
    overlapping = stage.body("song", [(30_000, 50_000), (10_000, 35_000)], sessionId="again-0001")
    assert stage.client.post(REPORT, json=overlapping).status_code == 200
    stage.roll_up()
    summary = _stats(stage, "song")["summary"]
    assert summary["sessions"] == 1
    assert summary["secondsHeard"] == 50
    assert summary["plays"]["oms"] == 1
    retention = stage.client.get(
        X + "getRetention", params={"uri": stage.tracks["song"]}, headers=stage.artist_auth
    ).json()
    assert retention["sessions"] == 1
    assert len(retention["curvePermille"]) == 200
    assert retention["curvePermille"][:50] == [1000] * 50
    assert retention["curvePermille"][50:] == [0] * 150


def test_ranges_are_normalized_unsorted_overlapping_and_past_the_end(stage: Stage) -> None:
    # "short" lasts 40 s: what lies past its end is cut (and, beyond a second or two, flagged).
    answer = stage.report("short", [(30_000, 90_000), (0, 10_000), (5_000, 12_000)])
    assert answer.status_code == 200, answer.text
    row = _raw(stage)[-1]
    assert unpack(row["ranges"]) == ((0, 12), (30, 40))
    assert row["beyond_s"] == 50
    stage.roll_up()
    summary = _stats(stage, "short")["summary"]
    assert summary["flagged"] == 1
    assert summary["sessions"] == 0


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        ([{"startMs": -5, "endMs": 100}], "ranges/0/startMs"),
        ([{"startMs": "zero", "endMs": 100}], "must be an integer"),
        ([{"startMs": 1.5, "endMs": 100}], "must be an integer"),
        ([{"startMs": 0, "endMs": 10**12}], "ranges/0/endMs"),
        ([{"startMs": 5000, "endMs": 1000}], "ends (1000 ms) before it starts"),
        ([[0, 1000]], "ranges/0"),
        ([{"startMs": 0, "endMs": 10}] * 257, "ranges"),
    ],
)
def test_bad_ranges_are_refused_with_what_was_wrong(
    stage: Stage, ranges: list[Any], expected: str
) -> None:
    body = stage.body("song", [])
    body["ranges"] = ranges
    answer = stage.client.post(REPORT, json=body)
    assert answer.status_code == 400, answer.text
    assert expected in answer.json()["message"]
    assert _raw(stage) == []


def test_refusals_are_clear_never_500_and_counted_for_admins(stage: Stage) -> None:
    missing = stage.body("song", [(0, 1000)])
    missing["track"]["uri"] = stage.tracks["song"].rsplit("/", 1)[0] + "/3zzzzzzzzzzzz"
    answer = stage.client.post(REPORT, json=missing)
    assert answer.status_code == 404
    assert answer.json()["error"] == "TrackNotFound"

    future = stage.report("song", [(0, 1000)], sentAt=iso(int(time.time() * 1000) + 3_600_000))
    assert future.status_code == 400
    assert future.json()["error"] == "InvalidReport"
    assert "in the future" in future.json()["message"]

    stale = stage.report("song", [(0, 1000)], sentAt="2001-01-01T00:00:00Z")
    assert stale.status_code == 400
    assert "more than a day ago" in stale.json()["message"]

    bad_id = stage.report("song", [(0, 1000)], sessionId="no spaces allowed")
    assert bad_id.status_code == 400
    assert "sessionId" in bad_id.json()["message"]

    remote = stage.report("song", [(0, 1000)], client="remote")
    assert remote.status_code == 400
    assert "remote" in remote.json()["message"]

    huge = stage.client.post(
        REPORT, content=b"{" + b" " * (5 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert huge.status_code == 413
    assert "at most" in huge.json()["message"]

    garbage = stage.client.post(
        REPORT, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400
    assert "not valid JSON" in garbage.json()["message"]
    assert _raw(stage) == []

    stage.roll_up()
    decisions = stage.client.portal.call(_decisions, stage)
    refused = {r.reason: r.count for r in decisions.rejections}
    assert refused == {"unknown_track": 1, "invalid_report": 4}


async def _decisions(stage: Stage) -> Any:
    import datetime

    from oms.analytics.queries import decisions, parse_period

    today = datetime.datetime.now(datetime.UTC).date()
    return await decisions(stage.context.db, parse_period(None, None, today=today))


def test_signed_in_listeners_are_known_by_account_and_the_beacon_joins_their_session(
    stage: Stage,
) -> None:
    sid = "mine-000001"
    assert stage.report("song", [(0, 20_000)], sessionId=sid,
                        headers=stage.fan_auth).status_code == 200  # fmt: skip
    # The page's closing beacon carries no credentials: it still adds to the fan's session.
    assert stage.report("song", [(20_000, 35_000)], sessionId=sid).status_code == 200
    rows = _raw(stage)
    assert rows[0]["listener"] == stage.fan
    stage.roll_up()
    summary = _stats(stage, "song")["summary"]
    assert summary["listeners"] == 1
    assert summary["plays"]["oms"] == 1
    assert summary["secondsHeard"] == 35


def test_only_the_artist_and_admins_read_a_tracks_figures(stage: Stage) -> None:
    stage.report("theirs", [(0, 60_000)])
    stage.roll_up()
    uri = {"uri": stage.tracks["theirs"]}
    assert stage.client.get(X + "getTrackStats", params=uri,
                            headers=stage.artist_auth).status_code == 403  # fmt: skip
    assert stage.client.get(X + "getRetention", params=uri,
                            headers=stage.fan_auth).status_code == 403  # fmt: skip
    assert stage.client.get(X + "getTrackStats", params=uri).status_code == 401
    assert _stats(stage, "theirs", stage.other_auth)["summary"]["plays"]["oms"] == 1
    assert _stats(stage, "theirs", stage.admin_auth)["summary"]["plays"]["oms"] == 1
    overview = stage.client.get(X + "getArtistOverview", params={"actor": "bo.localhost"},
                                headers=stage.artist_auth)  # fmt: skip
    assert overview.status_code == 403
    admin_view = stage.client.get(X + "getArtistOverview", params={"actor": "bo.localhost"},
                                  headers=stage.admin_auth).json()  # fmt: skip
    assert admin_view["topTracks"][0]["title"] == "Theirs"
    mine = stage.client.get(X + "exportListening", headers=stage.artist_auth).json()
    assert mine["rows"] == []
    every = stage.client.get(X + "exportListening", params={"all": "true"},
                             headers=stage.admin_auth).json()  # fmt: skip
    assert [r["title"] for r in every["rows"]] == ["Theirs"]
    assert stage.client.get(X + "exportListening", params={"all": "true"},
                            headers=stage.artist_auth).status_code == 403  # fmt: skip


def test_periods_are_checked(stage: Stage) -> None:
    uri = stage.tracks["song"]
    for params, message in (
        ({"since": "yesterday"}, "since must be a day"),
        ({"since": "2026-05-02", "until": "2026-05-01"}, "is after until"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "at most 366 days"),
    ):
        answer = stage.client.get(X + "getTrackStats", params={"uri": uri, **params},
                                  headers=stage.artist_auth)  # fmt: skip
        assert answer.status_code == 400
        assert answer.json()["error"] == "InvalidPeriod"
        assert message in answer.json()["message"]
    days = _stats(stage, "song")["days"]
    assert len(days) == 28


def test_an_address_sending_too_many_reports_is_slowed_down(tmp_path: Any) -> None:
    from tests.analytics.conftest import build_stage

    for stage in build_stage(tmp_path / "data", limits__listening_reports_per_minute=3):
        for _ in range(3):
            assert stage.report("song", [(0, 1000)]).status_code == 200
        slowed = stage.report("song", [(0, 1000)])
        assert slowed.status_code == 429
        assert "listening reports" in slowed.json()["message"]
        assert int(slowed.headers["Retry-After"]) >= 1

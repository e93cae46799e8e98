"""The listening analytics pages over a real node: players report, the rollup adds up, and the
creator dashboard, its exports and the admin view of the fraud decisions show the figures to
whom they belong."""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from oms.analytics.rollups import roll_up
from oms.analytics.views import ExportRow
from oms.app import create_app
from oms.context import AppContext
from tests.conftest import make_settings, publish_track, upload_blob
from tests.web.test_sessions import make_account, sign_in

CAT = b"fLaC" + bytes(64)


@dataclass(frozen=True)
class Track:
    uri: str
    cid: str

    @property
    def rkey(self) -> str:
        return self.uri.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Node:
    client: TestClient
    ada: str  # an artist with two tracks, listened to
    bo: str  # another artist, one track, one of its sessions flagged
    morning: Track  # ada's, 50 s
    evening: Track  # ada's, 200 s
    bos_song: Track  # bo's, 90 s


def _context(client: TestClient) -> AppContext:
    context: AppContext = client.app_state["context"]
    return context


def _publish(client: TestClient, name: str, did: str, title: str, seconds: int) -> Track:
    headers = {"X-CSRF-Token": sign_in(client, name)}
    blob = upload_blob(client, headers, CAT + title.encode())
    uri = publish_track(client, headers, did, blob, title, durationMs=seconds * 1000)
    record = client.get(
        "/xrpc/com.atproto.repo.getRecord",
        params={"repo": did, "collection": "fm.oms.track", "rkey": uri.rsplit("/", 1)[1]},
    ).json()
    client.cookies.clear()
    return Track(uri, record["cid"])


def _listen(
    client: TestClient,
    track: Track,
    session: str,
    seconds: int,
    device: str,
    **context: str,
) -> int:
    """One player's report of the first `seconds` of `track`; the HTTP status."""
    now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
    body: dict[str, Any] = {
        "sessionId": session,
        "track": {"uri": track.uri, "cid": track.cid},
        "ranges": [{"startMs": 0, "endMs": seconds * 1000}],
        "client": "web",
        "device": device,
        "context": {"page": "track", "timeZone": "Europe/Lisbon", **context},
        "sentAt": now,
    }
    answer = client.post("/xrpc/fm.oms.analytics.reportListening", json=body)
    return answer.status_code


def _roll_up(client: TestClient) -> None:
    context = _context(client)
    client.portal.call(context.listening.flush)
    client.portal.call(lambda: roll_up(context.db))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    data = tmp_path_factory.mktemp("analytics") / "data"
    with TestClient(create_app(make_settings(data))) as client:
        ada = make_account(client, "ada")
        bo = make_account(client, "bo")
        make_account(client, "cy", role="fan")
        make_account(client, "root", role="admin")
        morning = _publish(client, "ada", ada, "Morning", 50)
        evening = _publish(client, "ada", ada, "Evening", 200)
        bos_song = _publish(client, "bo", bo, "Bo's Song", 90)
        indexer = _context(client).catalog_indexer
        assert indexer is not None
        client.portal.call(indexer.settle_within, 5.0)
        # Morning: heard whole (a completion), a skip at 20 s, 30 s from a blog in New York.
        assert _listen(client, morning, "morning-0001", 50, "device-0001") == 200
        assert _listen(client, morning, "morning-0002", 20, "device-0002") == 200
        assert (
            _listen(
                client,
                morning,
                "morning-0003",
                30,
                "device-0003",
                timeZone="America/New_York",
                referrer="https://blog.example/post",
            )
            == 200
        )
        assert _listen(client, evening, "evening-0001", 40, "device-0001") == 200
        assert _listen(client, bos_song, "bosong-0001", 45, "device-0004") == 200
        # 90 s heard at once, the moment the session began: more than time allows.
        assert _listen(client, bos_song, "bosong-0002", 90, "device-0005") == 200
        # A track the node does not have: refused, and counted for the admins.
        nowhere = Track(f"at://{bo}/fm.oms.track/3jzfcijpj2z2a", bos_song.cid)
        assert _listen(client, nowhere, "nowhere-0001", 10, "device-0006") == 404
        _roll_up(client)
        yield Node(client, ada, bo, morning, evening, bos_song)


@pytest.fixture
def client(node: Node) -> TestClient:
    node.client.cookies.clear()
    return node.client


def _kpi(page: str, label: str) -> str:
    match = re.search(rf"<dt>{re.escape(label)}</dt><dd>([^<]+)", page)
    assert match, f"no {label} on the page"
    return match[1]


def test_an_artist_sees_their_own_figures_and_nobody_elses(node: Node, client: TestClient) -> None:
    sign_in(client, "ada")
    answer = client.get("/portal/analytics")
    assert answer.status_code == 200
    page = answer.text
    assert _kpi(page, "Plays") == "3"  # 50 s and 30 s of Morning, 40 s of Evening
    assert "Last.fm rule: 2 · teal.fm rule: 1" in page
    assert _kpi(page, "Listeners") == "3"
    assert _kpi(page, "Skip rate") == "25%"  # 1 of 4 sessions left Morning within 30 s
    assert _kpi(page, "Completion rate") == "25%"
    assert _kpi(page, "Flagged sessions") == "0"
    assert "Bo&#39;s Song" not in page
    assert f'href="/portal/analytics/tracks/{node.morning.rkey}?' in page
    assert page.index(">Morning</a>") < page.index(">Evening</a>")  # most plays first
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-daily"' in page
    assert "blog.example" in page  # the referrer, in a bar list and its table
    assert '<th scope="row">US</th>' in page  # told from the New York time zone
    assert 'style="' not in page  # the page's CSP refuses inline styles
    # the node scope is not for artists
    refused = client.get("/portal/analytics?scope=node")
    assert refused.status_code == 403
    assert "admins" in refused.text


def test_another_artists_track_is_not_shown(node: Node, client: TestClient) -> None:
    sign_in(client, "bo")
    # the rkey of ada's track names no track of bo's
    assert client.get(f"/portal/analytics/tracks/{node.morning.rkey}").status_code == 404
    # naming ada outright is refused
    named = client.get(f"/portal/analytics/tracks/{node.morning.rkey}", params={"did": node.ada})
    assert named.status_code == 403
    export = client.get(
        "/portal/analytics/export.csv", params={"track": node.morning.rkey, "did": node.ada}
    )
    assert export.status_code == 403
    # bo's own page has bo's figures only
    page = client.get("/portal/analytics").text
    assert "Bo&#39;s Song" in page
    assert "Morning" not in page
    assert _kpi(page, "Flagged sessions") == "1"


def test_fans_and_strangers_are_turned_away(client: TestClient) -> None:
    answer = client.get("/portal/analytics", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=")
    sign_in(client, "cy")
    for path in ("/portal/analytics", "/portal/analytics/export.csv", "/admin/listening"):
        assert client.get(path).status_code == 403, path


def test_an_admin_sees_the_whole_node(node: Node, client: TestClient) -> None:
    sign_in(client, "root")
    own = client.get("/portal/analytics").text
    assert "No listening in this period yet" in own  # the admin published nothing
    assert 'href="/portal/analytics?' in own  # the switch to the whole node
    page = client.get("/portal/analytics?scope=node").text
    assert "Listening on the whole node" in page
    assert _kpi(page, "Plays") == "4"
    assert "Morning" in page
    assert "Bo&#39;s Song" in page
    # top tracks of other artists link to their pages, naming the artist
    assert f"/portal/analytics/tracks/{node.bos_song.rkey}?" in page
    theirs = client.get(f"/portal/analytics/tracks/{node.bos_song.rkey}", params={"did": node.bo})
    assert theirs.status_code == 200
    assert "Bo&#39;s Song" in theirs.text
    assert "Edit this track" not in theirs.text


def test_the_track_page_shows_where_listeners_leave(node: Node, client: TestClient) -> None:
    sign_in(client, "ada")
    answer = client.get(f"/portal/analytics/tracks/{node.morning.rkey}")
    assert answer.status_code == 200
    page = answer.text
    assert "<h1>Morning</h1>" in page
    assert _kpi(page, "Plays") == "2"
    # all three heard 0:00-0:19, two until 0:29, one to the end (0:49)
    assert "33% of listeners leave around 0:15" in page
    assert "33% of listeners leave around 0:25" in page
    assert 'class="chart chart-retention"' in page
    assert '<tr><th scope="row">0:20</th><td class="num">67%</td></tr>' in page
    assert f'href="/portal/tracks/{node.morning.rkey}"' in page  # back to its editor
    # the editor links here
    editor = client.get(f"/portal/tracks/{node.morning.rkey}").text
    assert f'href="/portal/analytics/tracks/{node.morning.rkey}"' in editor
    assert 'href="/portal/analytics"' in client.get("/portal").text


def test_csv_and_json_exports_agree(node: Node, client: TestClient) -> None:
    sign_in(client, "ada")
    today = datetime.datetime.now(datetime.UTC).date()
    since = today - datetime.timedelta(days=6)
    query = f"since={since}&until={today}"
    answer = client.get(f"/portal/analytics/export.csv?{query}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="oms-listening-{since}-{today}.csv"'
    )
    table = list(csv.reader(io.StringIO(answer.text)))
    assert tuple(table[0]) == ExportRow.CSV_HEADER
    rows = [dict(zip(ExportRow.CSV_HEADER, line, strict=True)) for line in table[1:]]
    assert {row["title"] for row in rows} == {"Morning", "Evening"}
    exported = client.get(f"/portal/analytics/export.json?{query}")
    assert exported.headers["content-disposition"].endswith('.json"')
    body = exported.json()
    assert body["period"] == {"since": str(since), "until": str(today)}
    assert len(body["rows"]) == len(rows)
    for row, item in zip(rows, body["rows"], strict=True):
        assert row["track_uri"] == item["trackUri"]
        assert int(row["sessions"]) == item["sessions"]
        assert int(row["seconds_heard"]) == item["secondsHeard"]
        assert int(row["plays_oms"]) == item["plays"]["oms"]
        assert int(row["plays_lastfm"]) == item["plays"]["lastfm"]
        assert int(row["skips"]) == item["skips"]
    overview = body["overview"]
    assert overview["summary"]["plays"]["oms"] == sum(int(r["plays_oms"]) for r in rows) == 3
    assert [t["title"] for t in overview["topTracks"]] == ["Morning", "Evening"]
    # one track's export: its rows, its figures and its curve
    one = client.get(f"/portal/analytics/export.json?{query}&track={node.morning.rkey}").json()
    assert {r["title"] for r in one["rows"]} == {"Morning"}
    assert one["retention"]["curvePermille"][:1] == [1000]
    assert client.get(f"/portal/analytics/export.xlsx?{query}").status_code == 404


def test_the_node_export_is_for_admins(node: Node, client: TestClient) -> None:
    sign_in(client, "ada")
    assert client.get("/portal/analytics/export.csv?scope=node").status_code == 403
    client.cookies.clear()
    sign_in(client, "root")
    table = list(csv.reader(io.StringIO(client.get("/portal/analytics/export.csv").text)))
    assert len(table) == 1  # the admin's own tracks: none, the header alone
    every = list(
        csv.reader(io.StringIO(client.get("/portal/analytics/export.csv?scope=node").text))
    )
    assert {line[2] for line in every[1:]} == {"Morning", "Evening", "Bo's Song"}


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("since=2024-02-30", "Since must be a day as YYYY-MM-DD, not &#39;2024-02-30&#39;."),
        ("since=2024-03-10&until=2024-03-01", "Since (2024-03-10) is after until (2024-03-01)."),
        ("since=2020-01-01&until=2024-01-01", "A period covers at most 366 days."),
    ],
)
def test_a_bad_period_is_a_400_page_that_says_why(
    client: TestClient, query: str, problem: str
) -> None:
    sign_in(client, "ada")
    answer = client.get(f"/portal/analytics?{query}")
    assert answer.status_code == 400
    assert f'<p class="problem" role="alert">{problem}</p>' in answer.text
    assert 'name="since"' in answer.text  # the form is there to fix it
    assert client.get(f"/portal/analytics/export.csv?{query}").status_code == 400


def test_the_admin_sees_the_fraud_decisions(node: Node, client: TestClient) -> None:
    sign_in(client, "ada")
    assert client.get("/admin/listening").status_code == 403
    client.cookies.clear()
    sign_in(client, "root")
    answer = client.get("/admin/listening")
    assert answer.status_code == 200
    page = answer.text
    assert 'href="/admin/listening" aria-current="page"' in page  # in the admin nav
    assert '<th scope="row">wall_clock</th><td class="num">1</td>' in page
    flagged = re.search(r"<tbody>\s*<tr>\s*<td>(.*?)</tr>", page.split('id="flagged"')[1], re.S)
    assert flagged
    row = flagged[0]
    assert f"/portal/analytics/tracks/{node.bos_song.rkey}?" in row
    assert urlencode({"did": node.bo}) in row
    assert "Bo&#39;s Song" in row
    assert "<code>dev:" in row  # a pseudonym, never an address
    assert "90 s heard 0 s after the session began" in row
    assert '<td>unknown_track</td><td class="num">1</td>' in page
    assert client.get("/admin/listening?until=nonsense").status_code == 400


def test_no_listening_yet_is_explained(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path / "data"))) as fresh:
        make_account(fresh, "dee")
        sign_in(fresh, "dee")
        page = fresh.get("/portal/analytics?since=2024-01-01&until=2024-01-01").text
        assert "No listening in this period yet" in page
        assert 'class="chart' not in page
        assert "1 day, UTC" in page
        assert fresh.get("/portal/analytics/export.csv").text.splitlines() == [
            ",".join(ExportRow.CSV_HEADER)
        ]


def test_a_title_never_runs_as_a_spreadsheet_formula(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path / "data"))) as fresh:
        did = make_account(fresh, "eve")
        track = _publish(fresh, "eve", did, "=HYPERLINK(1)", 60)
        indexer = _context(fresh).catalog_indexer
        assert indexer is not None
        fresh.portal.call(indexer.settle_within, 5.0)
        assert _listen(fresh, track, "formula-0001", 40, "device-0001") == 200
        _roll_up(fresh)
        sign_in(fresh, "eve")
        table = list(csv.reader(io.StringIO(fresh.get("/portal/analytics/export.csv").text)))
        assert [line[2] for line in table[1:]] == ["'=HYPERLINK(1)"]
        rows = fresh.get("/portal/analytics/export.json").json()["rows"]
        assert [row["title"] for row in rows] == ["=HYPERLINK(1)"]  # JSON keeps it as it is

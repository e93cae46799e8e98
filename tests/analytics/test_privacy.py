"""A listener's rights over their listening: it shows as their history, comes with their data
export, and goes (with what was counted from it) when they delete it or their account."""

from __future__ import annotations

import io
import json
import zipfile

from tests.analytics.conftest import Stage
from tests.web.test_sessions import form_csrf, sign_in

X = "/xrpc/fm.oms.analytics."


def _plays(stage: Stage, track: str) -> int:
    answer = stage.client.get(
        X + "getTrackStats", params={"uri": stage.tracks[track]}, headers=stage.artist_auth
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["summary"]["plays"]["oms"])


def test_history_export_and_deletion_of_ones_listening(stage: Stage) -> None:
    fan = stage.fan_auth
    place = {"page": "track", "timeZone": "Asia/Tokyo"}
    listened = stage.report("song", [(0, 45_000)], headers=fan, sessionId="fan-session-1",
                            context=place)  # fmt: skip
    assert listened.status_code == 200
    assert stage.report("theirs", [(0, 5_000)], headers=fan).status_code == 200  # too short
    assert stage.report("song", [(0, 40_000)]).status_code == 200  # someone else, anonymous
    stage.roll_up()
    assert _plays(stage, "song") == 2

    csrf = sign_in(stage.client, "cy.localhost")
    library = stage.client.get("/library")
    assert library.status_code == 200
    recent = library.text.split('id="history-heading"', 1)[1].split("</section>", 1)[0]
    assert "Song" in recent
    assert "Theirs" not in recent  # five seconds is not listening yet
    assert "data-history" not in recent  # the node's history, not the browser's

    data = stage.client.get("/account/data")
    assert "2 reports from your players" in data.text
    archive = zipfile.ZipFile(
        io.BytesIO(stage.client.post("/account/export", data={"csrf": csrf}).content)
    )
    listening = json.loads(archive.read("listening.json"))
    assert len(listening) == 2
    song = next(r for r in listening if r["sessionId"] == "fan-session-1")
    assert song["track"]["uri"] == stage.tracks["song"]
    assert song["secondsHeard"] == [[0, 45]]
    assert song["country"] == "JP"
    assert song["source"] == "track"
    assert "address" not in song

    deleted = stage.client.post("/account/listening/delete", data={"csrf": form_csrf(data.text)})
    assert deleted.status_code == 200
    assert "Your listening is deleted; 1 day was counted again without it." in deleted.text
    assert "0 reports from your players" in deleted.text
    assert _plays(stage, "song") == 1  # the anonymous listener's play stays
    library = stage.client.get("/library")
    assert "Tracks you listen to for 30 seconds or more appear here." in library.text
    again = stage.client.post("/account/listening/delete", data={"csrf": form_csrf(data.text)})
    assert "This node kept no listening of yours." in again.text
    assert (
        stage.client.post("/account/listening/delete", data={"csrf": "forged"}).status_code == 403
    )


def test_deleting_the_account_takes_its_listening(stage: Stage) -> None:
    assert stage.report("song", [(0, 45_000)], headers=stage.fan_auth).status_code == 200
    stage.roll_up()
    assert _plays(stage, "song") == 1
    sign_in(stage.client, "cy.localhost")
    page = stage.client.get("/account/data")
    answer = stage.client.post(
        "/account/delete",
        data={"csrf": form_csrf(page.text), "handle": "cy.localhost",
              "password": "correct horse battery"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert _plays(stage, "song") == 0
    remaining = stage.client.portal.call(
        stage.context.db.fetchval, "SELECT count(*) FROM listening_reports"
    )
    assert remaining == 0

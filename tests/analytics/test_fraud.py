"""Each fraud rule sets aside what it should and nothing else; flagged sessions are kept for
audit with their reason and count in no play."""

from __future__ import annotations

from typing import Any

from oms.analytics.coverage import pack
from oms.analytics.fraud import FraudRules
from oms.analytics.rollups import summarize
from oms.analytics.sessions import Session, build_sessions

DAY = 86_400_000
T0 = 20_000 * DAY + 3_600_000  # 01:00 on some day
SONG = "at://did:plc:a/fm.oms.track/song"
RULES = FraudRules(daily_cap=3, burst_sessions=5, regular_min_sessions=6)


def row(at_s: float, session: str, ranges: list[tuple[int, int]], **extra: Any) -> tuple[Any, ...]:
    values = {"listener": "did:plc:fan", "beyond": 0, "client": "web", "address": "addr",
              "track": SONG, "length": 200, **extra}  # fmt: skip
    return (
        T0 + int(at_s * 1000), session, values["track"], values["length"], values["listener"],
        pack(ranges), values["beyond"], values["client"], "track", "", "aac128", "PT",
        values["address"],
    )  # fmt: skip


def flags(sessions: list[Session]) -> dict[str, str]:
    summarize(T0 // DAY, sessions, RULES)
    return {s.session: s.flag for s in sessions if s.flag}


def test_claiming_more_than_the_clock_allows_is_flagged_but_honest_listening_is_not() -> None:
    honest = [row(10 * i, "honest", [(10 * (i - 1), 10 * i)]) for i in range(1, 19)]
    greedy = [row(0, "greedy", [(0, 50)]), row(10, "greedy", [(50, 190)])]
    found = flags(build_sessions([*honest, *greedy]))
    assert found == {"greedy": "wall_clock"}
    # An app reporting after the fact may claim the whole track at once.
    app = build_sessions([row(0, "late", [(0, 200)], client="subsonic")])
    assert flags(app) == {}


def test_ranges_past_the_end_beyond_rounding_are_flagged() -> None:
    sessions = build_sessions([
        row(10, "rounding", [(0, 10)]),
        row(200, "rounding", [(10, 200)], beyond=1),
        row(10, "past", [(0, 10)], listener="did:plc:other", address="b"),
        row(200, "past", [(10, 200)], beyond=40, listener="did:plc:other", address="b"),
    ])  # fmt: skip
    assert flags(sessions) == {"past": "beyond_length"}


def test_a_burst_of_sessions_from_one_address_is_flagged_past_the_threshold() -> None:
    burst = [row(i, f"b{i}", [(0, 1)], listener=f"dev:{i}") for i in range(8)]
    calm = [row(700 * i, f"c{i}", [(0, 1)], listener=f"dev:c{i}", address="other")
            for i in range(8)]  # fmt: skip
    found = flags(build_sessions([*burst, *calm]))
    assert found == {f"b{i}": "burst" for i in range(5, 8)}


def test_clockwork_listening_is_flagged_and_an_album_is_not() -> None:
    bot = [row(61.0 * i + 60, f"bot{i}", [(0, 31)], listener="did:plc:bot",
               track=f"{SONG}{i}", address=f"a{i}") for i in range(6)]  # fmt: skip
    lengths = [201, 187, 243, 174, 260, 199]
    starts = [sum(lengths[:i]) + 60 for i in range(6)]
    album = [row(start, f"al{i}", [(0, 30)], listener="did:plc:fan2", track=f"{SONG}{i}",
                 address=f"x{i}") for i, start in enumerate(starts)]  # fmt: skip
    found = flags(build_sessions([*bot, *album]))
    assert found == {f"bot{i}": "machine_regular" for i in range(6)}


def test_plays_past_the_daily_cap_are_flagged_and_skips_do_not_count_towards_it() -> None:
    plays = [row(500 * i + 60, f"p{i}", [(0, 60)], address=f"a{i}") for i in range(5)]
    skips = [row(500 * i + 90, f"s{i}", [(0, 5)], address=f"b{i}") for i in range(3)]
    sessions = build_sessions([*plays, *skips])
    summary = summarize(T0 // DAY, sessions, RULES)
    assert {s.session: s.flag for s in sessions if s.flag} == {
        "p3": "daily_cap",
        "p4": "daily_cap",
    }
    daily = summary.daily[0]
    assert daily[2] == 6  # sessions counted: three plays and three skips
    assert daily[5] == 3  # plays under the OMS rule
    assert daily[10] == 2  # flagged, kept for audit
    assert [flag[5] for flag in summary.flags] == ["daily_cap", "daily_cap"]

"""The analytics charts: well-formed SVG that draws what the figures say and says it in words."""

from __future__ import annotations

import datetime
import itertools
import xml.etree.ElementTree as ET

import pytest

from oms.analytics.views import DayFigures, DropOff, Period, Retention
from oms.web.charts import bar_list, daily_chart, drop_off_sentence, mmss, retention_chart

SVG = "{http://www.w3.org/2000/svg}"
MARCH = Period(datetime.date(2024, 3, 1), datetime.date(2024, 3, 10))


def _svg(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == root.get("aria-label")
    return root


def _axis(root: ET.Element) -> tuple[float, float, float]:
    """The x axis: its left and right ends and its height (the zero line)."""
    axis = root.find(f".//{SVG}line[@class='chart-axis']")
    assert axis is not None
    return float(axis.get("x1", "")), float(axis.get("x2", "")), float(axis.get("y1", ""))


def _dots(root: ET.Element, series: str) -> list[tuple[float, float, str]]:
    found = []
    for dot in root.iter():
        if dot.get("class") == f"chart-point {series}":
            if dot.tag == f"{SVG}circle":
                x, y = float(dot.get("cx", "")), float(dot.get("cy", ""))
            else:  # listeners are squares
                x = float(dot.get("x", "")) + 3
                y = float(dot.get("y", "")) + 3
            hint = dot.find(f"{SVG}title")
            assert hint is not None
            found.append((x, y, hint.text or ""))
    return found


def _day(day: int, plays: int, listeners: int) -> DayFigures:
    return DayFigures(datetime.date(2024, 3, day), plays, listeners, plays * 60, plays)


def test_the_daily_chart_puts_a_dot_on_every_day_at_its_value() -> None:
    root = _svg(daily_chart(MARCH, [_day(2, 10, 4), _day(5, 40, 9), _day(9, 20, 2)]))
    left, right, zero = _axis(root)
    plays = _dots(root, "chart-plays")
    listeners = _dots(root, "chart-listeners")
    assert len(plays) == len(listeners) == 10  # every day of the period, quiet days included
    xs = [x for x, _, _ in plays]
    assert xs[0] == pytest.approx(left)
    assert xs[-1] == pytest.approx(right)
    gaps = [b - a for a, b in itertools.pairwise(xs)]
    assert max(gaps) - min(gaps) < 0.2  # evenly spaced days
    heights = {hint.split(":")[0]: zero - y for _, y, hint in plays}
    assert heights["Mar 1"] == pytest.approx(0)  # no listening: on the zero line
    assert heights["Mar 5"] == pytest.approx(4 * heights["Mar 2"], abs=0.2)
    assert heights["Mar 5"] > heights["Mar 9"] > heights["Mar 2"] > 0
    assert plays[4][2] == "Mar 5: 40 plays"
    assert listeners[4][2] == "Mar 5: 9 listeners"
    assert listeners[4][1] > plays[4][1]  # 9 listeners drawn lower than 40 plays
    label = root.get("aria-label", "")
    assert "70 plays in all" in label
    assert "most on Mar 5, 2024 (40)" in label
    assert "at most 9 listeners" in label


def test_the_gridlines_reach_past_the_largest_value() -> None:
    root = _svg(daily_chart(MARCH, [_day(3, 37, 5)]))
    ticks = [
        int(t.text or "")
        for t in root.iter(f"{SVG}text")
        if t.get("dominant-baseline") == "middle"  # the y axis's labels
    ]
    assert ticks[0] == 0
    assert ticks[-1] >= 37
    assert len({b - a for a, b in itertools.pairwise(ticks)}) == 1


def test_one_day_is_a_dot_in_the_middle_and_no_line() -> None:
    day = Period(datetime.date(2024, 3, 5), datetime.date(2024, 3, 5))
    root = _svg(daily_chart(day, [_day(5, 3, 2)]))
    left, right, _ = _axis(root)
    ((x, _, hint),) = _dots(root, "chart-plays")
    assert x == pytest.approx((left + right) / 2)
    assert hint == "Mar 5: 3 plays"
    assert root.findall(f"{SVG}path") == []


def test_no_listening_is_said_in_words_not_drawn() -> None:
    for days in ([], [_day(4, 0, 0)]):
        markup = str(daily_chart(MARCH, days))
        assert "<svg" not in markup
        element = ET.fromstring(markup)
        assert element.get("class") == "chart-empty"
        assert "No listening in this period" in (element.text or "")


def test_a_year_is_drawn_as_lines_with_dated_labels() -> None:
    year = Period(datetime.date(2023, 6, 1), datetime.date(2024, 5, 31))
    days = [DayFigures(year.since + datetime.timedelta(days=i), i % 7, 1, 0, 1) for i in range(366)]
    root = _svg(daily_chart(year, days))
    assert _dots(root, "chart-plays") == []  # a line, not 366 dots
    line = next(p for p in root.iter(f"{SVG}path") if p.get("class") == "chart-line chart-plays")
    assert line.get("d", "").count("L") == 365
    labels = [t.text or "" for t in root.iter(f"{SVG}text") if t.get("y") == "256"]
    assert labels[0] == "Jun 1, 2023"
    assert labels[-1] == "May 31, 2024"
    assert 2 < len(labels) <= 6


def _retention(curve: tuple[float, ...], *drops: DropOff, sessions: int = 50) -> Retention:
    return Retention(
        "at://did:web:ada.localhost/fm.oms.track/3jzfcijpj2z2a",
        "Rock & <Roll>",
        len(curve),
        MARCH,
        sessions,
        curve,
        drops,
    )


def test_retention_marks_each_drop_off_where_the_curve_falls() -> None:
    curve = tuple([1.0] * 72 + [0.62] * 48)  # 2:00; 38% leave at 1:12
    root = _svg(retention_chart(_retention(curve, DropOff(70, 0.38))))
    left, right, _ = _axis(root)
    (marker,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-dropoff"]
    circle = marker.find(f"{SVG}circle")
    assert circle is not None
    assert float(circle.get("cx", "")) == pytest.approx(left + 70 / 120 * (right - left), abs=0.1)
    top = min(
        float(g.get("y1", "")) for g in root.iter(f"{SVG}line") if g.get("class") == "chart-grid"
    )
    assert float(circle.get("cy", "")) == pytest.approx(top)  # everyone still there at 1:10
    assert marker.findtext(f"{SVG}title") == "38% of listeners leave around 1:10"
    assert marker.findtext(f"{SVG}text") == "\u221238% at 1:10"
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("y") == "256"]
    assert ticks == ["0:00", "0:15", "0:30", "0:45", "1:00", "1:15", "1:30", "1:45", "2:00"]
    label = root.get("aria-label", "")
    assert label.startswith("Retention of Rock & <Roll>:")  # escaped in the markup, whole here
    assert "100% heard the start and 62% the end" in label
    assert "38% of listeners leave around 1:10" in label


def test_retention_of_a_long_track_is_sampled_to_the_width() -> None:
    curve = tuple(1 - s / 7200 for s in range(3600))  # an hour
    root = _svg(retention_chart(_retention(curve)))
    line = next(p for p in root.iter(f"{SVG}path") if p.get("class") == "chart-line chart-plays")
    assert line.get("d", "").count("L") < 700
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("y") == "256"]
    assert ticks[0] == "0:00"
    assert ticks[-1] == "1:00:00"


def test_retention_of_a_one_second_track_still_draws() -> None:
    root = _svg(retention_chart(_retention((0.5,))))
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("y") == "256"]
    assert ticks == ["0:00", "0:01"]


def test_retention_without_sessions_or_length_is_said_in_words() -> None:
    nobody = str(retention_chart(_retention((1.0, 0.5), sessions=0)))
    assert "<svg" not in nobody
    assert "No one listened" in nobody
    no_length = str(retention_chart(_retention((), sessions=3)))
    assert "<svg" not in no_length
    assert "length of this track is not known" in no_length


def test_bars_are_as_long_as_their_counts() -> None:
    root = _svg(bar_list([("search", 30), ("", 15), ("embed", 5)], label="Sources"))
    rows = [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-bar"]
    widths = [float(g.find(f"{SVG}rect").get("width", "")) for g in rows]  # type: ignore[union-attr]
    assert widths[0] == pytest.approx(2 * widths[1], abs=0.3)
    assert widths[0] == pytest.approx(6 * widths[2], abs=0.6)
    labels = [g.findtext(f"{SVG}text[@class='chart-label']") for g in rows]
    assert labels == ["search", "(none)", "embed"]
    assert rows[0].findtext(f"{SVG}title") == "search: 30 sessions (60%)"
    assert root.get("aria-label") == (
        "Sources, by sessions (50 in all): search 30 (60%), (none) 15 (30%), embed 5 (10%)."
    )


def test_many_bars_end_in_other_and_text_stays_text() -> None:
    items = [(f"site{i}.example", 20 - i) for i in range(12)] + [("<b>&amp;</b>", 1)]
    root = _svg(bar_list(items, label="Referrers", noun="plays"))
    rows = [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-bar"]
    assert len(rows) == 8
    other = rows[-1].findtext(f"{SVG}title")
    # 175 plays in all; the last six values (13, 12, 11, 10, 9 and 1) make 56 of them
    assert other == "Other (6): 56 plays (32%)"
    escaped = ET.fromstring(str(bar_list([("<b>&amp;</b>", 1)], label="x")))
    assert escaped.find(f".//{SVG}text[@class='chart-label']").text == "<b>&amp;</b>"  # type: ignore[union-attr]


def test_an_empty_bar_list_says_so() -> None:
    assert "No sessions to show yet." in str(bar_list([], label="Sources"))
    assert "No plays to show yet." in str(bar_list([("web", 0)], label="Clients", noun="plays"))


def test_positions_read_like_a_player() -> None:
    assert [mmss(s) for s in (0, 9, 72, 600, 3725)] == ["0:00", "0:09", "1:12", "10:00", "1:02:05"]
    assert drop_off_sentence(DropOff(72, 0.384)) == "38% of listeners leave around 1:12"

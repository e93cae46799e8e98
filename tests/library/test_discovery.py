"""Discovery scores: trending is growth against a track's own baseline, not size."""

from __future__ import annotations

from oms.library.discovery import trend_scores


def test_trend_is_growth_not_size() -> None:
    days = []
    # "steady": 10 likes a day for five weeks; "rising": nothing, then 5 a day this week;
    # "falling": 10 a day for four weeks, nothing this week.
    for age in range(35):
        days.append(("steady", age, 10))
        if age < 7:
            days.append(("rising", age, 5))
        else:
            days.append(("falling", age, 10))
    scores = trend_scores(days)
    assert abs(scores.get("steady", 0.0)) < 0.5
    assert scores["rising"] > 10
    assert scores["falling"] < -10
    assert scores["rising"] > scores.get("steady", 0.0) > scores["falling"]


def test_older_engagement_is_ignored() -> None:
    assert trend_scores([("old", 40, 100)]) == {}

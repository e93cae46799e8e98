"""Server-rendered SVG charts of listening: plays and listeners per day, a track's retention
curve, and bar lists of a mix. Pure functions returning markup: colours come from CSS classes
(the page's CSP allows no inline styles or scripts) and each chart says its data in words."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Sequence

from markupsafe import Markup

from oms.analytics.views import DayFigures, DropOff, Period, Retention

__all__ = ["bar_list", "daily_chart", "drop_off_sentence", "mmss", "retention_chart"]

# The drawing's own units (the SVG scales to the width CSS gives it).
_WIDTH = 720
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 20, 36, 30
_PLOT_HEIGHT = 200
# Beyond this many days, a daily chart draws lines without a dot per day.
_MAX_DOTS = 92
# A retention curve is drawn with at most about this many points, one per drawing unit.
_MAX_POINTS = _WIDTH - _LEFT - _RIGHT
# Bar lists: the label column, the longest bar, one row.
_BAR_WIDTH, _BAR_LABEL, _BAR_SPAN, _BAR_ROW = 320, 118, 134, 24
_BAR_ROWS = 8
_LABEL_CHARS = 16
# Readable steps of a time axis, in seconds.
_SECOND_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


def mmss(seconds: int) -> str:
    """A position in a track as players show it: `1:12`, `1:02:05`."""
    minutes, second = divmod(max(0, seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"


def drop_off_sentence(drop_off: DropOff) -> str:
    return f"{_percent(drop_off.drop)}% of listeners leave around {mmss(drop_off.second)}"


# --- plays and listeners per day -------------------------------------------------------------


def daily_chart(period: Period, days: Sequence[DayFigures]) -> Markup:
    """Plays (OMS rule, as an area) and listeners (a dashed line) on each day of `period`;
    days without listening are zero."""
    by_day = {figures.day: figures for figures in days}
    dates = list(period.days())
    plays = [by_day[d].plays if d in by_day else 0 for d in dates]
    listeners = [by_day[d].listeners if d in by_day else 0 for d in dates]
    if not any(plays) and not any(listeners):
        return _empty("No listening in this period yet: the chart appears with the first plays.")
    ticks = _count_ticks(max(*plays, *listeners))
    top = ticks[-1]
    width = _WIDTH - _LEFT - _RIGHT
    count = len(dates)

    def x(index: int) -> float:
        return _LEFT + (index * width / (count - 1) if count > 1 else width / 2)

    def y(value: int) -> float:
        return _TOP + _PLOT_HEIGHT - value / top * _PLOT_HEIGHT

    with_year = period.since.year != period.until.year
    parts = [_y_axis(ticks, y, str)]
    shown = sorted({round(i * (count - 1) / 5) for i in range(6)}) if count > 7 else range(count)
    for index in shown:
        anchor = _anchor(x(index))
        parts.append(_x_label(x(index), anchor, _day_label(dates[index], with_year)))
    plays_points = [(x(i), y(v)) for i, v in enumerate(plays)]
    listener_points = [(x(i), y(v)) for i, v in enumerate(listeners)]
    if count > 1:
        parts.append(_area(plays_points, y(0)))
        parts.append(_path("chart-line chart-plays", plays_points))
        parts.append(_path("chart-line chart-listeners", listener_points, dashed=True))
    if count <= _MAX_DOTS:
        for i, day in enumerate(dates):
            label = _day_label(day, with_year)
            parts.append(_dot("chart-plays", plays_points[i], f"{label}: {_n(plays[i])} plays"))
            parts.append(
                _dot(
                    "chart-listeners",
                    listener_points[i],
                    f"{label}: {_n(listeners[i])} listeners",
                    square=True,
                )
            )
    parts.append(_legend((("chart-plays", "Plays", False), ("chart-listeners", "Listeners", True))))
    peak = max(range(count), key=lambda i: plays[i])
    summary = (
        f"Plays and listeners per day from {period.since.isoformat()} to "
        f"{period.until.isoformat()}: {_n(sum(plays))} plays in all, most on "
        f"{_day_label(dates[peak], True)} ({_n(plays[peak])}); at most {_n(max(listeners))} "
        "listeners on one day."
    )
    return _svg("chart-daily", _WIDTH, _TOP + _PLOT_HEIGHT + _BOTTOM, summary, parts)


# --- retention -------------------------------------------------------------------------------


def retention_chart(retention: Retention) -> Markup:
    """The share of sessions still listening at each second of the track, with its drop-off
    points marked and labelled."""
    curve = retention.curve
    if retention.sessions <= 0:
        return _empty("No one listened to this track in this period, so there is no curve yet.")
    if not curve:
        return _empty("The length of this track is not known yet, so there is no curve to draw.")
    length = len(curve)
    width = _WIDTH - _LEFT - _RIGHT

    def x(second: float) -> float:
        return _LEFT + second / length * width

    def y(share: float) -> float:
        return _TOP + _PLOT_HEIGHT - max(0.0, min(1.0, share)) * _PLOT_HEIGHT

    parts = [_y_axis((0, 25, 50, 75, 100), lambda pct: y(pct / 100), lambda pct: f"{pct}%")]
    step = next((s for s in _SECOND_STEPS if length / s <= 8), _SECOND_STEPS[-1])
    for second in range(0, length + 1, step):
        parts.append(_x_label(x(second), _anchor(x(second)), mmss(second)))
    # Each second's share is drawn across that second; a long track is sampled to the width.
    stride = math.ceil(length / _MAX_POINTS)
    sampled = sorted({*range(0, length, stride), length - 1})
    points = [(x(s), y(curve[s])) for s in sampled] + [(x(length), y(curve[-1]))]
    parts.append(_area(points, y(0)))
    parts.append(_path("chart-line chart-plays", points))
    for order, drop_off in enumerate(sorted(retention.drop_offs, key=lambda d: d.second)):
        second = max(0, min(drop_off.second, length - 1))
        at_x, at_y = x(second), y(curve[second])
        label_y = 14 + (order % 2) * 14  # above the plot, alternate rows so neighbours do not touch
        parts.append(
            Markup(
                '<g class="chart-dropoff"><title>{}</title>'
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke-dasharray="3 3"/>'
                '<circle cx="{}" cy="{}" r="4"/>'
                '<text x="{}" y="{}" text-anchor="{}">\u2212{}% at {}</text></g>'
            ).format(
                drop_off_sentence(drop_off),
                _c(at_x),
                _c(at_x),
                label_y + 4,
                _TOP + _PLOT_HEIGHT,
                _c(at_x),
                _c(at_y),
                _c(at_x),
                label_y,
                _anchor(at_x),
                _percent(drop_off.drop),
                mmss(drop_off.second),
            )
        )
    sentences = "; ".join(drop_off_sentence(d) for d in retention.drop_offs)
    summary = (
        f"Retention of {retention.title}: the share of {_n(retention.sessions)} listening "
        f"sessions still listening at each second of its {mmss(length)}; "
        f"{_percent(curve[0])}% heard the start and {_percent(curve[-1])}% the end."
        + (f" {sentences[:1].upper()}{sentences[1:]}." if sentences else "")
    )
    return _svg("chart-retention", _WIDTH, _TOP + _PLOT_HEIGHT + _BOTTOM, summary, parts)


# --- bar lists -------------------------------------------------------------------------------


def bar_list(
    items: Sequence[tuple[str, int]],
    *,
    label: str,
    noun: str = "sessions",
    blank: str = "(none)",
    empty: str | None = None,
) -> Markup:
    """Horizontal bars of `items` (a value and its count, in the order to show), the longest
    bar for the largest count; beyond a few rows the rest are summed as "Other". `blank`
    names the empty value; `empty` says why there is nothing to show."""
    rows = [(value or blank, count) for value, count in items if count > 0]
    total = sum(count for _, count in rows)
    if total <= 0:
        return _empty(empty or f"No {noun} to show yet.")
    if len(rows) > _BAR_ROWS:
        rest = rows[_BAR_ROWS - 1 :]
        rows = [*rows[: _BAR_ROWS - 1], (f"Other ({len(rest)})", sum(n for _, n in rest))]
    largest = max(count for _, count in rows)
    parts = []
    for index, (value, count) in enumerate(rows):
        top = index * _BAR_ROW
        length = max(1.0, count / largest * _BAR_SPAN)
        shown = value if len(value) <= _LABEL_CHARS else value[: _LABEL_CHARS - 1] + "\u2026"
        parts.append(
            Markup(
                '<g class="chart-bar"><title>{}: {} {} ({}%)</title>'
                '<text class="chart-label" x="0" y="{}">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="16" rx="2"/>'
                '<text class="chart-tick" x="{}" y="{}">{} \u00b7 {}%</text></g>'
            ).format(
                value,
                _n(count),
                noun,
                _percent(count / total),
                top + 16,
                shown,
                _BAR_LABEL,
                top + 4,
                _c(length),
                _c(_BAR_LABEL + length + 6),
                top + 16,
                _n(count),
                _percent(count / total),
            )
        )
    described = ", ".join(f"{v} {_n(n)} ({_percent(n / total)}%)" for v, n in rows)
    summary = f"{label}, by {noun} ({_n(total)} in all): {described}."
    return _svg("chart-bars", _BAR_WIDTH, len(rows) * _BAR_ROW + 4, summary, parts)


# --- drawing ---------------------------------------------------------------------------------


def _svg(kind: str, width: int, height: int, summary: str, parts: Sequence[Markup]) -> Markup:
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart {}" viewBox="0 0 {} {}" '
        'role="img" aria-label="{}"><title>{}</title>{}</svg>'
    ).format(kind, width, height, summary, summary, Markup("").join(parts))


def _empty(message: str) -> Markup:
    return Markup('<p class="chart-empty">{}</p>').format(message)


def _count_ticks(largest: int) -> tuple[int, ...]:
    """Whole-number gridlines from 0 to at least `largest`, at a readable step (1, 2 or 5
    times a power of ten)."""
    rough = max(1.0, largest / 4)
    magnitude = 10 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    top = max(step, math.ceil(largest / step) * step)
    return tuple(range(0, top + 1, step))


def _y_axis(ticks: Sequence[int], y: Callable[[int], float], label: Callable[[int], str]) -> Markup:
    lines = [
        Markup(
            '<line class="chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="chart-tick" x="{}" y="{}" text-anchor="end" '
            'dominant-baseline="middle">{}</text>'
        ).format(_LEFT, _WIDTH - _RIGHT, _c(y(t)), _c(y(t)), _LEFT - 8, _c(y(t)), label(t))
        for t in ticks
    ]
    bottom = _TOP + _PLOT_HEIGHT
    lines.append(
        Markup('<line class="chart-axis" x1="{}" x2="{}" y1="{}" y2="{}"/>').format(
            _LEFT, _WIDTH - _RIGHT, bottom, bottom
        )
    )
    return Markup("").join(lines)


def _x_label(at: float, anchor: str, text: str) -> Markup:
    return Markup('<text class="chart-tick" x="{}" y="{}" text-anchor="{}">{}</text>').format(
        _c(at), _TOP + _PLOT_HEIGHT + 20, anchor, text
    )


def _anchor(at: float) -> str:
    """How a label at `at` is aligned so that it stays inside the drawing."""
    return "start" if at < _LEFT + 30 else "end" if at > _WIDTH - _RIGHT - 30 else "middle"


def _path(css: str, points: Sequence[tuple[float, float]], *, dashed: bool = False) -> Markup:
    dash = Markup(' stroke-dasharray="6 4"') if dashed else ""
    return Markup('<path class="{}"{} d="{}"/>').format(css, dash, _line(points))


def _area(points: Sequence[tuple[float, float]], base: float) -> Markup:
    """The region under a line, down to `base`."""
    outline = [(points[0][0], base), *points, (points[-1][0], base)]
    return Markup('<path class="chart-area chart-plays" d="{} Z"/>').format(_line(outline))


def _dot(series: str, at: tuple[float, float], title: str, *, square: bool = False) -> Markup:
    """A data point with its value as a tooltip; listeners' are squares, so that the two
    series differ in shape as well as colour."""
    x, y = at
    if square:
        return Markup(
            '<rect class="chart-point {}" x="{}" y="{}" width="6" height="6"><title>{}</title>'
            "</rect>"
        ).format(series, _c(x - 3), _c(y - 3), title)
    return Markup(
        '<circle class="chart-point {}" cx="{}" cy="{}" r="3.5"><title>{}</title></circle>'
    ).format(series, _c(x), _c(y), title)


def _legend(series: Sequence[tuple[str, str, bool]]) -> Markup:
    parts = []
    at = _LEFT
    for css, name, dashed in series:
        dash = Markup(' stroke-dasharray="6 4"') if dashed else ""
        parts.append(
            Markup(
                '<line class="chart-line {}" x1="{}" x2="{}" y1="12" y2="12"{}/>'
                '<text class="chart-label" x="{}" y="16">{}</text>'
            ).format(css, at, at + 24, dash, at + 30, name)
        )
        at += 40 + 9 * len(name)
    return Markup('<g class="chart-legend">{}</g>').format(Markup("").join(parts))


def _line(points: Sequence[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{_c(x)},{_c(y)}" for x, y in points)


def _c(value: float) -> str:
    """A coordinate, to a tenth of a unit."""
    return f"{value:.1f}".removesuffix(".0")


def _n(count: int) -> str:
    return f"{count:,}"


def _percent(share: float) -> int:
    return round(max(0.0, min(1.0, share)) * 100)


def _day_label(day: datetime.date, with_year: bool) -> str:
    return f"{day:%b} {day.day}" + (f", {day.year}" if with_year else "")

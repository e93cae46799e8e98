"""The listening analytics pages: the creator dashboard (a catalog over a period, one track
with its retention curve, the exports) and the admin view of the fraud rules' decisions.

Who sees whose figures is the analytics room's call (`check_track_access`); the whole node's
figures (`?scope=node`) are for admins.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from oms.analytics import queries
from oms.analytics.views import MIX_DIMENSIONS, DayFigures, ExportRow, Mix, Period, Summary
from oms.context import AppContext
from oms.errors import Forbidden, InvalidRequest, NotFound
from oms.pds.syntax import is_valid_did, is_valid_record_key
from oms.pds.web_sessions import WebSession
from oms.web import charts
from oms.web.render import page, problem_text
from oms.web.session import member

__all__ = ["admin_listening", "export", "overview", "track_page"]

TRACK = "fm.oms.track"
# The period links above every page, in days ending today.
PRESETS = (7, 28, 90, 365)
# How each dimension of a mix is headed, and what its empty value means.
MIX_LABELS = {
    "source": ("Where playback started", "(unknown)"),
    "referrer": ("Referring sites", "(none: direct or private)"),
    "client": ("Clients", "(unknown)"),
    "rendition": ("Renditions", "(unknown)"),
    "country": ("Countries", "(unknown)"),
}
# Spreadsheets run a cell that starts with one of these as a formula; a title is text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class MixPanel:
    """One dimension of a mix as a page shows it: its bars and the same numbers as rows."""

    heading: str
    chart: Markup
    rows: tuple[tuple[str, int, int], ...]  # value (blank named), sessions, plays


@dataclass(frozen=True)
class Preset:
    label: str
    href: str
    current: bool


def _context(request: Request) -> AppContext:
    context: AppContext = request.state.context
    return context


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def _period(request: Request) -> Period:
    params = request.query_params
    return queries.parse_period(
        params.get("since") or None, params.get("until") or None, today=_today()
    )


def _node_scope(request: Request, session: WebSession) -> bool:
    """Whether the page shows the whole node (`?scope=node`, admins only)."""
    scope = request.query_params.get("scope", "")
    if scope not in ("", "own", "node"):
        raise InvalidRequest(f"scope is 'node' or left out, not {scope!r}")
    if scope == "node" and session.role != "admin":
        raise Forbidden("The whole node's listening figures are for the node's admins.")
    return scope == "node"


def _track_uri(session: WebSession, rkey: str, did: str | None) -> str:
    if not is_valid_record_key(rkey):
        raise NotFound(f"no track {rkey!r}", name="TrackNotFound")
    owner = did or session.did
    if not is_valid_did(owner):
        raise InvalidRequest(f"did must be a DID, not {owner!r}")
    return f"at://{owner}/{TRACK}/{rkey}"


def _query(period: Period, **extra: str | None) -> str:
    values = {**period.as_json(), **{k: v for k, v in extra.items() if v}}
    return urlencode(values)


def _track_href(uri: str, period: Period, viewer_did: str) -> str:
    """The analytics page of the track at `uri`, naming its artist when it is not the viewer."""
    did, _, rkey = uri.removeprefix("at://").partition(f"/{TRACK}/")
    other = did if did != viewer_did else None
    return f"/portal/analytics/tracks/{rkey}?{_query(period, did=other)}"


def _presets(
    base: str, period: Period | None, today: datetime.date, **extra: str | None
) -> list[Preset]:
    found = []
    for days in PRESETS:
        preset = Period(today - datetime.timedelta(days=days - 1), today)
        found.append(
            Preset(
                f"Last {days} days",
                f"{base}?{_query(preset, **extra)}",
                period == preset,
            )
        )
    return found


def _hours(seconds: int) -> str:
    if seconds < 3600:
        return f"{seconds // 60:,} min"
    return f"{seconds / 3600:,.1f} h"


def _kpis(summary: Summary) -> list[Kpi]:
    plays = summary.plays
    return [
        Kpi(
            "Plays",
            f"{plays.oms:,}",
            f"Last.fm rule: {plays.lastfm:,} · teal.fm rule: {plays.teal:,}",
        ),
        Kpi("Listeners", f"{summary.listeners:,}", "distinct, over the period"),
        Kpi("Hours heard", _hours(summary.seconds), f"{summary.seconds:,} seconds"),
        Kpi(
            "Completion rate",
            f"{round(summary.completion_rate * 100)}%",
            f"{summary.completions:,} of {summary.sessions:,} sessions heard 90%",
        ),
        Kpi(
            "Skip rate",
            f"{round(summary.skip_rate * 100)}%",
            f"{summary.skips:,} sessions stopped within 30 s",
        ),
        Kpi("Flagged sessions", f"{summary.flagged:,}", "set aside by the fraud rules"),
    ]


def _mix_panels(mix: Mix) -> list[MixPanel]:
    panels = []
    for name in MIX_DIMENSIONS:
        heading, blank = MIX_LABELS[name]
        shares = mix.dimension(name)
        panels.append(
            MixPanel(
                heading,
                charts.bar_list(
                    [(s.value, s.sessions) for s in shares],
                    label=heading,
                    blank=blank,
                    empty="Not known for any session of this period.",
                ),
                tuple((s.value or blank, s.sessions, s.plays) for s in shares),
            )
        )
    return panels


def _days(period: Period, days: Sequence[DayFigures]) -> list[DayFigures]:
    """Every day of the period, days without listening as zeros (for the chart's table)."""
    by_day = {d.day: d for d in days}
    return [by_day.get(day) or DayFigures(day, 0, 0, 0, 0) for day in period.days()]


async def _problem(
    request: Request, template: str, error: InvalidRequest, base: str, **extra: str | None
) -> Response:
    """The page with its period form, the problem with the period, and no figures."""
    params = request.query_params
    return await page(
        request,
        template,
        400,
        problem=problem_text(error),
        since=params.get("since", ""),
        until=params.get("until", ""),
        presets=_presets(base, None, _today(), **extra),
        **extra,
    )


# --- the creator dashboard -------------------------------------------------------------------


async def overview(request: Request) -> Response:
    """The artist's catalog over a period (admins: the whole node's, with `?scope=node`)."""
    session = await member(request)
    node = _node_scope(request, session)
    scope = "node" if node else None
    try:
        period = _period(request)
    except InvalidRequest as e:
        return await _problem(request, "portal/analytics.html", e, "/portal/analytics", scope=scope)
    found = await queries.artist_overview(
        _context(request).db, None if node else session.did, period
    )
    return await page(
        request,
        "portal/analytics.html",
        scope=scope,
        period=period,
        since=period.since.isoformat(),
        until=period.until.isoformat(),
        presets=_presets("/portal/analytics", period, _today(), scope=scope),
        summary=found.summary,
        kpis=_kpis(found.summary),
        daily_chart=charts.daily_chart(period, found.days),
        days=_days(period, found.days),
        top_tracks=[
            (t, _track_href(t.uri, period, session.did), _hours(t.seconds))
            for t in found.top_tracks
        ],
        mix=_mix_panels(found.mix),
        query=_query(period, scope=scope),
        own_scope=f"/portal/analytics?{_query(period)}",
        node_scope=f"/portal/analytics?{_query(period, scope='node')}",
    )


async def track_page(request: Request) -> Response:
    """One track over a period: figures, daily chart, retention with its drop-offs, mix."""
    session = await member(request)
    admin = session.role == "admin"
    other = request.query_params.get("did") or None
    uri = _track_uri(session, request.path_params["rkey"], other)
    db = _context(request).db
    await queries.check_track_access(db, uri, session.did, admin=admin)
    did = other if other != session.did else None
    base = f"/portal/analytics/tracks/{request.path_params['rkey']}"
    try:
        period = _period(request)
    except InvalidRequest as e:
        return await _problem(request, "portal/analytics_track.html", e, base, did=did)
    stats = await queries.track_stats(db, uri, period)
    retention = await queries.retention(db, uri, period)
    step, rows = _retention_rows(retention.curve)
    return await page(
        request,
        "portal/analytics_track.html",
        base=base,
        did=did,
        uri=uri,
        rkey=request.path_params["rkey"],
        own=did is None,
        back=f"/portal/analytics?{_query(period)}",
        period=period,
        since=period.since.isoformat(),
        until=period.until.isoformat(),
        presets=_presets(base, period, _today(), did=did),
        stats=stats,
        title=stats.title,
        kpis=_kpis(stats.summary),
        daily_chart=charts.daily_chart(period, stats.days),
        days=_days(period, stats.days),
        retention=retention,
        retention_chart=charts.retention_chart(retention),
        retention_step=step,
        retention_rows=rows,
        drop_offs=[charts.drop_off_sentence(d) for d in retention.drop_offs],
        mix=_mix_panels(stats.mix),
        query=_query(period, track=request.path_params["rkey"], did=did),
    )


def _retention_rows(curve: Sequence[float]) -> tuple[int, list[tuple[str, int]]]:
    """The curve as a table's rows (position, percent still listening): every second of a
    short track, every few seconds of a long one (the JSON export has every second)."""
    step = 1 if len(curve) <= 120 else 5 if len(curve) <= 900 else 15
    return step, [(charts.mmss(s), round(curve[s] * 100)) for s in range(0, len(curve), step)]


async def export(request: Request) -> Response:
    """The figures of a period as CSV (a row per track and day) or JSON (the same rows and
    the overview the page shows)."""
    session = await member(request)
    kind = request.path_params["format"]
    if kind not in ("csv", "json"):
        raise NotFound(f"listening exports as csv or json, not {kind!r}")
    node = _node_scope(request, session)
    period = _period(request)
    db = _context(request).db
    rkey = request.query_params.get("track") or None
    extra: dict[str, object] = {}
    if rkey is not None:
        uri = _track_uri(session, rkey, request.query_params.get("did") or None)
        await queries.check_track_access(db, uri, session.did, admin=session.role == "admin")
        rows = await queries.export_rows(db, period, did=None, track_uri=uri)
        if kind == "json":
            extra["track"] = (await queries.track_stats(db, uri, period)).as_json()
            extra["retention"] = (await queries.retention(db, uri, period)).as_json()
    else:
        did = None if node else session.did
        rows = await queries.export_rows(db, period, did=did)
        if kind == "json":
            extra["overview"] = (await queries.artist_overview(db, did, period)).as_json()
    name = f"oms-listening-{period.since.isoformat()}-{period.until.isoformat()}.{kind}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if kind == "csv":
        return Response(_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
    body = {"period": period.as_json(), "rows": [row.as_json() for row in rows], **extra}
    return Response(
        json.dumps(body, ensure_ascii=False, indent=1),
        media_type="application/json",
        headers=headers,
    )


def _csv(rows: Sequence[ExportRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ExportRow.CSV_HEADER)
    title = ExportRow.CSV_HEADER.index("title")
    for row in rows:
        cells = list(row.csv_row())
        text = str(cells[title])
        if text.startswith(_FORMULA_STARTS):
            cells[title] = "'" + text
        writer.writerow(cells)
    return buffer.getvalue()


# --- the admin view --------------------------------------------------------------------------


async def admin_listening(request: Request) -> Response:
    """What the fraud rules set aside over a period, and the reports the node refused."""
    session = await member(request)
    try:
        period = _period(request)
    except InvalidRequest as e:
        return await _problem(request, "admin/listening.html", e, "/admin/listening")
    found = await queries.decisions(_context(request).db, period)
    refused: dict[str, int] = {}
    for rejection in found.rejections:
        refused[rejection.reason] = refused.get(rejection.reason, 0) + rejection.count
    return await page(
        request,
        "admin/listening.html",
        period=period,
        since=period.since.isoformat(),
        until=period.until.isoformat(),
        presets=_presets("/admin/listening", period, _today()),
        node_href=f"/portal/analytics?{_query(period, scope='node')}",
        decisions=found,
        flagged_total=sum(n for _, n in found.by_rule),
        rule_chart=charts.bar_list(list(found.by_rule), label="Sessions set aside by rule"),
        flagged=[(f, _track_href(f.track_uri, period, session.did)) for f in found.flagged],
        refused_chart=charts.bar_list(
            sorted(refused.items(), key=lambda item: -item[1]),
            label="Reports refused by reason",
            noun="reports",
        ),
        refused_total=sum(refused.values()),
    )

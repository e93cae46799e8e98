"""What creators and admins read back: a track's figures and retention curve, an artist's (or
the node's) overview, per-day rows for export, and the fraud rules' decisions; all from the
daily rollups, so they answer the same once the raw reports are gone."""

from __future__ import annotations

import datetime
import sqlite3
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence

from oms.analytics import store
from oms.analytics.reports import length_seconds
from oms.analytics.rules import drop_offs
from oms.analytics.sketch import estimate, merge
from oms.analytics.views import (
    MIX_DIMENSIONS,
    ArtistOverview,
    DayFigures,
    Decisions,
    DropOff,
    ExportRow,
    FlaggedSession,
    Mix,
    Period,
    PlayCounts,
    Rejection,
    Retention,
    Share,
    Summary,
    TopTrack,
    TrackStats,
)
from oms.db.database import Database
from oms.errors import Forbidden, InvalidRequest, NotFound
from oms.library.catalog import TrackLength, track_lengths

__all__ = [
    "MAX_PERIOD_DAYS",
    "artist_overview",
    "check_track_access",
    "decisions",
    "export_rows",
    "parse_period",
    "retention",
    "track_stats",
]

MAX_PERIOD_DAYS = 366
_DEFAULT_DAYS = 28
_EPOCH = datetime.date(1970, 1, 1)


def _day_number(day: datetime.date) -> int:
    return (day - _EPOCH).days


def _date(number: int) -> datetime.date:
    return _EPOCH + datetime.timedelta(days=number)


def _parse_day(value: str, name: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(
            f"{name} must be a day as YYYY-MM-DD, not {value!r}", name="InvalidPeriod"
        ) from None


def parse_period(since: str | None, until: str | None, *, today: datetime.date) -> Period:
    """The period `since`..`until` (YYYY-MM-DD, both included); by default the 28 days up to
    today. Raises InvalidRequest (`InvalidPeriod`)."""
    last = _parse_day(until, "until") if until else today
    first = _parse_day(since, "since") if since else last - datetime.timedelta(_DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidRequest(f"since ({first}) is after until ({last})", name="InvalidPeriod")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidRequest(
            f"a period covers at most {MAX_PERIOD_DAYS} days", name="InvalidPeriod"
        )
    return Period(first, last)


async def _track(db: Database, uri: str) -> TrackLength:
    track = (await track_lengths(db, [uri])).get(uri)
    if track is None:
        raise NotFound(f"no track {uri} in this node's catalog", name="TrackNotFound")
    return track


async def check_track_access(db: Database, uri: str, viewer_did: str, *, admin: bool) -> None:
    """Refuse unless the track is the viewer's own (or the viewer is an admin)."""
    track = await _track(db, uri)
    if track.did != viewer_did and not admin:
        raise Forbidden("the analytics of a track are for its artist and the node's admins")


def _span(period: Period) -> tuple[int, int]:
    return _day_number(period.since), _day_number(period.until)


def _listeners(rows: Sequence[sqlite3.Row]) -> int:
    """Distinct listeners across rows: exact for one track's day, else from the sketches."""
    if len(rows) <= 1:
        return int(rows[0]["listeners"]) if rows else 0
    return estimate(merge(bytes(r["listener_sketch"]) for r in rows))


def _summary(rows: Sequence[sqlite3.Row]) -> Summary:
    def total(column: str) -> int:
        return sum(int(r[column]) for r in rows)

    return Summary(
        sessions=total("sessions"),
        listeners=_listeners(rows),
        seconds=total("seconds"),
        plays=PlayCounts(total("plays_oms"), total("plays_lastfm"), total("plays_teal")),
        completions=total("completions"),
        skips=total("skips"),
        flagged=total("flagged"),
    )


def _days(rows: Sequence[sqlite3.Row], period: Period) -> tuple[DayFigures, ...]:
    """Every day of the period, zero where nobody listened; a day's listeners are distinct
    across the tracks counted (merged sketches)."""
    by_day: dict[int, list[sqlite3.Row]] = defaultdict(list)
    for row in rows:
        by_day[int(row["day"])].append(row)
    out = []
    for day in period.days():
        found = by_day.get(_day_number(day), [])
        listeners = _listeners(found)
        out.append(
            DayFigures(
                day=day,
                plays=sum(int(r["plays_oms"]) for r in found),
                listeners=listeners,
                seconds=sum(int(r["seconds"]) for r in found),
                sessions=sum(int(r["sessions"]) for r in found),
            )
        )
    return tuple(out)


def _mix(rows: Iterable[sqlite3.Row]) -> Mix:
    found: dict[str, list[Share]] = defaultdict(list)
    for row in rows:
        found[row["dimension"]].append(Share(row["value"], int(row["sessions"]), int(row["plays"])))
    ordered = {
        name: tuple(sorted(found.get(name, []), key=lambda s: (-s.sessions, s.value)))
        for name in MIX_DIMENSIONS
    }
    return Mix(**ordered)


async def track_stats(db: Database, uri: str, period: Period) -> TrackStats:
    track = await _track(db, uri)
    first, last = _span(period)
    rows = await store.daily_rows(db, first, last, track_uri=uri)
    return TrackStats(
        uri=uri,
        title=track.title,
        duration_s=length_seconds(track.duration_ms) or 0,
        period=period,
        summary=_summary(rows),
        days=_days(rows, period),
        mix=_mix(await store.mix_rows(db, first, last, track_uri=uri)),
    )


async def retention(db: Database, uri: str, period: Period) -> Retention:
    track = await _track(db, uri)
    first, last = _span(period)
    rows = await store.daily_rows(db, first, last, track_uri=uri)
    sessions = sum(int(r["sessions"]) for r in rows)
    heard: list[int] = []
    for row in rows:
        counts = array("I")
        counts.frombytes(bytes(row["retention"]))
        if len(counts) > len(heard):
            heard.extend([0] * (len(counts) - len(heard)))
        for second, n in enumerate(counts):
            heard[second] += n
    length = length_seconds(track.duration_ms) or len(heard)
    heard = (heard + [0] * length)[:length]
    curve = tuple(n / sessions if sessions else 0.0 for n in heard)
    return Retention(
        uri=uri,
        title=track.title,
        duration_s=length,
        period=period,
        sessions=sessions,
        curve=curve,
        drop_offs=tuple(DropOff(s, loss) for s, loss in drop_offs(curve)),
    )


async def _titles(db: Database, uris: Iterable[str]) -> dict[str, str]:
    return {uri: t.title for uri, t in (await track_lengths(db, sorted(set(uris)))).items()}


def _title(titles: dict[str, str], uri: str) -> str:
    return titles.get(uri) or f"(deleted track {uri.rsplit('/', 1)[-1]})"


async def artist_overview(
    db: Database, did: str | None, period: Period, *, top: int = 10
) -> ArtistOverview:
    """An artist's tracks over the period (with `did` None: every track of the node)."""
    first, last = _span(period)
    rows = await store.daily_rows(db, first, last, did=did)
    by_track: dict[str, list[sqlite3.Row]] = defaultdict(list)
    for row in rows:
        by_track[row["track_uri"]].append(row)
    ranked = sorted(
        by_track.items(),
        key=lambda item: (-sum(int(r["plays_oms"]) for r in item[1]), item[0]),
    )[:top]
    titles = await _titles(db, [uri for uri, _ in ranked])
    top_tracks = []
    for uri, track_rows in ranked:
        summary = _summary(track_rows)
        top_tracks.append(
            TopTrack(
                uri=uri,
                title=_title(titles, uri),
                plays=summary.plays.oms,
                listeners=summary.listeners,
                seconds=summary.seconds,
                sessions=summary.sessions,
                completions=summary.completions,
            )
        )
    return ArtistOverview(
        did=did or "",
        period=period,
        summary=_summary(rows),
        days=_days(rows, period),
        top_tracks=tuple(top_tracks),
        mix=_mix(await store.mix_rows(db, first, last, did=did)),
    )


async def export_rows(
    db: Database, period: Period, *, did: str | None, track_uri: str | None = None
) -> list[ExportRow]:
    """One row per track and day with listening, by day then track: one track, an artist's
    tracks, or (both None) every track."""
    first, last = _span(period)
    rows = await store.daily_rows(db, first, last, did=did, track_uri=track_uri)
    titles = await _titles(db, [r["track_uri"] for r in rows])
    return [
        ExportRow(
            day=_date(int(r["day"])),
            track_uri=r["track_uri"],
            title=_title(titles, r["track_uri"]),
            sessions=int(r["sessions"]),
            listeners=int(r["listeners"]),
            seconds=int(r["seconds"]),
            plays=PlayCounts(int(r["plays_oms"]), int(r["plays_lastfm"]), int(r["plays_teal"])),
            completions=int(r["completions"]),
            skips=int(r["skips"]),
            flagged=int(r["flagged"]),
        )
        for r in rows
    ]


async def decisions(db: Database, period: Period, *, limit: int = 200) -> Decisions:
    first, last = _span(period)
    flags = await store.flag_rows(db, first, last, limit)
    titles = await _titles(db, [r["track_uri"] for r in flags])
    return Decisions(
        period=period,
        by_rule=tuple((r["rule"], int(r["n"])) for r in await store.flag_counts(db, first, last)),
        flagged=tuple(
            FlaggedSession(
                day=_date(int(r["day"])),
                session_id=r["session"],
                track_uri=r["track_uri"],
                title=_title(titles, r["track_uri"]),
                listener=r["listener"],
                rule=r["rule"],
                detail=r["detail"],
            )
            for r in flags
        ),
        rejections=tuple(
            Rejection(_date(int(r["day"])), r["reason"], int(r["count"]))
            for r in await store.rejection_rows(db, first, last)
        ),
    )

"""What the analytics queries answer: plain values shared by the XRPC methods, the creator
dashboard and its exports. Rates are fractions (0..1) here; on the wire (`as_json`) they are
integers per mille, as ATProto's data model has no floating-point numbers."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "MIX_DIMENSIONS",
    "ArtistOverview",
    "DayFigures",
    "Decisions",
    "DropOff",
    "ExportRow",
    "FlaggedSession",
    "Mix",
    "Period",
    "PlayCounts",
    "Rejection",
    "Retention",
    "Share",
    "Summary",
    "TopTrack",
    "TrackStats",
    "permille",
    "rate",
]

# The dimensions of a mix, in the order the dashboard shows them.
MIX_DIMENSIONS = ("source", "referrer", "client", "rendition", "country")


def rate(part: int, whole: int) -> float:
    """`part` as a share of `whole` (0 when there is no whole)."""
    return part / whole if whole else 0.0


def permille(fraction: float) -> int:
    return round(max(0.0, min(1.0, fraction)) * 1000)


@dataclass(frozen=True)
class Period:
    """UTC days from `since` to `until`, both included."""

    since: datetime.date
    until: datetime.date

    def days(self) -> Iterator[datetime.date]:
        day = self.since
        while day <= self.until:
            yield day
            day += datetime.timedelta(days=1)

    @property
    def length(self) -> int:
        return (self.until - self.since).days + 1

    def as_json(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


@dataclass(frozen=True)
class PlayCounts:
    """Sessions that count as a play under each named rule (see `oms.analytics.rules`)."""

    oms: int = 0
    lastfm: int = 0
    teal: int = 0

    def as_json(self) -> dict[str, int]:
        return {"oms": self.oms, "lastfm": self.lastfm, "teal": self.teal}


@dataclass(frozen=True)
class Summary:
    """A period's figures. Flagged sessions count only in `flagged`."""

    sessions: int = 0
    listeners: int = 0  # distinct over the period (an estimate beyond a few hundred)
    seconds: int = 0  # seconds heard, each second of a session once
    plays: PlayCounts = PlayCounts()
    completions: int = 0  # sessions that heard at least 90% of the track
    skips: int = 0  # sessions that heard under 30 s of a track longer than that
    flagged: int = 0  # sessions the fraud rules set aside (kept for audit)

    @property
    def completion_rate(self) -> float:
        return rate(self.completions, self.sessions)

    @property
    def skip_rate(self) -> float:
        return rate(self.skips, self.sessions)

    def as_json(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "listeners": self.listeners,
            "secondsHeard": self.seconds,
            "plays": self.plays.as_json(),
            "completions": self.completions,
            "skips": self.skips,
            "completionPermille": permille(self.completion_rate),
            "skipPermille": permille(self.skip_rate),
            "flagged": self.flagged,
        }


@dataclass(frozen=True)
class DayFigures:
    day: datetime.date
    plays: int  # under the OMS rule
    listeners: int
    seconds: int
    sessions: int

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "plays": self.plays,
            "listeners": self.listeners,
            "secondsHeard": self.seconds,
            "sessions": self.sessions,
        }


@dataclass(frozen=True)
class Share:
    """One value of a mix dimension (a source, a country, ...) and its sessions and plays."""

    value: str
    sessions: int
    plays: int

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, "sessions": self.sessions, "plays": self.plays}


@dataclass(frozen=True)
class Mix:
    """Where the listening came from and how: each dimension's values, most sessions first.

    source: the page or surface (track, release, search, embed, subsonic, remote, ...);
    referrer: the domain of the site that linked or embedded the player; client: web, embed,
    app, subsonic, remote; rendition: aac64, aac128, aac256, flac; country: ISO 3166 codes,
    told from the player's time zone or language, never from an address."""

    source: tuple[Share, ...] = ()
    referrer: tuple[Share, ...] = ()
    client: tuple[Share, ...] = ()
    rendition: tuple[Share, ...] = ()
    country: tuple[Share, ...] = ()

    def dimension(self, name: str) -> tuple[Share, ...]:
        shares: tuple[Share, ...] = getattr(self, name)
        return shares

    def as_json(self) -> dict[str, Any]:
        return {name: [s.as_json() for s in self.dimension(name)] for name in MIX_DIMENSIONS}


@dataclass(frozen=True)
class TrackStats:
    uri: str
    title: str
    duration_s: int
    period: Period
    summary: Summary
    days: tuple[DayFigures, ...]
    mix: Mix

    def as_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "title": self.title,
            "durationSeconds": self.duration_s,
            "period": self.period.as_json(),
            "summary": self.summary.as_json(),
            "days": [d.as_json() for d in self.days],
            "mix": self.mix.as_json(),
        }


@dataclass(frozen=True)
class DropOff:
    """A point where listeners leave: around `second`, a `drop` share of the sessions that
    started stopped listening (over a few seconds' window)."""

    second: int
    drop: float

    def as_json(self) -> dict[str, int]:
        return {"second": self.second, "dropPermille": permille(self.drop)}


@dataclass(frozen=True)
class Retention:
    """The share of a track's (unflagged) sessions that heard each second."""

    uri: str
    title: str
    duration_s: int
    period: Period
    sessions: int
    curve: tuple[float, ...]  # index = second of the track
    drop_offs: tuple[DropOff, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "title": self.title,
            "durationSeconds": self.duration_s,
            "period": self.period.as_json(),
            "sessions": self.sessions,
            "curvePermille": [permille(share) for share in self.curve],
            "dropOffs": [d.as_json() for d in self.drop_offs],
        }


@dataclass(frozen=True)
class TopTrack:
    uri: str
    title: str
    plays: int
    listeners: int
    seconds: int
    sessions: int
    completions: int

    @property
    def completion_rate(self) -> float:
        return rate(self.completions, self.sessions)

    def as_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "title": self.title,
            "plays": self.plays,
            "listeners": self.listeners,
            "secondsHeard": self.seconds,
            "sessions": self.sessions,
            "completionPermille": permille(self.completion_rate),
        }


@dataclass(frozen=True)
class ArtistOverview:
    did: str
    period: Period
    summary: Summary
    days: tuple[DayFigures, ...]
    top_tracks: tuple[TopTrack, ...]
    mix: Mix

    def as_json(self) -> dict[str, Any]:
        return {
            "did": self.did,
            "period": self.period.as_json(),
            "summary": self.summary.as_json(),
            "days": [d.as_json() for d in self.days],
            "topTracks": [t.as_json() for t in self.top_tracks],
            "mix": self.mix.as_json(),
        }


@dataclass(frozen=True)
class ExportRow:
    """One track's figures on one day: the unit of `exportListening` and the CSV exports."""

    day: datetime.date
    track_uri: str
    title: str
    sessions: int
    listeners: int
    seconds: int
    plays: PlayCounts
    completions: int
    skips: int
    flagged: int

    # CSV header, in the order of `csv_row`.
    CSV_HEADER: ClassVar[tuple[str, ...]] = (
        "day",
        "track_uri",
        "title",
        "sessions",
        "listeners",
        "seconds_heard",
        "plays_oms",
        "plays_lastfm",
        "plays_teal",
        "completions",
        "skips",
        "flagged",
    )

    def csv_row(self) -> tuple[str | int, ...]:
        return (
            self.day.isoformat(),
            self.track_uri,
            self.title,
            self.sessions,
            self.listeners,
            self.seconds,
            self.plays.oms,
            self.plays.lastfm,
            self.plays.teal,
            self.completions,
            self.skips,
            self.flagged,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "trackUri": self.track_uri,
            "title": self.title,
            "sessions": self.sessions,
            "listeners": self.listeners,
            "secondsHeard": self.seconds,
            "plays": self.plays.as_json(),
            "completions": self.completions,
            "skips": self.skips,
            "flagged": self.flagged,
        }


@dataclass(frozen=True)
class FlaggedSession:
    """A fraud rule's decision about one session, as admins see it. `listener` is an account's
    DID or an anonymous device's pseudonym (never an address)."""

    day: datetime.date
    session_id: str
    track_uri: str
    title: str
    listener: str
    rule: str  # one of oms.analytics.fraud.RULES
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "sessionId": self.session_id,
            "trackUri": self.track_uri,
            "title": self.title,
            "listener": self.listener,
            "rule": self.rule,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Rejection:
    """Reports refused on one day for one reason (an unknown track, a time in the future...)."""

    day: datetime.date
    reason: str
    count: int

    def as_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "reason": self.reason, "count": self.count}


@dataclass(frozen=True)
class Decisions:
    """What the fraud rules decided over a period: sessions flagged (most recent first, at most
    a page of them), counts by rule, and reports refused."""

    period: Period
    by_rule: tuple[tuple[str, int], ...]
    flagged: tuple[FlaggedSession, ...]
    rejections: tuple[Rejection, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "period": self.period.as_json(),
            "byRule": [{"rule": rule, "sessions": n} for rule, n in self.by_rule],
            "flagged": [f.as_json() for f in self.flagged],
            "rejections": [r.as_json() for r in self.rejections],
        }

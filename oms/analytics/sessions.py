"""Reports into sessions. A session is one play of one track: the reports of one player session
id and track that follow each other within an hour (a longer silence begins a new session),
up to six hours past the end of the UTC day it began. Its coverage is the union of its
reports' ranges; its listener the first account among them (the page's closing beacon is sent
without one), else the device; its address, client and source those of its first report.

Every rule looks back at most an hour and forward to six hours past the day's end, so a day's
sessions are decided by the reports from an hour before it to six hours after it, whichever
day is computed first.

A session's own reports also tell two fraud signals: more seconds heard than the time since
it began allows, and ranges past the track's end.

Pure: `build_sessions` takes report rows in the order they were stored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from oms.analytics.coverage import Intervals, heard_seconds, union, unpack

__all__ = [
    "LENGTH_TOLERANCE_S",
    "SESSION_GAP_MS",
    "SESSION_TAIL_MS",
    "WALL_CLOCK_GRACE_S",
    "Session",
    "build_sessions",
    "window",
]

DAY_MS = 86_400_000
SESSION_GAP_MS = 3_600_000
SESSION_TAIL_MS = 6 * 3_600_000

# What the first report of a web session may claim before any time has passed: the player
# reports every ~10 s, a report may be retried; an app or another node reports after the fact.
WALL_CLOCK_GRACE_S = 60
_AFTER_THE_FACT = ("subsonic", "remote")
# Rounding at both ends of a range may overshoot a track's end by a second or so.
LENGTH_TOLERANCE_S = 2


@dataclass
class Session:
    session: str
    track_uri: str
    started_at: int
    ended_at: int
    listener: str
    address: str
    client: str
    source: str
    referrer: str
    rendition: str
    country: str
    length_s: int | None
    coverage: Intervals = ()
    heard: int = 0
    plays: int = 0  # the rules under which it is a play (bits of oms.analytics.rules)
    flag: str = ""
    flag_detail: str = ""
    _claims: list[tuple[int, Intervals]] = field(default_factory=list, repr=False)

    @property
    def length(self) -> int:
        """The track's length, or (when the node never knew it) the furthest second heard."""
        if self.length_s:
            return self.length_s
        return self.coverage[-1][1] if self.coverage else 0

    def set_flag(self, rule: str, detail: str) -> None:
        if not self.flag:
            self.flag, self.flag_detail = rule, detail


def _new(row: Sequence[Any]) -> Session:
    (received_at, session, track_uri, length_s, listener, _ranges, _beyond, client, source,
     referrer, rendition, country, address) = row  # fmt: skip
    return Session(
        session=str(session),
        track_uri=str(track_uri),
        started_at=int(received_at),
        ended_at=int(received_at),
        listener=str(listener),
        address=str(address),
        client=str(client),
        source=str(source),
        referrer=str(referrer),
        rendition=str(rendition),
        country=str(country),
        length_s=None if length_s is None else int(length_s),
    )


def window(day: int) -> tuple[int, int]:
    """The reports (received from, until; ms) that decide the sessions begun on `day`."""
    return day * DAY_MS - SESSION_GAP_MS, (day + 1) * DAY_MS + SESSION_TAIL_MS


def build_sessions(rows: Iterable[Sequence[Any]]) -> list[Session]:
    """Sessions from report rows (`store.WINDOW_SQL`'s columns, in stored order), with
    coverage, seconds heard and the session-level fraud flags decided."""
    current: dict[tuple[str, str], Session] = {}
    sessions: list[Session] = []
    for row in rows:
        key = (str(row[1]), str(row[2]))
        received_at = int(row[0])
        session = current.get(key)
        if session is None or received_at - session.ended_at > SESSION_GAP_MS:
            session = current[key] = _new(row)
            sessions.append(session)
        if received_at >= (session.started_at // DAY_MS + 1) * DAY_MS + SESSION_TAIL_MS:
            continue  # too long after the day the session began
        session.ended_at = received_at
        listener = str(row[4])
        if listener.startswith("did:") and not session.listener.startswith("did:"):
            session.listener = listener
        session._claims.append((received_at, unpack(row[5])))
        if int(row[6]) > LENGTH_TOLERANCE_S:
            session.set_flag("beyond_length", f"claimed {int(row[6])} s past the track's end")
        for index, name in ((8, "source"), (9, "referrer"), (10, "rendition"), (11, "country")):
            value = str(row[index])
            if value and (name == "rendition" or not getattr(session, name)):
                setattr(session, name, value)  # the latest rendition; the first of the rest
    for session in sessions:
        _cover(session)
    return sessions


def _cover(session: Session) -> None:
    """Union the claims in order, checking each against the time since the session began."""
    coverage: Intervals = ()
    grace = WALL_CLOCK_GRACE_S
    if session.client in _AFTER_THE_FACT:
        grace = max(grace, session.length_s or 0)
    for received_at, ranges in session._claims:
        coverage = union(coverage, ranges)
        heard = heard_seconds(coverage)
        elapsed = (received_at - session.started_at) // 1000
        if heard > elapsed + grace:
            session.set_flag("wall_clock", f"{heard} s heard {elapsed} s after the session began")
    session.coverage = coverage
    session.heard = heard_seconds(coverage)
    session._claims = []

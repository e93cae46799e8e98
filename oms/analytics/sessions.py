"""Reports into sessions: a session is one play of one track (the player's session id and the
track), its coverage the union of its reports' ranges, its listener, address, client and
source those of its first report. A session's own reports tell two fraud signals: more
seconds heard than the time since it began allows, and ranges past the track's end.

Pure: `build_sessions` takes report rows in the order they were stored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from oms.analytics.coverage import Intervals, heard_seconds, union, unpack
from oms.analytics.reports import MAX_SESSION_MS

__all__ = ["LENGTH_TOLERANCE_S", "WALL_CLOCK_GRACE_S", "Session", "build_sessions"]

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


def build_sessions(rows: Iterable[Sequence[Any]]) -> list[Session]:
    """Sessions from report rows (`store.WINDOW_SQL`'s columns, in stored order), with
    coverage, seconds heard and the session-level fraud flags decided."""
    found: dict[tuple[str, str], Session] = {}
    for row in rows:
        key = (str(row[1]), str(row[2]))
        session = found.get(key)
        if session is None:
            session = found[key] = _new(row)
        received_at = int(row[0])
        listener = str(row[4])
        if received_at - session.started_at > MAX_SESSION_MS:
            continue  # too late to be part of this play
        if listener != session.listener and listener.startswith("did:"):
            continue  # another account cannot add to someone's session
        session.ended_at = received_at
        session._claims.append((received_at, unpack(row[5])))
        if int(row[6]) > LENGTH_TOLERANCE_S:
            session.set_flag("beyond_length", f"claimed {int(row[6])} s past the track's end")
        for index, name in ((8, "source"), (9, "referrer"), (10, "rendition"), (11, "country")):
            value = str(row[index])
            if value and (name == "rendition" or not getattr(session, name)):
                setattr(session, name, value)  # the latest rendition; the first of the rest
    sessions = list(found.values())
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

"""The fraud rules that look across sessions: many sessions from one address in a few
minutes, one listener's sessions starting like clockwork, and one listener playing one track
past the daily cap. (A session's own signals, more heard than time allows and ranges past the
track's end, are decided in `oms.analytics.sessions`; unknown tracks and impossible times are
refused when reported.)

A flagged session is kept, with its rule and the reason, for admins to audit; it counts in no
play, no popularity figure and no payout. Every rule is deterministic over a day's sessions, so
recomputing a day decides the same."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass

from oms.analytics.rules import PLAY_OMS
from oms.analytics.sessions import Session

__all__ = ["DEFAULT_RULES", "RULES", "FraudRules", "judge"]

# Every rule a session can be set aside by, in the order they are applied.
RULES = ("beyond_length", "wall_clock", "burst", "machine_regular", "daily_cap")


@dataclass(frozen=True)
class FraudRules:
    daily_cap: int = 10  # plays of one track by one listener in a day
    burst_sessions: int = 100  # sessions from one address hash within burst_window_ms
    burst_window_ms: int = 600_000
    regular_min_sessions: int = 10  # a listener's sessions in a day before regularity counts
    regular_max_cv: float = 0.01  # spread of the gaps between starts, relative to their mean


DEFAULT_RULES = FraudRules()


def _order(session: Session) -> tuple[int, str, str]:
    return (session.started_at, session.session, session.track_uri)


def _bursts(sessions: Sequence[Session], rules: FraudRules) -> None:
    by_address: dict[str, list[Session]] = defaultdict(list)
    for session in sessions:
        if session.address:
            by_address[session.address].append(session)
    for group in by_address.values():
        window: deque[int] = deque()
        for session in sorted(group, key=_order):
            while window and session.started_at - window[0] >= rules.burst_window_ms:
                window.popleft()
            window.append(session.started_at)
            if len(window) > rules.burst_sessions:
                minutes = rules.burst_window_ms // 60_000
                session.set_flag(
                    "burst", f"{len(window)} sessions from one address within {minutes} min"
                )


def _clockwork(sessions: Sequence[Session], rules: FraudRules) -> None:
    by_listener: dict[str, list[Session]] = defaultdict(list)
    for session in sessions:
        by_listener[session.listener].append(session)
    for group in by_listener.values():
        if len(group) < rules.regular_min_sessions:
            continue
        starts = sorted(s.started_at for s in group)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        mean = statistics.fmean(gaps)
        if mean <= 0:
            continue
        spread = statistics.pstdev(gaps)
        if spread / mean < rules.regular_max_cv:
            for session in group:
                session.set_flag(
                    "machine_regular",
                    f"{len(group)} sessions started every {mean / 1000:.1f} s"
                    f" (± {spread / 1000:.2f} s)",
                )


def _daily_cap(sessions: Sequence[Session], cap: int) -> None:
    by_pair: dict[tuple[str, str], list[Session]] = defaultdict(list)
    for session in sessions:
        by_pair[(session.listener, session.track_uri)].append(session)
    for group in by_pair.values():
        counted = 0
        for session in sorted(group, key=_order):
            if session.flag or not session.plays & PLAY_OMS:
                continue
            counted += 1
            if counted > cap:
                session.set_flag("daily_cap", f"play {counted} of this track today (cap {cap})")


def judge(sessions: Sequence[Session], rules: FraudRules) -> None:
    """Flag the day's `sessions` (their plays decided) by the cross-session rules."""
    _bursts(sessions, rules)
    _clockwork(sessions, rules)
    _daily_cap(sessions, rules.daily_cap)

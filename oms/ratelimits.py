"""Rate limits on what people do often and abusers do more: sign-ups, uploads, comments,
listening reports. Each limit counts one kind of action per key (an account, a client address)
in a sliding window; the one that is full refuses with RateLimitExceeded (429) and says when to
come back (`Retry-After`).

Counts live in memory: this is a one-process node, and a restart forgetting the last hour of
counts is harmless. (Failed sign-ins are throttled by the pds room from the database instead,
because there a restart must not reset the count.)
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from oms.errors import RateLimitExceeded

__all__ = ["Limit", "RateLimits"]


@dataclass(frozen=True)
class Limit:
    """At most `count` actions of `action` per key in `window_s` seconds (0 = no limit)."""

    action: str
    count: int
    window_s: float
    what: str  # how the message names the action: "sign-ups", "uploads"


class RateLimits:
    """Sliding-window counters by (action, key); the oldest keys are forgotten first once
    `max_keys` are tracked, so a flood of addresses cannot grow memory without bound."""

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._max_keys = max_keys
        self._clock = clock

    def hit(self, limit: Limit, *keys: str) -> None:
        """Count one `limit.action` for each of `keys` (e.g. the account and the address), or
        raise RateLimitExceeded without counting anything when one of them is at its limit."""
        if limit.count <= 0:
            return
        now = self._clock()
        windows = [self._window(limit, key, now) for key in keys]
        for key, window in zip(keys, windows, strict=True):
            if len(window) >= limit.count:
                wait = max(1, math.ceil(window[0] + limit.window_s - now))
                per = _per(limit.window_s)
                who = "this account" if key.startswith("did:") else "this address"
                raise RateLimitExceeded(
                    f"too many {limit.what} from {who} (at most {limit.count} {per}); "
                    f"try again in {wait} seconds",
                    retry_after=wait,
                )
        for window in windows:
            window.append(now)

    def _window(self, limit: Limit, key: str, now: float) -> deque[float]:
        slot = (limit.action, key)
        window = self._hits.get(slot)
        if window is None:
            if len(self._hits) >= self._max_keys:
                self._forget_idle(now)
            window = self._hits[slot] = deque()
        while window and window[0] <= now - limit.window_s:
            window.popleft()
        return window

    def _forget_idle(self, now: float) -> None:
        # Drop empty windows; if every window is busy, drop the least recently created half.
        for slot in [slot for slot, window in self._hits.items() if not window]:
            del self._hits[slot]
        if len(self._hits) >= self._max_keys:
            for slot in list(self._hits)[: len(self._hits) // 2]:
                del self._hits[slot]


def _per(window_s: float) -> str:
    if window_s == 3600:
        return "an hour"
    if window_s == 60:
        return "a minute"
    if window_s == 86400:
        return "a day"
    return f"per {window_s:g} seconds"

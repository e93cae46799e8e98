"""TIDs (timestamp identifiers): record keys and repo revisions that sort by creation time.

A TID is 64 bits (top bit 0, a 53-bit microsecond Unix timestamp, a 10-bit clock id) written as
13 characters of base32-sortable; atproto.com/specs/tid.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from oms.errors import InvalidRequest
from oms.pds.syntax import is_valid_tid

__all__ = [
    "TidClock",
    "next_tid",
    "tid_from_timestamp_us",
    "tid_to_clock_id",
    "tid_to_timestamp_us",
]

_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_TIMESTAMP_BITS = 53
_CLOCK_ID_BITS = 10
_MAX_TIMESTAMP = (1 << _TIMESTAMP_BITS) - 1
_MAX_CLOCK_ID = (1 << _CLOCK_ID_BITS) - 1


def _wall_clock_us() -> int:
    return time.time_ns() // 1000


def tid_from_timestamp_us(timestamp_us: int, clock_id: int = 0) -> str:
    """The TID for a microsecond Unix timestamp and clock id (both range-checked)."""
    if not 0 <= timestamp_us <= _MAX_TIMESTAMP:
        raise ValueError(f"TID timestamp {timestamp_us} does not fit in {_TIMESTAMP_BITS} bits")
    if not 0 <= clock_id <= _MAX_CLOCK_ID:
        raise ValueError(f"TID clock id {clock_id} does not fit in {_CLOCK_ID_BITS} bits")
    value = (timestamp_us << _CLOCK_ID_BITS) | clock_id
    chars = []
    for _ in range(13):
        chars.append(_ALPHABET[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def _tid_value(tid: str) -> int:
    if not is_valid_tid(tid):
        raise InvalidRequest(f"invalid TID {tid[:32]!r}")
    value = 0
    for c in tid:
        value = (value << 5) | _VALUE[c]
    return value


def tid_to_timestamp_us(tid: str) -> int:
    """The microsecond Unix timestamp a TID carries; raises InvalidRequest if it is not a TID."""
    return (_tid_value(tid) >> _CLOCK_ID_BITS) & _MAX_TIMESTAMP


def tid_to_clock_id(tid: str) -> int:
    return _tid_value(tid) & _MAX_CLOCK_ID


class TidClock:
    """Issues TIDs that strictly increase, whatever the wall clock does.

    If the clock stalls (two calls in one microsecond) or steps backwards (NTP), the timestamp is
    bumped one microsecond past the last one issued, so TIDs stay unique and ordered; repo
    revisions rely on that. Safe to share between threads.
    """

    def __init__(
        self, clock_id: int | None = None, *, now_us: Callable[[], int] = _wall_clock_us
    ) -> None:
        if clock_id is None:
            # Random per process, as the spec suggests, so two writers rarely collide.
            clock_id = secrets.randbelow(_MAX_CLOCK_ID + 1)
        if not 0 <= clock_id <= _MAX_CLOCK_ID:
            raise ValueError(f"TID clock id {clock_id} does not fit in {_CLOCK_ID_BITS} bits")
        self.clock_id = clock_id
        self._now_us = now_us
        self._last_us = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            timestamp = max(self._now_us(), self._last_us + 1)
            self._last_us = timestamp
        return tid_from_timestamp_us(timestamp, self.clock_id)

    def advance_past(self, tid: str) -> None:
        """Never issue a TID at or before `tid`'s timestamp (e.g. the last revision on disk, so a
        restart with a clock that runs behind cannot go back in time)."""
        timestamp = tid_to_timestamp_us(tid)
        with self._lock:
            self._last_us = max(self._last_us, timestamp)


_default_clock = TidClock()


def next_tid() -> str:
    """The next TID from the process-wide clock."""
    return _default_clock.next()

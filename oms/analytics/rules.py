"""When a session counts as a play, a completion or a skip, and how a track's listeners fall
away: pure functions of the seconds heard and the track's length (whole seconds).

The named play rules:

- **OMS** (the default everywhere): at least 30 s heard, or, for a track shorter than a
  minute, at least half of it.
- **Last.fm**: a track longer than 30 s, heard for half its length or 4 minutes, whichever
  comes first.
- **teal.fm**: a track under 2 minutes heard whole (to within a second), a longer one for half
  its length up to 4 minutes.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "PLAY_LASTFM",
    "PLAY_OMS",
    "PLAY_TEAL",
    "completed",
    "drop_offs",
    "plays",
    "skipped",
]

PLAY_OMS = 1
PLAY_LASTFM = 2
PLAY_TEAL = 4

_SKIP_S = 30
_COMPLETE_SHARE = 0.9
# Drop-off points: the loss over this many seconds; points this close count as one.
_DROP_WINDOW_S = 5
_MIN_DROP = 0.05


def plays(heard: int, length: int) -> int:
    """The rules under which `heard` seconds of a `length`-second track are a play (bits)."""
    found = 0
    if heard >= 30 or (length < 60 and heard * 2 >= length and heard > 0):
        found |= PLAY_OMS
    if length > 30 and heard * 2 >= min(length, 480):
        found |= PLAY_LASTFM
    if (length < 120 and heard >= max(1, length - 1)) or (
        length >= 120 and heard * 2 >= min(length, 480)
    ):
        found |= PLAY_TEAL
    return found


def completed(heard: int, length: int) -> bool:
    """At least 90% of the track heard (seeking to the end does not complete it)."""
    return length > 0 and heard >= _COMPLETE_SHARE * length


def skipped(heard: int, length: int) -> bool:
    """Left within 30 s: under 30 s heard of a track longer than that."""
    return length > _SKIP_S and heard < _SKIP_S


def drop_offs(curve: Sequence[float], *, most: int = 3) -> list[tuple[int, float]]:
    """The steepest points where a retention curve falls: (second, share of sessions lost over
    the next few seconds), steepest first, each at least 5% and apart from the others, the
    track's own end left out (everyone stops there)."""
    length = len(curve)
    end = length - _DROP_WINDOW_S
    losses = [(curve[s] - curve[s + _DROP_WINDOW_S], s) for s in range(max(0, end))]
    found: list[tuple[int, float]] = []
    for loss, second in sorted(losses, key=lambda pair: (-pair[0], pair[1])):
        if loss < _MIN_DROP or len(found) >= most:
            break
        if all(abs(second - other) > _DROP_WINDOW_S for other, _ in found):
            found.append((second, round(loss, 6)))
    return found

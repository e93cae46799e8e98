"""Which seconds of a track a session heard: sets of whole seconds kept as sorted, disjoint
[start, end) intervals, and their compact form in the database (uint32 little-endian pairs).

A reported range in milliseconds covers the seconds between its rounded ends, so ranges that
split one stretch of listening at any instant join up again, and a stray fraction of a second
counts for nothing."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence

__all__ = [
    "Intervals",
    "clip",
    "heard_seconds",
    "pack",
    "seconds_of_ms",
    "union",
    "unpack",
]

Intervals = tuple[tuple[int, int], ...]

_BIG_ENDIAN = sys.byteorder == "big"


def seconds_of_ms(ranges: Iterable[tuple[int, int]]) -> Intervals:
    """Millisecond ranges (any order, overlapping, reversed or empty) as merged seconds."""
    return union((round(start / 1000), round(end / 1000)) for start, end in ranges)


def union(*groups: Iterable[tuple[int, int]]) -> Intervals:
    """The merged union of intervals; empty or reversed ones are dropped, touching ones join."""
    spans = sorted((start, end) for group in groups for start, end in group if end > start)
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def clip(intervals: Intervals, length: int) -> tuple[Intervals, int]:
    """`intervals` cut to [0, length), and how many seconds lay beyond `length`."""
    kept: list[tuple[int, int]] = []
    beyond = 0
    for start, end in intervals:
        if end > length:
            beyond += end - max(start, length)
            end = length
        if end > start:
            kept.append((max(0, start), end))
    return tuple(kept), beyond


def heard_seconds(intervals: Sequence[tuple[int, int]]) -> int:
    return sum(end - start for start, end in intervals)


def pack(intervals: Sequence[tuple[int, int]]) -> bytes:
    flat = array("I", [value for span in intervals for value in span])
    if _BIG_ENDIAN:  # pragma: no cover - the stored form is little-endian everywhere
        flat.byteswap()
    return flat.tobytes()


def unpack(blob: bytes) -> Intervals:
    flat = array("I")
    flat.frombytes(blob)
    if _BIG_ENDIAN:  # pragma: no cover
        flat.byteswap()
    return tuple(zip(flat[::2], flat[1::2], strict=True))

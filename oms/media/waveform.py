"""The waveform a player draws: min/max peaks per bucket (10 a second), from mono s16 PCM.

Serialised as compact JSON: `{"version":1,"rate":10,"durationMs":…,"peaks":[[min,max],…]}`,
values scaled from the s16 range to -127..127.
"""

from __future__ import annotations

import json
import os
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Waveform", "WaveformBuilder", "write_waveform"]

_SCALE = 127 / 32768


@dataclass(frozen=True)
class Waveform:
    rate: int  # buckets per second
    duration_ms: int  # of the PCM that went in
    peaks: tuple[tuple[int, int], ...]  # (min, max) per bucket, each in -127..127

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "rate": self.rate,
                "durationMs": self.duration_ms,
                "peaks": [list(pair) for pair in self.peaks],
            },
            separators=(",", ":"),
        )


def _scaled(sample: int) -> int:
    return max(-127, min(127, round(sample * _SCALE)))


class WaveformBuilder:
    """Takes mono s16le PCM in chunks of any size (as ffmpeg writes it) and keeps only peaks."""

    def __init__(self, sample_rate: int, rate: int = 10) -> None:
        if sample_rate % rate:
            raise ValueError(f"sample rate {sample_rate} is not a multiple of {rate} buckets/s")
        self.sample_rate = sample_rate
        self.rate = rate
        self._fed = 0  # bytes
        self._bucket = sample_rate // rate
        self._pending = bytearray()
        self._peaks: list[tuple[int, int]] = []

    @property
    def samples(self) -> int:
        """Samples fed so far."""
        return self._fed // 2

    def feed(self, chunk: bytes) -> None:
        self._fed += len(chunk)
        self._pending += chunk
        whole = len(self._pending) // (2 * self._bucket) * (2 * self._bucket)
        if whole:
            self._take(bytes(self._pending[:whole]))
            del self._pending[:whole]

    def _take(self, data: bytes) -> None:
        samples = array("h")
        samples.frombytes(data)
        if sys.byteorder == "big":
            samples.byteswap()
        for start in range(0, len(samples), self._bucket):
            bucket = samples[start : start + self._bucket]
            self._peaks.append((_scaled(min(bucket)), _scaled(max(bucket))))

    def finish(self) -> Waveform:
        """The waveform of everything fed; a last partial bucket counts as a bucket."""
        rest = len(self._pending) // 2 * 2
        if rest:
            self._take(bytes(self._pending[:rest]))
        self._pending.clear()
        duration_ms = self.samples * 1000 // self.sample_rate
        return Waveform(self.rate, duration_ms, tuple(self._peaks))


def write_waveform(waveform: Waveform, path: Path) -> Path:
    """Write the JSON atomically (temp file + rename in the same directory)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(waveform.to_json())
    os.replace(temporary, path)
    return path

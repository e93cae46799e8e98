"""Loudness (EBU R 128) from ffmpeg's `ebur128` summary, and the playback gain it implies."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from oms.media.failures import MediaFailure

__all__ = ["Loudness", "gain_to_target", "parse_ebur128_summary"]

_NUMBER = r"(-?(?:\d+(?:\.\d+)?|inf))"
_INTEGRATED = re.compile(r"Integrated loudness:\s*\n\s*I:\s*" + _NUMBER + r" LUFS")
_RANGE = re.compile(r"Loudness range:\s*\n\s*LRA:\s*" + _NUMBER + r" LU")
_TRUE_PEAK = re.compile(r"True peak:\s*\n\s*Peak:\s*" + _NUMBER + r" dBFS")
# ebur128 gates blocks below -70 LUFS: a summary at the floor means digital silence.
_SILENCE_LUFS = -70.0


@dataclass(frozen=True)
class Loudness:
    """Integrated loudness (LUFS), loudness range (LU) and true peak (dBTP) of a whole track."""

    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float  # -inf for digital silence


def _number(match: re.Match[str] | None, what: str) -> float:
    if match is None:
        raise MediaFailure(f"ffmpeg's ebur128 summary has no {what}")
    return float(match[1])


def parse_ebur128_summary(stderr: str) -> Loudness:
    """Read the last `Summary:` that `ebur128=peak=true` logged (at level info) on stderr."""
    start = stderr.rfind("Summary:")
    if start < 0:
        raise MediaFailure("ffmpeg printed no ebur128 loudness summary")
    summary = stderr[start:]
    return Loudness(
        integrated_lufs=_number(_INTEGRATED.search(summary), "integrated loudness"),
        loudness_range_lu=_number(_RANGE.search(summary), "loudness range"),
        true_peak_dbtp=_number(_TRUE_PEAK.search(summary), "true peak"),
    )


def gain_to_target(
    integrated_lufs: float,
    true_peak_dbtp: float,
    target: float = -14.0,
    peak_ceiling: float = -1.0,
) -> float:
    """dB to add at playback so the track plays at `target` LUFS.

    Attenuation is never limited; a boost is cut so the true peak stays at or below
    `peak_ceiling` dBTP (and is 0 when the peak is already above it). Silence gets 0.
    """
    if integrated_lufs <= _SILENCE_LUFS or math.isinf(integrated_lufs):
        return 0.0
    gain = target - integrated_lufs
    if gain > 0 and not math.isinf(true_peak_dbtp):
        gain = max(0.0, min(gain, peak_ceiling - true_peak_dbtp))
    return round(gain, 2)

"""EBU R 128 summary parsing and the playback gain it implies."""

from __future__ import annotations

import math

import pytest

from oms.media.failures import MediaFailure
from oms.media.loudness import Loudness, gain_to_target, parse_ebur128_summary

# As ffmpeg 7-9 print it with `-loglevel level+info` (continuation lines carry no prefix).
SUMMARY = """\
[Parsed_ebur128_0 @ 0x7f4114001c00] [info] Summary:

  Integrated loudness:
    I:         -27.3 LUFS
    Threshold: -37.4 LUFS

  Loudness range:
    LRA:         4.2 LU
    Threshold: -47.0 LUFS
    LRA low:   -29.0 LUFS
    LRA high:  -25.0 LUFS

  True peak:
    Peak:      -19.5 dBFS
"""


def test_parses_the_summary() -> None:
    assert parse_ebur128_summary("noise before\n" + SUMMARY) == Loudness(-27.3, 4.2, -19.5)


def test_silence_parses_with_an_infinite_peak() -> None:
    silent = SUMMARY.replace("-27.3", "-70.0").replace("-19.5", "-inf")
    loudness = parse_ebur128_summary(silent)
    assert loudness.integrated_lufs == -70.0
    assert math.isinf(loudness.true_peak_dbtp)
    assert gain_to_target(loudness.integrated_lufs, loudness.true_peak_dbtp) == 0.0


def test_a_missing_summary_is_a_media_failure() -> None:
    with pytest.raises(MediaFailure, match="no ebur128 loudness summary"):
        parse_ebur128_summary("[info] size=N/A time=00:00:01.00\n")
    with pytest.raises(MediaFailure, match="no true peak"):
        parse_ebur128_summary(SUMMARY.split("True peak")[0])


@pytest.mark.parametrize(
    ("integrated", "peak", "gain"),
    [
        (-9.0, -0.1, -5.0),  # loud master: attenuation is never limited
        (-20.0, -10.0, 6.0),  # quiet with headroom: the full boost
        (-20.0, -4.0, 3.0),  # boost cut so the peak lands at -1 dBTP
        (-20.0, 0.5, 0.0),  # already clipping: no boost at all
        (-14.0, -1.0, 0.0),
    ],
)
def test_gain_to_target(integrated: float, peak: float, gain: float) -> None:
    assert gain_to_target(integrated, peak) == pytest.approx(gain)


def test_gain_to_another_target() -> None:
    assert gain_to_target(-20.0, -12.0, target=-16.0) == pytest.approx(4.0)

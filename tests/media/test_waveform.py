"""Waveform peaks from PCM arriving in arbitrary chunks."""

from __future__ import annotations

import json
import struct

from oms.media.waveform import WaveformBuilder, write_waveform


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def test_min_and_max_per_bucket_scaled_to_127() -> None:
    builder = WaveformBuilder(sample_rate=40, rate=10)  # 4 samples per bucket
    data = pcm(0, 32767, -32768, 5) + pcm(100, 200, -300, 0) + pcm(16384, 16384)
    for i in range(0, len(data), 3):  # odd chunk sizes split samples across chunks
        builder.feed(data[i : i + 3])
    waveform = builder.finish()
    assert waveform.peaks == ((-127, 127), (-1, 1), (64, 64))
    assert waveform.duration_ms == 250  # 10 samples at 40 Hz
    assert builder.samples == 10


def test_json_form(tmp_path: object) -> None:
    builder = WaveformBuilder(sample_rate=20, rate=10)
    builder.feed(pcm(-16384, 16384, 0, 0))
    path = write_waveform(builder.finish(), tmp_path / "waveform.json")  # type: ignore[operator]
    assert json.loads(path.read_text()) == {
        "version": 1,
        "rate": 10,
        "durationMs": 200,
        "peaks": [[-64, 64], [0, 0]],
    }
    assert " " not in path.read_text()

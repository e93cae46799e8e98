"""Master playlist figures from bytes on disk: RFC 8216 peak and average bit rates."""

from __future__ import annotations

import math
from pathlib import Path

import m3u8

from oms.media.playlist import measure_rendition, write_master


def fake_rendition(directory: Path, segments: list[tuple[float, int]], init: int = 1000) -> None:
    directory.mkdir()
    (directory / "init.mp4").write_bytes(b"\0" * init)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:6", '#EXT-X-MAP:URI="init.mp4"']
    for number, (duration, size) in enumerate(segments, 1):
        name = f"seg-{number:05}.m4s"
        (directory / name).write_bytes(b"\0" * size)
        lines += [f"#EXTINF:{duration},", name]
    (directory / "index.m3u8").write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))


def test_peak_is_the_busiest_run_of_segments_not_a_tiny_tail(tmp_path: Path) -> None:
    # The 0.02 s tail with the init section alone is 560 kbit/s: it only counts with a neighbour.
    fake_rendition(tmp_path / "aac128", [(6.0, 96_000), (6.0, 120_000), (0.02, 400)])
    rendition = measure_rendition(tmp_path / "aac128", codec="aac", nominal_bitrate=128_000)
    assert rendition.bandwidth == math.ceil((1000 + 120_000) * 8 / 6.0)
    assert rendition.average_bandwidth == math.ceil(217_400 * 8 / 12.02)
    assert rendition.segment_count == 3
    assert rendition.duration_ms == 12_020
    assert rendition.total_bytes == 217_400


def test_a_track_shorter_than_half_a_target_uses_its_average(tmp_path: Path) -> None:
    fake_rendition(tmp_path / "aac64", [(2.0, 16_000)])
    rendition = measure_rendition(tmp_path / "aac64", codec="aac", nominal_bitrate=64_000)
    assert rendition.bandwidth == rendition.average_bandwidth == 68_000


def test_master_lists_128k_first_and_lossless_last(tmp_path: Path) -> None:
    specs = [("aac64", 48_000), ("flac", 800_000), ("aac256", 192_000), ("aac128", 96_000)]
    renditions = []
    for name, size in specs:
        fake_rendition(tmp_path / name, [(6.0, size)])
        codec = "flac" if name == "flac" else "aac"
        nominal = None if codec == "flac" else int(name[3:]) * 1000
        renditions.append(measure_rendition(tmp_path / name, codec=codec, nominal_bitrate=nominal))
    master = m3u8.load(str(write_master(tmp_path, renditions)))
    assert [p.uri for p in master.playlists] == [
        "aac128/index.m3u8",
        "aac64/index.m3u8",
        "aac256/index.m3u8",
        "flac/index.m3u8",
    ]
    assert master.playlists[0].stream_info.bandwidth == math.ceil((1000 + 96_000) * 8 / 6)
    assert master.playlists[3].stream_info.codecs == "fLaC"

"""The HLS master playlist: each rendition measured from the bytes on disk, then listed.

BANDWIDTH is the peak segment bit rate as RFC 8216 §4.3.4.2 defines it (the highest bit rate
of any run of consecutive segments lasting 0.5 to 1.5 target durations), with the init
section counted in every run: a client that switches to a variant fetches it with the
segment. AVERAGE-BANDWIDTH is all bytes (init included) over the whole duration.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Rendition", "listing_order", "measure_rendition", "write_master"]

_CODECS = {"aac": "mp4a.40.2", "flac": "fLaC"}
# Clients start with the first variant listed, before they have measured anything.
_START_BITRATE = 128_000


@dataclass(frozen=True)
class Rendition:
    """One variant stream of the ladder, as measured after ffmpeg wrote it."""

    name: str  # its directory: "aac64", "aac128", "aac256", "flac"
    codec: str  # "aac" or "flac"
    nominal_bitrate: int | None  # what the encoder was asked for (bit/s); None for FLAC
    bandwidth: int  # peak segment bit rate, bit/s
    average_bandwidth: int  # bit/s
    segment_count: int
    duration_ms: int  # sum of the segments' EXTINF
    total_bytes: int  # init section + segments

    @property
    def codecs(self) -> str:
        """The RFC 6381 codec string for CODECS=."""
        return _CODECS[self.codec]

    @property
    def playlist(self) -> str:
        """The media playlist, relative to the master."""
        return f"{self.name}/index.m3u8"


@dataclass(frozen=True)
class _Segment:
    duration: float
    size: int


def _read_media_playlist(directory: Path) -> tuple[float, int, list[_Segment]]:
    """(target duration, init section bytes, segments) of `directory/index.m3u8`."""
    target = 0.0
    init_size = 0
    segments: list[_Segment] = []
    duration: float | None = None
    for line in (directory / "index.m3u8").read_text().splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MAP:"):
            uri = line.split('URI="', 1)[1].split('"', 1)[0]
            init_size = (directory / uri).stat().st_size
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line and not line.startswith("#"):
            if duration is None:
                raise ValueError(f"{directory.name}/index.m3u8: segment {line} has no EXTINF")
            segments.append(_Segment(duration, (directory / line).stat().st_size))
            duration = None
    if not segments:
        raise ValueError(f"{directory.name}/index.m3u8 lists no segments")
    return target, init_size, segments


def _peak_bitrate(target: float, init_size: int, segments: list[_Segment]) -> float:
    peak = 0.0
    for first in range(len(segments)):
        size, duration = init_size, 0.0
        for segment in segments[first:]:
            size += segment.size
            duration += segment.duration
            if duration > 1.5 * target:
                break
            if duration >= 0.5 * target:
                peak = max(peak, size * 8 / duration)
    return peak


def measure_rendition(directory: Path, *, codec: str, nominal_bitrate: int | None) -> Rendition:
    """Measure the rendition ffmpeg wrote into `directory` (index.m3u8, init, segments).

    Blocking (reads the playlist, stats every file): run it in a thread from async code.
    """
    target, init_size, segments = _read_media_playlist(directory)
    total_bytes = init_size + sum(segment.size for segment in segments)
    total_duration = sum(segment.duration for segment in segments)
    average = total_bytes * 8 / total_duration
    # A track shorter than half a target duration has no qualifying run: its average is its peak.
    peak = max(_peak_bitrate(target, init_size, segments), average)
    return Rendition(
        name=directory.name,
        codec=codec,
        nominal_bitrate=nominal_bitrate,
        bandwidth=math.ceil(peak),
        average_bandwidth=math.ceil(average),
        segment_count=len(segments),
        duration_ms=round(total_duration * 1000),
        total_bytes=total_bytes,
    )


def listing_order(renditions: list[Rendition]) -> list[Rendition]:
    """The AAC rendition nearest 128 kbit/s first (a safe start on any connection), the other
    AAC ones by bit rate, lossless last: players try variants in order before measuring."""
    aac = sorted((r for r in renditions if r.codec == "aac"), key=lambda r: r.bandwidth)
    others = [r for r in renditions if r.codec != "aac"]
    if not aac:
        return others
    start = min(aac, key=lambda r: abs((r.nominal_bitrate or r.bandwidth) - _START_BITRATE))
    return [start, *(r for r in aac if r is not start), *others]


def write_master(out_dir: Path, renditions: list[Rendition]) -> Path:
    """Write `out_dir/master.m3u8` listing the renditions (atomically); returns its path."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in listing_order(renditions):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={rendition.bandwidth},"
            f"AVERAGE-BANDWIDTH={rendition.average_bandwidth},"
            f'CODECS="{rendition.codecs}"'
        )
        lines.append(rendition.playlist)
    path = out_dir / "master.m3u8"
    temporary = out_dir / ".master.m3u8.tmp"
    temporary.write_text("\n".join(lines) + "\n")
    os.replace(temporary, path)
    return path

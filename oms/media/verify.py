"""A whole-file decode check, for callers that must refuse a cut file before publishing it
(the probe only decodes the first seconds; the ladder pass finds truncation too late for that).
"""

from __future__ import annotations

from pathlib import Path

import ffmpeg as ffmpeg_python

from oms.media.failures import InvalidMedia
from oms.media.probe import DEMUXERS, AudioProbe, ProbeLimits, format_duration
from oms.media.run import FFmpegRun, RunLimits, run_ffmpeg

__all__ = ["truncation", "verify_decodes"]

# Containers whose declared duration is an estimate from the bit rate and size: a shorter
# decode only counts as truncation when ffmpeg also logged decode errors.
_ESTIMATED_DURATION = frozenset({"mp3", "aac", "ac3", "eac3", "dts", "mpeg", "mpegts"})


async def verify_decodes(
    ffmpeg: Path, source: Path, *, probe: AudioProbe, limits: ProbeLimits
) -> int:
    """Decode all of `source`'s audio and return how many ms came out; InvalidMedia when the
    file stops decoding early (`truncated FLAC: decoding stopped at 0:02 of 0:05`)."""
    decoded_us = [0]

    def progress(line: str) -> None:
        if line.startswith("out_time_us=") and line[12:].isdigit():
            decoded_us[0] = int(line[12:])

    source_input = ffmpeg_python.input(
        f"file:{source}",
        f=probe.container.split(",")[0],
        format_whitelist=DEMUXERS,
        protocol_whitelist="file",
    )
    args = source_input.output("-", map="0:a:0", f="null").get_args()
    # Decoding runs at hundreds of times real time; the margin covers a busy machine.
    time_limit = max(limits.time_limit_s, probe.duration_ms / 1000 / 20)
    run = await run_ffmpeg(
        ffmpeg,
        ["-hide_banner", "-nostdin", "-loglevel", "level+error", "-progress", "pipe:2", *args],
        limits=RunLimits(time_limit, limits.memory_limit_mb),
        on_stderr_line=progress,
    )
    if run.returncode != 0:
        raise InvalidMedia(f"cannot decode the audio: {run.reason()}")
    decoded_ms = decoded_us[0] // 1000
    if failure := truncation(probe, decoded_ms, run):
        raise failure
    return decoded_ms


def truncation(probe: AudioProbe, decoded_ms: int, run: FFmpegRun) -> InvalidMedia | None:
    """Why a decode that produced `decoded_ms` of audio means a cut file, or None when it
    does not (a shortfall within 1%, or an estimated duration and a clean decode)."""
    missing = probe.duration_ms - decoded_ms
    if missing <= max(500, probe.duration_ms // 100):
        return None
    if probe.container in _ESTIMATED_DURATION and not run.errors():
        return None
    return InvalidMedia(
        f"truncated {probe.codec.upper()}: decoding stopped at {format_duration(decoded_ms)} "
        f"of {format_duration(probe.duration_ms)}"
    )

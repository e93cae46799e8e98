"""What an uploaded file is (codec, duration, rate, channels, lossless?), or why it is no audio.

No ffprobe is needed: ffmpeg opens the file, prints its stream dump, and decodes its first
seconds; the dump is parsed here. Truncation deeper in the file is caught by the ladder pass.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg as ffmpeg_python

from oms.media.failures import InvalidMedia
from oms.media.run import FFmpegRun, RunLimits, run_ffmpeg

__all__ = ["DEMUXERS", "AudioProbe", "ProbeLimits", "format_duration", "probe"]

_LOSSLESS_CODECS = frozenset(
    {"flac", "alac", "wavpack", "ape", "tta", "tak", "truehd", "mlp", "shorten", "mp4als"}
)
_COMPANDED_PCM = frozenset({"pcm_alaw", "pcm_mulaw", "pcm_vidc"})
# Demuxers ffmpeg may use on an upload (its `-format_whitelist`). Playlist and image demuxers
# (hls, concat, image2, ...) are left out: an "audio file" that is really a playlist could
# make ffmpeg read other local files into its output.
DEMUXERS = (
    "aac,ac3,aiff,amr,ape,asf,au,avi,caf,dsf,dts,eac3,flac,flv,matroska,mov,mp3,mpc,mpc8,"
    "mpeg,mpegts,ogg,shn,tak,truehd,tta,w64,wav,wv"
)
_LAYOUT_CHANNELS = {
    "mono": 1,
    "stereo": 2,
    "downmix": 2,
    "quad": 4,
    "hexagonal": 6,
    "octagonal": 8,
    "hexadecagonal": 16,
}
_SAMPLE_FORMAT_BITS = {"u8": 8, "s16": 16, "s32": 32, "s64": 64, "flt": 32, "dbl": 64}

_MAX_DUMP_LINES = 2000  # a dump with many tags or chapters is long; the tail is not enough
_DURATION = re.compile(r"^\s*Duration: (?:(\d+):(\d\d):(\d\d(?:\.\d+)?)|N/A)")
_CONTAINER_BITRATE = re.compile(r"bitrate: (\d+) kb/s")
_INPUT = re.compile(r"^Input #0, (.+), from ")
_STREAM = re.compile(r"^\s*Stream #0:\d+(?:\[\w+\])?(?:\(\w+\))?: (Audio|Video): (.*)$")
_RATE = re.compile(r", (\d+) Hz")
_STREAM_BITRATE = re.compile(r", (\d+) kb/s")
_BITS = re.compile(r"\((\d+) bit\)")
_CHANNELS_N = re.compile(r"^(\d+) channels")
_LAYOUT_N_M = re.compile(r"^(\d+)\.(\d+)")


@dataclass(frozen=True)
class ProbeLimits:
    """What the node accepts; anything outside is InvalidMedia."""

    min_duration_ms: int = 1_000
    max_duration_ms: int = 3 * 3600 * 1000
    max_channels: int = 8
    min_sample_rate: int = 8_000
    max_sample_rate: int = 192_000
    time_limit_s: float = 60.0
    memory_limit_mb: int = 1024


@dataclass(frozen=True)
class AudioProbe:
    """The first audio stream of a file (attached cover pictures and video are ignored)."""

    codec: str  # ffmpeg's decoder name: "flac", "mp3", "aac", "pcm_s16le", ...
    container: str  # ffmpeg's demuxer name: "flac", "mp3", "mov,mp4,m4a,3gp,3g2,mj2", ...
    duration_ms: int
    sample_rate: int
    channels: int
    bits_per_sample: int | None  # None for lossy codecs
    bitrate: int | None  # bits per second, as the container or stream declares it
    lossless: bool
    has_cover: bool


def format_duration(ms: int) -> str:
    """`h:mm:ss` (or `m:ss`) for messages: 10:00:03, 3:00, 0:01."""
    seconds = ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def _channels(layout: str) -> int | None:
    if layout in _LAYOUT_CHANNELS:
        return _LAYOUT_CHANNELS[layout]
    if match := _CHANNELS_N.match(layout):
        return int(match[1])
    if match := _LAYOUT_N_M.match(layout):
        return int(match[1]) + int(match[2])
    return None


def _is_lossless(codec: str) -> bool:
    return codec in _LOSSLESS_CODECS or (codec.startswith("pcm_") and codec not in _COMPANDED_PCM)


def _audio_stream(description: str, container: str, dump: _Dump) -> AudioProbe:
    codec_match = re.match(r"(\w+)", description)
    rate = _RATE.search(description)
    parts = [part.strip() for part in description.split(",")]
    channels = _channels(parts[2]) if len(parts) > 2 else None
    if codec_match is None or rate is None or channels is None:
        raise InvalidMedia(f"not an audio file: unreadable audio stream ({description[:80]})")
    codec = codec_match[1]
    lossless = _is_lossless(codec)
    bits: int | None = None
    if lossless:
        if explicit := _BITS.search(description):
            bits = int(explicit[1])
        else:
            sample_format = parts[3].rstrip("p") if len(parts) > 3 else ""
            bits = _SAMPLE_FORMAT_BITS.get(sample_format)
    stream_bitrate = _STREAM_BITRATE.search(description)
    bitrate = int(stream_bitrate[1]) * 1000 if stream_bitrate else dump.bitrate
    assert dump.duration_ms is not None
    return AudioProbe(
        codec=codec,
        container=container,
        duration_ms=dump.duration_ms,
        sample_rate=int(rate[1]),
        channels=channels,
        bits_per_sample=bits,
        bitrate=bitrate,
        lossless=lossless,
        has_cover=dump.has_cover,
    )


@dataclass
class _Dump:
    container: str | None = None
    duration_ms: int | None = None
    bitrate: int | None = None
    audio: str | None = None
    has_cover: bool = False


def _parse_dump(lines: list[str]) -> _Dump:
    dump = _Dump()
    for raw in lines:
        line = raw.split("] ", 1)[1] if raw.startswith("[info] ") else raw
        if match := _INPUT.match(line):
            dump.container = match[1]
        elif match := _DURATION.match(line):
            if match[1] is not None:
                h, m, s = int(match[1]), int(match[2]), float(match[3])
                dump.duration_ms = round((h * 3600 + m * 60 + s) * 1000)
            if bitrate := _CONTAINER_BITRATE.search(line):
                dump.bitrate = int(bitrate[1]) * 1000
        elif match := _STREAM.match(line):
            kind, description = match[1], match[2]
            if kind == "Audio" and dump.audio is None:
                dump.audio = description
            elif kind == "Video" and "(attached pic)" in description:
                dump.has_cover = True
    return dump


def _check(found: AudioProbe, limits: ProbeLimits) -> None:
    duration = format_duration(found.duration_ms)
    if found.duration_ms < limits.min_duration_ms:
        raise InvalidMedia(
            f"too short: {found.duration_ms / 1000:.2f} s of audio, the minimum is "
            f"{limits.min_duration_ms / 1000:g} s"
        )
    if found.duration_ms > limits.max_duration_ms:
        raise InvalidMedia(
            f"duration {duration} is over the {format_duration(limits.max_duration_ms)} limit"
        )
    if found.channels > limits.max_channels:
        raise InvalidMedia(f"{found.channels} audio channels; at most {limits.max_channels}")
    if not limits.min_sample_rate <= found.sample_rate <= limits.max_sample_rate:
        raise InvalidMedia(
            f"sample rate {found.sample_rate} Hz is outside "
            f"{limits.min_sample_rate} to {limits.max_sample_rate} Hz"
        )


async def _decoded_duration_ms(ffmpeg: Path, source: Path, limits: ProbeLimits) -> int:
    """Decode everything (containers that declare no duration); ms of audio decoded."""
    out_time_us = [0]

    def progress(line: str) -> None:
        if line.startswith("out_time_us=") and line[12:].isdigit():
            out_time_us[0] = int(line[12:])

    args = _input(source).output("-", map="0:a:0", f="null").get_args()
    run = await run_ffmpeg(
        ffmpeg,
        ["-hide_banner", "-nostdin", "-loglevel", "level+error", "-progress", "pipe:2", *args],
        limits=RunLimits(limits.time_limit_s, limits.memory_limit_mb),
        on_stderr_line=progress,
    )
    if run.returncode != 0:
        raise InvalidMedia(f"cannot decode the audio: {run.reason()}")
    return out_time_us[0] // 1000


def _input(source: Path) -> Any:
    return ffmpeg_python.input(
        f"file:{source}", format_whitelist=DEMUXERS, protocol_whitelist="file"
    )


def _open_failure(run: FFmpegRun) -> InvalidMedia:
    reason = run.reason()
    if "not on whitelist" in "\n".join(run.stderr_tail):
        return InvalidMedia("not an audio file: ffmpeg reads it as a non-audio format")
    if "Invalid data found" in reason or "Error opening input" in reason:
        return InvalidMedia("not an audio file: ffmpeg recognises no audio format in it")
    return InvalidMedia(f"not an audio file: {reason}")


async def probe(ffmpeg: Path, source: Path, *, limits: ProbeLimits) -> AudioProbe:
    """Describe `source`'s audio, or raise InvalidMedia saying what is wrong with it.

    Decodes the first two seconds too, so a file whose header parses but whose audio does not
    is refused here. MediaFailure when ffmpeg itself fails (time or memory limit).
    """
    try:
        size = (await asyncio.to_thread(source.stat)).st_size
    except OSError as exc:
        raise InvalidMedia(f"cannot read the upload: {exc.strerror}") from exc
    if size == 0:
        raise InvalidMedia("empty file: 0 bytes")
    # "-map 0:a:0" fails when there is no audio, after ffmpeg has printed the stream dump.
    args = _input(source).output("-", map="0:a:0", t=2, f="null").get_args()
    lines: list[str] = []

    def keep(line: str) -> None:
        if len(lines) < _MAX_DUMP_LINES:
            lines.append(line)

    run = await run_ffmpeg(
        ffmpeg,
        ["-hide_banner", "-nostdin", "-loglevel", "level+info", *args],
        limits=RunLimits(limits.time_limit_s, limits.memory_limit_mb),
        on_stderr_line=keep,
    )
    dump = _parse_dump(lines)
    if dump.container is None:
        raise _open_failure(run)
    if dump.audio is None:
        raise InvalidMedia("not an audio file: no audio stream found")
    if run.returncode != 0:
        raise InvalidMedia(f"cannot decode the audio: {run.reason()}")
    if dump.duration_ms is None:
        dump.duration_ms = await _decoded_duration_ms(ffmpeg, source, limits)
    found = _audio_stream(dump.audio, dump.container, dump)
    _check(found, limits)
    return found

"""The HLS ladder in one ffmpeg pass: decode once, split to AAC 64/128/256k (+ FLAC for
lossless sources) and an analysis branch (EBU R 128 loudness, PCM for the waveform).

The decoded PCM branch doubles as the truncation check: a file that stops decoding early
(a cut FLAC whose header still promises the full length) yields too little audio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg as ffmpeg_python

from oms.media.failures import MediaFailure
from oms.media.loudness import Loudness, gain_to_target, parse_ebur128_summary
from oms.media.playlist import Rendition, listing_order, measure_rendition, write_master
from oms.media.probe import DEMUXERS, AudioProbe
from oms.media.run import FFmpegRun, RunLimits, run_ffmpeg
from oms.media.verify import truncation
from oms.media.waveform import WaveformBuilder, write_waveform

__all__ = ["LadderOptions", "MediaResult", "time_limit_for", "transcode"]

_ANALYSIS_RATE = 8000  # Hz, mono s16: plenty for 10 peaks a second, 16 kB/s through the pipe
_AAC_MAX_RATE = 48_000
_SUMMARY_LINES = 40
# How an allocation failure under RLIMIT_AS shows: ENOMEM, or EAGAIN from pthread_create.
_OUT_OF_MEMORY = ("Cannot allocate memory", "Resource temporarily unavailable")


@dataclass(frozen=True)
class LadderOptions:
    """What to make and within which bounds; the caller fills it from settings."""

    aac_bitrates_kbps: tuple[int, ...] = (64, 128, 256)
    segment_seconds: int = 6
    waveform_rate: int = 10  # peaks per second
    loudness_target_lufs: float = -14.0
    time_limit_s: float | None = None  # None: time_limit_for(the probed duration)
    memory_limit_mb: int = 1024


@dataclass(frozen=True)
class MediaResult:
    """What `transcode` wrote into its output directory, and what it measured on the way."""

    duration_ms: int  # of audio actually decoded
    loudness: Loudness
    gain_db: float  # playback gain to reach the loudness target
    renditions: tuple[Rendition, ...]  # in master playlist order
    master: Path
    waveform: Path
    lossless: bool  # a FLAC rendition was made


def time_limit_for(duration_ms: int) -> float:
    """Wall time allowed for the ladder: enough to run at twice real time, and 2 min at least.

    The pass runs at ~40x real time on two cores; the margin absorbs a busy machine.
    """
    return max(120.0, duration_ms / 1000 / 2)


def _rate_at_most(rate: int, cap: int) -> int:
    if rate <= cap:
        return rate
    family = 44_100 if rate % 11_025 == 0 else 48_000
    return family if family <= cap else cap


def _hls(stream: Any, directory: Path, options: LadderOptions, **encoding: Any) -> Any:
    # The muxer expands %05d in the segment template; a literal % in our path must not count.
    template = str(directory / "seg-%05d.m4s").replace("%", "%%").replace("%%05d", "%05d")
    return ffmpeg_python.output(
        stream,
        f"file:{directory / 'index.m3u8'}",
        f="hls",
        hls_time=options.segment_seconds,
        hls_playlist_type="vod",
        hls_segment_type="fmp4",
        hls_flags="independent_segments",
        hls_fmp4_init_filename="init.mp4",
        hls_segment_filename=f"file:{template}",
        start_number=1,
        map_metadata=-1,
        map_chapters=-1,
        **encoding,
    )


@dataclass(frozen=True)
class _Plan:
    args: list[str]
    renditions: list[tuple[Path, str, int | None]]  # directory, codec, nominal bit/s


def _plan(source: Path, out_dir: Path, probe: AudioProbe, options: LadderOptions) -> _Plan:
    channels = min(probe.channels, 2)
    renditions: list[tuple[Path, str, int | None]] = [
        (out_dir / f"aac{kbps}", "aac", kbps * 1000) for kbps in options.aac_bitrates_kbps
    ]
    if probe.lossless:
        renditions.append((out_dir / "flac", "flac", None))
    # The demuxer the probe found is pinned, so ffmpeg cannot re-guess the file differently.
    source_input = ffmpeg_python.input(
        f"file:{source}",
        f=probe.container.split(",")[0],
        format_whitelist=DEMUXERS,
        protocol_whitelist="file",
    )
    split = source_input["a:0"].filter_multi_output("asplit", len(renditions) + 1)
    outputs = []
    for index, (directory, codec, bitrate) in enumerate(renditions):
        if codec == "aac":
            encoding: dict[str, Any] = {
                "acodec": "aac",
                "audio_bitrate": bitrate,
                "ar": _rate_at_most(probe.sample_rate, _AAC_MAX_RATE),
            }
        else:
            deep = (probe.bits_per_sample or 16) > 16
            encoding = {"acodec": "flac", "sample_fmt": "s32" if deep else "s16"}
        outputs.append(_hls(split[index], directory, options, ac=channels, **encoding))
    analysis = (
        split[len(renditions)]
        .filter("ebur128", peak="true", framelog="quiet")
        .filter("aresample", _ANALYSIS_RATE)
        .filter("aformat", sample_fmts="s16", channel_layouts="mono")
    )
    outputs.append(ffmpeg_python.output(analysis, "pipe:1", f="s16le"))
    args = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "level+info",  # the ebur128 summary is logged at info; levels tag decode errors
        "-progress",
        "pipe:2",
        "-nostats",
        "-y",
        *ffmpeg_python.merge_outputs(*outputs).get_args(),
    ]
    return _Plan(args, renditions)


def _failure(run: FFmpegRun, options: LadderOptions) -> MediaFailure:
    """Why a non-zero exit happened. Bad input does not exit non-zero (ffmpeg skips what it
    cannot decode and stops at a cut), so this is the machine's fault: retryable."""
    text = "\n".join(run.stderr_tail)
    if "No space left on device" in text:
        return MediaFailure("disk full while writing the HLS ladder")
    if run.returncode < 0 or any(sign in text for sign in _OUT_OF_MEMORY):
        return MediaFailure(
            f"ffmpeg failed under the {options.memory_limit_mb} MB memory limit: {run.reason()}"
        )
    return MediaFailure(f"ffmpeg failed writing the HLS ladder: {run.reason()}")


def _finish(
    out_dir: Path, plan: _Plan, builder: WaveformBuilder
) -> tuple[list[Rendition], Path, Path]:
    """Blocking tail of the pass: measure renditions, write master and waveform."""
    try:
        renditions = [
            measure_rendition(directory, codec=codec, nominal_bitrate=bitrate)
            for directory, codec, bitrate in plan.renditions
        ]
    except (OSError, ValueError) as exc:
        raise MediaFailure(f"ffmpeg left an incomplete HLS rendition: {exc}") from exc
    master = write_master(out_dir, renditions)
    waveform = write_waveform(builder.finish(), out_dir / "waveform.json")
    return listing_order(renditions), master, waveform


async def transcode(
    ffmpeg: Path,
    source: Path,
    out_dir: Path,
    *,
    probe: AudioProbe,
    options: LadderOptions,
    on_progress: Callable[[float], None] | None = None,
) -> MediaResult:
    """Write the ladder, `master.m3u8` and `waveform.json` into `out_dir` (fresh, empty).

    InvalidMedia when the source stops decoding early; MediaFailure when ffmpeg fails for
    other reasons or exceeds its limits. ffmpeg is killed if this is cancelled.
    """
    plan = _plan(source, out_dir, probe, options)
    for directory, _, _ in plan.renditions:
        directory.mkdir()
    builder = WaveformBuilder(_ANALYSIS_RATE, options.waveform_rate)
    summary: list[str] = []
    duration_us = max(probe.duration_ms, 1) * 1000

    def on_line(line: str) -> None:
        if line.startswith("out_time_us=") and on_progress is not None:
            value = line.removeprefix("out_time_us=")
            if value.isdigit():
                on_progress(min(100.0, int(value) * 100 / duration_us))
        elif (summary or "Summary:" in line) and len(summary) < _SUMMARY_LINES:
            summary.append(line)

    time_limit = options.time_limit_s or time_limit_for(probe.duration_ms)
    run = await run_ffmpeg(
        ffmpeg,
        plan.args,
        limits=RunLimits(time_limit, options.memory_limit_mb),
        on_stderr_line=on_line,
        on_stdout=builder.feed,
    )
    if run.returncode != 0:
        raise _failure(run, options)
    decoded_ms = builder.samples * 1000 // _ANALYSIS_RATE
    if truncated := truncation(probe, decoded_ms, run):
        raise truncated
    loudness = parse_ebur128_summary("\n".join(summary))
    renditions, master, waveform = await asyncio.to_thread(_finish, out_dir, plan, builder)
    if on_progress is not None:
        on_progress(100.0)
    return MediaResult(
        duration_ms=decoded_ms,
        loudness=loudness,
        gain_db=gain_to_target(
            loudness.integrated_lufs, loudness.true_peak_dbtp, options.loudness_target_lufs
        ),
        renditions=tuple(renditions),
        master=master,
        waveform=waveform,
        lossless=probe.lossless,
    )

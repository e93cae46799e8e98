"""The one-pass HLS ladder, checked with an independent HLS parser (m3u8) and ffmpeg itself."""

from __future__ import annotations

import asyncio
import json
import math
import re
from pathlib import Path

import m3u8
import pytest

from oms.media.failures import InvalidMedia, MediaFailure
from oms.media.ladder import LadderOptions, transcode
from oms.media.probe import ProbeLimits, probe

from .conftest import Sources, Transcoded, ffmpeg_cli, processes_mentioning, run_transcode

pytestmark = pytest.mark.anyio


def decode(ffmpeg: Path, target: Path) -> tuple[float, str]:
    """(seconds decoded, error output) of decoding `target` to nothing with ffmpeg."""
    result = ffmpeg_cli(
        ffmpeg, "-nostdin -v error -i", target, "-progress pipe:1 -nostats -f null -", check=False
    )
    out_time_us = re.findall(r"^out_time_us=(\d+)$", result.stdout, re.MULTILINE)
    return int(out_time_us[-1]) / 1e6, result.stderr


def reference_loudness(ffmpeg: Path, source: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) from a plain `-af ebur128=peak=true` run."""
    result = ffmpeg_cli(
        ffmpeg, "-nostdin -hide_banner -i", source, "-af ebur128=peak=true -f null -"
    )
    summary = result.stderr.rsplit("Summary:", 1)[1]
    integrated = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    peak = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+) dBFS", summary)
    assert integrated
    assert peak
    return float(integrated[1]), float(peak[1])


def stream_line(ffmpeg: Path, target: Path) -> str:
    result = ffmpeg_cli(ffmpeg, "-hide_banner -nostdin -i", target, check=False)
    return next(line for line in result.stderr.splitlines() if "Audio:" in line)


def test_master_lists_128k_first_then_the_rest_of_the_ladder(flac_ladder: Transcoded) -> None:
    master = m3u8.load(str(flac_ladder.out_dir / "master.m3u8"))
    assert master.is_variant
    assert [p.uri for p in master.playlists] == [
        "aac128/index.m3u8",
        "aac64/index.m3u8",
        "aac256/index.m3u8",
        "flac/index.m3u8",
    ]
    assert [p.stream_info.codecs for p in master.playlists] == ["mp4a.40.2"] * 3 + ["fLaC"]
    text = (flac_ladder.out_dir / "master.m3u8").read_text()
    assert "#EXT-X-VERSION:7" in text
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text
    assert [r.playlist for r in flac_ladder.result.renditions] == [p.uri for p in master.playlists]


@pytest.mark.parametrize("ladder", ["flac_ladder", "mp3_ladder"])
def test_declared_bandwidths_match_the_bytes_on_disk(
    ladder: str, request: pytest.FixtureRequest
) -> None:
    transcoded: Transcoded = request.getfixturevalue(ladder)
    master = m3u8.load(str(transcoded.out_dir / "master.m3u8"))
    for variant in master.playlists:
        media = m3u8.load(str(transcoded.out_dir / variant.uri))
        directory = transcoded.out_dir / Path(variant.uri).parent
        size = (directory / media.segment_map[0].uri).stat().st_size
        size += sum((directory / s.uri).stat().st_size for s in media.segments)
        duration = sum(s.duration for s in media.segments)
        measured = size * 8 / duration
        average = variant.stream_info.average_bandwidth
        assert abs(average - measured) <= 0.1 * measured, variant.uri
        assert variant.stream_info.bandwidth >= average, variant.uri


def test_aac_renditions_get_near_their_nominal_bitrate(flac_ladder: Transcoded) -> None:
    for rendition in flac_ladder.result.renditions:
        if rendition.codec == "aac":
            assert rendition.nominal_bitrate is not None
            assert 0.6 * rendition.nominal_bitrate <= rendition.average_bandwidth, rendition.name
            assert rendition.average_bandwidth <= 1.2 * rendition.nominal_bitrate, rendition.name


def test_media_playlists_are_vod_fmp4_with_segments_of_at_most_6_5_s(
    flac_ladder: Transcoded,
) -> None:
    for rendition in flac_ladder.result.renditions:
        directory = flac_ladder.out_dir / rendition.name
        media = m3u8.load(str(directory / "index.m3u8"))
        assert media.playlist_type == "vod"
        assert media.is_endlist
        assert media.segment_map[0].uri == "init.mp4"
        assert (directory / "init.mp4").read_bytes()[4:8] == b"ftyp"
        assert media.segments[0].uri == "seg-00001.m4s"
        assert all(s.duration <= 6.5 for s in media.segments)
        assert all(s.duration >= 5.5 for s in media.segments[:-1])
        assert len(media.segments) == rendition.segment_count
        assert media.target_duration <= 7


@pytest.mark.parametrize("ladder", ["flac_ladder", "mp3_ladder"])
def test_every_rendition_decodes_end_to_end_to_the_source_duration(
    ladder: str, request: pytest.FixtureRequest, ffmpeg_path: Path
) -> None:
    transcoded: Transcoded = request.getfixturevalue(ladder)
    source_seconds, source_errors = decode(ffmpeg_path, transcoded.source)
    assert source_errors == ""
    for rendition in transcoded.result.renditions:
        seconds, errors = decode(ffmpeg_path, transcoded.out_dir / rendition.playlist)
        assert errors == "", rendition.name
        assert abs(seconds - source_seconds) <= 0.1, rendition.name
    assert abs(transcoded.result.duration_ms / 1000 - source_seconds) <= 0.1


def test_flac_rendition_only_for_lossless_sources(
    flac_ladder: Transcoded, mp3_ladder: Transcoded
) -> None:
    assert flac_ladder.result.lossless
    assert (flac_ladder.out_dir / "flac" / "index.m3u8").exists()
    assert not mp3_ladder.result.lossless
    assert [r.name for r in mp3_ladder.result.renditions] == ["aac128", "aac64", "aac256"]
    assert not (mp3_ladder.out_dir / "flac").exists()
    assert "fLaC" not in (mp3_ladder.out_dir / "master.m3u8").read_text()


@pytest.mark.parametrize("ladder", ["flac_ladder", "mp3_ladder"])
def test_loudness_equals_a_separate_ebur128_measurement(
    ladder: str, request: pytest.FixtureRequest, ffmpeg_path: Path
) -> None:
    transcoded: Transcoded = request.getfixturevalue(ladder)
    integrated, true_peak = reference_loudness(ffmpeg_path, transcoded.source)
    loudness = transcoded.result.loudness
    assert abs(loudness.integrated_lufs - integrated) <= 0.1
    assert abs(loudness.true_peak_dbtp - true_peak) <= 0.1
    # The fixture's music sits well below -14 LUFS, so the gain is a boost, bounded by the peak.
    expected = min(-14.0 - integrated, -1.0 - true_peak)
    assert transcoded.result.gain_db == pytest.approx(expected, abs=0.11)


def test_waveform_has_ten_peaks_a_second_in_range(flac_ladder: Transcoded) -> None:
    data = json.loads(flac_ladder.result.waveform.read_text())
    assert data["version"] == 1
    assert data["rate"] == 10
    assert abs(data["durationMs"] - 30_000) <= 50
    peaks = data["peaks"]
    assert abs(len(peaks) - math.ceil(30.0 * 10)) <= 1
    assert all(-127 <= low <= high <= 127 for low, high in peaks)
    # The fixture's level swells and fades (a 3 s sine LFO): the waveform must show it.
    heights = [high - low for low, high in peaks]
    assert max(heights) > 2 * min(heights) > 0


def test_progress_rises_to_100(flac_ladder: Transcoded) -> None:
    progress = flac_ladder.progress
    assert progress[-1] == 100.0
    assert all(0.0 <= p <= 100.0 for p in progress)
    assert list(progress) == sorted(progress)


def test_high_rate_multichannel_source_becomes_48k_stereo_aac_and_96k_24_bit_flac(
    ffmpeg_path: Path, sources: Sources, tmp_path: Path
) -> None:
    transcoded = run_transcode(ffmpeg_path, sources.wav_hires, tmp_path / "out")
    assert transcoded.probe.channels == 6
    aac = stream_line(ffmpeg_path, transcoded.out_dir / "aac128" / "index.m3u8")
    assert "48000 Hz, stereo" in aac
    flac = stream_line(ffmpeg_path, transcoded.out_dir / "flac" / "index.m3u8")
    assert "96000 Hz, stereo, s32 (24 bit)" in flac


async def test_a_flac_cut_in_half_is_refused_as_truncated(
    ffmpeg_path: Path, sources: Sources, tmp_path: Path
) -> None:
    data = sources.flac.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 2])
    found = await probe(ffmpeg_path, cut, limits=ProbeLimits())  # the header looks fine
    assert found.duration_ms == 30_000
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(InvalidMedia, match=r"^truncated FLAC: decoding stopped at 0:1\d of 0:30$"):
        await transcode(ffmpeg_path, cut, out_dir, probe=found, options=LadderOptions())


async def test_time_limit_stops_ffmpeg_with_a_media_failure(
    ffmpeg_path: Path, sources: Sources, tmp_path: Path
) -> None:
    found = await probe(ffmpeg_path, sources.three_minutes, limits=ProbeLimits())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    options = LadderOptions(time_limit_s=0.3)
    with pytest.raises(MediaFailure, match=r"^ffmpeg exceeded the 0.3 s time limit"):
        await transcode(ffmpeg_path, sources.three_minutes, out_dir, probe=found, options=options)
    assert processes_mentioning(str(out_dir)) == []


async def test_cancelling_a_transcode_kills_ffmpeg(
    ffmpeg_path: Path, sources: Sources, tmp_path: Path
) -> None:
    found = await probe(ffmpeg_path, sources.three_minutes, limits=ProbeLimits())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    progress: list[float] = []
    task = asyncio.create_task(
        transcode(
            ffmpeg_path,
            sources.three_minutes,
            out_dir,
            probe=found,
            options=LadderOptions(),
            on_progress=progress.append,
        )
    )
    for _ in range(200):
        if progress:
            break
        await asyncio.sleep(0.02)
    assert progress
    assert progress[-1] < 100
    assert processes_mentioning(str(out_dir))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_mentioning(str(out_dir)) == []


@pytest.mark.parametrize("megabytes", [64, 200])
async def test_too_little_memory_is_a_media_failure_not_bad_input(
    ffmpeg_path: Path, sources: Sources, tmp_path: Path, megabytes: int
) -> None:
    found = await probe(ffmpeg_path, sources.flac, limits=ProbeLimits())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    options = LadderOptions(memory_limit_mb=megabytes)
    with pytest.raises(MediaFailure, match=rf"^ffmpeg failed under the {megabytes} MB memory"):
        await transcode(ffmpeg_path, sources.flac, out_dir, probe=found, options=options)

"""The ffmpeg runner: limits that hold, output that streams, nothing left running."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms.media.failures import MediaFailure
from oms.media.run import RunLimits, run_ffmpeg

from .conftest import processes_mentioning

pytestmark = pytest.mark.anyio


async def test_stdout_streams_to_the_consumer_and_stderr_to_the_hook(ffmpeg_path: Path) -> None:
    received = bytearray()
    lines: list[str] = []
    run = await run_ffmpeg(
        ffmpeg_path,
        ["-nostdin", "-f", "lavfi", "-i", "sine=duration=2:sample_rate=8000", "-f", "s16le", "-"],
        limits=RunLimits(time_limit_s=30),
        on_stdout=received.extend,
        on_stderr_line=lines.append,
    )
    assert run.returncode == 0
    assert len(received) == 2 * 8000 * 2
    assert any("Output #0, s16le" in line for line in lines)


async def test_a_failing_run_is_returned_with_its_reason(ffmpeg_path: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.flac"
    run = await run_ffmpeg(
        ffmpeg_path,
        ["-nostdin", "-loglevel", "level+error", "-i", str(missing), "-f", "null", "-"],
        limits=RunLimits(time_limit_s=30),
    )
    assert run.returncode != 0
    assert "No such file or directory" in run.reason()


async def test_the_memory_limit_applies_to_ffmpeg(ffmpeg_path: Path) -> None:
    args = ["-nostdin", "-f", "lavfi", "-i", "sine=duration=1", "-f", "null", "-"]
    ok = await run_ffmpeg(ffmpeg_path, args, limits=RunLimits(30, memory_limit_mb=512))
    assert ok.returncode == 0
    starved = await run_ffmpeg(ffmpeg_path, args, limits=RunLimits(30, memory_limit_mb=8))
    assert starved.returncode != 0


async def test_the_time_limit_kills_ffmpeg(ffmpeg_path: Path, tmp_path: Path) -> None:
    endless = tmp_path / "endless.wav"
    args = ["-nostdin", "-re", "-f", "lavfi", "-i", "sine", "-y", str(endless)]
    with pytest.raises(MediaFailure, match=r"^ffmpeg exceeded the 0.5 s time limit"):
        await run_ffmpeg(ffmpeg_path, args, limits=RunLimits(time_limit_s=0.5))
    assert processes_mentioning(str(endless)) == []


async def test_a_missing_binary_is_a_media_failure(tmp_path: Path) -> None:
    with pytest.raises(MediaFailure, match=r"^cannot start ffmpeg at "):
        await run_ffmpeg(tmp_path / "no-ffmpeg", ["-version"], limits=RunLimits(5))

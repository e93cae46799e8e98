"""Audio generated once per session with the real ffmpeg (lavfi), tagged with mutagen."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, SYLT, TALB, TCON, TDRC, TIT2, TPE1, TPE2, TPOS, TRCK, TSRC, USLT
from PIL import Image

from oms.media.ffmpeg_binary import locate_ffmpeg
from oms.media.ladder import LadderOptions, MediaResult, transcode
from oms.media.probe import AudioProbe, ProbeLimits, probe

# A tone over pink noise whose level steps every few seconds: music-like loudness and peaks.
_MUSIC = (
    "sine=frequency=220:sample_rate={rate}:duration={seconds}[tone];"
    "anoisesrc=color=pink:sample_rate={rate}:duration={seconds}:amplitude=0.3:seed=7[noise];"
    "[tone][noise]amix=inputs=2:normalize=0,"
    "volume='0.4+0.3*sin(t/3)':eval=frame,aformat=channel_layouts={layout}"
)


@pytest.fixture(scope="session")
def ffmpeg_path() -> Path:
    return locate_ffmpeg().path


def ffmpeg_cli(
    ffmpeg: Path, *args: str | Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ffmpeg; `str` arguments are split on spaces, `Path` ones are passed whole."""
    argv = [str(ffmpeg)]
    for arg in args:
        argv += [str(arg)] if isinstance(arg, Path) else arg.split()
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=check)


def generate(
    ffmpeg: Path,
    out: Path,
    seconds: float,
    *codec: str,
    rate: int = 44_100,
    layout: str = "stereo",
) -> Path:
    graph = _MUSIC.format(rate=rate, seconds=seconds, layout=layout)
    subprocess.run(
        [str(ffmpeg), "-v", "error", "-y", "-filter_complex", graph, *codec, str(out)],
        check=True,
        timeout=60,
    )
    return out


def png_bytes(width: int = 500, height: int = 400, color: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Sources:
    flac: Path  # 30 s stereo 44.1 kHz 16-bit, Vorbis comments + a picture block
    mp3: Path  # 20 s, ID3v2.4 tags with APIC, TSRC, USLT, SYLT, and an attached-pic stream
    m4a: Path  # 12 s AAC in MP4 (lossy)
    wav_hires: Path  # 10 s 96 kHz 24-bit 5.1 WAV
    three_minutes: Path  # 180 s stereo FLAC: for the time-limit and cancellation tests only
    cover_png: bytes


def _tag_mp3(path: Path, cover: bytes) -> None:
    tags = ID3()
    tags.add(TIT2(encoding=3, text="Night Drive"))
    tags.add(TPE1(encoding=3, text="Ana Lopes; Bo Chen feat. Cy Dare"))
    tags.add(TALB(encoding=3, text="Roads"))
    tags.add(TPE2(encoding=3, text="Ana Lopes"))
    tags.add(TRCK(encoding=3, text="3/12"))
    tags.add(TPOS(encoding=3, text="1/2"))
    tags.add(TCON(encoding=3, text=["Electronic", "Ambient"]))
    tags.add(TDRC(encoding=3, text="2021-05-04"))
    tags.add(TSRC(encoding=3, text="US-S1Z-21-00001"))
    tags.add(USLT(encoding=3, lang="eng", desc="", text="First line\nSecond line"))
    tags.add(
        SYLT(encoding=3, lang="eng", format=2, type=1, text=[("First line", 0), ("Second", 1500)])
    )
    tags.add(APIC(encoding=3, mime="image/png", type=3, desc="cover", data=cover))
    tags.save(path)


def _tag_flac(path: Path, cover: bytes) -> None:
    audio = FLAC(path)
    audio["title"] = "Slow Tide"
    audio["artist"] = ["Dee Ek", "Eli Fo"]
    audio["album"] = "Shorelines"
    audio["albumartist"] = "Dee Ek"
    audio["tracknumber"] = "7"
    audio["discnumber"] = "1"
    audio["genre"] = "Jazz; Fusion"
    audio["date"] = "2019"
    audio["isrc"] = "GBAYE1900001"
    audio["lyrics"] = "Water rises"
    picture = Picture()
    picture.type = 3
    picture.mime = "image/png"
    picture.data = cover
    audio.add_picture(picture)
    audio.save()


@pytest.fixture(scope="session")
def sources(ffmpeg_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Sources:
    root = tmp_path_factory.mktemp("sources")
    ff = ffmpeg_path
    cover = png_bytes()
    flac = generate(ff, root / "tide.flac", 30, "-c:a", "flac", "-sample_fmt", "s16")
    _tag_flac(flac, cover)
    mp3 = root / "drive.mp3"
    generate(ff, root / "plain.mp3", 20, "-c:a", "libmp3lame", "-b:a", "192k")
    cover_path = root / "cover.png"
    cover_path.write_bytes(cover)
    # An mp3 with a cover picture stream, as taggers write them: ffmpeg sees a "video" stream.
    ffmpeg_cli(
        ff,
        *("-v error -y -i", root / "plain.mp3", "-i", cover_path),
        *("-map 0 -map 1 -c copy -disposition:v attached_pic", mp3),
    )
    _tag_mp3(mp3, cover)
    m4a = generate(ff, root / "short.m4a", 12, "-c:a", "aac", "-b:a", "96k")
    wav = generate(ff, root / "hires.wav", 10, "-c:a", "pcm_s24le", rate=96_000, layout="5.1(side)")
    three = generate(ff, root / "long.flac", 180, "-c:a", "flac", "-sample_fmt", "s16")
    return Sources(flac, mp3, m4a, wav, three, cover)


@dataclass(frozen=True)
class Transcoded:
    source: Path
    probe: AudioProbe
    result: MediaResult
    out_dir: Path
    progress: tuple[float, ...]


def run_transcode(ffmpeg: Path, source: Path, out_dir: Path) -> Transcoded:
    progress: list[float] = []

    async def go() -> Transcoded:
        found = await probe(ffmpeg, source, limits=ProbeLimits())
        result = await transcode(
            ffmpeg,
            source,
            out_dir,
            probe=found,
            options=LadderOptions(),
            on_progress=progress.append,
        )
        return Transcoded(source, found, result, out_dir, tuple(progress))

    out_dir.mkdir()
    return asyncio.run(go())


@pytest.fixture(scope="session")
def flac_ladder(
    ffmpeg_path: Path, sources: Sources, tmp_path_factory: pytest.TempPathFactory
) -> Transcoded:
    return run_transcode(ffmpeg_path, sources.flac, tmp_path_factory.mktemp("ladder") / "out")


@pytest.fixture(scope="session")
def mp3_ladder(
    ffmpeg_path: Path, sources: Sources, tmp_path_factory: pytest.TempPathFactory
) -> Transcoded:
    return run_transcode(ffmpeg_path, sources.mp3, tmp_path_factory.mktemp("ladder") / "out")


def processes_mentioning(marker: str) -> list[int]:
    """PIDs of live processes whose command line contains `marker` (zombies count as gone)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found

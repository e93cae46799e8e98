"""Probing uploads without ffprobe: what the file is, or exactly why it is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms.media.failures import InvalidMedia
from oms.media.probe import ProbeLimits, format_duration, probe

from .conftest import Sources, ffmpeg_cli, generate, png_bytes

pytestmark = pytest.mark.anyio


async def test_flac_is_lossless_16_bit_stereo_with_its_cover(
    ffmpeg_path: Path, sources: Sources
) -> None:
    found = await probe(ffmpeg_path, sources.flac, limits=ProbeLimits())
    assert (found.codec, found.container) == ("flac", "flac")
    assert found.duration_ms == 30_000
    assert (found.sample_rate, found.channels, found.bits_per_sample) == (44_100, 2, 16)
    assert found.lossless
    assert found.has_cover  # the FLAC picture block


async def test_mp3_is_lossy_and_its_cover_stream_is_not_mistaken_for_video(
    ffmpeg_path: Path, sources: Sources
) -> None:
    found = await probe(ffmpeg_path, sources.mp3, limits=ProbeLimits())
    assert found.codec == "mp3"
    assert not found.lossless
    assert found.bits_per_sample is None
    assert found.has_cover
    assert found.bitrate is not None
    assert 180_000 <= found.bitrate <= 200_000
    assert abs(found.duration_ms - 20_000) <= 100


async def test_aac_in_mp4_and_hires_multichannel_wav(ffmpeg_path: Path, sources: Sources) -> None:
    m4a = await probe(ffmpeg_path, sources.m4a, limits=ProbeLimits())
    assert (m4a.codec, m4a.lossless, m4a.has_cover) == ("aac", False, False)
    wav = await probe(ffmpeg_path, sources.wav_hires, limits=ProbeLimits())
    assert (wav.codec, wav.container) == ("pcm_s24le", "wav")
    assert (wav.sample_rate, wav.channels, wav.bits_per_sample) == (96_000, 6, 24)
    assert wav.lossless


async def test_a_video_file_is_accepted_for_its_audio(ffmpeg_path: Path, tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    ffmpeg_cli(
        ffmpeg_path,
        "-v error -f lavfi -i testsrc=d=3:s=64x64 -f lavfi -i sine=d=3 -c:v mpeg4 -c:a aac",
        video,
    )
    found = await probe(ffmpeg_path, video, limits=ProbeLimits())
    assert found.codec == "aac"
    assert not found.has_cover
    assert abs(found.duration_ms - 3000) <= 50


async def test_video_without_audio_has_no_audio_stream(ffmpeg_path: Path, tmp_path: Path) -> None:
    video = tmp_path / "silent.mp4"
    ffmpeg_cli(ffmpeg_path, "-v error -f lavfi -i testsrc=d=2:s=64x64 -c:v mpeg4", video)
    with pytest.raises(InvalidMedia, match=r"^not an audio file: no audio stream found$"):
        await probe(ffmpeg_path, video, limits=ProbeLimits())


async def test_an_empty_file_is_refused(ffmpeg_path: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(InvalidMedia, match=r"^empty file: 0 bytes$"):
        await probe(ffmpeg_path, empty, limits=ProbeLimits())


async def test_text_renamed_mp3_is_not_audio(ffmpeg_path: Path, tmp_path: Path) -> None:
    fake = tmp_path / "song.mp3"
    fake.write_text("These are my lyrics, not my song.\n" * 50)
    with pytest.raises(InvalidMedia, match=r"^not an audio file: ffmpeg recognises no audio"):
        await probe(ffmpeg_path, fake, limits=ProbeLimits())


@pytest.mark.parametrize(
    "content",
    [png_bytes(), b"#EXTM3U\n#EXTINF:1,\n/etc/passwd\n#EXT-X-ENDLIST\n"],
    ids=["image", "playlist"],
)
async def test_non_audio_formats_are_not_opened(
    ffmpeg_path: Path, tmp_path: Path, content: bytes
) -> None:
    fake = tmp_path / "upload.m3u8"
    fake.write_bytes(content)
    with pytest.raises(InvalidMedia, match=r"^not an audio file: "):
        await probe(ffmpeg_path, fake, limits=ProbeLimits())


async def test_too_short(ffmpeg_path: Path, tmp_path: Path) -> None:
    blip = generate(ffmpeg_path, tmp_path / "blip.wav", 0.5, "-c:a", "pcm_s16le")
    with pytest.raises(InvalidMedia, match=r"^too short: 0.50 s of audio, the minimum is 1 s$"):
        await probe(ffmpeg_path, blip, limits=ProbeLimits())


async def test_too_long(ffmpeg_path: Path, sources: Sources) -> None:
    limits = ProbeLimits(max_duration_ms=20_000)
    with pytest.raises(InvalidMedia, match=r"^duration 0:30 is over the 0:20 limit$"):
        await probe(ffmpeg_path, sources.flac, limits=limits)


async def test_channel_and_sample_rate_limits(ffmpeg_path: Path, sources: Sources) -> None:
    with pytest.raises(InvalidMedia, match=r"^6 audio channels; at most 2$"):
        await probe(ffmpeg_path, sources.wav_hires, limits=ProbeLimits(max_channels=2))
    with pytest.raises(InvalidMedia, match=r"^sample rate 96000 Hz is outside 8000 to 48000 Hz$"):
        await probe(ffmpeg_path, sources.wav_hires, limits=ProbeLimits(max_sample_rate=48_000))


def test_format_duration() -> None:
    assert format_duration(36_003_000) == "10:00:03"
    assert format_duration(180_000) == "3:00"
    assert format_duration(62_999) == "1:02"

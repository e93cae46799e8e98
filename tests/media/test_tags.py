"""Tags read from ID3, Vorbis comments and MP4 atoms; garbage never raises."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm

from oms.media.tags import AudioTags, read_tags, safe_title_from_filename, split_artists

from .conftest import Sources


def test_id3_tags_of_an_mp3(sources: Sources) -> None:
    tags = read_tags(sources.mp3)
    assert tags.title == "Night Drive"
    assert tags.artists == ("Ana Lopes", "Bo Chen", "Cy Dare")
    assert (tags.album, tags.album_artist) == ("Roads", "Ana Lopes")
    assert (tags.track_number, tags.disc_number) == (3, 1)
    assert tags.genres == ("Electronic", "Ambient")
    assert tags.date == "2021-05-04"
    assert tags.isrc == "USS1Z2100001"
    assert tags.lyrics == "First line\nSecond line"
    assert tags.synced_lyrics == ((0, "First line"), (1500, "Second"))
    assert tags.cover is not None
    assert tags.cover.mime == "image/png"
    assert tags.cover.data == sources.cover_png
    assert tags.problems == ()


def test_vorbis_comments_and_picture_of_a_flac(sources: Sources) -> None:
    tags = read_tags(sources.flac)
    assert tags.title == "Slow Tide"
    assert tags.artists == ("Dee Ek", "Eli Fo")
    assert (tags.album, tags.album_artist) == ("Shorelines", "Dee Ek")
    assert (tags.track_number, tags.disc_number) == (7, 1)
    assert tags.genres == ("Jazz", "Fusion")
    assert (tags.date, tags.isrc, tags.lyrics) == ("2019", "GBAYE1900001", "Water rises")
    assert tags.cover is not None
    assert tags.cover.data == sources.cover_png
    assert tags.problems == ()


def test_mp4_atoms_of_an_m4a(sources: Sources, tmp_path: Path) -> None:
    m4a = tmp_path / "tagged.m4a"
    shutil.copy(sources.m4a, m4a)
    audio = MP4(m4a)
    assert audio.tags is not None or audio.add_tags() is None
    assert audio.tags is not None
    audio.tags["\xa9nam"] = ["Short One"]
    audio.tags["\xa9ART"] = ["Fay Gee / Hal Ice"]
    audio.tags["trkn"] = [(2, 9)]
    audio.tags["\xa9day"] = ["2020-02-29T00:00:00Z"]
    audio.tags["----:com.apple.iTunes:ISRC"] = [MP4FreeForm(b"FRZ031900002")]
    audio.tags["covr"] = [MP4Cover(sources.cover_png, imageformat=MP4Cover.FORMAT_PNG)]
    audio.save()
    tags = read_tags(m4a)
    assert tags.title == "Short One"
    assert tags.artists == ("Fay Gee", "Hal Ice")
    assert tags.track_number == 2
    assert tags.date == "2020-02-29"
    assert tags.isrc == "FRZ031900002"
    assert tags.cover is not None
    assert tags.cover.mime == "image/png"


def test_a_file_without_tags_reads_as_empty(sources: Sources, tmp_path: Path) -> None:
    plain = tmp_path / "plain.flac"
    shutil.copy(sources.three_minutes, plain)
    assert read_tags(plain) == AudioTags()


def _garble_id3_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    assert data[:3] == b"ID3"
    data[6:10] = b"\xff\xff\xff\xff"  # the tag size is not synchsafe
    path.write_bytes(bytes(data))


def _garble_flac_metadata(path: Path) -> None:
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    data[4:200] = bytes((i * 37) % 256 for i in range(196))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("name", "garble"),
    [("drive.mp3", _garble_id3_header), ("tide.flac", _garble_flac_metadata)],
)
def test_garbled_tags_give_empty_tags_and_a_note(
    sources: Sources, tmp_path: Path, name: str, garble: object
) -> None:
    copy = tmp_path / name
    shutil.copy(sources.mp3 if name.endswith("mp3") else sources.flac, copy)
    garble(copy)  # type: ignore[operator]
    tags = read_tags(copy)
    assert tags.title is None
    assert tags.artists == ()
    assert tags.cover is None
    assert len(tags.problems) == 1
    assert tags.problems[0].startswith("unreadable tags: ")


def test_text_renamed_mp3_has_no_tags_and_a_note(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp3"
    fake.write_text("not music\n" * 100)
    tags = read_tags(fake)
    assert tags.title is None
    assert tags.problems
    assert "unreadable tags" in tags.problems[0]


def test_artist_splitting_keeps_band_names_whole() -> None:
    assert split_artists(["AC/DC"]) == ("AC/DC",)
    assert split_artists(["Simon & Garfunkel"]) == ("Simon & Garfunkel",)
    assert split_artists(["A ft. B", "b", "C FEAT D"]) == ("A", "B", "C", "D")
    assert split_artists(["  ;  "]) == ()


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\Music\\01_Night_Drive.flac", "01 Night Drive"),
        ("song\x00\x1b[31m.mp3", "song[31m"),
        ("...hidden.wav", "hidden"),
        ("   .mp3", "Untitled"),
        ("My Song.final.mp3", "My Song.final"),
    ],
)
def test_safe_title_from_filename(name: str, title: str) -> None:
    assert safe_title_from_filename(name) == title

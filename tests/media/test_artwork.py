"""Cover art from untrusted bytes: the JPEG sizes players need, garbage and bombs refused."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from oms.media.artwork import make_artwork
from oms.media.failures import InvalidMedia

from .conftest import png_bytes


def test_writes_each_size_fitted_with_the_aspect_kept(tmp_path: Path) -> None:
    written = make_artwork(png_bytes(1500, 1000), tmp_path)
    assert [p.name for p in written] == ["1200.jpg", "600.jpg", "300.jpg", "64.jpg"]
    sizes = {}
    for path in written:
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert image.mode == "RGB"
            assert image.info.get("progressive") == 1
            sizes[path.name] = image.size
    assert sizes == {
        "1200.jpg": (1200, 800),
        "600.jpg": (600, 400),
        "300.jpg": (300, 200),
        "64.jpg": (64, 43),
    }
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_never_upscales_except_to_the_smallest_size(tmp_path: Path) -> None:
    (tmp_path / "tiny").mkdir()
    written = make_artwork(png_bytes(40, 40), tmp_path / "tiny")
    assert [p.name for p in written] == ["64.jpg"]
    with Image.open(written[0]) as image:
        assert image.size == (64, 64)
    (tmp_path / "mid").mkdir()
    written = make_artwork(png_bytes(700, 700), tmp_path / "mid")
    assert [p.name for p in written] == ["600.jpg", "300.jpg", "64.jpg"]


def test_transparency_becomes_white_not_black(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (100, 100), (0, 0, 0, 0)).save(buffer, "PNG")
    [path] = make_artwork(buffer.getvalue(), tmp_path, sizes=(64,))
    with Image.open(path) as image:
        red, green, blue = image.getpixel((32, 32))  # type: ignore[misc]
    assert min(red, green, blue) > 240


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"^not an image: 0 bytes$"),
        (b"<html>this is not a picture</html>" * 10, r"^not an image: "),
        (png_bytes()[:300], r"^damaged image: "),
    ],
    ids=["empty", "text", "truncated"],
)
def test_garbage_is_refused(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(InvalidMedia, match=message):
        make_artwork(data, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    # 8000 x 8000 of one colour: a few kB of PNG, 64 Mpx once decoded.
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buffer, "PNG")
    bomb = buffer.getvalue()
    assert len(bomb) < 1024 * 1024
    with pytest.raises(InvalidMedia, match=r"^image of 8000x8000 pixels is over the"):
        make_artwork(bomb, tmp_path)


def test_a_bomb_beyond_pillows_own_limit_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, "PNG")  # 400 Mpx, 1 bit deep: tiny file
    with pytest.raises(InvalidMedia, match=r"^image .*(pixel limit|decompression bomb)"):
        make_artwork(buffer.getvalue(), tmp_path)

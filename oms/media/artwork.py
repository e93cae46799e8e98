"""Cover art: validate untrusted image bytes and write the JPEG sizes players ask for.

Blocking (Pillow): call `make_artwork` through `asyncio.to_thread`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from oms.media.failures import InvalidMedia

__all__ = ["ARTWORK_SIZES", "MAX_ARTWORK_PIXELS", "make_artwork"]

ARTWORK_SIZES = (1200, 600, 300, 64)
# 40 megapixels decode to ~120 MB of RGB: far beyond any cover, well below a bomb's intent.
MAX_ARTWORK_PIXELS = 40_000_000
_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
_MAX_BYTES = 20 * 1024 * 1024


def _decode(image_bytes: bytes, max_pixels: int) -> Image.Image:
    if not image_bytes:
        raise InvalidMedia("not an image: 0 bytes")
    if len(image_bytes) > _MAX_BYTES:
        raise InvalidMedia(f"image of {len(image_bytes) // 1024 // 1024} MB; at most 20 MB")
    try:
        # Only the header is read here: refuse oversized images before decoding any pixels.
        image = Image.open(io.BytesIO(image_bytes), formats=_FORMATS)
        width, height = image.size
        if width * height > max_pixels:
            raise InvalidMedia(
                f"image of {width}x{height} pixels is over the {max_pixels:,} pixel limit"
            )
        image.load()
    except InvalidMedia:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidMedia(f"image refused as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidMedia("not an image: no JPEG, PNG, WebP, GIF or BMP data found") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Pillow reports truncated and corrupt data with all of these.
        raise InvalidMedia(f"damaged image: {exc}") from exc
    return image


def _rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _write_jpeg(image: Image.Image, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    image.save(temporary, "JPEG", quality=85, progressive=True, optimize=True)
    os.replace(temporary, path)


def make_artwork(
    image_bytes: bytes,
    out_dir: Path,
    sizes: Sequence[int] = ARTWORK_SIZES,
    *,
    max_pixels: int = MAX_ARTWORK_PIXELS,
) -> list[Path]:
    """Write `{size}.jpg` into `out_dir` (made if missing) for each size, fitted within
    size x size (aspect kept).

    Sizes larger than the source are skipped rather than upscaled, except the smallest size,
    which is always written. Returns the paths written, largest first. InvalidMedia when the
    bytes are not a sane image.
    """
    source = _rgb(_decode(image_bytes, max_pixels))
    out_dir.mkdir(parents=True, exist_ok=True)
    smallest = min(sizes)
    written: list[Path] = []
    for size in sorted(set(sizes), reverse=True):
        if size > max(source.size) and size != smallest:
            continue
        scale = size / max(source.size)
        fitted = source.resize(
            (max(1, round(source.width * scale)), max(1, round(source.height * scale))),
            Image.Resampling.LANCZOS,
        )
        path = out_dir / f"{size}.jpg"
        _write_jpeg(fitted, path)
        written.append(path)
    return written

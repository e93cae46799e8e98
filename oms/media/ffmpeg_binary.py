"""Which ffmpeg binary the node uses, and its version: a system one, or imageio-ffmpeg's build."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from oms.errors import StartupError

__all__ = ["FFmpeg", "locate_ffmpeg"]

_VERSION = re.compile(r"ffmpeg version (\S+)")
# The HLS fMP4 muxer options the pipeline uses arrived in ffmpeg 4.
_MINIMUM_MAJOR = 4


@dataclass(frozen=True)
class FFmpeg:
    path: Path
    version: str
    origin: str  # "configured", "system" or "imageio-ffmpeg"

    def describe(self) -> str:
        return f"ffmpeg {self.version} at {self.path} ({self.origin})"


def _candidates(setting: str) -> list[tuple[Path, str]]:
    if setting != "auto":
        return [(Path(setting).expanduser(), "configured")]
    found: list[tuple[Path, str]] = []
    system = shutil.which("ffmpeg")
    if system:
        found.append((Path(system), "system"))
    try:
        import imageio_ffmpeg

        found.append((Path(imageio_ffmpeg.get_ffmpeg_exe()), "imageio-ffmpeg"))
    except (ImportError, RuntimeError):
        # The wheel has no binary for this platform; only a system ffmpeg can serve.
        pass
    return found


def _version_of(path: Path) -> str | None:
    try:
        result = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [str(path), "-hide_banner", "-version"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(result.stdout)
    return match[1] if result.returncode == 0 and match else None


def _major(version: str) -> int | None:
    # Release builds say "7.1" or "n7.1"; git builds "N-112233-g…" (recent enough).
    match = re.match(r"n?(\d+)", version)
    return int(match[1]) if match else None


def locate_ffmpeg(setting: str = "auto") -> FFmpeg:
    """The ffmpeg to use per the `media.ffmpeg` setting; StartupError says why there is none."""
    candidates = _candidates(setting)
    if not candidates:
        raise StartupError(
            "no ffmpeg found: install ffmpeg (apt-get install ffmpeg) or the imageio-ffmpeg "
            "package, or set media.ffmpeg to the binary's path"
        )
    problems = []
    for path, origin in candidates:
        if not path.is_file():
            problems.append(f"{path} does not exist")
            continue
        version = _version_of(path)
        if version is None:
            problems.append(f"{path} does not run as ffmpeg")
            continue
        major = _major(version)
        if major is not None and major < _MINIMUM_MAJOR:
            problems.append(f"{path} is ffmpeg {version}; OMS needs {_MINIMUM_MAJOR} or newer")
            continue
        return FFmpeg(path, version, origin)
    raise StartupError("no usable ffmpeg (media.ffmpeg): " + "; ".join(problems))

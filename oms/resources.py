"""Where the files shipped with OMS are: web templates and static files, lexicons, example config.

In a source checkout they are the repository's own folders; in an installed wheel they are
bundled under `oms/_bundled/`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["lexicons_dir", "static_dir", "templates_dir"]

_PACKAGE = Path(__file__).resolve().parent


def _shipped(name: str) -> Path:
    checkout = _PACKAGE.parent / name
    return checkout if checkout.is_dir() else _PACKAGE / "_bundled" / name


def templates_dir() -> Path:
    return _shipped("web") / "templates"


def static_dir() -> Path:
    return _shipped("web") / "static"


def lexicons_dir() -> Path:
    return _shipped("lexicons")

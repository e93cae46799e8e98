"""Crashes the fuzzers found in code outside this package's reach (reported to its owners),
each pinned by a strict xfail test that passes once it is fixed: delete the entry then.

The fuzz tests let exactly these through (same file, function, exception and message), so
that everything else they find still fails the suite."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hypothesis import currently_in_test_context, event

__all__ = ["KNOWN", "Known", "reported_crashes"]

_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Known:
    path: str  # of the frame that must fix it, relative to the checkout
    function: str
    error: type[BaseException]
    message: str  # a part of str(error)
    reproducer: str  # the test that pins it

    def matches(self, exc: BaseException) -> bool:
        if not isinstance(exc, self.error) or self.message not in str(exc):
            return False
        frames = traceback.extract_tb(exc.__traceback__)
        return any(
            Path(f.filename).resolve() == _ROOT / self.path and f.name == self.function
            for f in frames
        )


# Empty: every crash found so far is fixed (each pinned by a regression test).
KNOWN: tuple[Known, ...] = ()


@contextmanager
def reported_crashes() -> Iterator[None]:
    """Let the crashes of KNOWN through (counted as a hypothesis event); raise all others."""
    try:
        yield
    except Exception as exc:
        known = next((k for k in KNOWN if k.matches(exc)), None)
        if known is None:
            raise
        if currently_in_test_context():
            event(f"known crash, see {known.reproducer}")

"""The settings every fuzz test runs with: bounded, and reproducible in CI.

`CI=true` derandomizes the runs (the same examples every time, no example database), so a
failure in CI fails again locally with the same seed. `OMS_FUZZ_EXAMPLES` scales every
target's budget for a longer local run, e.g. `OMS_FUZZ_EXAMPLES=5000`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings

__all__ = ["CI", "fuzz_settings"]

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_DEFAULT_EXAMPLES = 200
_SCALE = int(os.environ.get("OMS_FUZZ_EXAMPLES", _DEFAULT_EXAMPLES)) / _DEFAULT_EXAMPLES
# Locally, failures are kept in hypothesis' example database (`.hypothesis/`, which ignores
# itself in git) and replayed first on the next run; CI keeps nothing between runs.
_CI_ONLY: dict[str, Any] = {"database": None} if CI else {}
# Generous: a shared machine is slow at times; a parser that hangs still exceeds it.
_DEADLINE = timedelta(seconds=5)
settings.register_profile(
    "oms-fuzz",
    max_examples=_DEFAULT_EXAMPLES,
    deadline=_DEADLINE,
    derandomize=CI,
    print_blob=True,
    **_CI_ONLY,
)
_PROFILE = settings.get_profile("oms-fuzz")


def fuzz_settings(
    max_examples: int = _DEFAULT_EXAMPLES,
    *,
    deadline: timedelta | None = _DEADLINE,
    suppress: tuple[HealthCheck, ...] = (),
) -> settings:
    """The shared profile with this target's budget (scaled by `OMS_FUZZ_EXAMPLES`);
    `deadline=None` for targets whose every example runs a subprocess; `suppress` only for a
    health check a target cannot meet by design (say why where it is used)."""
    return settings(
        _PROFILE,
        max_examples=max(1, round(max_examples * _SCALE)),
        deadline=deadline,
        suppress_health_check=suppress,
    )

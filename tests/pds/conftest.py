"""Fixtures for the PDS tests: where the public ATProto interop vectors live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """The atproto-interop-tests checkout named by OMS_CONFORMANCE_DIR; skips when unset."""
    value = os.environ.get("OMS_CONFORMANCE_DIR")
    if not value:
        pytest.skip("OMS_CONFORMANCE_DIR is not set: the ATProto interop vectors are not available")
    path = Path(value)
    if not (path / "syntax").is_dir():
        pytest.fail(f"OMS_CONFORMANCE_DIR={value} does not hold the interop vectors (no syntax/)")
    return path

"""Fixtures for the PDS tests: a database with a keystore, and where the public ATProto
interop vectors live."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from oms.db.database import Database
from oms.events import EventBus
from oms.pds.keystore import KeyStore


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


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[Database, KeyStore]]:
    """A fresh database (with its own event bus) and keystore in the test's temp dir."""
    keys = KeyStore(tmp_path / "keys")
    keys.prepare()
    db = await Database.open(tmp_path / "oms.sqlite3", bus=EventBus())
    yield db, keys
    await db.close()

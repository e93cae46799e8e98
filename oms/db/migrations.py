"""Numbered SQL migrations (`migrations/NNNN_name.sql`), applied in order and recorded.

Each file runs in one transaction together with its row in `schema_migrations`, so a crash
mid-migration leaves the database at the previous version.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources

import aiosqlite

from oms.errors import StartupError

__all__ = ["Migration", "apply_migrations", "known_migrations"]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def known_migrations() -> list[Migration]:
    folder = resources.files("oms.db").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


async def apply_migrations(connection: aiosqlite.Connection) -> list[Migration]:
    """Bring the schema up to date; return the migrations that were applied now."""
    await connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL"
        ") STRICT"
    )
    async with connection.execute("SELECT max(version) FROM schema_migrations") as cursor:
        row = await cursor.fetchone()
    current = (row[0] if row else None) or 0
    migrations = known_migrations()
    if current > len(migrations):
        raise StartupError(
            f"the database is at schema version {current}, newer than this OMS knows "
            f"({len(migrations)}); upgrade OMS or restore a backup"
        )
    applied = []
    for migration in migrations[current:]:
        stamp = int(time.time() * 1000)
        # The script opens the transaction and leaves it open, so the version row commits with it.
        script = f"BEGIN IMMEDIATE;\n{migration.sql}\n;"
        try:
            await connection.executescript(script)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, stamp),
            )
            await connection.execute("COMMIT")
        except Exception as e:
            if connection.in_transaction:
                await connection.execute("ROLLBACK")
            raise StartupError(
                f"migration {migration.version:04d}_{migration.name} failed: {e}"
            ) from e
        applied.append(migration)
    return applied

"""The collective's plans: per-role quotas (storage, uploads per month, largest file) that
admins set, and what an account may still upload under its role's plan.

A quota of 0 is "no limit of the plan's own"; the node-wide `pds.blob_max_mb` still bounds
one file whatever the plan says.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import asdict, dataclass

from oms.audit import Actor, record
from oms.db.database import Database
from oms.errors import InvalidRequest, NotFound, PayloadTooLarge, RateLimitExceeded
from oms.pds.store import now_ms
from oms.permissions import ROLES

__all__ = [
    "Allowance",
    "Plan",
    "Usage",
    "list_plans",
    "plan_for",
    "update_plan",
    "upload_allowance",
    "usage",
]

_MB = 1024 * 1024
# A plan's numbers stay within what SQLite and people can make sense of (1 PB, a million).
_MAX_MB = 1024 * 1024 * 1024
_MAX_UPLOADS = 1_000_000


@dataclass(frozen=True)
class Plan:
    role: str
    storage_mb: int
    uploads_per_month: int
    max_file_mb: int


@dataclass(frozen=True)
class Usage:
    """What an account has used of its plan."""

    stored_bytes: int
    uploads_this_month: int


@dataclass(frozen=True)
class Allowance:
    """How large the next upload may be, and which limit sets that size (for the message
    when an upload runs past it)."""

    max_bytes: int
    limited_by: str


def _plan(row: sqlite3.Row) -> Plan:
    return Plan(row["role"], row["storage_mb"], row["uploads_per_month"], row["max_file_mb"])


async def list_plans(db: Database) -> list[Plan]:
    rows = await db.fetchall("SELECT * FROM plans")
    by_role = {row["role"]: _plan(row) for row in rows}
    return [by_role[role] for role in ROLES if role in by_role]


async def plan_for(db: Database, role: str) -> Plan:
    row = await db.fetchone("SELECT * FROM plans WHERE role = ?", (role,))
    if row is None:
        raise NotFound(f"no plan for the role {role!r}")
    return _plan(row)


def _bounded(name: str, value: int, maximum: int) -> int:
    if not 0 <= value <= maximum:
        raise InvalidRequest(f"{name} must be between 0 (no limit) and {maximum}, not {value}")
    return value


async def update_plan(
    db: Database,
    actor: Actor,
    role: str,
    *,
    storage_mb: int,
    uploads_per_month: int,
    max_file_mb: int,
) -> Plan:
    """Set the quotas of `role`'s plan; audited as `plan.update` with before and after."""
    wanted = Plan(
        role,
        _bounded("storage_mb", storage_mb, _MAX_MB),
        _bounded("uploads_per_month", uploads_per_month, _MAX_UPLOADS),
        _bounded("max_file_mb", max_file_mb, _MAX_MB),
    )
    current = await plan_for(db, role)
    if current == wanted:
        return current
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE plans SET storage_mb = ?, uploads_per_month = ?, max_file_mb = ?,"
            " updated_at = ? WHERE role = ?",
            (storage_mb, uploads_per_month, max_file_mb, now_ms(), role),
        )
        await record(tx, actor, "plan.update", role, before=asdict(current), after=asdict(wanted))
    return wanted


def _month_start(now: dt.datetime) -> dt.datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(start: dt.datetime) -> dt.datetime:
    return (start + dt.timedelta(days=32)).replace(day=1)


async def usage(db: Database, did: str, *, now: dt.datetime | None = None) -> Usage:
    start = _month_start(now or dt.datetime.now(dt.UTC))
    row = await db.fetchone(
        "SELECT coalesce(sum(size), 0) AS stored,"
        " coalesce(sum(created_at >= ?), 0) AS this_month"
        " FROM blobs WHERE did = ? AND state <> 'released'",
        (int(start.timestamp() * 1000), did),
    )
    assert row is not None
    return Usage(row["stored"], row["this_month"])


async def upload_allowance(
    db: Database, did: str, role: str, *, node_max_bytes: int, now: dt.datetime | None = None
) -> Allowance:
    """How large `did`'s next upload may be under its role's plan, or a clear refusal: the
    monthly upload count reached (RateLimitExceeded, until the month turns) or no storage
    left (PayloadTooLarge)."""
    moment = now or dt.datetime.now(dt.UTC)
    plan = await plan_for(db, role)
    used = await usage(db, did, now=moment)
    if plan.uploads_per_month and used.uploads_this_month >= plan.uploads_per_month:
        wait = int((_next_month(_month_start(moment)) - moment).total_seconds()) + 1
        raise RateLimitExceeded(
            f"the {role} plan allows {plan.uploads_per_month} uploads a month, and this "
            "account has used them all; uploads open again when the month turns (UTC)",
            retry_after=wait,
            name="UploadQuotaExceeded",
        )
    allowance = Allowance(
        node_max_bytes, f"the node's limit of {_mb(node_max_bytes)} MB a file (pds.blob_max_mb)"
    )
    if plan.max_file_mb and plan.max_file_mb * _MB < allowance.max_bytes:
        allowance = Allowance(
            plan.max_file_mb * _MB, f"the {role} plan's limit of {plan.max_file_mb} MB a file"
        )
    if plan.storage_mb:
        left = plan.storage_mb * _MB - used.stored_bytes
        if left <= 0:
            raise PayloadTooLarge(
                f"this account has used all {plan.storage_mb} MB of storage of the {role} "
                "plan; delete something, or ask an admin for more room",
                name="StorageQuotaExceeded",
            )
        if left < allowance.max_bytes:
            allowance = Allowance(
                left,
                f"the {_mb(left)} MB left of the {plan.storage_mb} MB storage of the {role} plan",
            )
    return allowance


def _mb(size: int) -> str:
    return f"{size / _MB:.1f}".removesuffix(".0")

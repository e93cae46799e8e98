"""`fm.oms.analytics.*`: players report what they heard; creators (their own tracks) and admins
(every track) read the figures back."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from typing import Any

from oms.analytics import queries
from oms.analytics.views import Period
from oms.errors import Forbidden, NotFound
from oms.pds.accounts import get_account
from oms.ratelimits import Limit
from oms.xrpc.auth import Viewer, authenticated, client_address, optional_viewer
from oms.xrpc.dispatch import XrpcCall

__all__ = [
    "REPORT_MAX_BYTES",
    "export_listening",
    "get_artist_overview",
    "get_retention",
    "get_track_stats",
    "report_listening",
]

# A report carries at most 256 ranges and 256 events: a few tens of kilobytes.
REPORT_MAX_BYTES = 64 * 1024
_REPORTS = "listening-report"


@functools.cache
def _report_limit(per_minute: int) -> Limit:
    return Limit(_REPORTS, per_minute, 60, "listening reports")


async def report_listening(call: XrpcCall) -> None:
    context = call.context
    per_minute = int(context.settings["limits.listening_reports_per_minute"])
    address = client_address(call)
    context.limits.hit(_report_limit(per_minute), address)
    viewer = await optional_viewer(call)
    body = await call.json_input(limit=REPORT_MAX_BYTES)
    await context.listening.report(body, listener=viewer.did if viewer else None, address=address)


def _period(call: XrpcCall) -> Period:
    return queries.parse_period(
        call.params.get("since"),
        call.params.get("until"),
        today=datetime.datetime.now(datetime.UTC).date(),
    )


async def _track_reader(call: XrpcCall) -> tuple[str, Period]:
    viewer = await authenticated(call)
    uri = str(call.params["uri"])
    period = _period(call)
    await queries.check_track_access(call.context.db, uri, viewer.did, admin=viewer.role == "admin")
    return uri, period


async def get_track_stats(call: XrpcCall) -> Mapping[str, Any]:
    uri, period = await _track_reader(call)
    return (await queries.track_stats(call.context.db, uri, period)).as_json()


async def get_retention(call: XrpcCall) -> Mapping[str, Any]:
    uri, period = await _track_reader(call)
    return (await queries.retention(call.context.db, uri, period)).as_json()


async def _actor_did(call: XrpcCall, viewer: Viewer) -> str:
    actor = call.params.get("actor")
    if not actor:
        return viewer.did
    did = str(actor)
    if not did.startswith("did:"):
        try:
            did = (await get_account(call.context.db, did)).did
        except NotFound as e:
            raise NotFound(f"no account {actor} on this node", name="ActorNotFound") from e
    if did != viewer.did and viewer.role != "admin":
        raise Forbidden("an artist's analytics are for the artist and the node's admins")
    return did


async def get_artist_overview(call: XrpcCall) -> Mapping[str, Any]:
    viewer = await authenticated(call)
    did = await _actor_did(call, viewer)
    period = _period(call)
    top = int(call.params.get("top", 10))
    return (await queries.artist_overview(call.context.db, did, period, top=top)).as_json()


async def export_listening(call: XrpcCall) -> Mapping[str, Any]:
    viewer = await authenticated(call)
    every = bool(call.params.get("all"))
    if every and viewer.role != "admin":
        raise Forbidden("only the node's admins may export every track's listening")
    period = _period(call)
    rows = await queries.export_rows(call.context.db, period, did=None if every else viewer.did)
    return {"period": period.as_json(), "rows": [row.as_json() for row in rows]}

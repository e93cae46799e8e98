"""A player's report, checked and normalized into the row the node keeps: ranges in merged
whole seconds cut at the track's end, events in a compact log, the listener as an account or
a pseudonym, and what can be told of the source and country without keeping an address.

Any surface (XRPC, the Subsonic API, another node) hands its report here; what the report
claims about its own client kind is bounded by the surface (`clients`)."""

from __future__ import annotations

import datetime
import functools
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from oms.analytics.coverage import Intervals, clip, seconds_of_ms
from oms.analytics.places import country_of, referrer_domain
from oms.errors import InvalidRequest

__all__ = [
    "CLIENTS",
    "RENDITIONS",
    "SOURCES",
    "WEB_CLIENTS",
    "Report",
    "device_listener",
    "length_seconds",
    "normalize",
]

CLIENTS = ("web", "embed", "app", "subsonic", "remote")
# What a client may call itself over XRPC: subsonic and remote are set by those surfaces.
WEB_CLIENTS = ("web", "embed", "app")
RENDITIONS = ("aac64", "aac128", "aac256", "flac")
SOURCES = (
    "home",
    "search",
    "artist",
    "release",
    "track",
    "playlist",
    "library",
    "radio",
    "queue",
    "embed",
    "other",
)
_EVENTS = ("play", "pause", "seek", "ended", "error")
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
# A player's clock may run a little ahead; a report may arrive late (a retried beacon).
_FUTURE_MS = 5 * 60_000
_PAST_MS = 24 * 3_600_000
_NO_LENGTH_S = 24 * 3600


class Report(NamedTuple):
    """A report as kept: the fields of its listening_reports row, in the row's order (ranges
    unpacked); a tuple, so the journal and the database take it as it is."""

    received_at: int
    session: str
    track_uri: str
    track_cid: str
    length_s: int | None
    listener: str
    ranges: Intervals
    beyond_s: int
    position_s: int | None
    events: str
    sent_at: int
    client: str
    source: str
    referrer: str
    rendition: str
    country: str
    address: str


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, name="InvalidReport")


def device_listener(device: str | None, session: str) -> str:
    """The pseudonym of an anonymous listener: a hash of the player's device id (of the
    session id when it sent none), so the raw id is never stored."""
    return _pseudonym(f"device:{device}" if device else f"session:{session}")


@functools.lru_cache(maxsize=16_384)  # a player reports every ten seconds: hash it once
def _pseudonym(seed: str) -> str:
    return "dev:" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def length_seconds(duration_ms: int | None) -> int | None:
    return None if duration_ms is None or duration_ms <= 0 else math.ceil(duration_ms / 1000)


def _ms(value: str, field: str) -> int:
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError as e:
        raise _invalid(f"{field} is not a datetime: {value!r}") from e
    if moment.tzinfo is None:
        raise _invalid(f"{field} needs a time zone: {value!r}")
    return int(moment.timestamp() * 1000)


def _sent_at(value: str, received_at: int) -> int:
    sent = _ms(value, "sentAt")
    if sent > received_at + _FUTURE_MS:
        ahead = (sent - received_at) // 60_000
        raise _invalid(f"sentAt is {ahead} minutes in the future by this node's clock")
    if sent < received_at - _PAST_MS:
        raise _invalid("sentAt is more than a day ago; listening is reported as it happens")
    return sent


def _events(events: Sequence[Mapping[str, Any]]) -> str:
    log = []
    for event in events:
        kind = event.get("kind")
        if kind in _EVENTS:
            position = event.get("positionMs")
            at = "" if position is None else str(round(int(position) / 1000))
            log.append(f"{kind}@{at}")
    return ",".join(log)


def _ranges(ranges: Sequence[Mapping[str, int]]) -> Intervals:
    pairs = []
    for i, span in enumerate(ranges):
        start, end = int(span["startMs"]), int(span["endMs"])
        if end < start:
            raise _invalid(f"ranges/{i} ends ({end} ms) before it starts ({start} ms)")
        pairs.append((start, end))
    return seconds_of_ms(pairs)


def normalize(
    body: Mapping[str, Any],
    *,
    listener: str | None,
    duration_ms: int | None,
    received_at: int,
    address: str,
    own_host: str,
    clients: Sequence[str] = WEB_CLIENTS,
) -> Report:
    """`body` (already valid against fm.oms.analytics.reportListening) as the row to keep.
    `listener` is the signed-in account's DID, or None for the device pseudonym. Raises
    InvalidRequest (`InvalidReport`) naming what cannot be taken."""
    session = str(body["sessionId"])
    if not _SESSION_ID.fullmatch(session):
        raise _invalid("sessionId must be 8 to 64 letters, digits, '-' or '_'")
    client = str(body["client"])
    if client not in CLIENTS:
        client = "app"
    if client not in clients:
        raise _invalid(
            f"client {client!r} is set by the node's own {client} surface, not by a report"
        )
    sent_at = _sent_at(str(body["sentAt"]), received_at)
    length = length_seconds(duration_ms)
    heard, beyond = clip(_ranges(body.get("ranges", ())), length or _NO_LENGTH_S)
    if length is None:
        beyond = 0
    context = body.get("context") or {}
    source = str(context.get("page") or "")
    if client == "embed":
        source = "embed"
    elif source not in SOURCES:
        source = "other" if source else ""
    position = body.get("positionMs")
    rendition = str(body.get("rendition") or "")
    track = body["track"]
    return Report(
        received_at=received_at,
        session=session,
        track_uri=str(track["uri"]),
        track_cid=str(track["cid"]),
        length_s=length,
        listener=listener or device_listener(body.get("device"), session),
        ranges=heard,
        beyond_s=beyond,
        position_s=None if position is None else round(int(position) / 1000),
        events=_events(body.get("events", ())),
        sent_at=sent_at,
        client=client,
        source=source,
        referrer=referrer_domain(context.get("referrer"), own_host),
        rendition=rendition if rendition in RENDITIONS else "",
        country=country_of(context.get("timeZone"), context.get("locale")),
        address=address,
    )

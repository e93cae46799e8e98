"""Synthetic listening for bench/analytics.py: tracks with Zipf-like popularity, listeners
(a few heavy ones), and reports as players send them, normal or in the shapes the fraud
rules catch. Reports are built directly (`oms.analytics.reports.Report`), not sent."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from oms.analytics.reports import RENDITIONS, SOURCES, Report
from oms.analytics.store import DAY_MS

COUNTRIES = ("FR", "DE", "GB", "US", "PT", "ES", "IT", "NL", "BR", "JP", "")
REFERRERS = ("blog.example.com", "forum.example.org", "news.example.net")


@dataclass(frozen=True)
class Population:
    tracks: list[tuple[str, str, int]]  # uri, cid, length in seconds
    track_weights: list[float]  # cumulative, Zipf-like: a few hits, a long tail
    listeners: list[str]
    listener_weights: list[float]  # cumulative: a few heavy listeners
    addresses: list[str]  # each listener's usual address hash


def population(rng: random.Random, tracks: int, listeners: int) -> Population:
    artists = [f"did:plc:{rng.getrandbits(100):025x}"[:32] for _ in range(max(1, tracks // 10))]
    track_rows = [
        (
            f"at://{rng.choice(artists)}/fm.oms.track/3l{rng.getrandbits(50):011x}",
            f"bafyrei{rng.getrandbits(250):052x}",
            rng.randint(90, 420),
        )
        for _ in range(tracks)
    ]
    people = [
        f"did:plc:{rng.getrandbits(100):024x}"[:32]
        if rng.random() < 0.3
        else f"dev:{rng.getrandbits(96):024x}"
        for _ in range(listeners)
    ]
    return Population(
        track_rows,
        _cumulative([1 / (rank + 1) ** 0.9 for rank in range(tracks)]),
        people,
        _cumulative([1 / (rank + 1) ** 0.6 for rank in range(listeners)]),
        [f"{rng.getrandbits(64):016x}" for _ in range(listeners)],
    )


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def make_report(
    rng: random.Random,
    pop: Population,
    *,
    received_at: int,
    session: str,
    track: int,
    listener: str,
    address: str,
    ranges: tuple[tuple[int, int], ...],
    events: str = "",
    beyond: int = 0,
    client: str = "web",
    source: str = "home",
) -> Report:
    uri, cid, length = pop.tracks[track]
    return Report(
        received_at=received_at,
        session=session,
        track_uri=uri,
        track_cid=cid,
        length_s=length,
        listener=listener,
        ranges=ranges,
        beyond_s=beyond,
        position_s=ranges[-1][1] if ranges else None,
        events=events,
        sent_at=received_at - rng.randint(30, 900),
        client=client,
        source=source,
        referrer=rng.choice(REFERRERS) if client == "embed" or rng.random() < 0.03 else "",
        rendition=rng.choice(RENDITIONS),
        country=rng.choice(COUNTRIES),
        address=address,
    )


def flat_reports(rng: random.Random, pop: Population, n: int, now_ms: int) -> list[Report]:
    """`n` reports as players send them: each its own session, ten seconds of a track."""
    tracks = rng.choices(range(len(pop.tracks)), cum_weights=pop.track_weights, k=n)
    people = rng.choices(range(len(pop.listeners)), cum_weights=pop.listener_weights, k=n)
    out = []
    for i in range(n):
        start = rng.choice((0, 10, 20, 30, 60))
        out.append(
            make_report(
                rng,
                pop,
                received_at=now_ms + i,
                session=f"{rng.getrandbits(64):016x}",
                track=tracks[i],
                listener=pop.listeners[people[i]],
                address=pop.addresses[people[i]],
                ranges=((start, start + 10),),
                events="play@0" if start == 0 else "",
                source=rng.choice(SOURCES),
            )
        )
    return out


def _session_reports(
    rng: random.Random,
    pop: Population,
    t0: int,
    track: int,
    listener: str,
    address: str,
    client: str,
    source: str,
) -> list[Report]:
    """A normal session's 1-3 reports: a skip, a whole play or part of one; the first report
    covers under a minute (a player reports as it plays), later ones the rest, each sent
    when what it covers has been heard."""
    length = pop.tracks[track][2]
    roll = rng.random()
    heard = rng.randint(3, 29) if roll < 0.25 else length if roll < 0.6 else rng.randint(30, length)
    first = min(heard, rng.randint(10, 50))
    ends = [first]
    if heard > first:
        if heard - first > 60 and rng.random() < 0.5:
            ends.append(rng.randint(first + 1, heard - 1))
        ends.append(heard)
    session = f"{rng.getrandbits(64):016x}"
    out, start = [], 0
    for k, end in enumerate(ends):
        last = k == len(ends) - 1
        events = "play@0" if k == 0 else ""
        if last:
            events += ("," if events else "") + (
                f"ended@{length}" if heard == length else f"pause@{heard}"
            )
        out.append(
            make_report(
                rng,
                pop,
                received_at=t0 + (end - first) * 1000 + rng.randint(0, 1500),
                session=session,
                track=track,
                listener=listener,
                address=address,
                ranges=((start, end),),
                events=events,
                client=client,
                source=source,
            )
        )
        start = end
    return out


def day_reports(rng: random.Random, pop: Population, day: int, count: int) -> list[Report]:
    """The reports of `count` sessions beginning on `day`: ~97 % normal listening, the rest in
    the shapes the fraud rules catch (one address's burst, clockwork starts, one listener
    replaying one track past the daily cap, more heard than time allows, past the end)."""
    t_day = day * DAY_MS
    out: list[Report] = []
    n_tracks = len(pop.tracks)

    def sid() -> str:
        return f"{rng.getrandbits(64):016x}"

    def report(t: int, track: int, listener: str, address: str, ranges: Any, **kw: Any) -> None:
        out.append(
            make_report(
                rng,
                pop,
                received_at=t,
                session=sid(),
                track=track,
                listener=listener,
                address=address,
                ranges=ranges,
                **kw,
            )
        )

    made = 0
    for g in range(max(1, round(count * 0.005 / 250))):  # burst: 250 sessions in 500 s
        t0 = t_day + rng.randrange(DAY_MS - 3_600_000)
        for i in range(250):
            report(
                t0 + i * 2000,
                rng.randrange(n_tracks),
                f"dev:burst{day}x{g}x{i}",
                f"burst{day}x{g}",
                ((0, 35),),
            )
        made += 250
    for g in range(max(1, round(count * 0.005 / 40))):  # clockwork: every 95 s exactly
        t0 = t_day + rng.randrange(DAY_MS - 7_200_000)
        for i in range(40):
            report(
                t0 + i * 95_000,
                rng.randrange(n_tracks),
                f"dev:bot{day}x{g}",
                f"bot{day}x{g}",
                ((0, 50),),
            )
        made += 40
    for _ in range(max(1, round(count * 0.005 / 25))):  # 25 plays of one track in a day
        who = rng.randrange(len(pop.listeners))
        track = rng.randrange(n_tracks)
        t0 = t_day + rng.randrange(DAY_MS - 10 * 3_600_000)
        for i in range(25):
            out.extend(
                _session_reports(
                    rng,
                    pop,
                    t0 + i * 1_000_000 + rng.randrange(60_000),
                    track,
                    pop.listeners[who],
                    pop.addresses[who],
                    "web",
                    "track",
                )
            )
        made += 25
    for _ in range(max(1, round(count * 0.002))):  # a whole track claimed at once
        track = rng.randrange(n_tracks)
        report(
            t_day + rng.randrange(DAY_MS),
            track,
            f"dev:{rng.getrandbits(96):024x}",
            f"{rng.getrandbits(64):016x}",
            ((0, pop.tracks[track][2]),),
        )
        made += 1
    for _ in range(max(1, round(count * 0.002))):  # 40 s past the end
        track, t0 = rng.randrange(n_tracks), t_day + rng.randrange(DAY_MS)
        length, session, who = pop.tracks[track][2], sid(), f"dev:{rng.getrandbits(96):024x}"
        claims = ((((0, 30),), 0), (((30, length),), 40))
        for k, (ranges, beyond) in enumerate(claims):
            out.append(
                make_report(
                    rng,
                    pop,
                    received_at=t0 + k * (length - 30) * 1000,
                    session=session,
                    track=track,
                    listener=who,
                    address=who[4:20],
                    ranges=ranges,
                    beyond=beyond,
                )
            )
        made += 1
    normal = max(0, count - made)
    tracks = rng.choices(range(n_tracks), cum_weights=pop.track_weights, k=normal)
    people = rng.choices(range(len(pop.listeners)), cum_weights=pop.listener_weights, k=normal)
    for i in range(normal):
        who = people[i]
        roll = rng.random()
        client = "web" if roll < 0.8 else "app" if roll < 0.92 else "embed"
        source = "embed" if client == "embed" else rng.choice(SOURCES)
        address = pop.addresses[who] if rng.random() < 0.9 else f"{rng.getrandbits(64):016x}"
        t0 = t_day + rng.randrange(DAY_MS)
        out.extend(
            _session_reports(rng, pop, t0, tracks[i], pop.listeners[who], address, client, source)
        )
    return out

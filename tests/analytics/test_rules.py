"""The pure parts: seconds from milliseconds, the named play rules at their edges, drop-off
points, the listener sketch, and places told without an address."""

from __future__ import annotations

import pytest

from oms.analytics.coverage import clip, pack, seconds_of_ms, union, unpack
from oms.analytics.places import country_of, referrer_domain
from oms.analytics.rules import PLAY_LASTFM, PLAY_OMS, PLAY_TEAL, drop_offs, plays
from oms.analytics.sketch import estimate, merge, sketch


def test_ranges_split_anywhere_join_up_and_stray_fractions_count_for_nothing() -> None:
    assert seconds_of_ms([(10_400, 20_000), (0, 10_400)]) == ((0, 20),)
    assert seconds_of_ms([(5_100, 5_400)]) == ()
    assert seconds_of_ms([(3_000, 1_000)]) == ()
    assert union(((0, 5),), ((5, 9), (20, 30)), ((25, 40),)) == ((0, 9), (20, 40))
    assert clip(((0, 12), (30, 90)), 40) == (((0, 12), (30, 40)), 50)
    assert unpack(pack(((0, 12), (30, 4_000_000_000)))) == ((0, 12), (30, 4_000_000_000))


@pytest.mark.parametrize(
    ("heard", "length", "expected"),
    [
        (29, 200, 0),
        (30, 200, PLAY_OMS),
        (100, 200, PLAY_OMS | PLAY_LASTFM | PLAY_TEAL),
        (240, 600, PLAY_OMS | PLAY_LASTFM | PLAY_TEAL),
        (239, 600, PLAY_OMS),
        (20, 40, PLAY_OMS | PLAY_LASTFM),  # half of a short track
        (19, 40, 0),
        (39, 40, PLAY_OMS | PLAY_LASTFM | PLAY_TEAL),  # a short track heard whole
        (10, 20, PLAY_OMS),  # Last.fm ignores tracks of 30 s or less
        (0, 0, 0),
    ],
)
def test_the_named_play_rules(heard: int, length: int, expected: int) -> None:
    assert plays(heard, length) == expected


def test_drop_offs_are_the_steepest_falls_apart_from_each_other_and_not_the_end() -> None:
    curve = [1.0] * 30 + [0.6] * 30 + [0.55] * 30 + [0.2] * 30
    found = drop_offs(curve)
    assert [second for second, _ in found[:2]] == [25, 85]
    assert found[0][1] == pytest.approx(0.4)
    assert drop_offs([1.0] * 100) == []


def test_the_listener_sketch_is_exact_when_small_and_close_when_large() -> None:
    assert estimate(sketch([])) == 0
    assert estimate(sketch(["did:plc:a", "did:plc:a", "dev:b"])) == 2
    assert estimate(sketch(f"dev:{i}" for i in range(20))) == 20
    assert len(sketch(f"dev:{i}" for i in range(20))) == 41  # sparse: two bytes a listener
    assert estimate(sketch(f"dev:{i}" for i in range(300))) == pytest.approx(300, rel=0.05)
    large = estimate(sketch(f"dev:{i}" for i in range(20_000)))
    assert abs(large - 20_000) < 20_000 * 0.1
    halves = [
        sketch(f"dev:{i}" for i in range(0, 300)),
        sketch(f"dev:{i}" for i in range(150, 450)),
    ]
    assert estimate(merge(halves)) == pytest.approx(450, rel=0.03)
    assert estimate(merge([b"damaged", *halves])) == estimate(merge(halves))


def test_places_are_told_from_the_players_zone_or_language_never_an_address() -> None:
    assert country_of("Europe/Lisbon", "en-US") == "PT"
    assert country_of("Etc/UTC", "pt-BR") == "BR"
    assert country_of(None, "zh-Hant-TW") == "TW"
    assert country_of("Nowhere/Special", "en") == ""
    assert (
        referrer_domain("https://www.Blog.example.org/post?x=1", "localhost") == "blog.example.org"
    )
    assert referrer_domain("http://localhost:8000/track/x", "localhost") == ""
    assert referrer_domain("javascript:alert(1)", "localhost") == ""

"""TID generation: format, ordering, monotonicity under a misbehaving clock, timestamp decoding."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from oms.errors import InvalidRequest
from oms.pds.syntax import is_valid_tid
from oms.pds.tid import (
    TidClock,
    next_tid,
    tid_from_timestamp_us,
    tid_to_clock_id,
    tid_to_timestamp_us,
)


def scripted_clock(readings: list[int]) -> Callable[[], int]:
    it: Iterator[int] = iter(readings)
    return lambda: next(it)


def test_next_tid_is_a_valid_tid_of_now() -> None:
    before = time.time_ns() // 1000
    tid = next_tid()
    after = time.time_ns() // 1000
    assert len(tid) == 13
    assert is_valid_tid(tid)
    assert before <= tid_to_timestamp_us(tid) <= after + 1_000


def test_encoding_matches_the_spec_layout() -> None:
    assert tid_from_timestamp_us(0, 0) == "2222222222222"
    # 53 set timestamp bits and 10 set clock bits: the top bit stays 0, so the first char is
    # the 8th of the alphabet.
    assert tid_from_timestamp_us(2**53 - 1, 1023) == "bzzzzzzzzzzzz"
    assert tid_from_timestamp_us(0, 1) == "2222222222223"
    assert tid_from_timestamp_us(1, 0) == "2222222222322"  # 1 << 10 is 1 * 32**2


def test_timestamp_and_clock_id_round_trip() -> None:
    rng = random.Random(7)
    for _ in range(500):
        ts, clock_id = rng.randrange(2**53), rng.randrange(1024)
        tid = tid_from_timestamp_us(ts, clock_id)
        assert is_valid_tid(tid)
        assert tid_to_timestamp_us(tid) == ts
        assert tid_to_clock_id(tid) == clock_id


def test_string_order_is_numeric_order() -> None:
    rng = random.Random(11)
    pairs = [(rng.randrange(2**53), rng.randrange(1024)) for _ in range(500)]
    tids = [tid_from_timestamp_us(ts, c) for ts, c in pairs]
    assert sorted(tids) == [tid_from_timestamp_us(ts, c) for ts, c in sorted(pairs)]


def test_out_of_range_parts_are_refused() -> None:
    with pytest.raises(ValueError, match="53 bits"):
        tid_from_timestamp_us(2**53, 0)
    with pytest.raises(ValueError, match="10 bits"):
        tid_from_timestamp_us(0, 1024)
    with pytest.raises(ValueError, match="10 bits"):
        TidClock(clock_id=-1)


def test_decoding_refuses_non_tids() -> None:
    with pytest.raises(InvalidRequest, match="invalid TID"):
        tid_to_timestamp_us("3JZFCIJPJ2Z2A")


def test_a_stalled_clock_still_yields_increasing_tids() -> None:
    clock = TidClock(clock_id=5, now_us=lambda: 1_700_000_000_000_000)
    tids = [clock.next() for _ in range(100)]
    assert tids == sorted(tids)
    assert len(set(tids)) == 100
    assert tid_to_timestamp_us(tids[-1]) == 1_700_000_000_000_099


def test_a_clock_going_backwards_never_goes_back_in_tids() -> None:
    clock = TidClock(clock_id=0, now_us=scripted_clock([5_000, 9_000, 2_000, 9_000, 20_000]))
    tids = [clock.next() for _ in range(5)]
    assert [tid_to_timestamp_us(t) for t in tids] == [5_000, 9_000, 9_001, 9_002, 20_000]
    assert all(a < b for a, b in itertools.pairwise(tids))


def test_advance_past_keeps_a_restarted_clock_ahead_of_disk() -> None:
    last_on_disk = tid_from_timestamp_us(50_000, 900)
    clock = TidClock(clock_id=3, now_us=lambda: 10_000)
    clock.advance_past(last_on_disk)
    assert clock.next() > last_on_disk


def test_concurrent_callers_never_get_the_same_tid() -> None:
    clock = TidClock(clock_id=1, now_us=lambda: 1_000_000)
    per_thread: list[list[str]] = [[] for _ in range(8)]

    def work(out: list[str]) -> None:
        for _ in range(2_000):
            out.append(clock.next())

    threads = [threading.Thread(target=work, args=(out,)) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [tid for out in per_thread for tid in out]
    assert len(set(every)) == len(every) == 16_000
    for out in per_thread:
        assert out == sorted(out)

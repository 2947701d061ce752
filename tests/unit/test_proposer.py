"""Weighted round-robin proposer selection."""

from __future__ import annotations

from collections import Counter
from functools import reduce
from math import gcd

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import sha256
from provchain.chain.types import InvalidError, Validator, ValidatorSet
from provchain.consensus.proposer import proposer, proposer_schedule

KEYS = [PrivateKey.from_seed(sha256(b"proposer-test-%d" % i)) for i in range(8)]


def vset(powers) -> ValidatorSet:
    return ValidatorSet(tuple(Validator(k.pubkey, p) for k, p in zip(KEYS, powers)))


def test_equal_powers_each_validator_once_in_address_order():
    vs = vset([1, 1, 1, 1])
    assert proposer_schedule(vs) == tuple(v.address for v in vs.validators)


def test_counts_follow_power():
    vs = vset([1, 2, 3])
    sched = proposer_schedule(vs)
    assert len(sched) == 6
    counts = Counter(sched)
    assert {vs.by_address[a].power: c for a, c in counts.items()} == {1: 1, 2: 2, 3: 3}


def test_powers_are_divided_by_their_gcd():
    assert proposer_schedule(vset([10, 20, 30])) == proposer_schedule(vset([1, 2, 3]))
    assert len(proposer_schedule(vset([1000, 1000, 1000, 1000]))) == 4


def test_schedule_is_smooth():
    """A heavy validator's turns are spread out, not given in one run."""
    vs = vset([5, 1, 1])
    sched = proposer_schedule(vs)
    heavy = max(vs.validators, key=lambda v: v.power).address
    runs = max(len(run) for run in "".join("H" if a == heavy else "." for a in sched).split("."))
    assert runs <= 3


def test_period_too_long_is_refused():
    with pytest.raises(InvalidError):
        proposer_schedule(vset([100_000, 1]))
    assert len(proposer_schedule(vset([99_999, 1]))) == 100_000


def test_proposer_rotates_with_height_and_round():
    vs = vset([1, 2, 1])
    sched = proposer_schedule(vs)
    for h in range(1, 10):
        for r in range(6):
            assert proposer(vs, h, r) == sched[(h + r) % len(sched)]
    # a failed round hands the turn to the next one in the schedule
    assert proposer(vs, 3, 1) == proposer(vs, 4, 0)


def test_schedule_is_cached():
    vs = vset([3, 1, 4, 1])
    assert proposer_schedule(vs) is proposer_schedule(vs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_every_prefix_is_within_one_turn_of_fair(powers):
    """Smooth WRR: after k slots each validator has had about k * w / W turns (within 2; 1.13 seen)."""
    vs = vset(powers)
    sched = proposer_schedule(vs)
    g = reduce(gcd, powers)
    total = sum(powers) // g
    assert len(sched) == total
    seen = Counter()
    for k, a in enumerate(sched, 1):
        seen[a] += 1
        for v in vs.validators:
            assert abs(seen[v.address] * total - k * (v.power // g)) < 2 * total

"""Proposer selection: smooth weighted round robin over the validator set.

Each validator is chosen in proportion to its voting power. The powers are divided by their gcd so one
period of the schedule is as short as it can be; the period is `sum(powers) / gcd`. Inside a period the
smooth algorithm (nginx's) interleaves validators instead of giving one validator a run of turns: at each
slot every validator's credit grows by its weight, the validator with the most credit (the lowest address
on a tie) proposes and pays back the total weight. After one period every credit is zero again, so the
schedule repeats exactly.

The proposer of (height, round) is `schedule[(height + round) % period]`: a failed round hands the turn to
the next validator in the schedule, and every validator of a period gets its turns whatever the rounds.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

from ..chain.types import MAX_PROPOSER_PERIOD as MAX_PERIOD
from ..chain.types import InvalidError, ValidatorSet


@lru_cache(maxsize=32)
def proposer_schedule(valset: ValidatorSet) -> tuple[bytes, ...]:
    """One period of the weighted round robin, as validator addresses."""
    addresses = [v.address for v in valset.validators]  # sorted by address
    powers = [v.power for v in valset.validators]
    g = 0
    for p in powers:
        g = gcd(g, p)
    weights = [p // g for p in powers]
    period = sum(weights)
    if period > MAX_PERIOD:
        raise InvalidError(f"proposer schedule period {period} exceeds {MAX_PERIOD}: "
                           "choose voting powers with a larger common divisor")
    credit = [0] * len(weights)
    schedule = []
    for _ in range(period):
        best = 0
        for i, w in enumerate(weights):
            credit[i] += w
            if credit[i] > credit[best]:
                best = i
        credit[best] -= period
        schedule.append(addresses[best])
    return tuple(schedule)


def proposer(valset: ValidatorSet, height: int, round: int) -> bytes:
    """The address of the validator that proposes at (height, round)."""
    schedule = proposer_schedule(valset)
    return schedule[(height + round) % len(schedule)]

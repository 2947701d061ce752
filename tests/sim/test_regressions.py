"""Seeds that once failed, pinned with the exact scenario that failed. Never delete one."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from simnet import Scenario, run  # noqa: E402


# A double voter sends one vote to half the network and the other vote to the rest. VoteSet used to count
# only the first vote it saw from a validator, so nodes disagreed forever on whether a polka existed: a
# node locked on a block whose polka the others could never see, and rounds went on past round 12 without
# a decision. Fixed by counting a conflicting vote for the block it names (as Algorithm 1 counts messages
# from distinct senders).
def test_double_voter_split_view_of_polka_seed_15():
    run(Scenario(seed=15, n=4, heights=3, double_voters=(15 % 4,)))


def test_double_voter_split_view_of_polka_seed_34():
    run(Scenario(seed=34, n=4, heights=3, double_voters=(34 % 4,)))


def test_double_voter_split_view_of_polka_seed_40():
    run(Scenario(seed=40, n=4, heights=3, double_voters=(40 % 4,)))

"""The commit a block carries for its parent holds every precommit that arrived during timeout_commit, not
only the first 2/3 (on the simulated production nodes). With all four validators up and links much faster
than timeout_commit, nearly every commit has all four signatures (not every one: a validator that sees
2/3 precommit before it has seen 2/3 prevote decides without precommitting); and once the next block is committed, every node
stores the same commit for a height (the one that block carries)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Scenario, World  # noqa: E402


def _signers(nd, h) -> frozenset:
    return frozenset(s.validator_address for s in nd.driver.store.commit(h).signatures)


def test_commits_carry_the_late_precommits_and_every_node_stores_the_same_one():
    world = World(Scenario(seed=5, txs=0, min_delay=5, max_delay=60))
    for nd in world.nodes:
        nd.boot()
    end = world.sched.now + 30_000
    while world.sched.now < end and min(nd.driver.store.height() for nd in world.nodes) < 8:
        world.sched.run(world.sched.now + 10)
    assert world.failure is None
    top = min(nd.driver.store.height() for nd in world.nodes)
    assert top >= 8
    everyone = frozenset(world.valset.by_address)
    for h in range(1, top):
        commits = {nd.driver.store.commit(h) for nd in world.nodes}
        assert len(commits) == 1, h  # the canonical commit: the one block h + 1 carries
        assert world.nodes[0].driver.store.block(h + 1).last_commit == commits.pop()
    full = [h for h in range(1, top) if _signers(world.nodes[0], h) == everyone]
    assert len(full) >= 0.8 * (top - 1), full  # before late precommits were kept: none (3 of 4 each)

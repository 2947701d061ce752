"""Deterministic simulation of the production node (tests/sim/harness.py): the real Driver, WAL, double-sign
guard, block store and app over a simulated clock, disk and network, under crash and byzantine faults.

Every seed checks, after every simulated step, agreement, validity, no conflicting signature by an honest
validator, locks, block time, bounded WAL / pools / buffers, no ERROR log on an honest node, and progress
after the faults end. A failure prints its one-line replay command; a seed that ever failed is pinned in
test_regressions.py.

Seeds per family below (about 300 in all); PROVCHAIN_SIM_SEEDS=k multiplies them. `pytest -m slow` adds
test_many_seeds (1,000 more); bench/sim_campaign.py runs thousands and counts failures by kind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from harness import CHAIN_ID, FAMILIES, InvariantError, World, run, scenario  # noqa: E402

SCALE = max(1, int(os.environ.get("PROVCHAIN_SIM_SEEDS", "1")))

FAST = {  # family -> seeds in the default (fast) run
    "random": 50, "power_loss": 40, "rack": 40, "withholding": 30, "withholding_junk": 25, "twins": 35,
    "amnesia": 25, "junk": 15, "skew": 15, "double_vote": 25, "valset": 20,
}
CASES = [(family, seed) for family, n in FAST.items() for seed in range(n * SCALE)]


@pytest.mark.parametrize("family,seed", CASES, ids=[f"{f}-{s}" for f, s in CASES])
def test_seed(family, seed):
    world = run(family, seed)
    assert world.checks > 0 and len(world.decided) >= world.sc.heights


def test_every_family_is_in_the_fast_run():
    assert set(FAST) == set(FAMILIES)


def test_faults_are_injected():
    """The families do what they say (a run that injects nothing would pass vacuously)."""
    pl = run("power_loss", 1)
    assert pl.faults["power_loss"] >= 1 and pl.faults["restarts"] >= 1 and pl.faults["isolations"] >= 1
    wh = run("withholding_junk", 1)
    assert wh.faults["withheld"] == 1 and wh.faults["junk_votes"] > 0
    junk = run("junk", 1)
    assert junk.faults["junk_frames"] > 100 and junk.faults["junk_votes"] > 0
    tw = run("twins", 1)
    assert tw.faults["partitions"] >= 1 and any(nd.name.endswith("twin") for nd in tw.nodes)
    dv = run("double_vote", 1)
    assert dv.faults["double_votes"] > 0
    vs = run("valset", 1)  # two validators replaced by spares, each change in force at its height + 2
    assert vs.updates_committed == 2 and len(vs.set_changes) == 2
    last = vs.set_changes[max(vs.set_changes)]
    assert {nd.name for nd in vs.nodes if nd.key.address in last.by_address} >= {"s0", "s1"}


def test_double_voter_is_caught_and_its_evidence_committed():
    found = 0
    for seed in range(5):
        world = run("double_vote", seed, heights=6)
        cheat = world.nodes[world.sc.double_voters[0]].key.address
        evidence = [ev for b in world.decided.values() for ev in b.evidence]
        for ev in evidence:
            ev.verify(CHAIN_ID, world.valset)
            assert ev.vote_a.validator_address == cheat
        found += bool(evidence)
    assert found >= 4, f"evidence committed in only {found} of 5 runs"


def test_runs_are_deterministic():
    a, b = run("power_loss", 3), run("power_loss", 3)
    assert a.summary() == b.summary()
    assert {h: blk.hash for h, blk in a.decided.items()} == {h: blk.hash for h, blk in b.decided.items()}


# found by `bench/sim_campaign.py --families rack --no-wal-sync [--no-lock-check]` (BENCHMARKS.md)
NO_FSYNC_SEEDS = [0, 1, 6]


@pytest.mark.parametrize("seed", NO_FSYNC_SEEDS)
def test_without_the_wal_fsync_a_rack_power_loss_forgets_a_lock_and_forks(monkeypatch, seed):
    """Break the WAL rule on purpose (the WAL is never fsynced, as before issue 12): two validators that
    lose power forget the lock they precommitted on, the simulator catches the lock violation and, with
    the lock check off, the fork it leads to; the failure says how to replay it."""
    from provchain.consensus.wal import WAL
    monkeypatch.setattr(WAL, "sync", lambda self: None)
    with pytest.raises(InvariantError) as failure:
        run("rack", seed)
    assert failure.value.kind == "LOCK"
    assert f"python tests/sim/harness.py rack {seed}" in str(failure.value)
    with pytest.raises(InvariantError) as fork:
        run("rack", seed, check_locks=False, check_errors=False)
    assert fork.value.kind == "AGREEMENT"


@pytest.mark.slow
def test_many_seeds():
    """1,000 more seeds over all families (about 2 min of CPU); bench/sim_campaign.py for thousands."""
    failures = []
    per_family = 1000 // len(FAMILIES) * SCALE
    for family in FAMILIES:
        for seed in range(10_000, 10_000 + per_family):
            try:
                run(family, seed)
            except InvariantError as exc:
                failures.append(str(exc))
    assert not failures, "\n".join(failures)


def test_scenarios_are_drawn_from_the_seed():
    assert scenario("twins", 5) == scenario("twins", 5)
    assert World(scenario("random", 2)).valset == World(scenario("random", 2)).valset

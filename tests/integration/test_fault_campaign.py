"""Real validator processes under registration load with kill -9, WAL tail truncation and SIGSTOP of one or
two validators (provchain/devnet/faults.py): every registration a submitter saw acknowledged as committed
is on every node at the end, and all nodes hold the same block at every height."""

import pytest

from provchain.devnet.faults import run_campaign

pytestmark = pytest.mark.slow

SEED = 12


def test_acknowledged_registrations_survive_faults_without_forks(tmp_path):
    r = run_campaign(tmp_path / "net", SEED, seconds=70)
    print(r.summary())
    print(r.details())
    replay = f"replay: .venv/bin/python bench/fault_campaign.py --seed {SEED} --minutes {70 / 60:.2f} --keep DIR"
    assert sum(r.faults.values()) >= 8, r.summary()
    assert r.acknowledged >= 50, f"too little load got through: {r.summary()}\n{replay}"
    assert not r.forks, f"nodes hold different blocks at heights {r.forks[:10]}\n{replay}"
    assert r.halted_at is None, f"the healed chain stopped committing at height {r.halted_at}\n{replay}"
    assert r.present_on_all == r.acknowledged, f"acknowledged but missing: {r.missing[:10]}\n{replay}"

"""Driver fault handling on the simulated node (issue 12 finding 6): a failed decide is retried, one failing
effect does not drop the others, messages before start are dropped, restarts re-send what was signed."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Scenario, World, run_scenario  # noqa: E402

from provchain.chain.app import NoteApp  # noqa: E402
from provchain.chain.mempool import Mempool  # noqa: E402
from provchain.chain.store import MemoryKV  # noqa: E402
from provchain.consensus.driver import Driver  # noqa: E402
from provchain.consensus.wal import WAL  # noqa: E402


def test_a_decide_that_fails_once_is_retried_and_the_chain_goes_on(monkeypatch):
    real = NoteApp.finalize_block
    failed = []

    def flaky(self, block):
        if block.header.height == 2 and len(failed) < 2:
            failed.append(block.header.height)
            raise OSError("disk full")
        return real(self, block)

    monkeypatch.setattr(NoteApp, "finalize_block", flaky)
    world = run_scenario(Scenario(seed=1, family="random", heights=4, check_errors=False))
    assert len(failed) == 2 and len(world.decided) >= 4
    assert any("committing block 2 failed" in e for e in world.error_logs)


def test_one_failing_effect_does_not_drop_the_others(monkeypatch):
    """The evidence effect raising must not stop the votes of the same step."""
    def broken(self, ev, gossip):
        raise RuntimeError("evidence pool broken")

    monkeypatch.setattr(Driver, "_add_evidence", broken)
    world = run_scenario(Scenario(seed=2, family="double_vote", double_voters=(1,), heights=4,
                                  check_errors=False))
    assert len(world.decided) >= 4
    assert any("failed to carry out Evidence" in e for e in world.error_logs)


def test_messages_before_start_are_dropped_without_error():
    world = World(Scenario(seed=0))
    node = world.nodes[0]
    d = Driver(world.genesis, MemoryKV(), NoteApp(MemoryKV(), "sim-chain", 1000), None, None,
               WAL("/n/cs.wal", files=node.disk), None)
    d.mempool = Mempool(d.app)
    d.on_message("peer", ["vote", [1, 1, 0, b"", 0, b"x" * 20, b"y" * 64]])  # no AttributeError
    d.on_message("peer", ["status", 3])
    assert not d.inbox


def test_a_restarted_validator_re_sends_what_it_signed_without_re_signing():
    world = run_scenario(Scenario(seed=4, heights=2))
    node = world.nodes[0]
    for _ in range(100):  # run on until node 0 has signed votes at the height it will restart at
        h = node.driver.store.height() + 1
        if sum(hasattr(m, "type") for m in node.driver.privval.signed_at(h)) >= 2:
            break
        world.sched.run(world.sched.now + 50)
    signed_before = node.driver.privval.signed_at(h)
    assert signed_before
    node.crash(world.rng)
    sent = []
    orig = world.net.send
    world.net.send = lambda src, dst, frame: (sent.append((src.name, frame)), orig(src, dst, frame))
    sigs_before = world.ledger.signatures
    node.boot()
    from provchain.chain.encoding import decode
    resent = {tuple(decode(f)[1]) for n, f in sent if n == node.name and decode(f)[0] == "vote"}
    for v in signed_before:
        if hasattr(v, "type"):
            assert tuple(v.to_obj()) in resent
    assert world.ledger.signatures - sigs_before <= len(signed_before)  # repeats only, nothing new

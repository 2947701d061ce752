"""Block sync on the simulated production node: a validator cut off while the others decide catches up
through its own `get_block` requests (one path, one block behind or several); the peer it asks first,
which never answers, is passed over after the retry time, and no block is asked for twice or once it is
on its way into consensus."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from harness import Scenario, World  # noqa: E402

from provchain.chain.encoding import decode  # noqa: E402
from provchain.consensus.blocksync import RETRY_S  # noqa: E402
from provchain.consensus.machine import CommitReceived  # noqa: E402


def _run_until(world: World, cond, limit_ms: int) -> bool:
    end = world.sched.now + limit_ms
    while world.sched.now < end and not cond():
        world.sched.run(world.sched.now + 10)
    return cond()


@pytest.mark.parametrize("behind", [1, 3])
def test_a_node_behind_catches_up_by_its_requests_and_passes_over_a_silent_peer(behind):
    world = World(Scenario(seed=7, txs=0))
    for nd in world.nodes:
        nd.boot()
    lagger, others = world.nodes[3], world.nodes[:3]

    def height(nd):
        return nd.driver.store.height()

    assert _run_until(world, lambda: min(map(height, world.nodes)) >= 1, 20_000)
    start = height(lagger)
    world._isolated = [(10**9, lagger)]  # its cable is cut while the others decide `behind` heights
    assert _run_until(world, lambda: min(map(height, others)) >= start + behind, 30_000)
    assert height(lagger) == start

    asked: list[tuple[int, str, int]] = []  # (time ms, peer, height) of the lagger's requests
    silent: list[str] = []  # the first peer asked: it never answers
    needless: list[int] = []  # heights asked for while their block was already going into consensus
    send = world.net.send

    def filtered(src, dst, frame):
        msg = decode(frame)
        if src is lagger and msg[0] == "get_block":
            silent[:] = silent or [dst.name]
            asked.append((world.sched.now, dst.name, msg[1]))
            d = lagger.driver
            if msg[1] <= d.store.height() or any(isinstance(ev, CommitReceived) and ev.block.header.height == msg[1]
                                                 for ev in d.inbox):
                needless.append(msg[1])
            if dst.name in silent:
                return
        if dst is lagger and msg[0] == "block" and (src.name in silent or not any(
                p == src.name and h == msg[1][0][1] for _, p, h in asked)):
            return  # only answers to its requests reach it: no catching up by other means
        send(src, dst, frame)

    world.net.send = filtered
    world._isolated = []
    assert _run_until(world, lambda: height(lagger) >= start + behind, 20_000), asked
    assert world.failure is None

    first = asked[0]
    assert first[2] == start + 1  # from the height it is at
    assert {h for _, _, h in asked} >= set(range(start + 1, start + behind + 1))
    for t, peer, h in asked:
        if peer in silent and h <= start + behind:  # asked again, of another peer, once the retry time is over
            later = [(t2, p2) for t2, p2, h2 in asked if h2 == h and t2 > t]
            assert later and later[0][1] not in silent, (h, asked)
            assert RETRY_S * 1000 <= later[0][0] - t <= RETRY_S * 1000 + 1500, asked
    for i, (t, peer, h) in enumerate(asked):  # never asked twice while a request is outstanding
        assert not any(h2 == h and t2 - t < RETRY_S * 1000 for t2, _, h2 in asked[i + 1:]), asked
    answering = [h for _, peer, h in asked if peer not in silent]
    assert len(answering) == len(set(answering)), asked  # a block that came is not fetched twice
    assert not needless, (needless, asked)

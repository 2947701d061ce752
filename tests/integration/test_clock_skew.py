"""A validator whose clock is wrong, as real OS processes: validator 3 runs under libfaketime (Debian's
`faketime`, installed by scripts/setup.sh), first 120 s ahead of the others, then restarted 120 s behind.
Block time is the weighted median of the commit's vote timestamps (docs/protocol.md, "BFT time"), so one
wrong clock of four must not move it: every block's time lies between the parent's and the honest
clock, the chain keeps its pace, the skewed validator keeps signing, and no node logs an ERROR."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from provchain.chain.jsonfmt import parse_rfc3339_ms
from provchain.devnet.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
SKEW_S = 120


def block_times(cluster: Cluster, node: int, heights) -> dict[int, int]:
    out = {}
    for h in heights:
        _, b = cluster.rpc(node, f"/block?height={h}")
        out[h] = parse_rfc3339_ms(b["result"]["block"]["header"]["time"])
    return out


def signed_by(cluster: Cluster, node: int, height: int) -> set[str]:
    _, c = cluster.rpc(node, f"/commit?height={height}")
    return {s["validator_address"] for s in c["result"]["signed_header"]["commit"]["signatures"]
            if s["block_id_flag"] == 2}


@pytest.mark.parametrize("skews", [(f"+{SKEW_S}s", f"-{SKEW_S}s")])
def test_one_validator_with_a_wrong_clock_moves_no_block_time(tmp_path, skews):
    if not LIBFAKETIME.exists():
        pytest.fail(f"{LIBFAKETIME} is missing: run scripts/setup.sh (apt faketime)")
    cluster = Cluster(tmp_path / "net", n=4)
    v3 = None
    try:
        cluster.start_all()
        for skew in skews:
            cluster.signal(3, signal.SIGTERM)  # then start it again with the wrong clock
            cluster.node_env[3] = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": skew,
                                   "FAKETIME_DONT_FAKE_MONOTONIC": "1"}  # timers run normally
            cluster.start(3)
            start = cluster.height(0)
            t0 = time.time()
            cluster.wait_height(0, start + 10, timeout=60)
            assert time.time() - t0 < 30, f"10 blocks took {time.time() - t0:.0f} s with a clock {skew}"
            cluster.wait_height(3, start + 10, timeout=30)  # the skewed node follows the chain too
            now_ms = time.time() * 1000
            times = block_times(cluster, 0, range(start, start + 11))
            for h in range(start + 1, start + 11):
                assert times[h] > times[h - 1], (skew, h, times)
                assert times[h] <= now_ms + 1000, (skew, h, times[h] - now_ms)  # never ahead of honest clocks
            assert times[start + 10] > now_ms - 30_000, (skew, times[start + 10] - now_ms)  # nor far behind
            if v3 is None:
                _, st = cluster.rpc(3, "/status")
                v3 = st["result"]["validator_info"]["address"]
            assert any(v3 in signed_by(cluster, 0, h) for h in range(start + 2, start + 10)), skew
    finally:
        cluster.stop_all()
    for i in range(4):
        assert not cluster.error_lines(i), (i, cluster.error_lines(i)[:5])

"""A real validator process's /metrics (Prometheus text) and JSON logs: the values move with the chain."""

import json
import signal
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from provchain.chain import crypto
from provchain.chain.tx import SignedTx

pytestmark = pytest.mark.slow


def scrape(cluster, i) -> dict:
    """{(name, labels...): value} of one node's metrics."""
    with urllib.request.urlopen(cluster.metrics_url(i), timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, *sorted(s.labels.values()))] = s.value
    return out


def test_metrics_move_with_the_chain(cluster):
    node0 = cluster.homes[0] / "config" / "config.toml"
    node0.write_text(node0.read_text().replace('log_format = "text"', 'log_format = "json"'))
    cluster.signal(0, signal.SIGTERM)
    cluster.start(0)
    cluster.wait_height(0, 2)
    before = scrape(cluster, 0)
    assert before[("provchain_p2p_peers",)] == 3
    assert before[("provchain_consensus_validators",)] == 4
    assert before[("provchain_consensus_validators_power",)] == 40
    key = crypto.PrivateKey.generate()
    for nonce in range(5):
        tx = SignedTx.create(key, "provchain-devnet", "note", nonce, b"m%d" % nonce).encode()
        status, body = cluster.rpc(0, "/broadcast_tx?wait=commit", tx, content_type="application/octet-stream")
        assert status == 200 and body["result"]["code"] == 0, body
    # one validator stops signing: every later commit misses it
    address = crypto.PrivateKey.load(cluster.homes[3] / "config" / "priv_validator_key.pem").address.hex().upper()
    cluster.signal(3, signal.SIGKILL)
    h = cluster.height(0)
    cluster.wait_height(0, h + 3)
    after = scrape(cluster, 0)
    assert after[("provchain_consensus_height",)] >= before[("provchain_consensus_height",)] + 3
    assert after[("provchain_consensus_latest_block_height",)] >= h + 3
    assert after[("provchain_consensus_txs_total",)] - before.get(("provchain_consensus_txs_total",), 0) == 5
    assert after[("provchain_consensus_wal_fsync_seconds_count",)] > before[("provchain_consensus_wal_fsync_seconds_count",)]
    assert after[("provchain_consensus_block_interval_seconds_count",)] >= 3
    assert after[("provchain_consensus_missing_validators",)] == 1
    assert after[("provchain_consensus_missed_signatures_total", address)] >= 2
    assert after[("provchain_p2p_peers",)] == 2
    assert ("provchain_mempool_size",) in after and ("provchain_consensus_rounds",) in after
    # the restarted node logged JSON: one object per line with the documented fields
    lines = [ln for ln in cluster.log(0).splitlines() if ln.startswith("{")]
    assert any(json.loads(ln)["msg"].startswith("committed block") for ln in lines)
    assert all({"ts", "level", "logger", "msg"} <= json.loads(ln).keys() for ln in lines)

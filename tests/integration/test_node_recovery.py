"""A real validator process whose LevelDB was damaged (log corrupted mid-file after a kill -9) or whose app
state disagrees with its blocks: it refuses to start with a one-line error, `--repair-db` brings it back,
and it block-syncs what it lost from the other three."""

import os
import signal
import subprocess
import sys

import pytest

from provchain.chain import crypto, schema
from provchain.chain.encoding import encode
from provchain.chain.store import LevelDBKV
from provchain.chain.tx import SignedTx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from leveldb_damage import largest_log, log_records, smash  # noqa: E402

pytestmark = pytest.mark.slow

CHAIN = "provchain-devnet"


def node(home, *extra):
    return subprocess.run([sys.executable, "-m", "provchain", "node", "--home", str(home), *extra],
                          capture_output=True, text=True, timeout=120)


def test_corrupted_store_refuses_to_start_then_repair_and_block_sync(cluster):
    key = crypto.PrivateKey.generate()
    committed = []
    for nonce in range(6):
        tx = SignedTx.create(key, CHAIN, "note", nonce, b"before the damage %d" % nonce).encode()
        status, body = cluster.rpc(nonce % 4, "/broadcast_tx?wait=commit", tx, content_type="application/octet-stream")
        assert status == 200 and body["result"]["code"] == 0, body
        committed.append(body["result"]["hash"])
    cluster.wait_height(1, cluster.height(0))
    cluster.signal(1, signal.SIGKILL)
    db = cluster.homes[1] / "data" / "state.db"
    log = largest_log(db)
    records = log_records(log)
    assert len(records) >= 4, records
    offset, _ = records[len(records) // 2]  # a block batch in the middle of the log
    smash(log, offset + 20)

    r = node(cluster.homes[1])
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert str(db) in last and "is corrupted" in last and f"--home {cluster.homes[1]} --repair-db" in last, last

    r = node(cluster.homes[1], "--repair-db")
    assert r.returncode == 0, r.stderr
    assert "repaired" in r.stdout and "dropped" in r.stdout, r.stdout

    cluster.start(1)
    tip = cluster.height(0) + 2
    for i in range(4):
        cluster.wait_height(i, tip, timeout=60)
    assert not cluster.fork_heights(range(4), tip), "fork"
    for tx_hash in committed:
        status, body = cluster.rpc(1, f"/tx?hash={tx_hash}")
        assert status == 200, (tx_hash, body)


def test_app_state_that_disagrees_with_the_blocks_refuses_to_start(cluster):
    cluster.wait_height(2, 3)
    cluster.signal(2, signal.SIGTERM)
    kv = LevelDBKV(cluster.homes[2] / "data" / "state.db")
    h = kv.get(schema.APP_STATE)
    from provchain.chain.encoding import decode
    height, _ = decode(h)
    kv.write({schema.APP_STATE: encode([height, b"\x01" * 32])})
    kv.close()
    r = node(cluster.homes[2])
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"error: app hash mismatch at height {height}" in r.stderr.strip().splitlines()[-1]

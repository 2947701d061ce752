"""A process killed with SIGKILL in the middle of LevelDB batches (as a node is, mid-commit): on reopen the
database opens without a corruption error and each batch is there entirely or not at all."""

import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from provchain.chain.store import LevelDBKV

pytestmark = pytest.mark.slow

KEYS_PER_BATCH = 400

WRITER = textwrap.dedent(f"""
    import os, sys
    from provchain.chain.store import LevelDBKV
    kv = LevelDBKV(sys.argv[1])
    i = int(sys.argv[2])
    print("ready", flush=True)
    while True:  # batches of {KEYS_PER_BATCH} keys plus the number of the last batch, as a commit writes them
        batch = {{b"n/%08d/%04d" % (i, j): os.urandom(300) for j in range({KEYS_PER_BATCH})}}
        batch[b"last"] = b"%d" % i
        kv.write(batch, sync=True)
        i += 1
""")


def test_batches_are_all_or_nothing_after_kill_9(tmp_path):
    rng = random.Random(5)
    db = tmp_path / "state.db"
    nxt, checked = 0, 0
    for _ in range(12):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(nxt)], stdout=subprocess.PIPE)
        assert p.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.6))
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        kv = LevelDBKV(db)  # raises StoreError if the kill left a damaged database
        try:
            raw = kv.get(b"last")
            last = int(raw) if raw is not None else nxt - 1
            assert last >= nxt - 1
            for i in range(nxt, last + 1):
                assert sum(1 for _ in kv.iterate(b"n/%08d/" % i)) == KEYS_PER_BATCH, f"batch {i} is partial"
            assert next(iter(kv.iterate(b"n/%08d/" % (last + 1))), None) is None, "a batch after the last"
            checked += last + 1 - nxt
        finally:
            kv.close()
        nxt = last + 1
    assert checked >= 12, "the writer hardly wrote anything: the test checked nothing"

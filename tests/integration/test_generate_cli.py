"""`provchain generate` as a user runs it: plain-words prompt, one clean line for ignored words, one
message when the node is down, and "(already registered by ...)" when the clip is already on chain."""

import os
import subprocess
import sys

import pytest

from provchain.chain.crypto import PrivateKey
from provchain.devnet.cluster import Cluster, free_base_port

pytestmark = pytest.mark.slow
pytest.importorskip("torch")

PROMPT = "a red ball moving slowly to the right"


def run(args, tmp_path, key):
    env = {**os.environ, "PROVCHAIN_KEY": str(key)}
    return subprocess.run([sys.executable, "-m", "provchain", "generate", PROMPT, "--seconds", "0.5", "--seed", "3",
                           "--outbox", str(tmp_path / "outbox"), *args], capture_output=True, text=True,
                          timeout=600, env=env)


def test_generate_in_plain_words_node_down_then_up_then_again(tmp_path):
    key = tmp_path / "creator.pem"
    PrivateKey.generate().save(key, None)
    pub = PrivateKey.load(key, None).pubkey.hex().upper()
    down = f"http://127.0.0.1:{free_base_port(1) + 1}"  # nothing listens there
    out = run(["-o", str(tmp_path / "a.mp4"), "--node", down], tmp_path, key)
    assert out.returncode == 4, out.stderr
    err = out.stderr
    assert "note: ignored words the model does not know: slowly" in err
    assert 'prompt understood as: "a red circle moving left to right"' in err
    assert "UserWarning" not in err and "Warning" not in err and "Traceback" not in err
    assert err.count("not delivered") == 1 and "outbox flush" in err
    assert "frames/s" in err and "150000" not in err

    net = Cluster(tmp_path / "net", n=1, app="provenance")
    net.start_all()
    try:
        flush = subprocess.run([sys.executable, "-m", "provchain", "outbox", "flush", "--node", net.url(0),
                                "--outbox", str(tmp_path / "outbox")], capture_output=True, text=True,
                               timeout=300, env={**os.environ, "PROVCHAIN_KEY": str(key)})
        assert flush.returncode == 0, flush.stderr
        assert "a.mp4: record" in flush.stdout and "0 left" in flush.stderr
        again = run(["-o", str(tmp_path / "b.mp4"), "--node", net.url(0)], tmp_path, key)
        assert again.returncode == 0, again.stderr
        assert "(already registered by you at height" in again.stdout  # same prompt + seed: the same clip
        other = tmp_path / "other.pem"
        PrivateKey.generate().save(other, None)
        third = run(["-o", str(tmp_path / "c.mp4"), "--node", net.url(0), "--key", str(other)], tmp_path, key)
        assert third.returncode == 0, third.stderr
        assert f"(already registered by {pub} at height" in third.stdout
    finally:
        net.stop_all()

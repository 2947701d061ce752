"""The registration hook for any generator, its durable outbox, on a real devnet."""

import os
import subprocess
import sys

import numpy as np
import pytest

from provchain.chain.crypto import PrivateKey
from provchain.devnet.cluster import Cluster
from provchain.generator.hooks import Hook, Outbox, _write_frames, registered
from provchain.provenance.client import NodeClient
from provchain.provenance.verify import load_trust, verify_file

pytestmark = pytest.mark.slow


def frames(seed: int, n: int = 48, size: int = 128) -> np.ndarray:
    """A textured scene with a moving square: what a third-party pipeline might return."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    out = np.repeat(base[None], n, 0).copy()
    for t in range(n):
        x = 4 + t * 2
        out[t, 40:72, x:x + 32] = (255, 40, 40)
    return out


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("hooks") / "net", n=4, app="provenance")
    c.start_all()
    yield c
    c.stop_all()


def test_decorated_pipeline_output_is_registered_and_verifies(net, tmp_path):
    key = PrivateKey.generate()

    @registered(node=net.url(0), key=key, model="plain-function", outbox=str(tmp_path / "outbox"), fps=12)
    def pipeline(prompt: str, seed: int = 0):
        return frames(seed)

    path, reg = pipeline("a red square sliding right", seed=5)
    assert reg is not None and not reg.existing and reg.height >= 1
    net.wait_height(1, reg.height)  # registered through node0; node1 may be a few ms behind
    client = NodeClient(net.url(1))
    genesis, trust = load_trust(client, str(net.homes[0] / "config/genesis.json"))
    res = verify_file(path, client, genesis, trust)
    assert res["verdict"] == "verified"
    assert res["matches"][0]["generator"]["model"] == "plain-function"
    assert res["matches"][0]["generator"]["seed"] == "5"  # 64-bit: a decimal string, as in the RPC
    assert Outbox(tmp_path / "outbox").pending() == []


def test_outbox_keeps_registrations_while_the_node_is_down(net, tmp_path):
    key = PrivateKey.generate()
    clip = _write_frames(frames(7), 12)
    box = Outbox(tmp_path / "outbox")
    down = Hook("http://127.0.0.1:9", key, box, "m")
    assert down.register(clip, prompt="p", seed=1) is None
    assert len(box.pending()) == 1
    up = Hook(net.url(2), key, box, "m")
    done, errors = box.deliver(up.client, key)
    assert errors == [] and len(done) == 1 and not done[0][1].existing
    assert box.pending() == []
    # exactly once: the same content again is answered with the existing record
    again = up.register(clip, prompt="p", seed=1)
    assert again.existing and again.record_id == done[0][1].record_id


def test_a_killed_generator_process_loses_nothing(net, tmp_path):
    keyfile = tmp_path / "creator.pem"
    PrivateKey.generate().save(keyfile)
    box_dir = tmp_path / "outbox"
    script = f"""
import os, signal, sys
sys.path.insert(0, {os.getcwd()!r})
from provchain.chain.crypto import PrivateKey
from provchain.generator.hooks import Hook, Outbox, _write_frames
from tests.integration.test_hooks import frames
hook = Hook({net.url(0)!r}, PrivateKey.load({str(keyfile)!r}), Outbox({str(box_dir)!r}), "m")
hook.enqueue(_write_frames(frames(11), 12), prompt="killed", seed=11)
os.kill(os.getpid(), signal.SIGKILL)  # dies after the durable write, before any delivery
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert p.returncode == -9, p.stderr
    assert len(Outbox(box_dir).pending()) == 1
    flush = [sys.executable, "-m", "provchain", "outbox", "flush", "--node", net.url(3), "--key", str(keyfile),
             "--outbox", str(box_dir)]
    out = subprocess.run(flush, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "record" in out.stdout and Outbox(box_dir).pending() == []
    out2 = subprocess.run(flush, capture_output=True, text=True, timeout=120)
    assert out2.returncode == 0 and out2.stdout == ""

"""A validator added and another removed on chain, on real node processes (loopback cluster), and `verify`
checking a record committed under the old set and one under the new set from the genesis file alone.

Five nodes run; the genesis holds node0..node3. The operators' commands (`provchain validators propose`,
`sign` by three of four, `submit`) add node4 and remove node3. Then node3 and node0 are stopped: the
chain only keeps committing if node4 signs (node1, node2 and node4 hold 30 of the new 40).
"""

import base64
import json
import os
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import corpus  # noqa: E402

from provchain.chain import crypto  # noqa: E402
from provchain.devnet.cluster import Cluster  # noqa: E402

pytestmark = pytest.mark.slow


def run(*args):
    p = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=180)
    return p


def pubkey(cluster, i) -> str:
    return crypto.PrivateKey.load(cluster.homes[i] / "config" / "priv_validator_key.pem").pubkey.hex()


def address(cluster, i) -> str:
    return crypto.PrivateKey.load(cluster.homes[i] / "config" / "priv_validator_key.pem").address.hex().upper()


def signers(cluster, node, height) -> set[str]:
    _, body = cluster.rpc(node, f"/commit?height={height}")
    return {s["validator_address"] for s in body["result"]["signed_header"]["commit"]["signatures"]
            if s["block_id_flag"] == 2}


def test_validator_added_and_removed_and_verify_follows(tmp_path):
    c = Cluster(tmp_path / "net", n=5, app="provenance", genesis_validators=4)
    c.start_all()
    try:
        clips = tmp_path / "clips"
        clips.mkdir()
        old = corpus.make_source(str(clips), "old", "natural", 21, width=192, height=108, seconds=4)
        new = corpus.make_source(str(clips), "new", "striped", 22, width=192, height=108, seconds=4)
        key = tmp_path / "creator.pem"
        p = run("provchain", "register", "--node", c.url(0), "--key", str(key), "--json", old)
        assert p.returncode == 0, p.stderr
        old_height = json.loads(p.stdout)[0]["height"]
        assert address(c, 4) not in signers(c, 0, old_height)

        upd = tmp_path / "upd.json"
        p = run("provchain", "validators", "propose", "--node", c.url(0), "--set", f"{pubkey(c, 4)}=10",
                "--set", f"{pubkey(c, 3)}=0", "-o", str(upd))
        assert p.returncode == 0, p.stderr
        p = run("provchain", "validators", "sign", str(upd), "--home", str(c.homes[0]))
        assert p.returncode == 0, p.stderr
        # two of four signatures are not more than 2/3: refused with the reason
        p = run("provchain", "validators", "submit", str(upd), "--node", c.url(1))
        assert p.returncode == 1 and "needs more than 2/3" in p.stderr, p.stderr + p.stdout
        for i in (1, 2):
            assert run("provchain", "validators", "sign", str(upd), "--home", str(c.homes[i])).returncode == 0
        p = run("provchain", "validators", "submit", str(upd), "--node", c.url(1))
        assert p.returncode == 0, p.stderr
        h = int(p.stdout.split("committed at height ")[1].split(";")[0])
        _, res = c.rpc(1, f"/block_results?height={h}")
        assert {(u["pub_key"]["value"], u["power"]) for u in res["result"]["validator_updates"]} == {
            (base64.b64encode(bytes.fromhex(pubkey(c, 4))).decode(), "10"),
            (base64.b64encode(bytes.fromhex(pubkey(c, 3))).decode(), "0")}
        c.wait_height(0, h + 3)
        _, vals = c.rpc(0, f"/validators?height={h + 2}")
        now = {v["address"] for v in vals["result"]["validators"]}
        assert now == {address(c, i) for i in (0, 1, 2, 4)}
        _, before = c.rpc(0, f"/validators?height={h + 1}")
        assert {v["address"] for v in before["result"]["validators"]} == {address(c, i) for i in range(4)}
        assert signers(c, 0, h + 2) <= now and address(c, 3) not in signers(c, 0, h + 2)
        # replaying the same signed update is refused
        p = run("provchain", "validators", "submit", str(upd), "--node", c.url(1))
        assert p.returncode == 1 and "replayed" in p.stderr, p.stderr

        # without node3 (removed) and node0, only node4's signature makes 2/3 of the new set
        c.signal(3, signal.SIGTERM)
        c.signal(0, signal.SIGTERM)
        p = run("provchain", "register", "--node", c.url(1), "--key", str(key), "--json", new)
        assert p.returncode == 0, p.stderr
        new_height = json.loads(p.stdout)[0]["height"]
        assert new_height > h + 2 and address(c, 4) in signers(c, 1, new_height)
        c.wait_height(4, new_height)

        genesis = c.homes[0] / "config" / "genesis.json"
        for clip, height in ((old, old_height), (new, new_height)):
            p = run("provchain.provenance.verify", "--json", "--node", c.url(4), "--genesis", str(genesis), clip)
            out = json.loads(p.stdout)
            assert p.returncode == 0 and out["verdict"] == "verified", (p.stdout, p.stderr)
            checks = {ch["name"]: ch for ch in out["matches"][0]["proof"]["checks"]}
            assert checks["light_client"]["ok"] and f"height {height} verified from the genesis" in \
                checks["light_client"]["detail"], checks["light_client"]
            assert all(ch["ok"] for ch in checks.values())
        # the new record's commit (node1, node2, node4) holds 20 of the genesis set's 40: a skip from the
        # genesis is trusted (> 1/3), and > 2/3 of the new set signed it
        assert "skipping" in checks["light_client"]["detail"]
        assert "Traceback" not in c.log(4) and "Traceback" not in c.log(1)
    finally:
        c.stop_all()

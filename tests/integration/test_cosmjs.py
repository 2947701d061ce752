"""Stock @cosmjs/tendermint-rpc 0.39 (npm, pinned in tests/js/package-lock.json; no adapter) against a
real devnet of `provchain node` processes, over HTTP (JSON-RPC POST) and the websocket: every call must
decode, and what it decodes must equal what the Python side reads from the same chain.
scripts/setup.sh installs Node (Debian) and the npm packages (`npm ci`)."""

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from provchain.chain import crypto
from provchain.chain import jsonfmt as jf
from provchain.chain.tx import SignedTx
from provchain.chain.types import tx_hash
from provchain.devnet.cluster import Cluster
from tests.unit.test_provenance_app import record

pytestmark = pytest.mark.slow

JS = Path(__file__).resolve().parents[1] / "js"
CHAIN = "provchain-devnet"
CLIENTS = ["Tendermint37Client", "Comet38Client", "Comet1Client"]


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    if shutil.which("node") is None or not (JS / "node_modules" / "@cosmjs" / "tendermint-rpc").is_dir():
        pytest.fail("node or tests/js/node_modules is missing: run scripts/setup.sh (apt nodejs npm; npm ci)")
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip().lstrip("v")
    if tuple(int(x) for x in version.split(".")[:2]) < (20, 19):  # cosmjs 0.39 require()s ESM-only @noble
        pytest.fail(f"node {version} is too old for @cosmjs/tendermint-rpc 0.39: it needs >= 20.19")
    c = Cluster(tmp_path_factory.mktemp("cosmjs") / "net", n=4, app="provenance")
    c.start_all()
    try:
        yield c
    finally:
        c.stop_all()


def test_cosmjs_clients_decode_every_call_with_the_right_values(chain):
    key = crypto.PrivateKey.generate()
    tx = record(1000).sign(key, CHAIN, 0).encode()
    st, body = chain.rpc(0, "/broadcast_tx?wait=commit&timeout=60", tx, content_type="application/octet-stream")
    assert st == 200 and body["result"]["code"] == 0, body
    height = int(body["result"]["height"])
    chain.wait_height(0, height + 1)  # so that height - 1, height and height + 1 all exist
    seed = iter(range(2000, 3000))
    clients = {}
    for name in CLIENTS:
        signed = {}
        for kind in ("sync", "async", "commit", "wsTx"):
            k = crypto.PrivateKey.generate()
            signed[kind] = b64(record(next(seed)).sign(k, CHAIN, 0).encode())
            if kind == "wsTx":
                signed["wsCreator"] = k.pubkey.hex().upper()
        clients[name] = signed
    junk = SignedTx.create(key, "another-chain", "register_clip", 1, record(1).to_obj()).encode()
    url = chain.url(0)
    payload = {"http": url, "ws": url.replace("http://", "ws://"), "height": height,
               "txHash": tx_hash(tx).hex().upper(), "recordId": tx_hash(tx).hex().upper(),
               "creator": key.pubkey.hex().upper(), "junkTx": b64(junk), "clients": clients}
    proc = subprocess.run(["node", str(JS / "cosmjs_suite.js")], input=json.dumps(payload), capture_output=True,
                          text=True, timeout=600, cwd=JS)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "fatal" not in report, report.get("fatal")
    print(json.dumps({n: {t: {c: r.get("ok", r) if isinstance(r, dict) else r for c, r in v.items()}
                          for t, v in report["clients"][n].items()} for n in CLIENTS}, indent=1))
    assert report["connectComet"] == "Comet38Client"  # picked by node_info.version "0.38.…"

    # what the Python side reads from the same chain (another node: they all agree)
    _, blk = chain.rpc(1, f"/block?height={height}")
    _, prev = chain.rpc(1, f"/block?height={height - 1}")
    _, gen = chain.rpc(1, "/genesis")
    genesis = jf.genesis_from_json(gen["result"]["genesis"])
    block_hash = blk["result"]["block_id"]["hash"]
    header = blk["result"]["block"]["header"]
    vals = sorted(v.address.hex().upper() for v in genesis.validators.validators)

    batch = report["batch"]  # seven calls in one JSON-RPC batch (HttpBatchClient)
    assert all(batch[n]["ok"] for n in batch if n != "missingBlock"), batch
    assert batch["block"]["value"]["blockId"]["hash"] == block_hash and batch["tx"]["value"]["height"] == height
    assert batch["commit"]["value"]["commit"]["blockId"]["hash"] == block_hash
    assert not batch["missingBlock"]["ok"] and "-32603" in batch["missingBlock"]["error"]

    for name in CLIENTS:
        http, ws = report["clients"][name]["http"], report["clients"][name]["ws"]
        failed = {call: r["error"] for call, r in http.items() if isinstance(r, dict) and not r["ok"]}
        assert not failed, (name, failed)
        v = {call: r["value"] for call, r in http.items() if isinstance(r, dict)}
        st = v["status"]
        assert st["nodeInfo"]["network"] == CHAIN and st["nodeInfo"]["version"].startswith("0.38.")
        assert st["syncInfo"]["latestBlockHeight"] >= height + 1 and st["syncInfo"]["catchingUp"] is False
        assert st["validatorInfo"]["address"] in vals and st["validatorInfo"]["votingPower"] == "10"
        assert v["health"] is None
        assert v["abciInfo"]["lastBlockHeight"] >= height + 1 and v["abciInfo"]["data"] == "provenance"
        q = v["abciQuery"]
        assert q["code"] == 0 and json.loads(bytes.fromhex(q["value"]))["record_id"] == tx_hash(tx).hex().upper()
        assert v["abciQueryMissing"]["code"] == 3
        b = v["block"]
        assert b["blockId"]["hash"] == block_hash == chain.block_hash(2, height).upper()
        assert b["blockId"]["parts"]["total"] == 1
        assert b["block"]["header"]["height"] == height and b["block"]["header"]["appHash"] == header["app_hash"]
        assert b["block"]["header"]["dataHash"] == header["data_hash"]
        assert b["block"]["header"]["lastBlockId"]["hash"] == prev["result"]["block_id"]["hash"]
        assert b["block"]["header"]["lastBlockId"]["parts"] == prev["result"]["block_id"]["parts"]
        assert b["block"]["lastCommit"]["blockId"]["hash"] == prev["result"]["block_id"]["hash"]
        assert base64.b64encode(bytes.fromhex(b["block"]["txs"][0])).decode() == b64(tx)
        assert v["block1"]["block"]["lastCommit"] is None and v["block1"]["block"]["header"]["lastBlockId"] is None
        assert v["blockLatest"]["block"]["header"]["height"] >= height + 1
        assert v["blockPrev"]["blockId"]["hash"] == prev["result"]["block_id"]["hash"]
        br = v["blockResults"]
        assert br["height"] == height and br["results"][0]["code"] == 0
        ev = {e["type"]: {a["key"]: a["value"] for a in e["attributes"]} for e in br["results"][0]["events"]}
        assert ev["register_clip"]["creator"] == key.pubkey.hex().upper()
        assert v["blockSearch"]["totalCount"] == 1 and v["blockSearch"]["blocks"][0]["blockId"]["hash"] == block_hash
        assert height in [x["block"]["header"]["height"] for x in v["blockSearchAll"]["blocks"]]
        metas = v["blockchain"]["blockMetas"]
        assert metas[0]["header"]["height"] == height and metas[0]["blockId"]["hash"] == block_hash
        assert all(m["blockSize"] > 0 for m in metas) and metas[0]["numTxs"] >= 1
        cm = v["commit"]
        assert cm["canonical"] is True and cm["commit"]["blockId"]["hash"] == block_hash
        signers = [s["validatorAddress"] for s in cm["commit"]["signatures"] if s["blockIdFlag"] == 2]
        assert len(signers) >= 3 and set(signers) <= set(vals)
        g = v["genesis"]
        assert g["chainId"] == CHAIN and g["appHash"] == "" and len(g["validators"]) == 4
        assert v["numUnconfirmedTxs"]["total"] >= 0
        t = v["tx"]
        assert t["hash"] == tx_hash(tx).hex().upper() and t["height"] == height and t["result"]["code"] == 0
        assert t["proof"]["rootHash"] == header["data_hash"]
        assert http["txProofVerified"] is True and http["forgedProofVerified"] is False
        assert v["txSearch"]["totalCount"] == 1 and v["txSearch"]["txs"][0]["hash"] == t["hash"]
        assert t["hash"] in [x["hash"] for x in v["txSearchAll"]["txs"]]
        assert v["validators"]["total"] == 4 and v["validators"]["count"] == 2 and len(v["validators"]["validators"]) == 2
        assert sorted(x["address"] for x in v["validatorsAll"]["validators"]) == vals
        for kind in ("broadcastTxSync", "broadcastTxAsync"):
            assert v[kind]["code"] == 0, (name, kind, v[kind])
            assert v[kind]["hash"] == tx_hash(base64.b64decode(clients[name][kind[11:].lower()])).hex().upper()
        c = v["broadcastTxCommit"]
        assert c["checkTx"]["code"] == 0 and c["height"] > height
        if name != "Tendermint37Client":  # 0.37 called it deliver_tx; 0.38 answers tx_result
            assert c["txResult"]["code"] == 0
        assert v["broadcastTxSyncRejected"]["code"] != 0 and "signature" in v["broadcastTxSyncRejected"]["log"]
        # the websocket: calls, two consecutive NewBlocks, a header, and the Tx event of the tx sent over it
        for call in ("status", "block", "broadcast", "newBlocks", "newBlockHeaders", "txEvents"):
            assert ws[call]["ok"], (name, call, ws[call].get("error"))
        assert ws["block"]["value"]["blockId"]["hash"] == block_hash
        hs = [x["header"]["height"] for x in ws["newBlocks"]["value"]]
        assert hs[1] == hs[0] + 1
        assert ws["newBlockHeaders"]["value"][0]["height"] >= hs[0] - 1
        te = ws["txEvents"]["value"][0]
        assert te["hash"] == ws["broadcast"]["value"]["hash"] and te["result"]["code"] == 0 and te["height"] > height

"""`provchain init` and `show-node-id`: a full node's home from a genesis file (ours or CometBFT's shape),
clear errors for bad seeds, a wrong genesis hash and an existing home."""

from __future__ import annotations

import json

from provchain.chain import crypto
from provchain.chain import jsonfmt as jf
from provchain.cli import main
from provchain.consensus.node import Home
from provchain.consensus.nodekey import node_id
from provchain.devnet.testnet import write_testnet


def test_init_writes_a_full_node_home(tmp_path, capsys):
    net = write_testnet(tmp_path / "net", 2, base_port=20000, app_name="note")
    seed = f"{node_id(crypto.PrivateKey.load(Home(net[0]).node_key).pubkey)}@10.0.0.1:26656"
    genesis = Home(net[0]).load_genesis()
    assert main(["init", "--home", str(tmp_path / "full"), "--genesis", str(Home(net[0]).genesis),
                 "--seeds", seed, "--genesis-hash", genesis.hash().hex()]) == 0
    out = capsys.readouterr().out
    home = Home(tmp_path / "full")
    cfg = home.load_config()
    assert cfg.seeds == [seed] and cfg.validator is False and cfg.p2p_laddr == "0.0.0.0:26656"
    assert home.load_genesis() == genesis
    nid = node_id(crypto.PrivateKey.load(home.node_key).pubkey)
    assert nid in out and genesis.hash().hex() in out
    assert main(["show-node-id", "--home", str(home.root)]) == 0
    assert capsys.readouterr().out.strip() == nid
    # a second init on the same home refuses to overwrite its keys
    assert main(["init", "--home", str(home.root), "--genesis", str(Home(net[0]).genesis)]) == 2
    assert "already holds a node" in capsys.readouterr().err


def test_init_reads_a_cometbft_shaped_genesis_and_refuses_bad_input(tmp_path, capsys):
    net = write_testnet(tmp_path / "net", 1, base_port=20000, app_name="note")
    genesis = Home(net[0]).load_genesis()
    rpc_answer = tmp_path / "rpc.json"  # what GET /genesis answers
    rpc_answer.write_text(json.dumps({"jsonrpc": "2.0", "id": -1, "result": {"genesis": jf.genesis_json(genesis)}}))
    assert main(["init", "--home", str(tmp_path / "a"), "--genesis", str(rpc_answer)]) == 0
    assert Home(tmp_path / "a").load_genesis() == genesis
    capsys.readouterr()
    cases = [(["--seeds", "10.0.0.1:26656"], "is not ID@host:port"),
             (["--genesis-hash", "00" * 32], "not the"),
             ]
    for extra, message in cases:
        assert main(["init", "--home", str(tmp_path / "b"), "--genesis", str(rpc_answer), *extra]) == 2
        assert message in capsys.readouterr().err
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    assert main(["init", "--home", str(tmp_path / "c"), "--genesis", str(junk)]) == 2
    assert "does not hold a provchain genesis" in capsys.readouterr().err
    assert not (tmp_path / "b" / "config" / "genesis.json").exists()

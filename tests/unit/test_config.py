"""config.toml: written with every setting documented, read back strictly, listed in docs/operators.md."""

from pathlib import Path

import pytest

from provchain.chain import crypto
from provchain.consensus.config import SETTINGS, ConfigError, NodeConfig, parse, render
from provchain.consensus.node import Home
from provchain.consensus.nodekey import node_id
from provchain.devnet.testnet import write_testnet

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operators.md"


def test_testnet_writes_a_config_that_reads_back(tmp_path):
    homes = write_testnet(tmp_path, 2, base_port=20000)
    cfg = Home(homes[1]).load_config()
    assert cfg.moniker == "node1" and cfg.rpc_laddr == "127.0.0.1:20011"
    node0_id = node_id(crypto.PrivateKey.load(Home(homes[0]).node_key).pubkey)
    assert cfg.peers == [f"{node0_id}@127.0.0.1:20000"]  # peers are addressed by the id of their node key
    assert cfg.prometheus_laddr == "127.0.0.1:20014"
    assert cfg.timeouts == {}  # optional settings are written commented out
    text = (homes[1] / "config" / "config.toml").read_text()
    for s in SETTINGS:  # every setting is in the file with its documentation above it
        assert f"{s.name} = " in text and s.doc.splitlines()[0] in text


def test_round_trip_with_overrides():
    cfg = NodeConfig("n", "0.0.0.0:1", "10.0.0.1:2", [f"{'ab' * 20}@a:1", f"{'cd' * 20}@b:2"], validator=False,
                     log_format="json", timeouts={"timeout_commit_ms": 100}, prometheus=False,
                     seeds=[f"{'ef' * 20}@seed.example:26656"], external_address="203.0.113.7:26656", pex=False,
                     p2p_limits={"max_inbound": 5, "ban_seconds": 60})
    assert NodeConfig.from_toml(cfg.to_toml()) == cfg


@pytest.mark.parametrize("text, message", [
    ("modem = 1\n", "unknown setting 'modem'"),
    ("[p2p]\nmax_peers = 3\n", "unknown setting 'p2p.max_peers'"),
    ("[rpc]\nladdr = 26657\n", "rpc.laddr must be a string"),
    ("[rpc]\nladdr = \"nowhere\"\n", "rpc.laddr must be HOST:PORT"),
    ("log_level = \"loud\"\n", "log_level must be one of debug, info, warning, error"),
    ("[mempool]\nsize = true\n", "mempool.size must be an integer"),
    ("[mempool]\nsize = -1\n", "must not be negative"),
    ("[p2p]\npersistent_peers = [1]\n", "must be a list of strings"),
    ("[p2p]\npersistent_peers = [\"10.0.0.1:26656\"]\n", "is not ID@host:port"),
    ("[p2p]\nseeds = [\"nothex@10.0.0.1:26656\"]\n", "p2p.seeds: peer address"),
    ("[p2p]\nexternal_address = \"example.org\"\n", "p2p.external_address must be HOST:PORT"),
    ("[p2p]\nexternal_address = \"my host:26656\"\n", "p2p.external_address must be HOST:PORT"),
    ("[p2p]\nexternal_address = \"::1:26656\"\n", "p2p.external_address must be HOST:PORT"),  # IPv6: [::1]
    ("[rpc\n", "is not valid TOML"),
    ("laddr = \"a:1\"\n", "unknown setting 'laddr'"),  # a key outside its section
])
def test_bad_config_is_a_clear_error(text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse(text)


def test_render_refuses_unknown_keys():
    with pytest.raises(ConfigError):
        render({"nope": 1})


def test_legacy_node_json_is_converted(tmp_path):
    home = Home(write_testnet(tmp_path, 1, base_port=20000)[0])
    cfg = home.load_config()
    home.node_config.unlink()
    home.legacy_config.write_text('{"moniker": "old", "rpc_laddr": "%s", "p2p_laddr": "%s", "peers": [], '
                                  '"validator": true}' % (cfg.rpc_laddr, cfg.p2p_laddr))
    assert home.load_config().moniker == "old" and home.node_config.exists()


def test_operators_guide_documents_every_setting():
    text = DOCS.read_text()
    missing = [s.key for s in SETTINGS if f"`{s.key}`" not in text]
    assert not missing, f"docs/operators.md does not document {missing}"


def test_a_devnet_from_before_node_keys_gets_ids_on_resume(tmp_path):
    from provchain.devnet.testnet import add_node_ids
    homes = [Home(h) for h in write_testnet(tmp_path, 3, base_port=20000)]
    for i, h in enumerate(homes):  # as the previous version wrote them: host:port peers, no node key
        old = [f"127.0.0.1:{20000 + 10 * j}" for j in range(3) if j != i]
        h.node_config.write_text(h.node_config.read_text().replace(
            str(h.load_config().peers).replace("'", '"'), str(old).replace("'", '"')))
        h.node_key.unlink()
        with pytest.raises(ConfigError, match="is not ID@host:port"):
            h.load_config()
    assert add_node_ids(tmp_path, 3)
    ids = [node_id(crypto.PrivateKey.load(h.node_key).pubkey) for h in homes]
    assert homes[0].load_config().peers == [f"{ids[1]}@127.0.0.1:20010", f"{ids[2]}@127.0.0.1:20020"]
    assert not add_node_ids(tmp_path, 3)  # already done

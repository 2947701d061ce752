"""config.toml: written with every setting documented, read back strictly, listed in docs/operators.md."""

from pathlib import Path

import pytest

from provchain.consensus.config import SETTINGS, ConfigError, NodeConfig, parse, render
from provchain.consensus.node import Home
from provchain.devnet.testnet import write_testnet

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operators.md"


def test_testnet_writes_a_config_that_reads_back(tmp_path):
    homes = write_testnet(tmp_path, 2, base_port=20000)
    cfg = Home(homes[1]).load_config()
    assert cfg.moniker == "node1" and cfg.rpc_laddr == "127.0.0.1:20011"
    assert cfg.peers == ["127.0.0.1:20000"] and cfg.prometheus_laddr == "127.0.0.1:20014"
    assert cfg.timeouts == {}  # optional settings are written commented out
    text = (homes[1] / "config" / "config.toml").read_text()
    for s in SETTINGS:  # every setting is in the file with its documentation above it
        assert f"{s.name} = " in text and s.doc.splitlines()[0] in text


def test_round_trip_with_overrides():
    cfg = NodeConfig("n", "0.0.0.0:1", "10.0.0.1:2", ["a:1", "b:2"], validator=False, log_format="json",
                     timeouts={"timeout_commit_ms": 100}, prometheus=False)
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

"""Writes home folders and a shared genesis for N validators (`provchain testnet`)."""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

from ..chain import crypto
from ..chain.types import Genesis, Validator, ValidatorSet
from ..consensus.config import NodeConfig
from ..consensus.node import Home
from ..consensus.nodekey import load_or_create_node_key, node_id
from .ca import create_ca

BASE_RPC = 26657
BASE_P2P = 26656


def ports(i: int, base_port: int = BASE_P2P) -> tuple[int, int]:
    """(p2p, rpc) for validator i: CometBFT's defaults 26656/26657, shifted by 10 per node."""
    return base_port + 10 * i, base_port + 1 + 10 * i


def metrics_port(i: int, base_port: int = BASE_P2P) -> int:
    """Validator i's Prometheus listener: 26660 for node 0 (CometBFT's default), shifted by 10 per node."""
    return base_port + 4 + 10 * i


def write_testnet(out: str | Path, n: int, chain_id: str = "provchain-devnet", base_port: int = BASE_P2P,
                  host: str = "127.0.0.1", hostnames: list[str] | None = None, app_name: str = "provenance",
                  listen_host: str | None = None, genesis_validators: int | None = None) -> list[Path]:
    """Create `out/node{i}` homes and the devnet's C2PA test CA `out/ca`. `hostnames` (e.g. docker service
    names) replace `host` in peer lists, which are `ID@host:port` with each node's id from its node key. Only
    the first `genesis_validators` nodes (default all) are in the genesis set; the others follow the chain
    until a validator update adds them."""
    out = Path(out)
    keys = [crypto.PrivateKey.generate() for _ in range(n)]
    node_keys = [crypto.PrivateKey.generate() for _ in range(n)]
    ids = [node_id(k.pubkey) for k in node_keys]
    in_genesis = keys[:genesis_validators or n]
    genesis = Genesis(chain_id, int(time.time() * 1000), ValidatorSet(tuple(Validator(k.pubkey, 10) for k in in_genesis)),
                      app_name=app_name)
    create_ca(out / "ca", f"{chain_id} devnet CA")  # C2PA trust anchor for the devnet's creators
    homes = []
    peer_host = hostnames or [host] * n
    for i, key in enumerate(keys):
        home = Home(out / f"node{i}")
        home.config_dir.mkdir(parents=True, exist_ok=True)
        home.data_dir.mkdir(parents=True, exist_ok=True)
        home.genesis.write_text(genesis.to_json())
        key.save(home.key)
        node_keys[i].save(home.node_key)
        p2p, rpc = ports(i, base_port)
        peers = [f"{ids[j]}@{peer_host[j]}:{ports(j, base_port)[0]}" for j in range(n) if j != i]
        bind = listen_host or host
        cfg = NodeConfig(moniker=f"node{i}", rpc_laddr=f"{bind}:{rpc}",
                         p2p_laddr=f"{peer_host[i] if hostnames else bind}:{p2p}", peers=peers,
                         prometheus_laddr=f"{bind}:{metrics_port(i, base_port)}")
        home.node_config.write_text(cfg.to_toml())
        homes.append(home.root)
    return homes


def add_node_ids(root: str | Path, n: int) -> bool:
    """Bring a devnet written before node keys up to date: each home gets a node key and its peers become
    ID@host:port. Returns whether anything changed."""
    homes = [Home(Path(root) / f"node{i}") for i in range(n)]
    for h in homes:
        if not h.node_config.exists():
            h.load_config()  # converts a node.json (its host:port peers are dropped, then rewritten here)
    docs = [tomllib.loads(h.node_config.read_text()) for h in homes]
    peers = [d.get("p2p", {}).get("persistent_peers", []) for d in docs]
    if all(h.node_key.exists() for h in homes) and all("@" in p for ps in peers for p in ps):
        return False
    ids = [node_id(load_or_create_node_key(h.node_key).pubkey) for h in homes]
    for i, (h, d) in enumerate(zip(homes, docs)):
        new = [f"{ids[j]}@{docs[j]['p2p']['laddr']}" for j in range(n) if j != i]
        text = re.sub(r"(?m)^persistent_peers = \[.*\]$", "persistent_peers = " + str(new).replace("'", '"'),
                      h.node_config.read_text())
        h.node_config.write_text(text)
    return True

"""`provchain init` (a home for a node joining an existing chain) and `provchain show-node-id`."""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


class InitError(Exception):
    pass


def load_genesis(source: str):
    """A Genesis from a file, a URL serving genesis.json, or a node's RPC (`/genesis`, CometBFT's shape)."""
    from .chain.jsonfmt import genesis_from_json
    from .chain.types import Genesis, InvalidError
    if source.startswith(("http://", "https://")):
        url = source
        if urllib.parse.urlparse(url).path in ("", "/"):
            url = url.rstrip("/") + "/genesis"  # a node's RPC address
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                text = r.read(16 * 1024 * 1024).decode()
        except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
            raise InitError(f"cannot fetch the genesis from {url}: {getattr(exc, 'reason', exc)}") from None
    else:
        try:
            text = Path(source).read_text()
        except OSError as exc:
            raise InitError(f"cannot read genesis {source}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
        if isinstance(doc, dict) and isinstance(doc.get("result"), dict):  # a JSON-RPC answer
            doc = doc["result"].get("genesis")
        if isinstance(doc, dict) and "app_state" in doc:  # CometBFT's shape: ours is its app_state
            return genesis_from_json(doc)
        return Genesis.from_json(text)
    except (ValueError, InvalidError) as exc:
        raise InitError(f"{source} does not hold a provchain genesis: {exc}") from None


def cmd_init(args) -> int:
    from .chain import crypto
    from .consensus.config import NodeConfig
    from .consensus.node import Home
    from .consensus.nodekey import PeerAddressError, load_or_create_node_key, node_id, parse_peer_list
    home = Home(args.home)
    try:
        if home.genesis.exists() or home.node_config.exists():
            raise InitError(f"{home.root} already holds a node (config/genesis.json or config/config.toml); "
                            f"choose another --home or remove it")
        seeds = [str(p) for p in parse_peer_list(args.seeds or "")]
        peers = [str(p) for p in parse_peer_list(args.persistent_peers or "")]
        genesis = load_genesis(args.genesis)
        if args.genesis_hash and genesis.hash().hex() != args.genesis_hash.lower():
            raise InitError(f"the genesis from {args.genesis} has hash {genesis.hash().hex()}, not the "
                            f"{args.genesis_hash} you expected: not writing it")
    except (InitError, PeerAddressError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    home.config_dir.mkdir(parents=True, exist_ok=True)
    home.data_dir.mkdir(parents=True, exist_ok=True)
    if not home.key.exists():
        crypto.PrivateKey.generate().save(home.key)  # lets this node become a validator later
    node_key = load_or_create_node_key(home.node_key)
    cfg = NodeConfig(moniker=args.moniker or socket.gethostname(), rpc_laddr=args.rpc_laddr,
                     p2p_laddr=args.p2p_laddr, peers=peers, validator=False, seeds=seeds,
                     external_address=args.external_address or "",
                     prometheus_laddr=args.prometheus_laddr)
    home.node_config.write_text(cfg.to_toml())
    home.genesis.write_text(genesis.to_json())  # last: a home with a genesis is complete
    vkey = crypto.PrivateKey.load(home.key)
    print(f"initialised {home.root} for chain {genesis.chain_id} (genesis hash {genesis.hash().hex()})")
    print(f"node id:      {node_id(node_key.pubkey)}  (peers reach this node as "
          f"{node_id(node_key.pubkey)}@{args.external_address or 'THIS_HOST:' + args.p2p_laddr.rsplit(':', 1)[1]})")
    print(f"validator address: {vkey.address.hex().upper()} (not in the validator set: this is a full node)")
    print(f"start it: provchain node --home {args.home}")
    return 0


def cmd_show_node_id(args) -> int:
    from .chain.crypto import KeyFileError, PrivateKey
    from .consensus.node import Home
    from .consensus.nodekey import node_id
    try:
        key = PrivateKey.load(Home(args.home).node_key)
    except KeyFileError as exc:
        print(f"error: {exc} (nodes made before node keys get one on their first start)", file=sys.stderr)
        return 2
    print(node_id(key.pubkey))
    return 0


def add_parser(sub) -> None:
    from .cli import subcommand
    s = subcommand(sub, "init", "make a home folder for a node that joins an existing chain",
                   "Make a home folder for a full node of an existing chain: its genesis (a file, a URL, or a\n"
                   "node's RPC address, whose /genesis is read), a node key (its p2p identity), a validator key\n"
                   "(unused until the chain adds it to the validator set) and config/config.toml. Then start\n"
                   "it with `provchain node --home DIR`: it finds peers through the seeds and persistent peers,\n"
                   "block-syncs from them and follows consensus. See the README, \"Join the testnet\".")
    s.add_argument("--home", required=True, metavar="DIR", help="the new node's home folder")
    s.add_argument("--genesis", required=True, metavar="FILE|URL",
                   help="the chain's genesis.json, a URL serving it, or a node's RPC URL (http://HOST:26657)")
    s.add_argument("--genesis-hash", default=None, metavar="HEX",
                   help="refuse a genesis whose hash is not this (as printed by the chain's operators)")
    s.add_argument("--seeds", default="", metavar="ID@HOST:PORT,...",
                   help="nodes asked for peer addresses (peer exchange)")
    s.add_argument("--persistent-peers", default="", metavar="ID@HOST:PORT,...",
                   help="nodes always kept connected")
    s.add_argument("--moniker", default=None, help="this node's name, shown to peers (default: the host name)")
    s.add_argument("--p2p-laddr", default="0.0.0.0:26656", metavar="HOST:PORT", help="p2p listen address")
    s.add_argument("--rpc-laddr", default="127.0.0.1:26657", metavar="HOST:PORT", help="RPC listen address")
    s.add_argument("--prometheus-laddr", default="127.0.0.1:26660", metavar="HOST:PORT",
                   help="metrics listen address (http://HOST:PORT/metrics)")
    s.add_argument("--external-address", default=None, metavar="HOST:PORT",
                   help="the address other nodes dial to reach this one (announced to peers; default: the "
                        "address they see our links come from, with the p2p port)")
    s.set_defaults(func=cmd_init)

    s = subcommand(sub, "show-node-id", "print a node's id (the ID of its ID@host:port address)",
                   "Print the node id of a home folder: hex of the first 20 bytes of SHA-256 of its node key.")
    s.add_argument("--home", required=True, metavar="DIR", help="the node's home folder")
    s.set_defaults(func=cmd_show_node_id)

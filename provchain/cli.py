"""The `provchain` command. Each subcommand imports its package only when called, so the node,
`verify` and the explorer never import torch."""

from __future__ import annotations

import argparse
import logging
import sys


def app_factory(kv, genesis):
    """The application named in the genesis file."""
    if genesis.app_name == "note":
        from .chain.app import NoteApp
        return NoteApp(kv, genesis.chain_id, genesis.params.max_tx_bytes)
    if genesis.app_name == "provenance":
        from .provenance.app import ProvenanceApp
        return ProvenanceApp(kv, genesis.chain_id, genesis.params.max_tx_bytes)
    raise SystemExit(f"error: unknown app {genesis.app_name!r} in genesis")


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def cmd_node(args) -> int:
    from .consensus.node import ConfigError, StateError, run_node
    from .chain.crypto import KeyFileError
    from .chain.store import StoreError
    _setup_logging(args.log_level)
    try:
        if args.repair_db:
            return repair_db(args.home)
        run_node(args.home, app_factory)
    except (ConfigError, KeyFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        if exc.corrupted:
            print(f"error: the chain database {exc.path} is corrupted ({exc.detail}). Stop the node and run "
                  f"`provchain node --home {args.home} --repair-db`: it keeps every intact block, rebuilds the "
                  f"rest, and the node then fetches what was lost from its peers (docs/operators.md)",
                  file=sys.stderr)
        else:
            print(f"error: cannot open the chain database {exc.path}: {exc.detail}", file=sys.stderr)
        return 1
    except StateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a port in use, a data folder we cannot write
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    return 0


def repair_db(home: str) -> int:
    from .consensus.node import ConfigError, Home
    from .consensus.repair import repair_store
    h = Home(home)
    if not h.exists():
        raise ConfigError(f"{h.root} is not a node home")
    r = repair_store(h.db, h.load_genesis(), app_factory)
    kept = f"blocks 1..{r.kept} are intact (commits and app hashes checked) and were re-executed" if r.kept \
        else "no block is intact"
    print(f"repaired {h.db}: {kept}; the chain state had recorded height {r.recorded_height}, the highest block "
          f"on disk was {r.highest_block}")
    if r.dropped_blocks or r.recorded_height > r.kept:
        print(f"dropped {r.dropped_blocks} damaged or unlinked blocks above {r.kept}: the node fetches them from "
              f"its peers when it starts")
    print(f"start the node again: provchain node --home {home}")
    return 0


def cmd_testnet(args) -> int:
    from .devnet.testnet import write_testnet
    homes = write_testnet(args.out, args.validators, chain_id=args.chain_id, base_port=args.base_port,
                          hostnames=[f"{args.hostname_prefix}{i}" for i in range(args.validators)]
                          if args.hostname_prefix else None,
                          listen_host=args.listen_host, app_name=args.app)
    for h in homes:
        print(h)
    return 0


def cmd_devnet(args) -> int:
    from .devnet.launcher import run_devnet
    return run_devnet(args)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="provchain", description="provchain: a content-provenance chain for AI video")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("node", help="run one validator or full node from its home folder")
    s.add_argument("--home", required=True)
    s.add_argument("--log-level", default="info")
    s.add_argument("--repair-db", action="store_true",
                   help="repair a corrupted chain database (LevelDB) and exit; the node is not started")
    s.set_defaults(func=cmd_node)

    s = sub.add_parser("testnet", help="write homes and genesis for N validators")
    s.add_argument("--validators", type=int, default=4)
    s.add_argument("--out", required=True)
    s.add_argument("--chain-id", default="provchain-devnet")
    s.add_argument("--base-port", type=int, default=26656)
    s.add_argument("--hostname-prefix", default=None, help="peer host names, e.g. 'node' for docker services")
    s.add_argument("--listen-host", default=None, help="address to bind (default 127.0.0.1)")
    s.add_argument("--app", default="provenance", choices=["provenance", "note"])
    s.set_defaults(func=cmd_testnet)

    s = sub.add_parser("devnet", help="run N local validators and the explorer")
    s.add_argument("--validators", type=int, default=4)
    s.add_argument("--home", default="~/.provchain/devnet")
    s.add_argument("--base-port", type=int, default=26656)
    s.add_argument("--explorer-port", type=int, default=None)
    s.add_argument("--no-explorer", action="store_true")
    s.add_argument("--app", default="provenance", choices=["provenance", "note"])
    s.add_argument("--restart-delay", type=float, default=None, metavar="SECONDS",
                   help="first back-off before restarting a validator that died (default 1; doubles per death)")
    s.set_defaults(func=cmd_devnet)

    for extra in ("keys", "register", "generate", "explorer"):  # cli_<name>.py modules
        try:
            mod = __import__(f"provchain.cli_{extra}", fromlist=["add_parser"])
        except ImportError:
            continue
        mod.add_parser(sub)

    args = p.parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

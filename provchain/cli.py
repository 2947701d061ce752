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
    _setup_logging(args.log_level)
    try:
        run_node(args.home, app_factory)
    except (ConfigError, KeyFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a port in use, a data folder we cannot write
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
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

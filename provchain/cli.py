"""The `provchain` command. Each subcommand imports its package only when called, so the node,
`verify` and the explorer never import torch."""

from __future__ import annotations

import argparse
import sys


def app_factory(kv, genesis):
    """The application named in the genesis file."""
    if genesis.app_name == "note":
        from .chain.app import NoteApp
        return NoteApp(kv, genesis.chain_id, genesis.params.max_tx_bytes, genesis.validators)
    if genesis.app_name == "provenance":
        from .provenance.app import ProvenanceApp
        return ProvenanceApp(kv, genesis.chain_id, genesis.params.max_tx_bytes, genesis.validators)
    raise SystemExit(f"error: unknown app {genesis.app_name!r} in genesis")


def cmd_node(args) -> int:
    from .consensus.node import ConfigError, Home, StateError, run_node
    from .chain.crypto import KeyFileError
    from .chain.store import StoreError
    from .logs import setup_logging
    try:
        config = Home(args.home).load_config() if Home(args.home).exists() else None
        setup_logging(args.log_level or (config.log_level if config else "info"),
                      args.log_format or (config.log_format if config else "text"))
        if args.repair_db:
            return repair_db(args.home)
        run_node(args.home, app_factory, config)
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


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written and adds "(default: X)" to every option that has a real default."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False or default is argparse.SUPPRESS
                or not action.option_strings and action.nargs not in ("?", "*")):
            return text
        return f"{text} (default: %(default)s)"


def version_string(prog: str = "provchain") -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        v = version("provchain")
    except PackageNotFoundError:
        v = "unknown (not installed)"
    return f"{prog} {v} (Python {sys.version.split()[0]})"


def add_version(parser: argparse.ArgumentParser, prog: str) -> None:
    parser.add_argument("-V", "--version", action="version", version=version_string(prog),
                        help="print the version and exit")


def subcommand(sub, name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
    """A subcommand with a one-line summary (in `provchain --help`) and a longer description."""
    return sub.add_parser(name, help=summary, description=description or summary[:1].upper() + summary[1:] + ".",
                          formatter_class=HelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="provchain", formatter_class=HelpFormatter,
        description="provchain: an open, verifiable content-provenance chain for AI-generated video.",
        epilog="`provchain COMMAND --help` explains a command. Check a clip with the separate `verify` command.\n"
               "Shell completion: `provchain completion bash` (see the README).")
    add_version(p, "provchain")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = subcommand(sub, "node", "run one validator or full node from its home folder",
                   "Run one validator or full node. Its home folder (made by `provchain testnet` or\n"
                   "`provchain init`) holds config/config.toml (every setting documented in it),\n"
                   "config/genesis.json, its keys and the LevelDB data; it logs to stderr.")
    s.add_argument("--home", required=True, metavar="DIR", help="the node's home folder")
    s.add_argument("--log-level", default=None, choices=["debug", "info", "warning", "error"],
                   help="how much to log (default: log_level in config.toml, else info)")
    s.add_argument("--log-format", default=None, choices=["text", "json"],
                   help="text lines, or one JSON object per line (default: log_format in config.toml, else text)")
    s.add_argument("--repair-db", action="store_true",
                   help="repair a corrupted chain database (LevelDB) and exit; the node is not started")
    s.set_defaults(func=cmd_node)

    s = subcommand(sub, "testnet", "write home folders and one genesis for N validators",
                   "Write a home folder per validator (keys, config, the shared genesis) under --out;\n"
                   "start each with `provchain node --home OUT/nodeI`. Prints the home folders.")
    s.add_argument("--validators", type=int, default=4, metavar="N", help="number of validators")
    s.add_argument("--out", required=True, metavar="DIR", help="folder to write node0 .. nodeN-1 into")
    s.add_argument("--chain-id", default="provchain-devnet", help="the chain's id (signed into every tx)")
    s.add_argument("--base-port", type=int, default=26656, metavar="PORT",
                   help="node i listens on PORT+10i (p2p) and PORT+10i+1 (RPC)")
    s.add_argument("--hostname-prefix", default=None, metavar="PREFIX",
                   help="peer host names PREFIX0.. (e.g. 'node' for docker services); default 127.0.0.1")
    s.add_argument("--listen-host", default=None, metavar="ADDR", help="address to bind (default 127.0.0.1)")
    s.add_argument("--app", default="provenance", choices=["provenance", "note"],
                   help="the application the chain runs ('note' is a minimal test app)")
    s.set_defaults(func=cmd_testnet)

    s = subcommand(sub, "devnet", "run N local validators and the explorer (Ctrl-C stops them)",
                   "Run N validators as separate processes on 127.0.0.1 plus the explorer. The first run\n"
                   "makes keys and genesis under --home; later runs resume the same chain. A validator\n"
                   "that dies is reported and restarted with back-off; the others keep running.")
    s.add_argument("--validators", type=int, default=4, metavar="N", help="number of validators")
    s.add_argument("--home", default="~/.provchain/devnet", metavar="DIR", help="folder for the nodes' homes")
    s.add_argument("--base-port", type=int, default=26656, metavar="PORT",
                   help="node i listens on PORT+10i (p2p) and PORT+10i+1 (RPC)")
    s.add_argument("--explorer-port", type=int, default=None, metavar="PORT",
                   help="the explorer's port (default 8080 + (PORT - 26656))")
    s.add_argument("--no-explorer", action="store_true", help="run the validators only")
    s.add_argument("--app", default="provenance", choices=["provenance", "note"],
                   help="the application the chain runs")
    s.add_argument("--restart-delay", type=float, default=None, metavar="SECONDS",
                   help="first back-off before restarting a validator that died (default 1; doubles per death)")
    s.set_defaults(func=cmd_devnet)

    for extra in ("init", "keys", "register", "generate", "explorer", "validators"):  # cli_<name>.py modules
        try:
            mod = __import__(f"provchain.cli_{extra}", fromlist=["add_parser"])
        except ImportError:
            continue
        mod.add_parser(sub)

    s = subcommand(sub, "completion", "print a shell completion script (bash, zsh or tcsh)",
                   "Print a completion script for `provchain` (or `verify`). Enable it for bash with\n"
                   "  eval \"$(provchain completion bash)\"   (add the line to ~/.bashrc)\n"
                   "for zsh with\n"
                   "  provchain completion zsh > ~/.zfunc/_provchain   (with fpath+=~/.zfunc in ~/.zshrc)")
    s.add_argument("shell", choices=["bash", "zsh", "tcsh"], help="the shell to complete in")
    s.add_argument("--command", default="provchain", choices=["provchain", "verify"],
                   help="the command to complete")
    s.set_defaults(func=cmd_completion)
    return p


def cmd_completion(args) -> int:
    import shtab
    if args.command == "verify":
        from .provenance.verify import build_parser as verify_parser
        parser = verify_parser()
    else:
        parser = build_parser()
    print(shtab.complete(parser, shell=args.shell))
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

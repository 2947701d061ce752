"""`provchain explorer`: the block explorer web server (pages, JSON API under /api/, live updates)."""

from __future__ import annotations

import logging
import sys

DEFAULT_NODE = "http://127.0.0.1:26657"


def cmd_explorer(args) -> int:
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    from .explorer.server import run
    return run(args.node, host=args.host, port=args.port, genesis_path=args.genesis,
               upload_cap_mb=args.upload_cap_mb, c2pa_trust_path=args.c2pa_trust)


def add_parser(sub) -> None:
    from .cli import subcommand
    s = subcommand(sub, "explorer", "serve the block explorer (web pages and a JSON API) for a node",
                   "Serve the block explorer for a node: blocks, records, validators, a Verify page for\n"
                   "uploads, a JSON API under /api/ (GET /api lists it) and live updates. It reads the\n"
                   "node's RPC only.")
    s.add_argument("--node", default=DEFAULT_NODE, metavar="URL", help="node RPC URL")
    s.add_argument("--port", type=int, default=8080, help="port to serve on")
    s.add_argument("--host", default="127.0.0.1", metavar="ADDR", help="address to bind")
    s.add_argument("--genesis", default=None, metavar="FILE",
                   help="genesis.json whose validator set proofs are checked against (default: taken from the node, "
                        "with a warning)")
    s.add_argument("--upload-cap-mb", type=float, default=200, metavar="MB",
                   help="largest clip the Verify page accepts")
    s.add_argument("--c2pa-trust", default=None, metavar="PEM",
                   help="trust anchors for the C2PA manifests of verified clips (the devnet passes its <home>/ca/ca.pem)")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="how much to log")
    s.set_defaults(func=cmd_explorer)

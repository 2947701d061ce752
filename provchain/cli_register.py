"""`provchain register FILE...`: fingerprint, sign, submit, wait for commit, print the record."""

from __future__ import annotations

import json
import sys


def cmd_register(args) -> int:
    from .chain.crypto import KeyFileError
    from .cli_keys import load_or_create_key
    from .provenance.client import NodeClient, NodeError
    from .provenance.fingerprint import FingerprintError, analyze_file
    from .provenance.register import build_record, submit_record
    from .chain.jsonfmt import parse_hex
    try:
        key = load_or_create_key(args.key)
        parents = [parse_hex(p, 32) for p in args.parent]
    except (KeyFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    client = NodeClient(args.node)
    code, out = 0, []
    for path in args.files:
        try:
            analysis = analyze_file(path)
            reg = submit_record(client, key, build_record(analysis, parents=parents))
        except FingerprintError as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            code = 4
            continue
        except NodeError as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            code = 4
            continue
        out.append({"file": path, **reg.to_json()})
        if not args.json:
            note = " (already registered: this is the existing record)" if reg.existing else ""
            print(f"{path}: record {reg.record_id} at height {reg.height}, {reg.block_time}{note}")
    if args.json:
        print(json.dumps(out, indent=2))
    return code


def add_parser(sub) -> None:
    s = sub.add_parser("register", help="register video files on chain")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--node", default="http://127.0.0.1:26657")
    s.add_argument("--key", default=None, help="creator key file (created if missing)")
    s.add_argument("--parent", action="append", default=[], help="record id this clip was edited from")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_register)

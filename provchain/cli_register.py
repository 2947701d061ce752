"""`provchain register FILE...`: fingerprint, check earlier claims, sign, submit, wait for commit, print the record.

Exit codes: 0 every file registered (or already registered by you), 1 a file matches someone else's
record and was not registered (see --parent, --force), 2 usage error (bad key, bad --parent),
4 a file could not be read or the node failed.  With several files the highest code wins.
"""

from __future__ import annotations

import json
import sys


def cmd_register(args) -> int:
    from .chain.crypto import KeyFileError
    from .chain.jsonfmt import hexu, parse_hex
    from .cli_keys import load_or_create_key
    from .provenance.client import NodeClient, NodeError
    from .provenance.fingerprint import FingerprintError, analyze_file
    from .provenance.register import build_record, check_claims, prior_claims, submit_record
    try:
        key = load_or_create_key(args.key)
        parents = [parse_hex(p, 32) for p in args.parent]
    except (KeyFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    me, parent_ids = hexu(key.pubkey), [hexu(p) for p in parents]
    client = NodeClient(args.node)
    code, out = 0, []
    for path in args.files:
        try:
            analysis = analyze_file(path)
            prior = prior_claims(client, analysis)
            refusal = check_claims(prior, me, parent_ids, args.force)
            if refusal is None:
                reg = submit_record(client, key, build_record(analysis, parents=parents))
        except (FingerprintError, NodeError) as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            code = max(code, 4)
            continue
        entry = {"file": path, "prior_claims": [c.to_json() for c in prior]}
        if refusal is not None:
            print(f"{path}: not registered: it {refusal}", file=sys.stderr)
            out.append({**entry, "registered": False, "reason": refusal})
            code = max(code, 1)
            continue
        out.append({**entry, "registered": True, **reg.to_json()})
        if args.json:
            continue
        if reg.existing:
            note = " (already registered by you: this is the existing record)"
        elif prior and prior[0].creator != me and not set(parent_ids) & {c.record_id for c in prior}:
            note = f" (forced: a later claim; the clip {prior[0].describe()})"
        else:
            note = ""
        print(f"{path}: record {reg.record_id} at height {reg.height}, {reg.block_time}{note}")
    if args.json:
        print(json.dumps(out, indent=2))
    return code


def add_parser(sub) -> None:
    from .cli import subcommand
    from .cli_keys import key_help
    s = subcommand(sub, "register", "register video files on chain under your creator key",
                   "Fingerprint each video, check that no one registered it before, sign a record with your\n"
                   "creator key and wait until a block commits it; prints the record id and height.\n"
                   "Exit 0 every file registered (or already registered by you), 1 a file matches someone\n"
                   "else's record and was not registered (see --parent, --force), 2 bad key or --parent,\n"
                   "4 a file could not be read or the node failed; with several files the highest wins.")
    s.add_argument("files", nargs="+", metavar="FILE", help="video files (MP4, WebM, MOV, MKV ...)")
    s.add_argument("--node", default="http://127.0.0.1:26657", metavar="URL", help="node RPC URL")
    s.add_argument("--key", default=None, metavar="FILE", help=key_help())
    s.add_argument("--parent", action="append", default=[], metavar="RECORD_ID",
                   help="a record this clip was derived from (repeatable); it must be on chain. Declaring a "
                        "matched record as parent registers someone else's footage as a derivative")
    s.add_argument("--force", action="store_true",
                   help="register even though the clip matches someone else's record; verify will show the "
                        "new record as a later claim of the first registrant")
    s.add_argument("--json", action="store_true", help="print a JSON list, one object per file")
    s.set_defaults(func=cmd_register)

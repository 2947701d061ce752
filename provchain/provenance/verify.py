"""`verify FILE...`: does a clip come from a registered video? Checks the chain's proofs itself.

Flow: fingerprint the clip locally -> ask the node for candidates (exact by SHA-256, perceptual by
fingerprint) -> prove every candidate (Merkle inclusion, commit signatures against the trusted genesis
validator set, record id, creator signature) -> recompute the match locally from the *proven*
fingerprints -> verdict. A node that lies about any candidate makes the verdict `invalid`.

Exit codes: 0 verified or match, 1 altered or invalid, 2 usage error, 3 unregistered, 4 could not
decide (unreadable file, node unreachable). With several files the most serious wins: 1, then 4, 3, 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..chain import jsonfmt as jf
from ..chain.types import Genesis, InvalidError
from .client import NodeClient, NodeError
from .fingerprint import ClipAnalysis, FingerprintError, analyze_file
from .lightclient import ProvenRecord, prove_record
from .match import match

SCHEMA_VERSION = 1
DEFAULT_NODE = "http://127.0.0.1:26657"
EXIT = {"verified": 0, "match": 0, "altered": 1, "invalid": 1, "unregistered": 3, "error": 4}
SEVERITY = ["altered", "invalid", "error", "unregistered", "match", "verified"]


def load_trust(client: NodeClient, genesis_path: str | None) -> tuple[Genesis, dict]:
    if genesis_path:
        try:
            genesis = Genesis.from_json(Path(genesis_path).read_text())
        except OSError as exc:
            raise InvalidError(f"cannot read genesis {genesis_path}: {exc.strerror}") from None
        source = {"source": "genesis_file", "path": str(genesis_path)}
    else:
        genesis = client.genesis()
        source = {"source": "node", "warning": f"validator set taken from the node {client.url}; pass --genesis "
                                               "to check against a genesis file you trust"}
    trust = {**source, "chain_id": genesis.chain_id, "validators": len(genesis.validators.validators),
             "total_voting_power": genesis.validators.total_power}
    return genesis, trust


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)


def _match_json(p: ProvenRecord, rm=None) -> dict:
    out = {"record_id": jf.hexu(p.record_id),
           "content_sha256": jf.hexu(p.record.file_sha256) if p.record else None,
           "creator": jf.hexu(p.creator) if p.creator else None,
           "height": p.height or None,
           "block_time": jf.rfc3339(p.block_time_ms) if p.block_time_ms else None,
           "similarity": round(rm.similarity, 4) if rm else (1.0 if p.verified else 0.0),
           "segments": [], "altered_segments": [],
           "proof": {"verified": p.verified, "checks": [c.to_json() for c in p.checks]}}
    if p.record is not None and p.record.generator is not None:
        g = p.record.generator
        out["generator"] = {"model": g.model, "weights_sha256": jf.hexu(g.weights_sha256),
                            "prompt_sha256": jf.hexu(g.prompt_sha256), "seed": g.seed, "settings": dict(g.settings)}
    if rm is not None:
        out["segments"] = [{"query_start_s": _seconds(s.query_start_ms), "query_end_s": _seconds(s.query_end_ms),
                            "record_start_s": _seconds(s.record_start_ms), "record_end_s": _seconds(s.record_end_ms)}
                           for s in rm.segments]
        out["altered_segments"] = [{"query_start_s": _seconds(a), "query_end_s": _seconds(b)}
                                   for a, b in rm.altered_segments]
    return out


def decide(analysis: ClipAnalysis, proven: list[ProvenRecord]) -> tuple[str, list[dict]]:
    """The verdict from proven candidates only; any candidate that fails its proof makes it `invalid`."""
    bad = [p for p in proven if not p.verified]
    good = {jf.hexu(p.record_id): p for p in proven if p.verified}
    if bad:
        return "invalid", [_match_json(p) for p in bad] + [_match_json(p) for p in good.values()]
    for p in good.values():
        if p.record.file_sha256 == analysis.file_sha256:
            m = _match_json(p)
            dur = p.record.media.duration_ms
            m["segments"] = [{"query_start_s": 0.0, "query_end_s": _seconds(dur), "record_start_s": 0.0,
                              "record_end_s": _seconds(dur)}]
            return "verified", [m]
    if not good:
        return "unregistered", []
    result = match(analysis.fingerprint, {rid: p.record.fingerprint for rid, p in good.items()})
    matches = [_match_json(good[rm.record_id], rm) for rm in result.matches]
    return result.verdict, matches


def verify_file(path: str, client: NodeClient, genesis: Genesis, trust: dict, progress=None) -> dict:
    say = progress or (lambda msg: None)
    out = {"schema_version": SCHEMA_VERSION, "file": str(path), "content_sha256": None, "verdict": "error",
           "matches": [], "trust": trust, "errors": []}
    try:
        t0 = time.monotonic()
        analysis = analyze_file(path)
        say(f"fingerprinted {path}: {len(analysis.fingerprint.times_ms)} samples in {time.monotonic() - t0:.2f}s")
    except FingerprintError as exc:
        out["errors"].append(str(exc))
        return out
    out["content_sha256"] = jf.hexu(analysis.file_sha256)
    try:
        ids: list[bytes] = []
        exact = client.record_by_content(analysis.file_sha256)
        if exact is not None:
            ids.append(jf.parse_hex(exact["record_id"], 32))
        for cand in client.match(analysis.fingerprint.to_obj()):
            rid = jf.parse_hex(cand["record"]["record_id"], 32)
            if rid not in ids:
                ids.append(rid)
        say(f"node offered {len(ids)} candidate record(s)")
        proven = []
        for rid in ids:
            p = prove_record(client, rid, genesis)
            say(f"record {rid.hex()[:16]}…: " + ", ".join(f"{c.name} {'ok' if c.ok else 'FAILED'}" for c in p.checks))
            proven.append(p)
    except NodeError as exc:
        out["errors"].append(str(exc))
        return out
    except (KeyError, TypeError, ValueError) as exc:
        out["verdict"] = "invalid"
        out["errors"].append(f"the node sent malformed candidates: {exc}")
        return out
    out["verdict"], out["matches"] = decide(analysis, proven)
    return out


def human_line(res: dict) -> str:
    v = res["verdict"]
    if v == "error":
        return f"{res['file']}: could not decide: {'; '.join(res['errors'])}"
    if v == "unregistered":
        return f"{res['file']}: unregistered (no matching record on chain)"
    if v == "invalid":
        failed = [c["name"] for m in res["matches"] for c in m["proof"]["checks"] if not c["ok"]]
        return f"{res['file']}: INVALID: the node's proof failed ({', '.join(sorted(set(failed)))})"
    m = res["matches"][0]
    gen = m.get("generator")
    tail = f", generated by {gen['model']} seed {gen['seed']}" if gen else ""
    seg = "; ".join(f"{s['query_start_s']:.1f}-{s['query_end_s']:.1f}s = record {s['record_start_s']:.1f}-"
                    f"{s['record_end_s']:.1f}s" for s in m["segments"][:4])
    base = (f"record {m['record_id'][:16]}… by creator {m['creator'][:16]}… at height {m['height']}, "
            f"{m['block_time']}{tail}")
    if v == "verified":
        return f"{res['file']}: verified: byte-identical to {base}"
    if v == "match":
        return f"{res['file']}: match ({m['similarity']:.0%}): a faithful copy of {base} [{seg}]"
    alt = "; ".join(f"{a['query_start_s']:.1f}-{a['query_end_s']:.1f}s" for m2 in res["matches"]
                    for a in m2["altered_segments"][:4])
    return f"{res['file']}: ALTERED: parts come from {base} [{seg}]; not from it: {alt or 'see matches'}"


def overall_exit(results: list[dict]) -> int:
    worst = min((SEVERITY.index(r["verdict"]) for r in results), default=SEVERITY.index("error"))
    return EXIT[SEVERITY[worst]]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="verify", description="Check whether video clips come from content "
                                "registered on a provchain, verifying the chain's proofs locally.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--node", default=DEFAULT_NODE, help=f"node RPC URL (default {DEFAULT_NODE})")
    p.add_argument("--genesis", help="genesis.json to trust (default: fetched from the node, with a warning)")
    p.add_argument("--json", action="store_true", help="print one JSON object per file (a list for several)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    client = NodeClient(args.node)
    try:
        genesis, trust = load_trust(client, args.genesis)
    except InvalidError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NodeError as exc:
        results = [{"schema_version": SCHEMA_VERSION, "file": f, "content_sha256": None, "verdict": "error",
                    "matches": [], "trust": {"source": "node", "error": str(exc)}, "errors": [str(exc)]}
                   for f in args.files]
        _print(results, args.json)
        return 4
    if "warning" in trust:
        say(f"warning: {trust['warning']}")
    results = [verify_file(f, client, genesis, trust, say) for f in args.files]
    _print(results, args.json)
    return overall_exit(results)


def _print(results: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        for r in results:
            print(human_line(r))


if __name__ == "__main__":
    sys.exit(main())

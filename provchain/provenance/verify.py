"""`verify FILE...`: does a clip come from a registered video? Checks the chain's proofs itself.

Flow: fingerprint the clip locally -> ask the node for candidates (exact by SHA-256, perceptual by
fingerprint) -> prove every candidate (Merkle inclusion, commit signatures against the trusted genesis
validator set, record id, creator signature) -> recompute the match locally from the *proven*
fingerprints -> verdict. A node that lies about any candidate makes the verdict `invalid`, and what it
claimed about that candidate is shown under "unproven", never as a fact.

Claims: every matching record is listed earliest first; the first registrant of the content is its
origin, a later registration of the same content a later claim (see judge()).

Exit codes: 0 verified or match, 1 altered or invalid, 2 usage error, 3 unregistered, 4 could not
decide (unreadable file, node unreachable, a clip too short to compare: match.evidence_shortfall).
With several files the most serious wins: 1, then 4, 3, 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..chain import jsonfmt as jf
from ..chain.types import Genesis, InvalidError
from .c2pa_read import check_against_chain, read_manifest
from .c2pa_read import human_line as c2pa_line
from .client import NodeClient, NodeError
from .fingerprint import ClipAnalysis, Fingerprint, FingerprintError, analyze_file
from .lightclient import ProvenRecord, prove_record
from .match import RecordMatch, Segment, evidence_shortfall, match

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


# A record is a later claim of an earlier one when the earlier record explains at least this share of
# the part of the clip that the later record explains: both then stand for the same content.  Lower,
# and a derivative that adds new footage to half of its parent would lose its own origin.
LATER_SHARE = 0.8


def _match_json(p: ProvenRecord, rm: RecordMatch | None = None, claim: str | None = None,
                origin: str | None = None) -> dict:
    """One candidate record.  Proven records show their facts; for an unproven one (a proof check
    failed) the node's assertions go under "unproven" and the fact fields are null."""
    facts = {"content_sha256": jf.hexu(p.record.file_sha256) if p.record else None,
             "creator": jf.hexu(p.creator) if p.creator else None,
             "height": p.height or None,
             "block_time": jf.rfc3339(p.block_time_ms) if p.block_time_ms else None}
    out = {"record_id": jf.hexu(p.record_id), **facts,
           "similarity": round(rm.similarity, 4) if rm else (1.0 if p.verified else 0.0),
           "claim": claim, "origin_record_id": origin,
           "parents": [jf.hexu(x) for x in p.record.parents] if p.record else [],
           "segments": [], "altered_segments": [],
           "proof": {"verified": p.verified, "checks": [c.to_json() for c in p.checks]}}
    if not p.verified:
        out.update({k: None for k in facts})
        out["parents"] = []
        out["unproven"] = {k: v for k, v in facts.items() if v is not None}
        return out
    if p.record.generator is not None:
        g = p.record.generator
        out["generator"] = {"model": g.model, "weights_sha256": jf.hexu(g.weights_sha256),
                            "prompt_sha256": jf.hexu(g.prompt_sha256), "seed": str(g.seed),
                            "settings": dict(g.settings)}
    if rm is not None:
        out["segments"] = [{"query_start_s": _seconds(s.query_start_ms), "query_end_s": _seconds(s.query_end_ms),
                            "record_start_s": _seconds(s.record_start_ms), "record_end_s": _seconds(s.record_end_ms)}
                           for s in rm.segments]
        out["altered_segments"] = [{"query_start_s": _seconds(a.query_start_ms), "query_end_s": _seconds(a.query_end_ms),
                                    **({"region": dict(zip("xywh", a.region))} if a.region else {})}
                                   for a in rm.altered_segments]
    return out


def _whole(p: ProvenRecord) -> RecordMatch:
    """The byte-identical record explains the whole clip."""
    d = p.record.media.duration_ms
    return RecordMatch(jf.hexu(p.record_id), 1.0, (Segment(0, d, 0, d),), ())


def _spans(rm: RecordMatch) -> list[tuple[int, int]]:
    return [(s.query_start_ms, s.query_end_ms) for s in rm.segments]


def _overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    return sum(max(0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def judge(analysis: ClipAnalysis, proven: list[ProvenRecord]) -> dict:
    """The verdict from proven candidates only; any candidate that fails its proof makes it `invalid`.

    Every proven record is compared with the clip on its own.  The records that match are listed
    earliest first (height, then position in the block); a record whose matched part of the clip was
    mostly (LATER_SHARE) matched by an earlier record already is a "later" claim of that record's
    origin, otherwise it is an "origin".  `match` names the first origin the clip is a faithful copy
    of; `verified` names the byte-identical record (and its origin may be an earlier record).
    Returns {"verdict", "matches", "verdict_record_id", "origin_record_id"}."""
    out = {"verdict": "unregistered", "matches": [], "verdict_record_id": None, "origin_record_id": None}
    good = sorted((p for p in proven if p.verified), key=lambda p: (p.height, p.index, p.record_id))
    bad = [p for p in proven if not p.verified]
    if bad:
        out.update(verdict="invalid", matches=[_match_json(p) for p in bad + good])
        return out
    exact = next((p for p in good if p.record.file_sha256 == analysis.file_sha256), None)
    own: dict[str, tuple[str, RecordMatch]] = {}  # record id -> (verdict on its own, its match)
    hits: list[tuple[str, ProvenRecord]] = []  # the records that match, earliest first
    for p in good:
        rid = jf.hexu(p.record_id)
        if p is exact:
            own[rid] = ("verified", _whole(p))
        elif analysis.fingerprint is not None:
            r = match(analysis.fingerprint, {rid: p.record.fingerprint})
            if r.verdict == "unregistered":
                continue
            own[rid] = (r.verdict, r.matches[0])
        else:
            continue
        hits.append((rid, p))
    origin: dict[str, str] = {}
    for i, (rid, _) in enumerate(hits):
        spans = _spans(own[rid][1])
        need = LATER_SHARE * sum(e - s for s, e in spans)
        earlier = next((e for e, _ in hits[:i] if _overlap(spans, _spans(own[e][1])) >= need > 0), None)
        origin[rid] = origin[earlier] if earlier else rid
    shown = {rid: rm for rid, (_, rm) in own.items()}
    named = None
    if exact is not None:
        out["verdict"], named = "verified", jf.hexu(exact.record_id)
    else:
        copies = [rid for rid, _ in hits if own[rid][0] == "match"]
        if copies:
            out["verdict"] = "match"
            named = next((rid for rid in copies if origin[rid] == rid), copies[0])
        elif hits:
            # no record explains the whole clip: judge its parts against the origins together (one
            # origin alone has been judged already)
            origins = {rid: p.record.fingerprint for rid, p in hits if origin[rid] == rid}
            if len(origins) == 1:
                out["verdict"] = own[next(iter(origins))][0]
            else:
                result = match(analysis.fingerprint, origins)
                out["verdict"] = result.verdict
                if result.verdict == "unregistered":
                    return out
                shown.update({rm.record_id: rm for rm in result.matches})
    if named is not None:
        out["verdict_record_id"], out["origin_record_id"] = named, origin[named]
    out["matches"] = [_match_json(p, shown[rid], "origin" if origin[rid] == rid else "later", origin[rid])
                      for rid, p in hits]
    return out


def prove_candidates(client: NodeClient, genesis: Genesis, ids: list[bytes], fingerprint: Fingerprint | None,
                     say=lambda msg: None) -> list[ProvenRecord]:
    """Prove the records `ids` and every /match candidate the node offers for `fingerprint` (when
    given).  Raises NodeError when the node is unreachable, KeyError/TypeError/ValueError for
    malformed candidates; a record whose proof fails comes back unverified."""
    ids = list(ids)
    for cand in client.match(fingerprint.wire_form().to_obj()) if fingerprint is not None else []:
        rid = jf.parse_hex(cand["record"]["record_id"], 32)
        if rid not in ids:
            ids.append(rid)
    say(f"node offered {len(ids)} candidate record(s)")
    proven = []
    for rid in ids:
        p = prove_record(client, rid, genesis)
        say(f"record {jf.hexu(rid)[:16]}…: " + ", ".join(f"{c.name} {'ok' if c.ok else 'FAILED'}" for c in p.checks))
        proven.append(p)
    return proven


def empty_result(path, trust: dict) -> dict:
    """The result object before anything is known (verdict `error`); every key is always present."""
    return {"schema_version": SCHEMA_VERSION, "file": str(path), "content_sha256": None, "verdict": "error",
            "verdict_record_id": None, "origin_record_id": None, "matches": [], "trust": trust, "errors": []}


def verify_file(path: str, client: NodeClient, genesis: Genesis, trust: dict, progress=None,
                c2pa_trust: str | None = None) -> dict:
    """`c2pa_trust`: PEM trust anchors for the clip's C2PA manifest (e.g. the devnet CA)."""
    say = progress or (lambda msg: None)
    out = {**empty_result(path, trust), "c2pa": read_manifest(str(path), c2pa_trust)}
    try:
        t0 = time.monotonic()
        analysis = analyze_file(path)
        say(f"fingerprinted {path}: {len(analysis.fingerprint.times_ms)} samples in {time.monotonic() - t0:.2f}s")
    except FingerprintError as exc:
        out["errors"].append(str(exc))
        return out
    out["content_sha256"] = jf.hexu(analysis.file_sha256)
    short = evidence_shortfall(analysis.fingerprint)
    try:
        exact = client.record_by_content(analysis.file_sha256)
        if exact is None and short:
            out["errors"].append(f"no record has this exact file, and it is {short}")
            return out
        ids = [jf.parse_hex(exact["record_id"], 32)] if exact is not None else []
        proven = prove_candidates(client, genesis, ids, None if short else analysis.fingerprint, say)
    except NodeError as exc:
        out["errors"].append(str(exc))
        return out
    except (KeyError, TypeError, ValueError) as exc:
        out["verdict"] = "invalid"
        out["errors"].append(f"the node sent malformed candidates: {exc}")
        return out
    j = judge(analysis, proven)
    out.update(verdict=j["verdict"], verdict_record_id=j["verdict_record_id"],
               origin_record_id=j["origin_record_id"], matches=j["matches"])
    _check_c2pa(out, proven, client, genesis)
    return out


def _check_c2pa(out: dict, proven: list[ProvenRecord], client: NodeClient, genesis: Genesis) -> None:
    """Compare the clip's C2PA manifest with the chain's proven records (see c2pa_read)."""
    by_id = {jf.hexu(p.record_id): p for p in proven}
    ids = [out["verdict_record_id"]] + [m["record_id"] for m in out["matches"]]  # the verdict's record first
    matched = [by_id[rid] for rid in dict.fromkeys(ids) if rid in by_id]

    def find(frames_sha256: bytes) -> ProvenRecord | None:
        rec = client.record_by_content(frames_sha256)
        return prove_record(client, jf.parse_hex(rec["record_id"], 32), genesis) if rec else None
    try:
        check_against_chain(out["c2pa"], genesis, out["verdict"], matched, find)
    except (NodeError, KeyError, TypeError, ValueError) as exc:
        out["c2pa"]["error"] = f"could not look up the record the manifest names: {exc}"


def _where(r: dict | None) -> str:
    """' in the region at x%, y% (w% x h% of the frame)' for a local edit."""
    if not r:
        return ""
    return (f" in the region at {r['x']:.0%}, {r['y']:.0%} of the frame ({r['w']:.0%} x {r['h']:.0%} of it)")


def _who(m: dict) -> str:
    return f"at height {m['height']} by creator {m['creator'][:16]}… (record {m['record_id'][:16]}…, {m['block_time']})"


def human_line(res: dict) -> str:
    v, f = res["verdict"], res["file"]
    if v == "error":
        return f"{f}: could not decide: {'; '.join(res['errors'])}"
    if v == "unregistered":
        return f"{f}: unregistered (no matching record on chain)"
    if v == "invalid":
        failed = [c["name"] for m in res["matches"] for c in m["proof"]["checks"] if not c["ok"]]
        claims = "; ".join(f"record {m['record_id'][:16]}…" + "".join(
            f" {k} {str(x)[:16]}" for k, x in m["unproven"].items() if k in ("creator", "height"))
            for m in res["matches"] if not m["proof"]["verified"])
        return (f"{f}: INVALID: the node's proof failed ({', '.join(sorted(set(failed)))}); "
                f"what it claims is not proven: {claims}")
    by_id = {m["record_id"]: m for m in res["matches"]}
    m = by_id.get(res.get("verdict_record_id")) or next(x for x in res["matches"] if x["claim"] == "origin")
    gen = m.get("generator")
    tail = f", generated by {gen['model']} seed {gen['seed']}" if gen else ""
    seg = "; ".join(f"{s['query_start_s']:.1f}-{s['query_end_s']:.1f}s = record {s['record_start_s']:.1f}-"
                    f"{s['record_end_s']:.1f}s" for s in m["segments"][:4])
    base = (f"record {m['record_id'][:16]}… by creator {m['creator'][:16]}… at height {m['height']}, "
            f"{m['block_time']}{tail}")
    claims = ""
    if m["claim"] == "later":
        claims += f"; a later claim: first registered {_who(by_id[m['origin_record_id']])}"
    later = [x for x in res["matches"] if x["claim"] == "later" and x is not m]
    if later:
        claims += "; registered again later " + ", ".join(_who(x) for x in later[:4])
    if v == "verified":
        return f"{f}: verified: byte-identical to {base}{claims}"
    if v == "match":
        return f"{f}: match ({m['similarity']:.0%}): a faithful copy of {base} [{seg}]{claims}"
    alt = "; ".join(f"{a['query_start_s']:.1f}-{a['query_end_s']:.1f}s" + _where(a.get("region"))
                    for m2 in res["matches"] for a in m2["altered_segments"][:4])
    return f"{f}: ALTERED: parts come from {base} [{seg}]; not from it: {alt or 'see matches'}{claims}"


def overall_exit(results: list[dict]) -> int:
    worst = min((SEVERITY.index(r["verdict"]) for r in results), default=SEVERITY.index("error"))
    return EXIT[SEVERITY[worst]]


def build_parser() -> argparse.ArgumentParser:
    from ..cli import add_version
    p = argparse.ArgumentParser(prog="verify", description="Check whether video clips come from content "
                                "registered on a provchain, verifying the chain's proofs locally.",
                                epilog="Exit codes and every --json field: docs/api.md.")
    add_version(p, "verify")
    p.add_argument("files", nargs="+", metavar="FILE", help="video files to check (MP4, WebM, MOV, MKV ...)")
    p.add_argument("--node", default=DEFAULT_NODE, help=f"node RPC URL (default {DEFAULT_NODE})")
    p.add_argument("--genesis", help="genesis.json to trust (default: fetched from the node, with a warning)")
    p.add_argument("--json", action="store_true", help="print one JSON object per file (a list for several)")
    p.add_argument("--c2pa-trust", metavar="PEM", help="trust anchors for C2PA manifests (e.g. the devnet's "
                   "<home>/ca/ca.pem); without it only c2pa-python's built-in anchors count")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    c2pa_trust = None
    if args.c2pa_trust:
        try:
            c2pa_trust = Path(args.c2pa_trust).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"error: cannot read C2PA trust anchors {args.c2pa_trust}: {exc}", file=sys.stderr)
            return 2
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    client = NodeClient(args.node)
    try:
        genesis, trust = load_trust(client, args.genesis)
    except InvalidError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NodeError as exc:
        results = [{**empty_result(f, {"source": "node", "error": str(exc)}), "errors": [str(exc)],
                    "c2pa": read_manifest(f, c2pa_trust)} for f in args.files]
        _print(results, args.json)
        return 4
    if "warning" in trust:
        say(f"warning: {trust['warning']}")
    results = [verify_file(f, client, genesis, trust, say, c2pa_trust) for f in args.files]
    _print(results, args.json)
    return overall_exit(results)


def _print(results: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        for r in results:
            print(human_line(r))
            c = r.get("c2pa")
            if c and (c["present"] or c["manifest_lost"] or (c["available"] and c["error"])):
                print(c2pa_line(c))


if __name__ == "__main__":
    sys.exit(main())

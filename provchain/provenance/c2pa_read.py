"""Content Credentials read: any C2PA manifest in a clip (ours or a third party's), checked against the chain.

`read_manifest` asks c2pa-python for the active manifest and its validation (against the trust anchors
given, e.g. the devnet CA) and keeps what a person needs: validation state and failures, claim
generator, signer, actions, the soft binding and our chain claim (`org.provchain.record`).
`check_against_chain` compares the chain claim with what the chain proves: a claim naming this chain
whose record the chain lacks, or whose record has another creator, is a conflict. A clip without a
manifest whose record says it was registered with one has lost its manifest (a remux or re-encode).
"""

from __future__ import annotations

import json
from typing import Callable

from ..chain.types import Genesis
from .c2pa_sign import CHAIN_LABEL, SETTING, mime_type
from .lightclient import ProvenRecord

CLAIM_FIELDS = ("chain_id", "genesis_hash", "creator", "frames_sha256")


def empty_report(available: bool, error: str | None = None) -> dict:
    return {"available": available, "present": False, "validation_state": None, "failures": [],
            "claim_generator": None, "title": None, "signer": None, "actions": [], "soft_binding": None,
            "ingredients": [], "chain_claim": None, "chain_check": "no_manifest", "record_id": None, "conflicts": [],
            "manifest_lost": False, "error": error}


def not_read(reason: str) -> dict:
    """The report for a clip whose bytes were not available to read."""
    import importlib.util
    return empty_report(importlib.util.find_spec("c2pa") is not None, reason)


def _context(trust_pem: str | None):
    import c2pa
    settings = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_pem:
        settings["trust"] = {"user_anchors": trust_pem}
    return c2pa.Context.from_dict(settings)


def read_manifest(path: str, trust_pem: str | None = None) -> dict:
    """The clip's C2PA manifest as a report (see docs/api.md, the `c2pa` object). Never raises."""
    try:
        import c2pa
    except ImportError:
        return empty_report(False, "c2pa-python is not installed (pip install 'provchain[c2pa]')")
    try:
        with open(path, "rb") as stream:
            reader = c2pa.Reader.try_create(mime_type(path), stream, context=_context(trust_pem))
            if reader is None:
                return empty_report(True)
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError.NotSupported:
        return empty_report(True, "c2pa-python cannot read C2PA in this format")
    except (c2pa.C2paError, OSError, ValueError) as exc:  # a damaged file or a damaged manifest
        return empty_report(True, f"the C2PA data could not be read: {exc}")
    return summarize(store)


def _text(v) -> str | None:
    return v if isinstance(v, str) else None


def _dict(v) -> dict:
    return v if isinstance(v, dict) else {}


def _dicts(v) -> list[dict]:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


STATES = ("Invalid", "Valid", "Trusted")


def _generator(manifest: dict) -> str | None:
    gen = _dicts(manifest.get("claim_generator_info"))
    if gen:
        name, version = _text(gen[0].get("name")), _text(gen[0].get("version"))
        return f"{name}/{version}" if name and version else name
    return _text(manifest.get("claim_generator"))


def summarize(store: dict) -> dict:
    """Our report from c2pa-python's manifest-store JSON (which a hostile file shapes: trust no type)."""
    out = empty_report(True)
    out["present"] = True
    out["chain_check"] = "no_claim"
    active = _text(store.get("active_manifest"))
    manifest = _dict(_dict(store.get("manifests")).get(active)) if active else {}
    state = store.get("validation_state")
    out["validation_state"] = state if state in STATES else None
    results = _dict(_dict(store.get("validation_results")).get("activeManifest"))
    out["failures"] = [{"code": _text(f.get("code")), "explanation": _text(f.get("explanation"))}
                       for f in _dicts(results.get("failure"))]
    out["claim_generator"] = _generator(manifest)
    for ing in _dicts(manifest.get("ingredients")):  # e.g. the manifest a generator signed before our hook
        parent = _dict(_dict(store.get("manifests")).get(_text(ing.get("active_manifest")) or ""))
        out["ingredients"].append({"title": _text(ing.get("title")), "relationship": _text(ing.get("relationship")),
                                   "claim_generator": _generator(parent) if parent else None})
    out["title"] = _text(manifest.get("title"))
    sig = manifest.get("signature_info")
    if isinstance(sig, dict):  # c2pa-rs calls the signing certificate's subject organization "issuer"
        out["signer"] = {"organization": _text(sig.get("issuer")), "common_name": _text(sig.get("common_name")),
                         "alg": _text(sig.get("alg")), "time": _text(sig.get("time"))}
    for a in _dicts(manifest.get("assertions")):
        label, data = _text(a.get("label")) or "", _dict(a.get("data"))
        if label.startswith("c2pa.actions"):
            for act in _dicts(data.get("actions")):
                agent = act.get("softwareAgent")
                out["actions"].append({"action": _text(act.get("action")),
                                       "digital_source_type": _text(act.get("digitalSourceType")),
                                       "software_agent": _text(agent.get("name")) if isinstance(agent, dict)
                                       else _text(agent)})
        elif label.startswith("c2pa.soft-binding"):
            out["soft_binding"] = {"alg": _text(data.get("alg"))}
        elif label == CHAIN_LABEL:
            claim = {k: _text(data.get(k)) for k in CLAIM_FIELDS}
            lookup = data.get("lookup")
            claim["lookup"] = {str(k): _text(v) for k, v in lookup.items()} if isinstance(lookup, dict) else None
            out["chain_claim"] = claim
    return out


def _registered_with_manifest(p: ProvenRecord) -> bool:
    return p.record is not None and p.record.generator is not None and \
        dict(p.record.generator.settings).get(SETTING) == 1


def check_against_chain(report: dict, genesis: Genesis, verdict: str, matched: list[ProvenRecord],
                        find: Callable[[bytes], ProvenRecord | None]) -> dict:
    """Set report's chain_check / conflicts / manifest_lost. `matched`: the proven records the clip
    matched, best first; `find(frames_sha256)`: the proven record the chain holds for those frames."""
    if not report["present"]:
        report["manifest_lost"] = verdict in ("verified", "match", "altered") and bool(matched) and \
            _registered_with_manifest(matched[0])
        return report
    claim = report["chain_claim"]
    if claim is None:
        report["chain_check"] = "no_claim"
        return report
    conflicts = report["conflicts"]
    if None in (claim.get(k) for k in CLAIM_FIELDS):
        report["chain_check"] = "conflict"
        conflicts.append(f"the manifest's {CHAIN_LABEL} assertion is malformed")
        return report
    if claim["chain_id"] != genesis.chain_id or claim["genesis_hash"].upper() != genesis.hash().hex().upper():
        report["chain_check"] = "other_chain"
        return report
    try:
        frames = bytes.fromhex(claim["frames_sha256"])
        creator = bytes.fromhex(claim["creator"])
    except ValueError:
        frames = creator = b""
    if len(frames) != 32 or len(creator) != 32:
        report["chain_check"] = "conflict"
        conflicts.append("the manifest's chain claim has malformed hashes")
        return report
    named = next((p for p in matched if p.record is not None and p.record.frames_sha256 == frames), None)
    named = named or find(frames)
    if named is None:
        conflicts.append(f"the manifest names a record of this chain (frames_sha256 {claim['frames_sha256'][:16]}…) "
                         "that the chain does not have")
    elif not named.verified:
        conflicts.append("the node's proof of the record the manifest names failed")
    else:
        if named.creator != creator:
            conflicts.append(f"the manifest names creator {claim['creator'][:16]}…, the chain's record was "
                             f"registered by {named.creator.hex().upper()[:16]}…")
        if verdict in ("verified", "match") and matched and matched[0].record_id != named.record_id:
            conflicts.append(f"the clip matches record {matched[0].record_id.hex().upper()[:16]}…, not the record "
                             f"the manifest names ({named.record_id.hex().upper()[:16]}…)")
        report["record_id"] = named.record_id.hex().upper()
    report["chain_check"] = "conflict" if conflicts else "consistent"
    return report


def human_line(report: dict) -> str:
    """One line for `verify`'s human output."""
    if not report["available"] or (not report["present"] and report["error"]):
        return f"  C2PA: not read ({report['error']})"
    if not report["present"]:
        return ("  C2PA: no manifest: it was LOST (the registered file carried one; a remux or re-encode "
                "strips it)" if report["manifest_lost"] else "  C2PA: no manifest")
    signer = report["signer"] or {}
    acts = ", ".join(filter(None, (a["action"] for a in report["actions"]))) or "no actions"
    line = (f"  C2PA: {report['validation_state']} manifest by {report['claim_generator'] or '?'}, signed by "
            f"{signer.get('common_name') or '?'} ({signer.get('organization') or '?'}); {acts}")
    if report["ingredients"]:
        line += "; from " + ", ".join(f"{i['title'] or '?'} ({i['claim_generator'] or 'no manifest'})"
                                      for i in report["ingredients"][:4])
    if report["failures"]:
        line += "; failed: " + ", ".join(f["code"] or "?" for f in report["failures"])
    check = report["chain_check"]
    if check == "conflict":
        line += "\n  C2PA CONFLICT: " + "; ".join(report["conflicts"])
    elif check == "consistent":
        line += f"; its chain record {report['record_id'][:16]}… agrees"
    elif check == "other_chain":
        line += f"; names another chain ({report['chain_claim']['chain_id']})"
    return line

"""JSON renderings shared by the RPC, the explorer and the CLIs: CometBFT conventions."""

from __future__ import annotations

import base64
from datetime import datetime, timezone


def rfc3339(ms: int) -> str:
    """Milliseconds since the epoch as RFC 3339 UTC, e.g. 2026-11-24T23:00:00.123Z."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def hexu(b: bytes) -> str:
    return b.hex().upper()


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def parse_hex(text: str, size: int | None = None) -> bytes:
    """Parse hex (either case, optional 0x); raise ValueError with a clear message."""
    t = text.strip()
    if t[:2].lower() == "0x":
        t = t[2:]
    try:
        b = bytes.fromhex(t)
    except ValueError:
        raise ValueError(f"not a hex string: {text[:80]!r}") from None
    if size is not None and len(b) != size:
        raise ValueError(f"expected {size} bytes of hex, got {len(b)}")
    return b


def parse_rfc3339_ms(text: str) -> int:
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(round(dt.timestamp() * 1000))


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise ValueError("not valid base64") from None


# --- CometBFT-shaped renderings of chain objects (heights as strings, hashes upper-case hex) -------

def header_json(h) -> dict:
    return {
        "version": {"block": "11", "app": "1"},
        "chain_id": h.chain_id,
        "height": str(h.height),
        "time": rfc3339(h.time_ms),
        "last_block_id": {"hash": hexu(h.last_block_hash), "parts": {"total": 0, "hash": ""}},
        "last_commit_hash": hexu(h.last_commit_hash),
        "data_hash": hexu(h.data_hash),
        "validators_hash": hexu(h.validators_hash),
        "next_validators_hash": hexu(h.validators_hash),
        "consensus_hash": "",
        "app_hash": hexu(h.app_hash),
        "last_results_hash": "",
        "evidence_hash": hexu(h.evidence_hash),
        "proposer_address": hexu(h.proposer_address),
    }


def header_from_json(d: dict):
    from .types import Header
    return Header.from_obj([
        d["chain_id"], int(d["height"]), parse_rfc3339_ms(d["time"]), parse_hex(d["last_block_id"]["hash"]),
        parse_hex(d["last_commit_hash"]), parse_hex(d["data_hash"]), parse_hex(d["evidence_hash"]),
        parse_hex(d["validators_hash"]), parse_hex(d["app_hash"]), parse_hex(d["proposer_address"]),
    ])


def commit_json(c) -> dict:
    return {
        "height": str(c.height),
        "round": c.round,
        "block_id": {"hash": hexu(c.block_hash), "parts": {"total": 0, "hash": ""}},
        "signatures": [{"block_id_flag": 2, "validator_address": hexu(s.validator_address),
                        "timestamp": rfc3339(s.timestamp_ms), "signature": b64(s.signature)}
                       for s in c.signatures],
    }


def commit_from_json(d: dict):
    from .types import Commit, CommitSig
    return Commit.from_obj([
        int(d["height"]), int(d["round"]), parse_hex(d["block_id"]["hash"]),
        [CommitSig(parse_hex(s["validator_address"]), parse_rfc3339_ms(s["timestamp"]),
                   unb64(s["signature"])).to_obj() for s in d["signatures"] if s.get("block_id_flag") == 2],
    ])


def vote_json(v) -> dict:
    return {"type": v.type, "height": str(v.height), "round": v.round,
            "block_id": {"hash": hexu(v.block_hash)}, "timestamp": rfc3339(v.timestamp_ms),
            "validator_address": hexu(v.validator_address), "signature": b64(v.signature)}


def evidence_json(e) -> dict:
    return {"type": "tendermint/DuplicateVoteEvidence",
            "value": {"vote_a": vote_json(e.vote_a), "vote_b": vote_json(e.vote_b),
                      "height": str(e.vote_a.height), "hash": hexu(e.hash())}}


def block_json(block) -> dict:
    return {
        "block_id": {"hash": hexu(block.hash), "parts": {"total": 0, "hash": ""}},
        "block": {
            "header": header_json(block.header),
            "data": {"txs": [b64(t) for t in block.txs]},
            "evidence": {"evidence": [evidence_json(e) for e in block.evidence]},
            "last_commit": commit_json(block.last_commit) if block.last_commit else None,
        },
    }


def validator_json(v) -> dict:
    return {"address": hexu(v.address), "pub_key": {"type": "tendermint/PubKeyEd25519", "value": b64(v.pubkey)},
            "voting_power": str(v.power), "proposer_priority": "0"}


def proof_json(proof, tx: bytes, root_hash: bytes) -> dict:
    return {"root_hash": hexu(root_hash), "data": b64(tx),
            "proof": {"total": str(proof.total), "index": str(proof.index), "leaf_hash": b64(proof.leaf_hash),
                      "aunts": [b64(a) for a in proof.aunts]}}


def proof_from_json(d: dict):
    from .merkle import Proof
    p = d["proof"]
    return Proof(int(p["index"]), int(p["total"]), unb64(p["leaf_hash"]), tuple(unb64(a) for a in p["aunts"]))

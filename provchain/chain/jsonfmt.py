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
# This chain has no block part sets: a block travels whole, so its "part set" is one part (the encoded
# block) and the part-set hash is that part's Merkle leaf hash. Clients that insist on a part set header
# (cosmjs) get a real, checkable one.

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time, what CometBFT shows for absent timestamps
BLOCK_PROTOCOL = "11"  # CometBFT 0.38's block protocol version
APP_PROTOCOL = "1"
EMPTY_BLOCK_ID = {"hash": "", "parts": {"total": 0, "hash": ""}}


def block_id_json(block_hash: bytes, raw_block: bytes | None) -> dict:
    """A BlockID: the block hash and the header of its one-part part set (raw_block = encoded block)."""
    if not block_hash:
        return dict(EMPTY_BLOCK_ID)
    from .merkle import leaf_hash
    return {"hash": hexu(block_hash),
            "parts": {"total": 1, "hash": hexu(leaf_hash(raw_block))} if raw_block else {"total": 0, "hash": ""}}


def header_json(h, prev_raw: bytes | None = None) -> dict:
    """prev_raw: the encoded previous block, for last_block_id's part set (absent at height 1)."""
    return {
        "version": {"block": BLOCK_PROTOCOL, "app": APP_PROTOCOL},
        "chain_id": h.chain_id,
        "height": str(h.height),
        "time": rfc3339(h.time_ms),
        "last_block_id": block_id_json(h.last_block_hash, prev_raw),
        "last_commit_hash": hexu(h.last_commit_hash),
        "data_hash": hexu(h.data_hash),
        "validators_hash": hexu(h.validators_hash),
        "next_validators_hash": hexu(h.next_validators_hash),
        "consensus_hash": "",     # not in this chain's header (params are fixed at genesis)
        "app_hash": hexu(h.app_hash),
        "last_results_hash": "",  # not in this chain's header: every tx in a block succeeded
        "evidence_hash": hexu(h.evidence_hash),
        "proposer_address": hexu(h.proposer_address),
    }


def header_from_json(d: dict):
    from .types import Header
    return Header.from_obj([
        d["chain_id"], int(d["height"]), parse_rfc3339_ms(d["time"]), parse_hex(d["last_block_id"]["hash"]),
        parse_hex(d["last_commit_hash"]), parse_hex(d["data_hash"]), parse_hex(d["evidence_hash"]),
        parse_hex(d["validators_hash"]), parse_hex(d["next_validators_hash"]), parse_hex(d["app_hash"]),
        parse_hex(d["proposer_address"]),
    ])


def commit_json(c, raw_block: bytes | None = None, valset=None) -> dict:
    """One signature entry per validator, in validator-set order when `valset` is given (CometBFT's
    shape: block_id_flag 2 = signed for this block, 1 = absent)."""
    signed = {s.validator_address: s for s in c.signatures}
    order = [v.address for v in valset.validators] if valset is not None else list(signed)
    sigs = []
    for addr in order:
        s = signed.get(addr)
        if s is None:
            sigs.append({"block_id_flag": 1, "validator_address": "", "timestamp": ZERO_TIME, "signature": None})
        else:
            sigs.append({"block_id_flag": 2, "validator_address": hexu(s.validator_address),
                         "timestamp": rfc3339(s.timestamp_ms), "signature": b64(s.signature)})
    return {"height": str(c.height), "round": c.round, "block_id": block_id_json(c.block_hash, raw_block),
            "signatures": sigs}


EMPTY_COMMIT = {"height": "0", "round": 0, "block_id": EMPTY_BLOCK_ID, "signatures": []}


def commit_from_json(d: dict):
    from .types import Commit, CommitSig
    return Commit.from_obj([
        int(d["height"]), int(d["round"]), parse_hex(d["block_id"]["hash"]),
        [CommitSig(parse_hex(s["validator_address"]), parse_rfc3339_ms(s["timestamp"]),
                   unb64(s["signature"])).to_obj() for s in d["signatures"] if s.get("block_id_flag") == 2],
    ])


def vote_json(v, valset=None) -> dict:
    index = valset.index_by_address.get(v.validator_address, -1) if valset is not None else -1
    return {"type": v.type, "height": str(v.height), "round": v.round,
            "block_id": block_id_json(v.block_hash, None), "timestamp": rfc3339(v.timestamp_ms),
            "validator_address": hexu(v.validator_address), "validator_index": index,
            "signature": b64(v.signature)}


def evidence_json(e, valset=None) -> dict:
    power = valset.by_address[e.vote_a.validator_address].power if valset is not None else 0
    return {"type": "tendermint/DuplicateVoteEvidence",
            "value": {"vote_a": vote_json(e.vote_a, valset), "vote_b": vote_json(e.vote_b, valset),
                      "total_voting_power": str(valset.total_power if valset is not None else 0),
                      "validator_power": str(power), "timestamp": rfc3339(e.vote_a.timestamp_ms),
                      # beyond CometBFT's shape: the evidence's height and hash, as this chain indexes it
                      "height": str(e.vote_a.height), "hash": hexu(e.hash())}}


def block_body_json(block, prev_raw: bytes | None = None, prev_valset=None) -> dict:
    """A Block: header, data, evidence, last_commit (CometBFT's empty commit at height 1)."""
    return {
        "header": header_json(block.header, prev_raw),
        "data": {"txs": [b64(t) for t in block.txs]},
        "evidence": {"evidence": [evidence_json(e, prev_valset) for e in block.evidence]},
        "last_commit": (commit_json(block.last_commit, prev_raw, prev_valset) if block.last_commit
                        else dict(EMPTY_COMMIT)),
    }


def block_json(block, raw: bytes | None = None, prev_raw: bytes | None = None, valset=None) -> dict:
    """A ResultBlock: {block_id, block}."""
    return {"block_id": block_id_json(block.hash, raw), "block": block_body_json(block, prev_raw, valset)}


def block_meta_json(block, raw: bytes, prev_raw: bytes | None = None) -> dict:
    return {"block_id": block_id_json(block.hash, raw), "block_size": str(len(raw)),
            "header": header_json(block.header, prev_raw), "num_txs": str(len(block.txs))}


def pub_key_json(pubkey: bytes) -> dict:
    return {"type": "tendermint/PubKeyEd25519", "value": b64(pubkey)}


def validator_json(v) -> dict:
    return {"address": hexu(v.address), "pub_key": pub_key_json(v.pubkey),
            "voting_power": str(v.power), "proposer_priority": "0"}


def validators_from_json(items: list):
    """A ValidatorSet from /validators entries (pub_key and voting_power; the address is derived)."""
    from .types import Validator, ValidatorSet
    return ValidatorSet(tuple(Validator.from_obj([unb64(v["pub_key"]["value"]), int(v["voting_power"])])
                              for v in items))


def genesis_json(g) -> dict:
    """The genesis document in CometBFT's shape. `app_state` carries this chain's own genesis file
    (config/genesis.json) verbatim: it is what `genesis_from_json` rebuilds the Genesis from."""
    import json
    p = g.params
    return {
        "genesis_time": rfc3339(g.genesis_time_ms),
        "chain_id": g.chain_id,
        "initial_height": "1",
        "consensus_params": {
            "block": {"max_bytes": str(p.max_block_bytes), "max_gas": "-1"},
            "evidence": {"max_age_num_blocks": "100000", "max_age_duration": "172800000000000",
                         "max_bytes": "1048576"},
            "validator": {"pub_key_types": ["ed25519"]},
            "version": {"app": "0"},
            "abci": {"vote_extensions_enable_height": "0"},
        },
        "validators": [{"address": hexu(v.address), "pub_key": pub_key_json(v.pubkey), "power": str(v.power),
                        "name": f"validator{i}"} for i, v in enumerate(g.validators.validators)],
        "app_hash": "",
        "app_state": json.loads(g.to_json()),
    }


def genesis_from_json(d: dict):
    """Rebuild a Genesis from a /genesis answer (its app_state is the chain's own genesis file)."""
    import json
    from .types import Genesis, InvalidError
    state = d.get("app_state") if isinstance(d, dict) else None
    if not isinstance(state, dict):
        raise InvalidError("malformed genesis: no app_state with the chain's genesis document")
    return Genesis.from_json(json.dumps(state))


def proof_json(proof, tx: bytes, root_hash: bytes) -> dict:
    return {"root_hash": hexu(root_hash), "data": b64(tx),
            "proof": {"total": str(proof.total), "index": str(proof.index), "leaf_hash": b64(proof.leaf_hash),
                      "aunts": [b64(a) for a in proof.aunts]}}


def proof_from_json(d: dict):
    from .merkle import Proof
    p = d["proof"]
    return Proof(int(p["index"]), int(p["total"]), unb64(p["leaf_hash"]), tuple(unb64(a) for a in p["aunts"]))


def event_json(etype: str, attrs) -> dict:
    """An ABCI event: attributes (key, value[, indexed]) are strings (CometBFT 0.38), indexed by default."""
    return {"type": etype, "attributes": [{"key": a[0], "value": a[1], "index": a[2] if len(a) > 2 else True}
                                          for a in attrs]}


def exec_tx_result_json(code: int, log: str, events=(), data: bytes = b"") -> dict:
    """ExecTxResult / ResponseCheckTx (gas is not metered on this chain: always 0)."""
    out = {"code": code, "log": log, "info": "", "gas_wanted": "0", "gas_used": "0",
           "events": [event_json(t, a) for t, a in events], "codespace": ""}
    if data:  # omitted when empty, as CometBFT does
        out["data"] = b64(data)
    return out

"""Proves a record from an untrusted node: the tx's Merkle inclusion, the block's commit signatures
against a trusted validator set, the record id, and the creator's signature on the record."""

from __future__ import annotations

from dataclasses import dataclass

from ..chain import jsonfmt as jf
from ..chain import light
from ..chain.light import Check
from ..chain.tx import SignedTx
from ..chain.types import Genesis, InvalidError, tx_hash
from .client import NodeClient, NodeError
from .record import KIND, RegisterClip


@dataclass
class ProvenRecord:
    record_id: bytes
    checks: list[Check]
    record: RegisterClip | None = None
    creator: bytes = b""
    height: int = 0
    index: int = 0  # the tx's position in its block: orders records of the same block
    block_time_ms: int = 0

    @property
    def verified(self) -> bool:
        return self.record is not None and bool(self.checks) and all(c.ok for c in self.checks)


def prove_record(client: NodeClient, record_id: bytes, genesis: Genesis) -> ProvenRecord:
    """Fetch and check everything; never raises for a lying node, it reports failed checks instead.
    Raises NodeError only when the node is unreachable."""
    out = ProvenRecord(record_id, [])
    try:
        txr = client.get("/tx", hash=record_id.hex(), prove="true")
        tx = jf.unb64(txr["tx"])
        proof = jf.proof_from_json(txr["proof"])
        height = int(txr["height"])
        cm = client.get("/commit", height=str(height))
        header = jf.header_from_json(cm["signed_header"]["header"])
        commit = jf.commit_from_json(cm["signed_header"]["commit"])
    except NodeError as exc:
        if "unreachable" in str(exc):
            raise
        out.checks.append(Check("fetch_proof", False, f"the node did not give a proof: {exc}"))
        return out
    except (KeyError, TypeError, ValueError, InvalidError) as exc:
        out.checks.append(Check("fetch_proof", False, f"the node sent a malformed proof: {exc}"))
        return out
    out.checks.append(Check("record_id", tx_hash(tx) == record_id,
                            "the record id is the hash of the proven tx" if tx_hash(tx) == record_id
                            else "the node sent a different tx than the record id names"))
    out.checks += light.check_tx_inclusion(tx, proof, header, commit, genesis.chain_id, genesis.validators)
    try:
        stx = SignedTx.decode(tx, genesis.params.max_tx_bytes)
        if stx.kind != KIND:
            raise InvalidError(f"tx kind is {stx.kind!r}, not {KIND!r}")
        record = RegisterClip.from_obj(stx.body)
    except InvalidError as exc:
        out.checks.append(Check("record_decodes", False, str(exc)))
        return out
    from ..chain import crypto
    sig_ok = crypto.verify(stx.sender, stx.sign_bytes(genesis.chain_id), stx.signature)
    out.checks.append(Check("creator_signature", sig_ok,
                            f"signed by creator {stx.sender.hex().upper()[:16]}…" if sig_ok
                            else "the creator's signature on the record does not verify"))
    out.record, out.creator, out.height, out.block_time_ms = record, stx.sender, height, header.time_ms
    out.index = proof.index
    return out

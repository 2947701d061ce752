"""Light-client checks: does a tx sit in a block that > 2/3 of a trusted validator set committed?

Pure functions over objects a client fetched from an untrusted node. Each check is reported by name so
`verify` and the explorer can show exactly what was checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from .merkle import Proof
from .types import Commit, Header, InvalidError, ValidatorSet


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def check_tx_inclusion(tx: bytes, proof: Proof, header: Header, commit: Commit, chain_id: str,
                       valset: ValidatorSet) -> list[Check]:
    """All checks that tie `tx` to a committed block; every one must be ok for the tx to be proven."""
    checks = []
    leaf_ok = proof.verify(header.data_hash, tx)
    checks.append(Check("merkle_inclusion", leaf_ok,
                        f"tx is leaf {proof.index} of {proof.total} under data_hash {header.data_hash.hex().upper()[:16]}…"
                        if leaf_ok else "the Merkle proof does not lead from the tx to the header's data_hash"))
    checks.append(Check("chain_id", header.chain_id == chain_id,
                        f"header chain id {header.chain_id!r}" + ("" if header.chain_id == chain_id
                                                                  else f", expected {chain_id!r}")))
    same = commit.block_hash == header.hash() and commit.height == header.height
    checks.append(Check("header_matches_commit", same,
                        f"header hash {header.hash().hex().upper()[:16]}… at height {header.height}" if same
                        else "the commit certifies another block than this header"))
    try:
        commit.verify(chain_id, valset, header.height, header.hash())
        power = sum(valset.by_address[s.validator_address].power for s in commit.signatures)
        checks.append(Check("commit_signatures", True,
                            f"{len(commit.signatures)} validators with {power}/{valset.total_power} voting power signed"))
    except InvalidError as exc:
        checks.append(Check("commit_signatures", False, str(exc)))
    return checks

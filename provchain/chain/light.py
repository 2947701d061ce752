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


# --- following validator-set changes: CometBFT's light-client verification ---------------------------
# docs/protocol.md "Light client" states the rules; the names follow CometBFT's verification spec.

TRUST_LEVEL = (1, 3)  # a skip is trusted when validators of the trusted next set with > 1/3 of its power signed
TRUSTING_PERIOD_MS = 14 * 24 * 3600 * 1000
MAX_CLOCK_DRIFT_MS = 10_000
MAX_STEPS = 100_000


class VerificationError(InvalidError):
    """A light block that does not follow from the trusted one."""


class NotEnoughTrust(VerificationError):
    """Too little of the trusted validator power signed to skip to this height: bisect."""


class Expired(VerificationError):
    """The trusted block is older than the trusting period: it may not vouch for a skip."""


@dataclass(frozen=True)
class LightBlock:
    """What a light client fetches for a height: header, its commit, the validator sets of h and h + 1."""
    header: Header
    commit: Commit
    validators: ValidatorSet
    next_validators: ValidatorSet

    def validate_basic(self, chain_id: str) -> None:
        h = self.header
        if h.chain_id != chain_id:
            raise VerificationError(f"header of chain {h.chain_id!r}, expected {chain_id!r}")
        if self.commit.height != h.height or self.commit.block_hash != h.hash():
            raise VerificationError(f"the commit at height {h.height} certifies another block than the header")
        if self.validators.hash() != h.validators_hash:
            raise VerificationError(f"the validator set sent for height {h.height} is not the one its header names")
        if self.next_validators.hash() != h.next_validators_hash:
            raise VerificationError(f"the next validator set sent for height {h.height} is not the one its "
                                    f"header names")


@dataclass(frozen=True)
class TrustedBlock:
    """A verified height: its time, its block hash and the validator set of the height after it.
    Height 0 is the genesis: its time, and the genesis validators as the set of height 1."""
    height: int
    time_ms: int
    block_hash: bytes
    next_validators: ValidatorSet

    @classmethod
    def genesis(cls, genesis) -> "TrustedBlock":
        return cls(0, genesis.genesis_time_ms, b"", genesis.validators)

    @classmethod
    def of(cls, lb: LightBlock) -> "TrustedBlock":
        return cls(lb.header.height, lb.header.time_ms, lb.header.hash(), lb.next_validators)


def trusted_power(trusted: ValidatorSet, commit: Commit) -> int:
    """Power of `trusted`'s validators among the commit's signers (addresses are hashes of the keys, so the
    signature commit.verify checked is the trusted validator's own)."""
    return sum(trusted.by_address[s.validator_address].power for s in commit.signatures
               if s.validator_address in trusted.by_address)


def verify_step(trusted: TrustedBlock, lb: LightBlock, chain_id: str, now_ms: int,
                trusting_period_ms: int = TRUSTING_PERIOD_MS, max_clock_drift_ms: int = MAX_CLOCK_DRIFT_MS,
                cache=None) -> str:
    """Check that `lb` follows from `trusted` (CometBFT's ValidAndVerified): adjacent heights by the hash
    chain of validator sets, a skip by more than 1/3 of the trusted next set's power among the signers.
    Returns how ("adjacent" or "skipping"); raises VerificationError, NotEnoughTrust or Expired."""
    lb.validate_basic(chain_id)
    h = lb.header
    if h.height <= trusted.height:
        raise VerificationError(f"height {h.height} is not above the trusted height {trusted.height}")
    if h.time_ms < trusted.time_ms or (trusted.height and h.time_ms == trusted.time_ms):
        raise VerificationError(f"header {h.height}'s time is not after the trusted header's")
    if h.time_ms > now_ms + max_clock_drift_ms:
        raise VerificationError(f"header {h.height}'s time is in the future")
    if h.height == trusted.height + 1:
        if h.validators_hash != trusted.next_validators.hash():
            raise VerificationError(f"header {h.height} names another validator set than the trusted header "
                                    f"{trusted.height} announced")
        if h.last_block_hash != trusted.block_hash:
            raise VerificationError(f"header {h.height} does not link to the trusted block {trusted.height}")
        how = "adjacent"
    else:
        if trusted.time_ms + trusting_period_ms <= now_ms:
            raise Expired(f"trusted height {trusted.height} is older than the trusting period")
        power = trusted_power(trusted.next_validators, lb.commit)
        num, den = TRUST_LEVEL
        if den * power <= num * trusted.next_validators.total_power:
            raise NotEnoughTrust(f"validators trusted at height {trusted.height} hold {power} of "
                                 f"{trusted.next_validators.total_power} power in the commit of {h.height}")
        how = "skipping"
    try:
        lb.commit.verify(chain_id, lb.validators, h.height, h.hash(), cache=cache)
    except InvalidError as exc:
        raise VerificationError(f"commit of height {h.height}: {exc}") from None
    return how


def verify_to(trusted: TrustedBlock, target: int, fetch, chain_id: str, now_ms: int,
              trusting_period_ms: int = TRUSTING_PERIOD_MS, max_clock_drift_ms: int = MAX_CLOCK_DRIFT_MS,
              max_steps: int = MAX_STEPS, cache=None) -> tuple[LightBlock, list[tuple[int, str]]]:
    """Verify height `target` from `trusted` by bisection (CometBFT's skipping verification): try the
    target; when too little trusted power signed it, verify the height halfway first. From a trusted
    block older than the trusting period only adjacent steps are taken (sequential verification, as a
    full node syncing from genesis) until a block within the period is reached. `fetch(h)` -> LightBlock
    from the untrusted node. Returns the verified light block and the steps [(height, how)]."""
    if target <= trusted.height:
        raise VerificationError(f"height {target} is not above the trusted height {trusted.height}")
    pending = [target]
    steps: list[tuple[int, str]] = []
    verified: LightBlock | None = None
    for _ in range(max_steps):
        h = pending[-1]
        lb = fetch(h)
        if lb.header.height != h:
            raise VerificationError(f"asked for height {h}, the node sent {lb.header.height}")
        try:
            how = verify_step(trusted, lb, chain_id, now_ms, trusting_period_ms, max_clock_drift_ms, cache)
        except NotEnoughTrust:
            pending.append((trusted.height + h) // 2)
            continue
        except Expired:
            pending.append(trusted.height + 1)
            continue
        steps.append((h, how))
        trusted, verified = TrustedBlock.of(lb), lb
        pending.pop()
        if not pending:
            return verified, steps
    raise VerificationError(f"more than {max_steps} light-client steps to height {target}")

"""Validator-set changes on chain: the `validator_update` tx, its authorisation, and the set of each height.

Rules (docs/protocol.md, "Validator updates"):
- A `validator_update` tx body is [seq, changes, signatures]. `changes` is a list of [pubkey, power]
  (power 0 removes the validator, any other power adds it or sets its power), sorted by pubkey, each key
  once. `seq` is the number of validator updates the chain has applied so far: an update is valid once.
- It is authorised by signatures over encode(["validator_update", chain_id, seq, changes]) from validators
  of the set of the height whose block includes it, holding more than 2/3 of that set's voting power
  (proof of authority: the current validators admit and remove validators).
- An update in block H takes effect at height H + 2 (as CometBFT's EndBlock updates): header H + 1 names
  the next set in next_validators_hash before it starts signing, so light clients can follow it.
- The set of height H + 2 is written as app state (key a/vals/<H+2>) when block H commits, so the app hash
  covers it and the handshake and repair rebuild it: the full set when it changed, else a pointer to the
  height where the set last changed (0: the genesis set). Heights 1 and 2 use the genesis set.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import crypto, schema
from .encoding import decode, encode
from .types import MAX_PROPOSER_PERIOD, InvalidError, Validator, ValidatorSet, _bytes, _int, _list

KIND = "validator_update"
DELAY = 2  # an update committed in block H applies from height H + DELAY
MAX_VALIDATORS = 100
MAX_POWER = 2**40


@dataclass(frozen=True)
class ValidatorUpdate:
    seq: int
    changes: tuple[tuple[bytes, int], ...]  # (pubkey, power), sorted by pubkey; power 0 removes
    signatures: tuple[tuple[bytes, bytes], ...] = ()  # (validator address, signature), sorted by address

    def sign_bytes(self, chain_id: str) -> bytes:
        return encode(["validator_update", chain_id, self.seq, [list(c) for c in self.changes]])

    def signed_by(self, keys, chain_id: str) -> "ValidatorUpdate":
        msg = self.sign_bytes(chain_id)
        sigs = {k.address: k.sign(msg) for k in keys}
        return ValidatorUpdate(self.seq, self.changes, tuple(sorted(sigs.items())))

    def to_obj(self) -> list:
        return [self.seq, [list(c) for c in self.changes], [list(s) for s in self.signatures]]

    @classmethod
    def from_obj(cls, obj) -> "ValidatorUpdate":
        seq, changes, sigs = _list(obj, 3, "validator update")
        parsed = []
        for c in _list(changes, name="changes", max_len=MAX_VALIDATORS):
            pk, power = _list(c, 2, "change")
            parsed.append((_bytes(pk, crypto.PUBKEY_SIZE, "pubkey"), _int(power, "power", 0, MAX_POWER)))
        if not parsed:
            raise InvalidError("a validator update changes at least one validator")
        if [p for p, _ in parsed] != sorted({p for p, _ in parsed}):
            raise InvalidError("changes must be sorted by pubkey, each key once")
        signatures = []
        for s in _list(sigs, name="signatures", max_len=MAX_VALIDATORS):
            addr, sig = _list(s, 2, "signature")
            signatures.append((_bytes(addr, crypto.ADDRESS_SIZE, "validator_address"),
                               _bytes(sig, crypto.SIGNATURE_SIZE, "signature")))
        if [a for a, _ in signatures] != sorted({a for a, _ in signatures}):
            raise InvalidError("signatures must be sorted by validator address, each validator once")
        return cls(_int(seq, "seq"), tuple(parsed), tuple(signatures))

    @classmethod
    def make(cls, seq: int, changes: dict[bytes, int]) -> "ValidatorUpdate":
        """An unsigned update from {pubkey: power}."""
        return cls(seq, tuple(sorted(changes.items())))

    def authorise(self, chain_id: str, valset: ValidatorSet) -> int:
        """The power that signed; InvalidError unless it is more than 2/3 of `valset`'s."""
        msg = self.sign_bytes(chain_id)
        power = 0
        for addr, sig in self.signatures:
            v = valset.by_address.get(addr)
            if v is None:
                raise InvalidError(f"signed by {addr.hex().upper()[:12]}…, not a validator of the current set")
            if not crypto.verify(v.pubkey, msg, sig):
                raise InvalidError(f"bad signature by validator {addr.hex().upper()[:12]}…")
            power += v.power
        if not valset.has_quorum(power):
            raise InvalidError(f"signed by {power} of {valset.total_power} voting power, needs more than 2/3")
        return power


def apply_changes(valset: ValidatorSet, changes) -> ValidatorSet:
    """The set after `changes`; InvalidError if it would be empty, too large, or remove an absent key."""
    powers = {v.pubkey: v.power for v in valset.validators}
    for pk, power in changes:
        if power == 0:
            if pk not in powers:
                raise InvalidError(f"cannot remove {crypto.address_of(pk).hex().upper()[:12]}…: not a validator")
            del powers[pk]
        else:
            powers[pk] = power
    if not powers:
        raise InvalidError("the update would remove every validator")
    if len(powers) > MAX_VALIDATORS:
        raise InvalidError(f"the update would make more than {MAX_VALIDATORS} validators")
    new = ValidatorSet(tuple(Validator(pk, p) for pk, p in powers.items()))
    check_rotation(new)
    return new


def check_rotation(valset: ValidatorSet) -> None:
    """The proposer rotation of a set must stay short enough to build (as the genesis rule)."""
    period = valset.proposer_period()
    if period > MAX_PROPOSER_PERIOD:
        raise InvalidError(f"voting powers would give a proposer rotation of {period} slots (at most "
                           f"{MAX_PROPOSER_PERIOD})")


# --- the set of each height, in app state --------------------------------------------------------------

def key(height: int) -> bytes:
    return schema.VALSET + schema.height_bytes(height)


def seq(state) -> int:
    raw = state.get(schema.VALSET_SEQ)
    return decode(raw) if raw is not None else 0


def _entry(state, height: int):
    raw = state.get(key(height))
    return None if raw is None else decode(raw)


def at(state, genesis_set: ValidatorSet, height: int) -> ValidatorSet | None:
    """The validator set of `height` (None if not known yet: above the last committed height + 2)."""
    entry = _entry(state, height)
    if entry is None:
        return genesis_set if height <= DELAY else None
    if isinstance(entry, int):
        if entry == 0:
            return genesis_set
        entry = _entry(state, entry)
    return ValidatorSet.from_obj(entry)


def writes_for(state, height: int, new_set: ValidatorSet | None) -> dict[bytes, bytes]:
    """The write recording the set of `height` (= committed block + DELAY): `new_set` if the block changed
    it, else a pointer to where the previous height's set is stored."""
    if new_set is not None:
        return {key(height): encode(new_set.to_obj())}
    prev = _entry(state, height - 1)
    pointer = prev if isinstance(prev, int) else (0 if prev is None else height - 1)
    return {key(height): encode(pointer)}


class ValidatorSets:
    """Reads the set of each height from committed state, caching the last few heights (a committed
    height's set never changes; an unknown height is not cached). Heights that share a stored set share
    one ValidatorSet object, so its derived maps and the proposer schedule are computed once."""

    def __init__(self, kv, genesis_set: ValidatorSet):
        self.kv = kv
        self.genesis_set = genesis_set
        self._cache: dict[int, ValidatorSet] = {}
        self._shared: dict[ValidatorSet, ValidatorSet] = {genesis_set: genesis_set}

    def at(self, height: int) -> ValidatorSet | None:
        vs = self._cache.get(height)
        if vs is None:
            vs = at(self.kv, self.genesis_set, height)
            if vs is not None:
                if len(self._cache) > 64:
                    self._cache.clear()
                if len(self._shared) > 64:
                    self._shared = {self.genesis_set: self.genesis_set}
                vs = self._cache[height] = self._shared.setdefault(vs, vs)
        return vs

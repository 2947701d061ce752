"""Chain data types: frozen dataclasses with canonical encodings and chain-id-bound sign bytes.

Each type has `to_obj()` (a list for canonical msgpack) and `from_obj()` (strict: wrong shapes raise
ValueError). Sign bytes always start with a domain tag and the chain id, so a signature made for one
chain or one message kind can never be replayed as another.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property

from . import crypto, merkle
from .encoding import EncodingError, decode, encode, sha256

PREVOTE = 1
PRECOMMIT = 2
NIL = b""  # the block hash of a nil vote
HASH_SIZE = 32


class InvalidError(ValueError):
    """A structurally or cryptographically invalid chain object."""


def _bytes(value, size: int | None = None, name: str = "field", max_size: int | None = None) -> bytes:
    if not isinstance(value, bytes):
        raise InvalidError(f"{name} must be bytes")
    if size is not None and len(value) != size:
        raise InvalidError(f"{name} must be {size} bytes, got {len(value)}")
    if max_size is not None and len(value) > max_size:
        raise InvalidError(f"{name} longer than {max_size} bytes")
    return value


def _int(value, name: str = "field", lo: int = 0, hi: int = 2**63 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidError(f"{name} must be an integer in [{lo}, {hi}]")
    return value


def _str(value, name: str = "field", max_len: int = 256) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidError(f"{name} must be a string of at most {max_len} characters")
    return value


def _list(value, n: int | None = None, name: str = "object", max_len: int = 1_000_000) -> list:
    if not isinstance(value, list):
        raise InvalidError(f"{name} must be a list")
    if n is not None and len(value) != n:
        raise InvalidError(f"{name} must have {n} fields, got {len(value)}")
    if len(value) > max_len:
        raise InvalidError(f"{name} has more than {max_len} items")
    return value


def _block_hash(value, name="block_hash") -> bytes:
    value = _bytes(value, name=name)
    if value not in (NIL,) and len(value) != HASH_SIZE:
        raise InvalidError(f"{name} must be empty (nil) or {HASH_SIZE} bytes")
    return value


# --- validators -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Validator:
    pubkey: bytes
    power: int

    @property
    def address(self) -> bytes:
        return crypto.address_of(self.pubkey)

    def to_obj(self) -> list:
        return [self.pubkey, self.power]

    @classmethod
    def from_obj(cls, obj) -> "Validator":
        pubkey, power = _list(obj, 2, "validator")
        return cls(_bytes(pubkey, crypto.PUBKEY_SIZE, "pubkey"), _int(power, "power", 1, 2**40))


@dataclass(frozen=True)
class ValidatorSet:
    validators: tuple[Validator, ...]  # sorted by address

    def __post_init__(self):
        if not self.validators:
            raise InvalidError("validator set is empty")
        object.__setattr__(self, "validators", tuple(sorted(self.validators, key=lambda v: v.address)))
        if len({v.address for v in self.validators}) != len(self.validators):
            raise InvalidError("duplicate validator")

    @cached_property
    def by_address(self) -> dict[bytes, Validator]:
        return {v.address: v for v in self.validators}

    @cached_property
    def index_by_address(self) -> dict[bytes, int]:
        return {v.address: i for i, v in enumerate(self.validators)}

    @cached_property
    def total_power(self) -> int:
        return sum(v.power for v in self.validators)

    def has_quorum(self, power: int) -> bool:
        """More than two thirds of the total voting power."""
        return 3 * power > 2 * self.total_power

    def has_one_honest(self, power: int) -> bool:
        """More than one third: at least one honest validator (f + 1) is among them."""
        return 3 * power > self.total_power

    def hash(self) -> bytes:
        return merkle.root([encode(v.to_obj()) for v in self.validators])

    def proposer_period(self) -> int:
        """Slots in one period of the proposer rotation (consensus/proposer.py): sum(power / gcd). Powers
        without a large common divisor would make it too long to build, and every consensus step fail."""
        g = 0
        for v in self.validators:
            g = math.gcd(g, v.power)
        return sum(v.power // g for v in self.validators)

    def to_obj(self) -> list:
        return [v.to_obj() for v in self.validators]

    @classmethod
    def from_obj(cls, obj) -> "ValidatorSet":
        return cls(tuple(Validator.from_obj(v) for v in _list(obj, name="validators", max_len=1000)))


# --- votes, proposals, commits -----------------------------------------------------------------------

@dataclass(frozen=True)
class Vote:
    type: int
    height: int
    round: int
    block_hash: bytes  # NIL for a nil vote
    timestamp_ms: int
    validator_address: bytes
    signature: bytes = b""

    def sign_bytes(self, chain_id: str) -> bytes:
        return encode(["vote", chain_id, self.type, self.height, self.round, self.block_hash, self.timestamp_ms])

    def signed(self, key: crypto.PrivateKey, chain_id: str) -> "Vote":
        return Vote(self.type, self.height, self.round, self.block_hash, self.timestamp_ms,
                    key.address, key.sign(self.sign_bytes(chain_id)))

    def verify(self, chain_id: str, valset: ValidatorSet) -> None:
        v = valset.by_address.get(self.validator_address)
        if v is None:
            raise InvalidError("vote from a non-validator")
        if not crypto.verify(v.pubkey, self.sign_bytes(chain_id), self.signature):
            raise InvalidError("bad vote signature")

    def to_obj(self) -> list:
        return [self.type, self.height, self.round, self.block_hash, self.timestamp_ms,
                self.validator_address, self.signature]

    @classmethod
    def from_obj(cls, obj) -> "Vote":
        t, h, r, bh, ts, addr, sig = _list(obj, 7, "vote")
        if isinstance(t, bool) or not isinstance(t, int) or t not in (PREVOTE, PRECOMMIT):
            raise InvalidError("vote type must be prevote (1) or precommit (2)")
        return cls(t, _int(h, "height", 1), _int(r, "round", 0, 10_000), _block_hash(bh), _int(ts, "timestamp"),
                   _bytes(addr, crypto.ADDRESS_SIZE, "validator_address"),
                   _bytes(sig, crypto.SIGNATURE_SIZE, "signature"))


@dataclass(frozen=True)
class Proposal:
    height: int
    round: int
    pol_round: int  # -1 when the block is not re-proposed from an earlier round's polka
    block_hash: bytes
    proposer_address: bytes
    signature: bytes = b""

    def sign_bytes(self, chain_id: str) -> bytes:
        return encode(["proposal", chain_id, self.height, self.round, self.pol_round, self.block_hash])

    def signed(self, key: crypto.PrivateKey, chain_id: str) -> "Proposal":
        return Proposal(self.height, self.round, self.pol_round, self.block_hash, key.address,
                        key.sign(self.sign_bytes(chain_id)))

    def verify(self, chain_id: str, valset: ValidatorSet) -> None:
        v = valset.by_address.get(self.proposer_address)
        if v is None:
            raise InvalidError("proposal from a non-validator")
        if not crypto.verify(v.pubkey, self.sign_bytes(chain_id), self.signature):
            raise InvalidError("bad proposal signature")

    def to_obj(self) -> list:
        return [self.height, self.round, self.pol_round, self.block_hash, self.proposer_address, self.signature]

    @classmethod
    def from_obj(cls, obj) -> "Proposal":
        h, r, pr, bh, addr, sig = _list(obj, 6, "proposal")
        r = _int(r, "round", 0, 10_000)
        return cls(_int(h, "height", 1), r, _int(pr, "pol_round", -1, r - 1 if r else -1),
                   _bytes(bh, HASH_SIZE, "block_hash"), _bytes(addr, crypto.ADDRESS_SIZE, "proposer_address"),
                   _bytes(sig, crypto.SIGNATURE_SIZE, "signature"))


@dataclass(frozen=True)
class CommitSig:
    validator_address: bytes
    timestamp_ms: int
    signature: bytes

    def to_obj(self) -> list:
        return [self.validator_address, self.timestamp_ms, self.signature]

    @classmethod
    def from_obj(cls, obj) -> "CommitSig":
        addr, ts, sig = _list(obj, 3, "commit signature")
        return cls(_bytes(addr, crypto.ADDRESS_SIZE, "validator_address"), _int(ts, "timestamp"),
                   _bytes(sig, crypto.SIGNATURE_SIZE, "signature"))


@dataclass(frozen=True)
class Commit:
    """The certificate that a block is final: precommits for it from > 2/3 of the voting power."""
    height: int
    round: int
    block_hash: bytes
    signatures: tuple[CommitSig, ...]  # sorted by validator address

    def vote(self, sig: CommitSig) -> Vote:
        return Vote(PRECOMMIT, self.height, self.round, self.block_hash, sig.timestamp_ms,
                    sig.validator_address, sig.signature)

    @classmethod
    def from_votes(cls, votes) -> "Commit":
        votes = sorted(votes, key=lambda v: v.validator_address)
        first = votes[0]
        return cls(first.height, first.round, first.block_hash,
                   tuple(CommitSig(v.validator_address, v.timestamp_ms, v.signature) for v in votes))

    def verify(self, chain_id: str, valset: ValidatorSet, height: int | None = None,
               block_hash: bytes | None = None, cache: crypto.VerifyCache | None = None) -> None:
        """Raise InvalidError unless > 2/3 of valset's power validly precommitted this block."""
        if height is not None and self.height != height:
            raise InvalidError(f"commit is for height {self.height}, expected {height}")
        if block_hash is not None and self.block_hash != block_hash:
            raise InvalidError("commit is for another block")
        if self.block_hash == NIL:
            raise InvalidError("commit for nil")
        seen: set[bytes] = set()
        power = 0
        for sig in self.signatures:
            v = valset.by_address.get(sig.validator_address)
            if v is None:
                raise InvalidError("commit signed by a non-validator")
            if sig.validator_address in seen:
                raise InvalidError("commit signed twice by one validator")
            seen.add(sig.validator_address)
            vote = self.vote(sig)
            msg = vote.sign_bytes(chain_id)
            ok = (cache.verify(sha256(msg + sig.signature), v.pubkey, msg, sig.signature) if cache
                  else crypto.verify(v.pubkey, msg, sig.signature))
            if not ok:
                raise InvalidError("bad commit signature")
            power += v.power
        if not valset.has_quorum(power):
            raise InvalidError(f"commit has {power} of {valset.total_power} voting power, needs > 2/3")

    def median_time(self, valset: ValidatorSet) -> int:
        """BFT time: the power-weighted median of the precommit timestamps.

        More than 2/3 of the power signed, so fewer than half of the counted power is faulty and the
        median lies between timestamps of honest validators: no single proposer can move it.
        """
        stamps = sorted((s.timestamp_ms, valset.by_address[s.validator_address].power) for s in self.signatures)
        total = sum(p for _, p in stamps)
        acc = 0
        for ts, p in stamps:
            acc += p
            if 2 * acc >= total:
                return ts
        raise InvalidError("empty commit")

    def hash(self) -> bytes:
        return sha256(encode(self.to_obj()))

    def to_obj(self) -> list:
        return [self.height, self.round, self.block_hash, [s.to_obj() for s in self.signatures]]

    @classmethod
    def from_obj(cls, obj) -> "Commit":
        h, r, bh, sigs = _list(obj, 4, "commit")
        return cls(_int(h, "height", 1), _int(r, "round", 0, 10_000), _bytes(bh, HASH_SIZE, "block_hash"),
                   tuple(CommitSig.from_obj(s) for s in _list(sigs, name="signatures", max_len=1000)))


@dataclass(frozen=True)
class DuplicateVoteEvidence:
    """Two signed votes by one validator for different blocks at the same height, round and type."""
    vote_a: Vote
    vote_b: Vote

    @classmethod
    def of(cls, a: Vote, b: Vote) -> "DuplicateVoteEvidence":
        return cls(*sorted((a, b), key=lambda v: v.block_hash))

    def verify(self, chain_id: str, valset: ValidatorSet) -> None:
        a, b = self.vote_a, self.vote_b
        if (a.type, a.height, a.round, a.validator_address) != (b.type, b.height, b.round, b.validator_address):
            raise InvalidError("evidence votes differ in type, height, round or validator")
        if not a.block_hash < b.block_hash:
            raise InvalidError("evidence votes must be for different blocks, in canonical order")
        a.verify(chain_id, valset)
        b.verify(chain_id, valset)

    def hash(self) -> bytes:
        return sha256(encode(self.to_obj()))

    def to_obj(self) -> list:
        return [self.vote_a.to_obj(), self.vote_b.to_obj()]

    @classmethod
    def from_obj(cls, obj) -> "DuplicateVoteEvidence":
        a, b = _list(obj, 2, "evidence")
        return cls(Vote.from_obj(a), Vote.from_obj(b))


# --- blocks --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Header:
    chain_id: str
    height: int
    time_ms: int
    last_block_hash: bytes  # empty at height 1
    last_commit_hash: bytes
    data_hash: bytes
    evidence_hash: bytes
    validators_hash: bytes  # the set that signs this block's commit
    next_validators_hash: bytes  # the set of height + 1 (validator updates apply 2 blocks after theirs)
    app_hash: bytes  # the application state after height - 1
    proposer_address: bytes

    def to_obj(self) -> list:
        return [self.chain_id, self.height, self.time_ms, self.last_block_hash, self.last_commit_hash,
                self.data_hash, self.evidence_hash, self.validators_hash, self.next_validators_hash, self.app_hash,
                self.proposer_address]

    @classmethod
    def from_obj(cls, obj) -> "Header":
        (cid, h, t, lbh, lch, dh, eh, vh, nvh, ah, pa) = _list(obj, 11, "header")
        return cls(_str(cid, "chain_id", 64), _int(h, "height", 1), _int(t, "time"),
                   _bytes(lbh, name="last_block_hash", max_size=HASH_SIZE),
                   _bytes(lch, HASH_SIZE, "last_commit_hash"), _bytes(dh, HASH_SIZE, "data_hash"),
                   _bytes(eh, HASH_SIZE, "evidence_hash"), _bytes(vh, HASH_SIZE, "validators_hash"),
                   _bytes(nvh, HASH_SIZE, "next_validators_hash"),
                   _bytes(ah, name="app_hash", max_size=HASH_SIZE),
                   _bytes(pa, crypto.ADDRESS_SIZE, "proposer_address"))

    def hash(self) -> bytes:
        return sha256(encode(self.to_obj()))


def commit_hash(commit: Commit | None) -> bytes:
    return commit.hash() if commit is not None else sha256(b"")


@dataclass(frozen=True)
class Block:
    header: Header
    txs: tuple[bytes, ...]
    evidence: tuple[DuplicateVoteEvidence, ...] = ()
    last_commit: Commit | None = None  # None only at height 1

    @cached_property
    def hash(self) -> bytes:
        return self.header.hash()

    def validate_basic(self) -> None:
        """Check that the header commits to this block's body."""
        h = self.header
        if h.data_hash != merkle.root(list(self.txs)):
            raise InvalidError("data_hash does not match the transactions")
        if h.evidence_hash != merkle.root([encode(e.to_obj()) for e in self.evidence]):
            raise InvalidError("evidence_hash does not match the evidence")
        if h.last_commit_hash != commit_hash(self.last_commit):
            raise InvalidError("last_commit_hash does not match the last commit")
        if (h.height == 1) != (self.last_commit is None):
            raise InvalidError("only the first block has no last commit")
        if self.last_commit is not None and self.last_commit.height != h.height - 1:
            raise InvalidError("last commit is not for the previous height")

    def to_obj(self) -> list:
        return [self.header.to_obj(), list(self.txs), [e.to_obj() for e in self.evidence],
                self.last_commit.to_obj() if self.last_commit else None]

    @classmethod
    def from_obj(cls, obj) -> "Block":
        header, txs, evidence, last_commit = _list(obj, 4, "block")
        txs = _list(txs, name="txs", max_len=100_000)
        for tx in txs:
            _bytes(tx, name="tx")
        return cls(Header.from_obj(header), tuple(txs),
                   tuple(DuplicateVoteEvidence.from_obj(e) for e in _list(evidence, name="evidence", max_len=100)),
                   None if last_commit is None else Commit.from_obj(last_commit))

    def encode(self) -> bytes:
        return encode(self.to_obj())

    @classmethod
    def decode(cls, data: bytes) -> "Block":
        try:
            return cls.from_obj(decode(data))
        except (EncodingError, TypeError) as exc:
            raise InvalidError(f"malformed block: {exc}") from None

    @staticmethod
    def make(header_fields: dict, txs, evidence=(), last_commit=None) -> "Block":
        """Build a block, filling the header's body-derived hashes (and next_validators_hash, when not
        given, with validators_hash: the set does not change)."""
        header_fields.setdefault("next_validators_hash", header_fields.get("validators_hash"))
        txs = tuple(txs)
        evidence = tuple(evidence)
        header = Header(
            data_hash=merkle.root(list(txs)),
            evidence_hash=merkle.root([encode(e.to_obj()) for e in evidence]),
            last_commit_hash=commit_hash(last_commit),
            **header_fields,
        )
        return Block(header, txs, evidence, last_commit)


def tx_hash(tx: bytes) -> bytes:
    return sha256(tx)


# --- genesis -------------------------------------------------------------------------------------------

MAX_PROPOSER_PERIOD = 100_000

@dataclass(frozen=True)
class ConsensusParams:
    max_tx_bytes: int = 200 * 1024
    max_block_bytes: int = 4 * 1024 * 1024
    max_block_txs: int = 5000
    timeout_propose_ms: int = 1000
    timeout_vote_ms: int = 500
    timeout_delta_ms: int = 500  # added per round, so timeouts grow until a round succeeds
    timeout_commit_ms: int = 500  # pause after a decision so late precommits make it into the next block

    RETIRED = ("max_clock_drift_ms",)  # accepted in old genesis files, never used: BFT time needs no bound

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    genesis_time_ms: int
    validators: ValidatorSet
    params: ConsensusParams = field(default_factory=ConsensusParams)
    app_name: str = "provenance"

    def __post_init__(self):
        for name, value in self.params.to_json().items():
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if "timeout" in name else 1):
                raise InvalidError(f"consensus param {name} must be a {'non-negative' if 'timeout' in name else 'positive'} integer")
        period = self.validators.proposer_period()
        if period > MAX_PROPOSER_PERIOD:
            raise InvalidError(f"voting powers give a proposer rotation of {period} slots (at most "
                               f"{MAX_PROPOSER_PERIOD}): choose powers with a larger common divisor")

    def to_json(self) -> str:
        from .jsonfmt import rfc3339
        return json.dumps({
            "genesis_time": rfc3339(self.genesis_time_ms),
            "genesis_time_ms": self.genesis_time_ms,
            "chain_id": self.chain_id,
            "app_name": self.app_name,
            "consensus_params": self.params.to_json(),
            "validators": [
                {"address": v.address.hex().upper(), "pub_key": {"type": "tendermint/PubKeyEd25519",
                 "value": __import__("base64").b64encode(v.pubkey).decode()}, "power": str(v.power)}
                for v in self.validators.validators
            ],
        }, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Genesis":
        import base64
        try:
            d = json.loads(text)
            vals = tuple(Validator(base64.b64decode(v["pub_key"]["value"], validate=True), int(v["power"]))
                         for v in d["validators"])
            for v in vals:
                Validator.from_obj(v.to_obj())
            params = ConsensusParams(**{k: int(x) for k, x in d.get("consensus_params", {}).items()
                                        if k not in ConsensusParams.RETIRED})
            return cls(_str(d["chain_id"], "chain_id", 64), int(d["genesis_time_ms"]), ValidatorSet(vals),
                       params, _str(d.get("app_name", "provenance"), "app_name", 64))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidError(f"malformed genesis: {exc}") from None

    def hash(self) -> bytes:
        return sha256(self.to_json().encode())

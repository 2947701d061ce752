"""Vote sets: the votes of one (height, round, type), counted by voting power.

Signatures are checked by the caller before a vote gets here; a VoteSet only checks that the vote
belongs to it (height, round, type, a validator of the set). A validator's first vote stays counted, an
identical later vote is a duplicate, and a later vote for another block is an equivocation, reported as
a `Conflict` carrying `DuplicateVoteEvidence` (see VoteSet for how it is counted).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..chain.types import PRECOMMIT, PREVOTE, DuplicateVoteEvidence, InvalidError, ValidatorSet, Vote

ADDED = "added"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Conflict:
    """A second vote from one validator for a different block: the evidence of its equivocation."""
    evidence: DuplicateVoteEvidence


class VoteSet:
    """The votes of one (height, round, type).

    Counting follows Algorithm 1, where a rule needs "2f + 1 PREVOTE(h, r, id(v))" messages from distinct
    validators: the power for a block is the power of the distinct validators that voted for it. A
    validator's first vote is its counted vote (`get`, `total_power`, `has_two_thirds_any`); a later,
    conflicting vote is reported as evidence *and* also counts for the block it names. To bound memory a
    validator's votes for blocks nobody proposed are capped at MAX_BLOCKS_PER_VALIDATOR, but a vote the
    caller marks `keep` (nil, or a block with a known proposal) always counts: junk votes for random
    hashes cannot push out a validator's real vote (that would re-create the split view below). Counting it matters for liveness: an
    equivocator sends one vote to half the network and another to the rest; if each node kept only the
    first it saw, nodes would disagree forever on whether a polka exists (the simulation found rounds
    that never ended). It cannot hurt safety: two blocks can both pass 2/3 only if validators with more
    than 1/3 of the power equivocated. `two_thirds_majority` is fixed once found (as in CometBFT).
    """

    MAX_BLOCKS_PER_VALIDATOR = 4

    def __init__(self, valset: ValidatorSet, height: int, round: int, type: int):
        if type not in (PREVOTE, PRECOMMIT):
            raise InvalidError("vote type must be PREVOTE or PRECOMMIT")
        self.valset = valset
        self.height = height
        self.round = round
        self.type = type
        self._votes: dict[bytes, Vote] = {}  # validator address -> its first vote
        self._blocks_of: dict[bytes, dict[bytes, Vote]] = {}  # validator -> block hash -> its vote for it
        self._power: dict[bytes, int] = {}  # block hash -> power of the validators that voted for it
        self._by_block: dict[bytes, list[Vote]] = {}
        self._sum = 0
        self._maj23: bytes | None = None

    def admits(self, vote: Vote, keep: bool = False) -> bool:
        """Whether `add` would count this vote (a new vote, within the cap unless kept)."""
        mine = self._blocks_of.get(vote.validator_address)
        if mine is None:
            return True
        return vote.block_hash not in mine and (keep or len(mine) < self.MAX_BLOCKS_PER_VALIDATOR)

    def add(self, vote: Vote, keep: bool = False):
        """Count a vote. Returns "added", "duplicate" or Conflict(evidence).

        The same conflicting vote seen again is a "duplicate": each equivocation is reported once.
        `keep`: count it even above the per-validator cap (nil, or a block with a known proposal).
        """
        if (vote.height, vote.round, vote.type) != (self.height, self.round, self.type):
            raise InvalidError("vote does not belong to this vote set")
        validator = self.valset.by_address.get(vote.validator_address)
        if validator is None:
            raise InvalidError("vote from a non-validator")
        mine = self._blocks_of.get(vote.validator_address)
        if mine is None:
            self._votes[vote.validator_address] = vote
            self._blocks_of[vote.validator_address] = {vote.block_hash: vote}
            self._sum += validator.power
            self._count(vote, validator.power)
            return ADDED
        if vote.block_hash in mine:
            return DUPLICATE
        first = self._votes[vote.validator_address]
        if keep or len(mine) < self.MAX_BLOCKS_PER_VALIDATOR:
            mine[vote.block_hash] = vote
            self._count(vote, validator.power)
        return Conflict(DuplicateVoteEvidence.of(first, vote))

    def _count(self, vote: Vote, power: int) -> None:
        p = self._power[vote.block_hash] = self._power.get(vote.block_hash, 0) + power
        self._by_block.setdefault(vote.block_hash, []).append(vote)
        if self._maj23 is None and self.valset.has_quorum(p):
            self._maj23 = vote.block_hash

    def get(self, address: bytes) -> Vote | None:
        """A validator's first (counted) vote."""
        return self._votes.get(address)

    def power_for(self, block_hash: bytes) -> int:
        """The power of the distinct validators that voted for block_hash."""
        return self._power.get(block_hash, 0)

    def total_power(self) -> int:
        """The power of all validators that voted in this set (whatever they voted for)."""
        return self._sum

    def two_thirds_majority(self) -> bytes | None:
        """The block hash (NIL included) that has more than 2/3 of the validator set's power."""
        return self._maj23

    def has_two_thirds_any(self) -> bool:
        return self.valset.has_quorum(self._sum)

    def votes_for(self, block_hash: bytes) -> list[Vote]:
        """The votes for block_hash, one per validator, in arrival order."""
        return list(self._by_block.get(block_hash, ()))

    def votes(self) -> list[Vote]:
        """The first vote of each validator, in arrival order."""
        return list(self._votes.values())

    def __len__(self) -> int:
        return len(self._votes)


class HeightVoteSet:
    """All the prevotes and precommits of one height, by round, and who has spoken in which round."""

    def __init__(self, valset: ValidatorSet, height: int):
        self.valset = valset
        self.height = height
        self._prevotes: dict[int, VoteSet] = {}
        self._precommits: dict[int, VoteSet] = {}
        self._senders: dict[int, set[bytes]] = {}  # round -> validators with any message in it
        self._sender_power: dict[int, int] = {}

    def prevotes(self, round: int) -> VoteSet:
        vs = self._prevotes.get(round)
        if vs is None:
            vs = self._prevotes[round] = VoteSet(self.valset, self.height, round, PREVOTE)
        return vs

    def precommits(self, round: int) -> VoteSet:
        vs = self._precommits.get(round)
        if vs is None:
            vs = self._precommits[round] = VoteSet(self.valset, self.height, round, PRECOMMIT)
        return vs

    def votes(self, round: int, type: int) -> VoteSet:
        return self.prevotes(round) if type == PREVOTE else self.precommits(round)

    def existing(self, round: int, type: int) -> VoteSet | None:
        return (self._prevotes if type == PREVOTE else self._precommits).get(round)

    def add(self, vote: Vote, keep: bool = False):
        """Count a vote of this height. Returns what VoteSet.add returns."""
        if vote.height != self.height:
            raise InvalidError("vote is for another height")
        result = self.votes(vote.round, vote.type).add(vote, keep)
        if result == ADDED:
            self.note_sender(vote.round, vote.validator_address)
        return result

    def note_sender(self, round: int, address: bytes) -> None:
        """Record that a validator sent some message (a vote or a proposal) in a round."""
        validator = self.valset.by_address.get(address)
        if validator is None:
            return
        senders = self._senders.setdefault(round, set())
        if address not in senders:
            senders.add(address)
            self._sender_power[round] = self._sender_power.get(round, 0) + validator.power

    def round_power(self, round: int) -> int:
        """The power of the validators that sent any message in a round."""
        return self._sender_power.get(round, 0)

    def senders(self, round: int) -> frozenset[bytes]:
        return frozenset(self._senders.get(round, ()))

    def rounds(self) -> list[int]:
        """Every round in which some message was seen, ascending."""
        return sorted(set(self._senders) | set(self._prevotes) | set(self._precommits))

    def skip_rounds(self) -> list[int]:
        """Rounds in which validators with more than 1/3 of the power (f + 1) sent messages."""
        return sorted(r for r, p in self._sender_power.items() if self.valset.has_one_honest(p))

    def precommit_rounds(self) -> list[int]:
        return sorted(self._precommits)

    def prevote_rounds(self) -> list[int]:
        return sorted(self._prevotes)

"""Tendermint consensus as a pure, deterministic state machine.

This is Algorithm 1 of "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic, 2018): proposal,
prevote and precommit; a locked value and round; a valid value and round (re-proposed, with its pol round,
by a proposer that has one); round skip on f + 1 power of messages from a higher round; timeouts that grow
with the round; a decision on a proposal plus > 2/3 precommits for it in any round.

The machine does no I/O: no clock, no socket, no disk, no randomness. The driver feeds it events (frozen
dataclasses, with signatures already checked) through `step`, and carries out the effects it returns. The
same events in the same order always give the same effects, so a WAL of events replays a node exactly.

The upon-rules of the paper are conditions on state, not on the message that just arrived, so after every
event the machine re-evaluates all of them (`_run_rules`) until none fires. That is what makes out-of-order
arrival work: votes before their proposal, a proposal after its polka, a precommit quorum for an earlier
round, messages of a round we have not reached yet. Rules the paper fires "for the first time" are guarded
by per-round flags.

Line numbers in comments (L22, L28, ...) refer to Algorithm 1 of the paper.

What the driver must do beyond carrying out the effects (consensus/driver.py does it; tests/sim/harness.py
runs it under simulated faults):
- Feed its own signed proposal and votes back (ProposalReceived(signed, block, True), VoteReceived): the
  machine counts its own votes only when they come back.
- Hold proposals for later heights and feed them after StartHeight of their height: their `valid` needs
  the previous block. (Votes for height + 1 are buffered by the machine itself.)
- Gossip reliably. Algorithm 1 assumes every message eventually arrives: if precommits are lost, no
  precommit timeout is ever scheduled (it needs 2/3 of any precommits) and the round stalls. Re-send its
  own latest proposal and votes of the current height periodically, relay the votes and proposals of
  others on first receipt, and answer a peer at an older height with the decided block and its commit.
- When `waiting_for_block` is set (> 2/3 precommits for a block it has not got), fetch that block or the
  decided block with its commit, and feed ProposalReceived or CommitReceived.
- On RequestCatchUp(height, hint) block-sync: `hint` is a validator address, not a peer id. It is sent
  again at each new round while the machine is still behind. CommitReceived applies to the current height
  only; StartHeight may jump ahead after a block sync.
- Compute ProposalReceived.valid without comparing header.proposer_address with the proposal's proposer:
  a re-proposed valid block keeps the header of the validator that built it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..chain.types import (NIL, PRECOMMIT, PREVOTE, Block, Commit, ConsensusParams, DuplicateVoteEvidence,
                           Proposal, ValidatorSet, Vote)
from .proposer import proposer
from .votes import Conflict, HeightVoteSet

# steps
NEW_HEIGHT = "new_height"  # before the first StartHeight
PROPOSE = "propose"
PREVOTE_STEP = "prevote"
PRECOMMIT_STEP = "precommit"
COMMIT = "commit"  # decided; waiting for StartHeight(height + 1)

TIMEOUT_STEPS = (PROPOSE, PREVOTE_STEP, PRECOMMIT_STEP)

# bounds on what a (possibly byzantine) validator can make the machine hold
FUTURE_ROUNDS_PER_VALIDATOR = 2  # rounds above round + 1 that one validator may occupy
PROPOSALS_PER_ROUND = 4  # distinct blocks kept from an equivocating proposer in one round
NEXT_HEIGHT_VOTES_PER_VALIDATOR = 8  # votes for height + 1 buffered per validator


# --- events --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StartHeight:
    height: int
    last_commit: Commit | None


@dataclass(frozen=True)
class ProposalReceived:
    proposal: Proposal
    block: Block
    valid: bool


@dataclass(frozen=True)
class VoteReceived:
    vote: Vote


@dataclass(frozen=True)
class TimeoutFired:
    height: int
    round: int
    step: str  # "propose" | "prevote" | "precommit"


@dataclass(frozen=True)
class BlockBuilt:
    height: int
    round: int
    block: Block


@dataclass(frozen=True)
class CommitReceived:
    block: Block
    commit: Commit


# --- effects -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BuildBlock:
    height: int
    round: int


@dataclass(frozen=True)
class SignProposal:
    proposal: Proposal  # unsigned
    block: Block | None = None  # the proposed block (always set by the machine): new or the valid block


@dataclass(frozen=True)
class SignVote:
    vote: Vote  # unsigned, timestamp_ms = 0


@dataclass(frozen=True)
class ScheduleTimeout:
    height: int
    round: int
    step: str
    delay_ms: int


@dataclass(frozen=True)
class Decide:
    height: int
    round: int
    block: Block
    commit: Commit


@dataclass(frozen=True)
class Evidence:
    evidence: DuplicateVoteEvidence


@dataclass(frozen=True)
class RequestCatchUp:
    height: int  # the highest height that f + 1 power has been seen at
    peer_hint: bytes | None  # the address of a validator seen at that height


# --- the machine ---------------------------------------------------------------------------------------

class Machine:
    def __init__(self, chain_id: str, valsets, my_address: bytes | None, params: ConsensusParams):
        """`valsets`: the validator set of every height (a function of the height, reading committed
        state: the set of h is fixed once block h - 2 is), or one ValidatorSet for all heights."""
        self.chain_id = chain_id
        self.valset_at = valsets if callable(valsets) else (lambda height: valsets)
        self.valset = self.valset_at(1)  # the set of the current height (StartHeight switches it)
        self.params = params
        self.address = my_address
        # only a member of the height's validator set signs; anyone else follows the chain
        self.is_validator = my_address is not None and my_address in self.valset.by_address

        self.height = 0
        self.round = 0
        self._step = NEW_HEIGHT
        self.locked_round = -1
        self.locked_block: Block | None = None
        self.valid_round = -1
        self.valid_block: Block | None = None
        self.decision: Block | None = None
        self.last_commit: Commit | None = None
        self.votes = HeightVoteSet(self.valset, 0)

        self._proposals: dict[int, dict[bytes, tuple[Proposal, Block, bool]]] = {}  # round -> hash -> ...
        self._first_proposal: dict[int, bytes] = {}  # round -> hash of the first proposal received
        self._blocks: dict[bytes, tuple[Block, bool]] = {}  # hash -> (block, valid), any round
        self._proposed: set[int] = set()  # rounds in which we asked to sign a proposal
        self._fired: set[tuple[str, int]] = set()  # "for the first time" guards: (rule, round)
        self._future_rounds: dict[bytes, set[int]] = {}
        self._next_votes: dict[tuple, Vote] = {}  # votes for height + 1, replayed at StartHeight
        self._next_count: dict[bytes, int] = {}
        self._ahead: dict[bytes, int] = {}  # validator -> highest height it was seen at
        self._catchup_sent = 0
        self._out: list = []

    # -- public -----------------------------------------------------------------------------------------

    @property
    def step_name(self) -> str:
        """The current step: "new_height", "propose", "prevote", "precommit" or "commit"."""
        return self._step

    def _set_of(self, height: int) -> ValidatorSet:
        """The set a message of `height` is checked against: the next height's own set (known one height
        ahead), else the current one (later heights only hint that we are behind)."""
        if height == self.height + 1:
            return self.valset_at(height) or self.valset
        return self.valset

    def admits(self, event) -> bool:
        """Whether `event` can change the consensus state. The driver logs only these to the WAL, so
        duplicates and junk (votes above the caps, proposals from the wrong proposer, other heights)
        cannot grow it. Stepping an event that is not admitted changes no state that a replay needs (it
        may still yield evidence or a catch-up request)."""
        if isinstance(event, VoteReceived):
            v = event.vote
            addr = v.validator_address
            if addr not in self._set_of(v.height).by_address or v.type not in (PREVOTE, PRECOMMIT) or v.round < 0:
                return False
            if v.height == self.height + 1:
                key = (v.type, v.round, addr, v.block_hash)
                return key not in self._next_votes and \
                    self._next_count.get(addr, 0) < NEXT_HEIGHT_VOTES_PER_VALIDATOR
            if v.height != self.height or self._step in (NEW_HEIGHT, COMMIT):
                return False
            if not self._round_admissible(addr, v.round):
                return False
            vs = self.votes.existing(v.round, v.type)
            return vs is None or vs.admits(v, self._keeps(v))
        if isinstance(event, ProposalReceived):
            p, block = event.proposal, event.block
            if p.height != self.height or self._step in (NEW_HEIGHT, COMMIT):
                return False
            if block.hash != p.block_hash or not -1 <= p.pol_round < p.round:
                return False
            if p.proposer_address != proposer(self.valset, self.height, p.round) \
                    or not self._round_admissible(p.proposer_address, p.round):
                return False
            entry = self._proposals.get(p.round, {})
            known = entry.get(p.block_hash)
            if known is not None:
                return event.valid and not known[2]
            return len(entry) < PROPOSALS_PER_ROUND
        return True  # StartHeight, timeouts, built blocks, commits: few, and always logged

    def block(self, block_hash: bytes) -> Block | None:
        """A block proposed at this height (valid or not), by hash."""
        known = self._blocks.get(block_hash)
        return None if known is None else known[0]

    def step(self, event) -> list:
        """Apply one event; return the effects for the driver to carry out, in order."""
        return self.apply(event)

    def apply(self, event) -> list:
        """Apply one event; return the effects for the driver to carry out, in order (= step(event))."""
        self._out = []
        if isinstance(event, VoteReceived):
            self._on_vote(event.vote)
        elif isinstance(event, ProposalReceived):
            self._on_proposal(event)
        elif isinstance(event, TimeoutFired):
            self._on_timeout(event)
        elif isinstance(event, BlockBuilt):
            self._on_block_built(event)
        elif isinstance(event, CommitReceived):
            self._on_commit(event)
        elif isinstance(event, StartHeight):
            self._on_start_height(event)
        else:
            raise TypeError(f"unknown consensus event {type(event).__name__}")
        self._run_rules()
        out, self._out = self._out, []
        return out

    @property
    def proposer(self) -> bytes:
        return proposer(self.valset, max(self.height, 1), self.round)

    def proposal(self, round: int | None = None) -> tuple[Proposal, Block, bool] | None:
        """The first proposal received for a round of this height (the current round by default)."""
        r = self.round if round is None else round
        h = self._first_proposal.get(r)
        return None if h is None else self._proposals[r][h]

    @property
    def waiting_for_block(self) -> bytes | None:
        """A block hash with > 2/3 precommits that the machine has no valid block for (the driver should
        fetch it, or the decided block and commit, and feed ProposalReceived or CommitReceived)."""
        if self._step in (NEW_HEIGHT, COMMIT):
            return None
        for r in self.votes.precommit_rounds():
            maj = self.votes.precommits(r).two_thirds_majority()
            if maj is not None and maj != NIL:
                known = self._blocks.get(maj)
                if known is None or not known[1]:
                    return maj
        return None

    # -- timeouts ----------------------------------------------------------------------------------------

    def timeout_ms(self, step: str, round: int) -> int:
        base = self.params.timeout_propose_ms if step == PROPOSE else self.params.timeout_vote_ms
        return base + round * self.params.timeout_delta_ms

    def _schedule(self, step: str) -> None:
        self._out.append(ScheduleTimeout(self.height, self.round, step, self.timeout_ms(step, self.round)))

    # -- events ------------------------------------------------------------------------------------------

    def _on_start_height(self, ev: StartHeight) -> None:
        if ev.height <= self.height:
            return  # heights only go up
        buffered = list(self._next_votes.values()) if ev.height == self.height + 1 else []
        self.height = ev.height
        self.round = 0
        self._step = PROPOSE
        self.locked_round, self.locked_block = -1, None
        self.valid_round, self.valid_block = -1, None
        self.decision = None
        self.last_commit = ev.last_commit
        self.valset = self.valset_at(ev.height)
        self.is_validator = self.address is not None and self.address in self.valset.by_address
        self.votes = HeightVoteSet(self.valset, ev.height)
        self._proposals, self._first_proposal, self._blocks = {}, {}, {}
        self._proposed, self._fired, self._future_rounds = set(), set(), {}
        self._next_votes, self._next_count = {}, {}
        for vote in buffered:
            self._add_vote(vote)
        self._start_round(0)

    def carried_votes(self, height: int) -> list[Vote]:
        """The votes for `height` buffered at the height before it: StartHeight(height) adds them."""
        return list(self._next_votes.values()) if height == self.height + 1 else []

    def _on_vote(self, vote: Vote) -> None:
        addr = vote.validator_address
        if addr not in self._set_of(vote.height).by_address or vote.type not in (PREVOTE, PRECOMMIT) or vote.round < 0:
            return
        if vote.height > self.height:
            self._note_ahead(addr, vote.height)
        if vote.height == self.height + 1:
            self._buffer_next(vote)
        elif vote.height == self.height and self._step not in (NEW_HEIGHT, COMMIT):
            self._add_vote(vote)

    def _add_vote(self, vote: Vote) -> None:
        if not self._admit_round(vote.validator_address, vote.round):
            return
        result = self.votes.add(vote, self._keeps(vote))
        if isinstance(result, Conflict):
            self._out.append(Evidence(result.evidence))

    def _buffer_next(self, vote: Vote) -> None:
        key = (vote.type, vote.round, vote.validator_address, vote.block_hash)
        if key in self._next_votes:
            return
        n = self._next_count.get(vote.validator_address, 0)
        if n >= NEXT_HEIGHT_VOTES_PER_VALIDATOR:
            return
        self._next_count[vote.validator_address] = n + 1
        self._next_votes[key] = vote

    def _on_proposal(self, ev: ProposalReceived) -> None:
        p, block = ev.proposal, ev.block
        if p.proposer_address in self._set_of(p.height).by_address and p.height > self.height:
            self._note_ahead(p.proposer_address, p.height)
        if p.height != self.height or self._step in (NEW_HEIGHT, COMMIT):
            return  # the driver holds proposals of later heights: their validity needs our decision
        if block.hash != p.block_hash or not -1 <= p.pol_round < p.round:
            return
        if p.proposer_address != proposer(self.valset, self.height, p.round):
            return  # not the proposer of that round
        if not self._admit_round(p.proposer_address, p.round):
            return
        entry = self._proposals.setdefault(p.round, {})
        known = entry.get(p.block_hash)
        if known is not None:
            if ev.valid and not known[2]:  # the same block now passes validation
                entry[p.block_hash] = (known[0], known[1], True)
                self._blocks[p.block_hash] = (block, True)
            return
        if len(entry) >= PROPOSALS_PER_ROUND:
            return
        entry[p.block_hash] = (p, block, ev.valid)
        self._first_proposal.setdefault(p.round, p.block_hash)
        prev = self._blocks.get(p.block_hash)
        self._blocks[p.block_hash] = (block, ev.valid or (prev is not None and prev[1]))
        self.votes.note_sender(p.round, p.proposer_address)

    def _on_timeout(self, ev: TimeoutFired) -> None:
        if ev.height != self.height or ev.round != self.round or self._step in (NEW_HEIGHT, COMMIT):
            return
        if ev.step == PROPOSE and self._step == PROPOSE:  # OnTimeoutPropose (L57)
            self._vote(PREVOTE, NIL)
            self._step = PREVOTE_STEP
        elif ev.step == PREVOTE_STEP and self._step == PREVOTE_STEP:  # OnTimeoutPrevote (L61)
            self._vote(PRECOMMIT, NIL)
            self._step = PRECOMMIT_STEP
        elif ev.step == PRECOMMIT_STEP:  # OnTimeoutPrecommit (L65)
            self._start_round(self.round + 1)

    def _on_block_built(self, ev: BlockBuilt) -> None:
        if (ev.height, ev.round) != (self.height, self.round) or self._step != PROPOSE:
            return
        if not self._is_proposer() or ev.round in self._proposed or self.valid_block is not None:
            return
        self._proposed.add(ev.round)
        self._out.append(SignProposal(
            Proposal(self.height, self.round, -1, ev.block.hash, self.address), ev.block))

    def _on_commit(self, ev: CommitReceived) -> None:
        block, commit = ev.block, ev.commit
        if self._step in (NEW_HEIGHT, COMMIT) or commit.height != self.height or block.hash != commit.block_hash:
            return
        if block.header.height != self.height or commit.block_hash == NIL:
            return
        # the driver checked the signatures; still make sure the signers hold > 2/3 of the power
        signers = {s.validator_address for s in commit.signatures}
        if len(signers) != len(commit.signatures) or not signers <= self.valset.by_address.keys():
            return
        if not self.valset.has_quorum(sum(self.valset.by_address[a].power for a in signers)):
            return
        self._decide(commit.round, block, commit)

    # -- the algorithm -----------------------------------------------------------------------------------

    def _is_proposer(self) -> bool:
        return self.is_validator and proposer(self.valset, self.height, self.round) == self.address

    def _start_round(self, round: int) -> None:  # StartRound (L11)
        self.round = round
        self._step = PROPOSE
        if self._is_proposer() and round not in self._proposed:
            if self.valid_block is not None:
                self._proposed.add(round)
                self._out.append(SignProposal(
                    Proposal(self.height, round, self.valid_round, self.valid_block.hash, self.address),
                    self.valid_block))
            else:
                self._out.append(BuildBlock(self.height, round))
        # the proposer schedules the propose timeout too: if its own proposal never comes back (the
        # double-sign guard refused it, the block could not be built) the round still moves on
        self._schedule(PROPOSE)
        if round > 0:
            self._check_behind(again=True)

    def _vote(self, type: int, block_hash: bytes) -> None:
        if self.is_validator:
            self._out.append(SignVote(Vote(type, self.height, self.round, block_hash, 0, self.address)))

    def _decide(self, round: int, block: Block, commit: Commit) -> None:
        self._step = COMMIT
        self.decision = block
        self._out.append(Decide(self.height, round, block, commit))

    def _run_rules(self) -> None:
        while self._step not in (NEW_HEIGHT, COMMIT):
            if self._rule_decide() or self._rule_round_skip():
                continue
            if self._rule_round():
                continue
            break

    def _rule_decide(self) -> bool:  # L49: a proposal and > 2/3 precommits for it, in any round
        for r in self.votes.precommit_rounds():
            vs = self.votes.precommits(r)
            maj = vs.two_thirds_majority()
            if maj is None or maj == NIL:
                continue
            known = self._blocks.get(maj)
            if known is None or not known[1]:
                continue  # keep waiting for the block (see waiting_for_block)
            self._decide(r, known[0], Commit.from_votes(vs.votes_for(maj)))
            return True
        return False

    def _rule_round_skip(self) -> bool:  # L55: f + 1 power of messages from a higher round
        rounds = [r for r in self.votes.skip_rounds() if r > self.round]
        if not rounds:
            return False
        self._start_round(rounds[-1])
        return True

    def _rule_round(self) -> bool:
        """The rules about the current round; True when one changed the step."""
        r = self.round
        prevotes = self.votes.prevotes(r)
        if self._step == PROPOSE:
            first = self.proposal(r)
            if first is not None:
                p, block, valid = first
                if p.pol_round == -1:  # L22
                    ok = valid and (self.locked_round == -1 or self._is_locked_on(block))
                    self._vote(PREVOTE, block.hash if ok else NIL)
                    self._step = PREVOTE_STEP
                    return True
                # L28: a re-proposal, with a polka for it in its pol round
                if self.votes.prevotes(p.pol_round).two_thirds_majority() == block.hash:
                    ok = valid and (self.locked_round <= p.pol_round or self._is_locked_on(block))
                    self._vote(PREVOTE, block.hash if ok else NIL)
                    self._step = PREVOTE_STEP
                    return True
        if self._step == PREVOTE_STEP and ("prevote_any", r) not in self._fired and prevotes.has_two_thirds_any():
            self._fired.add(("prevote_any", r))  # L34
            self._schedule(PREVOTE_STEP)
        maj = prevotes.two_thirds_majority()
        if maj is not None and maj != NIL and self._step in (PREVOTE_STEP, PRECOMMIT_STEP) \
                and ("polka", r) not in self._fired:
            entry = self._proposals.get(r, {}).get(maj)
            if entry is not None and entry[2]:  # L36: a valid proposal of this round with a polka
                self._fired.add(("polka", r))
                block = entry[1]
                if self._step == PREVOTE_STEP:
                    self.locked_round, self.locked_block = r, block
                    self._vote(PRECOMMIT, block.hash)
                    self._step = PRECOMMIT_STEP
                    changed = True
                else:
                    changed = False
                self.valid_round, self.valid_block = r, block
                if changed:
                    return True
        if maj == NIL and self._step == PREVOTE_STEP:  # L44
            self._vote(PRECOMMIT, NIL)
            self._step = PRECOMMIT_STEP
            return True
        if ("precommit_any", r) not in self._fired and self.votes.precommits(r).has_two_thirds_any():
            self._fired.add(("precommit_any", r))  # L47
            self._schedule(PRECOMMIT_STEP)
        return False

    def _is_locked_on(self, block: Block) -> bool:
        return self.locked_block is not None and self.locked_block.hash == block.hash

    # -- bounds and catch-up -----------------------------------------------------------------------------

    def _keeps(self, vote: Vote) -> bool:
        """Votes that count even above the per-validator cap: nil, and blocks with a known proposal."""
        return vote.block_hash == NIL or vote.block_hash in self._blocks

    def _round_admissible(self, address: bytes, round: int) -> bool:
        """What _admit_round would answer, without recording anything."""
        if round <= self.round + 1:
            return True
        rounds = self._future_rounds.get(address, set())
        return round in rounds or len({x for x in rounds if x > self.round + 1}) < FUTURE_ROUNDS_PER_VALIDATOR

    def _admit_round(self, address: bytes, round: int) -> bool:
        """Rounds above round + 1 are speculative: each validator may occupy only a few of them."""
        if round <= self.round + 1:
            return True
        rounds = self._future_rounds.setdefault(address, set())
        if round in rounds:
            return True
        stale = {x for x in rounds if x <= self.round + 1}
        rounds -= stale
        if len(rounds) >= FUTURE_ROUNDS_PER_VALIDATOR:
            return False
        rounds.add(round)
        return True

    def _note_ahead(self, address: bytes, height: int) -> None:
        if height > self._ahead.get(address, 0):
            self._ahead[address] = height
            self._check_behind(again=False)

    def _behind_target(self) -> tuple[int, bytes | None]:
        """The highest height that validators with f + 1 power have been seen at, and one of them."""
        seen = sorted(((h, a) for a, h in self._ahead.items() if h > self.height), reverse=True)
        power = 0
        for h, a in seen:
            v = self.valset.by_address.get(a)  # a validator seen ahead may not be in this height's set
            power += v.power if v else 0
            if self.valset.has_one_honest(power):
                return h, a
        return 0, None

    def _check_behind(self, again: bool) -> None:
        if self._step == NEW_HEIGHT:
            return
        target, hint = self._behind_target()
        # having decided, being one height behind the others is normal (timeout_commit)
        floor = self.height + 1 if self._step == COMMIT else self.height
        if target <= floor:
            return
        if target > self._catchup_sent or again:
            self._catchup_sent = max(self._catchup_sent, target)
            self._out.append(RequestCatchUp(target, hint))

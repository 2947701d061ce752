"""Focused scenarios for the consensus state machine (Algorithm 1 of "The latest gossip on BFT consensus")."""

from __future__ import annotations

import pytest

from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import sha256
from provchain.chain.types import (NIL, PRECOMMIT, PREVOTE, Block, Commit, ConsensusParams, Proposal, Validator,
                                   ValidatorSet, Vote)
from provchain.consensus.machine import (BlockBuilt, BuildBlock, CommitReceived, Decide, Evidence, Machine,
                                         ProposalReceived, RequestCatchUp, ScheduleTimeout, SignProposal,
                                         SignVote, StartHeight, TimeoutFired, VoteReceived)
from provchain.consensus.proposer import proposer

CID = "unit-chain"
KEYS = [PrivateKey.from_seed(sha256(b"machine-test-%d" % i)) for i in range(4)]
VS = ValidatorSet(tuple(Validator(k.pubkey, 1) for k in KEYS))
BY_ADDR = {k.address: k for k in KEYS}
P = ConsensusParams(timeout_propose_ms=1000, timeout_vote_ms=500, timeout_delta_ms=250)
OUTSIDER = PrivateKey.from_seed(sha256(b"not-a-validator"))


def block(tag: bytes = b"a", height: int = 1) -> Block:
    return Block.make(dict(chain_id=CID, height=height, time_ms=1000, last_block_hash=b"",
                           validators_hash=VS.hash(), app_hash=b"", proposer_address=KEYS[0].address), [tag])


A, B, C = block(b"a"), block(b"b"), block(b"c")


def proposer_key(height: int, round: int) -> PrivateKey:
    return BY_ADDR[proposer(VS, height, round)]


def proposal(blk: Block, round: int, pol_round: int = -1, height: int = 1, key: PrivateKey | None = None):
    key = key or proposer_key(height, round)
    p = Proposal(height, round, pol_round, blk.hash, key.address).signed(key, CID)
    return ProposalReceived(p, blk, True)


def vote(key: PrivateKey, type: int, round: int, block_hash: bytes, height: int = 1) -> VoteReceived:
    return VoteReceived(Vote(type, height, round, block_hash, 1000, key.address).signed(key, CID))


def of(effects, cls) -> list:
    return [e for e in effects if isinstance(e, cls)]


def votes_signed(effects) -> list[tuple[int, int, bytes]]:
    return [(e.vote.type, e.vote.round, e.vote.block_hash) for e in of(effects, SignVote)]


class Harness:
    """One machine; `me` is the validator it runs for (or None for a full node)."""

    def __init__(self, me: PrivateKey | None):
        self.me = me
        self.m = Machine(CID, VS, me.address if me else None, P)
        self.log: list = []

    def __call__(self, *events) -> list:
        out = []
        for ev in events:
            out += self.m.step(ev)
        self.log += out
        return out

    def others(self) -> list[PrivateKey]:
        return [k for k in KEYS if k is not self.me]

    def all_vote(self, type: int, round: int, block_hash: bytes, keys=None, height: int = 1) -> list:
        keys = self.others() if keys is None else keys
        return self(*[vote(k, type, round, block_hash, height) for k in keys])


def non_proposer(height: int, round: int, *more_rounds) -> PrivateKey:
    """A validator that proposes in none of the given rounds."""
    busy = {proposer(VS, height, r) for r in (round, *more_rounds)}
    return next(k for k in KEYS if k.address not in busy)


# --- the happy path --------------------------------------------------------------------------------------------

def test_proposer_builds_signs_and_decides():
    me = proposer_key(1, 0)
    h = Harness(me)
    out = h(StartHeight(1, None))
    assert of(out, BuildBlock) == [BuildBlock(1, 0)]
    assert ScheduleTimeout(1, 0, "propose", 1000) in out
    out = h(BlockBuilt(1, 0, A))
    (sp,) = of(out, SignProposal)
    assert sp.proposal == Proposal(1, 0, -1, A.hash, me.address) and sp.block == A
    out = h(ProposalReceived(sp.proposal.signed(me, CID), A, True))
    assert votes_signed(out) == [(PREVOTE, 0, A.hash)]
    assert of(out, SignVote)[0].vote.timestamp_ms == 0
    assert h.m.step_name == "prevote"
    h(vote(me, PREVOTE, 0, A.hash))
    out = h.all_vote(PREVOTE, 0, A.hash)
    assert votes_signed(out) == [(PRECOMMIT, 0, A.hash)]
    assert h.m.locked_round == 0 and h.m.locked_block == A and h.m.valid_round == 0 and h.m.valid_block == A
    h(vote(me, PRECOMMIT, 0, A.hash))
    out = h.all_vote(PRECOMMIT, 0, A.hash, keys=h.others()[:2])
    (d,) = of(out, Decide)
    assert (d.height, d.round, d.block) == (1, 0, A)
    d.commit.verify(CID, VS, 1, A.hash)
    assert [s.validator_address for s in d.commit.signatures] == sorted(s.validator_address for s in d.commit.signatures)
    assert h.m.step_name == "commit"


def test_non_proposer_waits_for_the_proposal():
    me = non_proposer(1, 0)
    h = Harness(me)
    out = h(StartHeight(1, None))
    assert not of(out, BuildBlock) and not of(out, SignProposal)
    assert of(out, ScheduleTimeout) == [ScheduleTimeout(1, 0, "propose", 1000)]
    out = h(proposal(A, 0))
    assert votes_signed(out) == [(PREVOTE, 0, A.hash)]


def test_step_is_a_string_and_the_step_method():
    h = Harness(KEYS[0])
    assert h.m.step_name == "new_height" and isinstance(h.m.step_name, str)
    h.m.step(StartHeight(1, None))
    assert h.m.step_name == "propose" and h.m.height == 1 and h.m.round == 0


def test_invalid_proposal_gets_a_nil_prevote():
    me = non_proposer(1, 0)
    h = Harness(me)
    h(StartHeight(1, None))
    ev = proposal(A, 0)
    out = h(ProposalReceived(ev.proposal, ev.block, False))
    assert votes_signed(out) == [(PREVOTE, 0, NIL)]
    # a polka for it does not make the machine precommit it either
    out = h.all_vote(PREVOTE, 0, A.hash)
    assert (PRECOMMIT, 0, A.hash) not in votes_signed(out)


# --- timeouts -----------------------------------------------------------------------------------------------

def test_timeouts_grow_with_the_round():
    me = non_proposer(1, 0, 1, 2)
    h = Harness(me)
    h(StartHeight(1, None))
    for r in range(3):
        out = h(TimeoutFired(1, r, "propose"))
        assert votes_signed(out) == [(PREVOTE, r, NIL)]
        h(vote(me, PREVOTE, r, NIL))  # the driver feeds our own vote back
        out = h.all_vote(PREVOTE, r, B.hash, keys=h.others()[:1]) + h.all_vote(PREVOTE, r, NIL, keys=h.others()[1:2])
        assert ScheduleTimeout(1, r, "prevote", 500 + 250 * r) in out  # L34: 2/3 of any prevotes
        out = h(TimeoutFired(1, r, "prevote"))
        assert votes_signed(out) == [(PRECOMMIT, r, NIL)]
        h(vote(me, PRECOMMIT, r, NIL))
        out = h.all_vote(PRECOMMIT, r, NIL, keys=h.others()[:1]) + h.all_vote(PRECOMMIT, r, B.hash, keys=h.others()[1:2])
        assert ScheduleTimeout(1, r, "precommit", 500 + 250 * r) in out  # L47
        out = h(TimeoutFired(1, r, "precommit"))
        assert h.m.round == r + 1
        assert ScheduleTimeout(1, r + 1, "propose", 1000 + 250 * (r + 1)) in out


def test_stale_timeouts_are_ignored():
    me = non_proposer(1, 0, 1)
    h = Harness(me)
    h(StartHeight(1, None))
    h(TimeoutFired(1, 0, "propose"))
    assert h(TimeoutFired(1, 0, "propose")) == []
    assert h(TimeoutFired(2, 0, "precommit")) == []
    assert h(TimeoutFired(1, 5, "precommit")) == [] and h.m.round == 0


def test_nil_polka_precommits_nil():
    me = non_proposer(1, 0)
    h = Harness(me)
    h(StartHeight(1, None), TimeoutFired(1, 0, "propose"))
    out = h.all_vote(PREVOTE, 0, NIL)
    assert votes_signed(out) == [(PRECOMMIT, 0, NIL)]
    assert h.m.locked_round == -1


# --- locking ------------------------------------------------------------------------------------------------

def locked_on_a_in_round_0(me: PrivateKey) -> Harness:
    h = Harness(me)
    h(StartHeight(1, None), proposal(A, 0))
    h.all_vote(PREVOTE, 0, A.hash)
    assert h.m.locked_round == 0 and h.m.locked_block == A
    # the round fails: precommits for nil from the others, then the precommit timeout
    h.all_vote(PRECOMMIT, 0, NIL)
    h(TimeoutFired(1, 0, "precommit"))
    assert h.m.round == 1 and h.m.step_name == "propose"
    return h


def test_locked_validator_prevotes_nil_for_another_value():
    me = non_proposer(1, 0, 1)
    h = locked_on_a_in_round_0(me)
    out = h(proposal(B, 1))
    assert votes_signed(out) == [(PREVOTE, 1, NIL)]
    assert h.m.locked_block == A


def test_locked_validator_prevotes_its_locked_value_again():
    me = non_proposer(1, 0, 1)
    h = locked_on_a_in_round_0(me)
    out = h(proposal(A, 1, pol_round=0))
    assert votes_signed(out) == [(PREVOTE, 1, A.hash)]


def test_newer_polka_unlocks():
    """Locked on A at round 0; B got a polka at round 1; B re-proposed at round 2 with pol_round 1."""
    me = non_proposer(1, 0, 1, 2)
    h = locked_on_a_in_round_0(me)
    h(proposal(B, 1))  # prevote nil (locked)
    h.all_vote(PREVOTE, 1, B.hash)  # a polka for B at round 1, seen only now
    # the machine is in the prevote step of round 1 and B has a polka: L36 locks B
    assert h.m.locked_round == 1 and h.m.locked_block == B and h.m.valid_block == B
    h.all_vote(PRECOMMIT, 1, NIL)
    h(TimeoutFired(1, 1, "precommit"))
    out = h(proposal(B, 2, pol_round=1))
    assert votes_signed(out) == [(PREVOTE, 2, B.hash)]


def test_re_proposal_with_an_older_polka_than_the_lock_gets_nil():
    """L28: the lock (round 1) is newer than the proposal's pol_round (0): prevote nil."""
    me = non_proposer(1, 1, 2)
    h = Harness(me)
    h(StartHeight(1, None))
    h.all_vote(PREVOTE, 0, A.hash)  # a polka for A at round 0 (our own vote missing: we timed out)
    h(TimeoutFired(1, 0, "propose"))
    h.all_vote(PRECOMMIT, 0, NIL)
    h(TimeoutFired(1, 0, "precommit"))
    h(proposal(B, 1))
    h.all_vote(PREVOTE, 1, B.hash)
    assert h.m.locked_round == 1 and h.m.locked_block == B
    h.all_vote(PRECOMMIT, 1, NIL)
    h(TimeoutFired(1, 1, "precommit"))
    out = h(proposal(A, 2, pol_round=0))
    assert votes_signed(out) == [(PREVOTE, 2, NIL)]


def test_re_proposal_waits_for_its_polka():
    """A proposal with pol_round 0 is acted on only once the polka of round 0 is seen (in any order)."""
    me = non_proposer(1, 0, 1)
    h = locked_on_a_in_round_0(me)
    h2 = Harness(me)
    h2(StartHeight(1, None), TimeoutFired(1, 0, "propose"))
    h2.all_vote(PRECOMMIT, 0, NIL)
    h2(TimeoutFired(1, 0, "precommit"))
    out = h2(proposal(C, 1, pol_round=0))
    assert votes_signed(out) == []  # no polka for C at round 0 yet
    out = h2.all_vote(PREVOTE, 0, C.hash)
    assert votes_signed(out) == [(PREVOTE, 1, C.hash)]
    del h


# --- valid value ---------------------------------------------------------------------------------------------

def test_proposer_re_proposes_its_valid_value_with_pol_round():
    h1 = 1
    # find a validator that is not the proposer of round 0 but is the proposer of some later round
    me = proposer_key(h1, 1) if proposer(VS, h1, 0) != proposer(VS, h1, 1) else proposer_key(h1, 2)
    target = 1 if me.address == proposer(VS, h1, 1) else 2
    h = Harness(me)
    h(StartHeight(1, None), proposal(A, 0))
    h.all_vote(PREVOTE, 0, A.hash)
    assert h.m.valid_round == 0 and h.m.valid_block == A
    for r in range(target):
        h.all_vote(PRECOMMIT, r, NIL)
        out = h(TimeoutFired(1, r, "precommit"))
        if r + 1 < target:
            h(TimeoutFired(1, r + 1, "propose"), *[vote(k, PREVOTE, r + 1, NIL) for k in h.others()])
    assert not of(out, BuildBlock)
    (sp,) = of(out, SignProposal)
    assert sp.proposal == Proposal(1, target, 0, A.hash, me.address) and sp.block == A


def test_valid_value_updates_after_precommitting_nil():
    """L36 with step = precommit: no new lock, but the valid value moves to the polka's block."""
    me = non_proposer(1, 0)
    h = Harness(me)
    h(StartHeight(1, None), TimeoutFired(1, 0, "propose"), TimeoutFired(1, 0, "prevote"))
    assert h.m.step_name == "precommit"
    h(proposal(A, 0))
    out = h.all_vote(PREVOTE, 0, A.hash)
    assert votes_signed(out) == []
    assert h.m.valid_round == 0 and h.m.valid_block == A
    assert h.m.locked_round == -1 and h.m.locked_block is None


# --- round skip ---------------------------------------------------------------------------------------------

def test_round_skip_on_f_plus_one():
    me = non_proposer(1, 0, 5)
    h = Harness(me)
    h(StartHeight(1, None))
    others = h.others()
    h(vote(others[0], PREVOTE, 5, NIL))
    assert h.m.round == 0  # one validator of four is not f + 1
    out = h(vote(others[1], PRECOMMIT, 5, NIL))
    assert h.m.round == 5 and h.m.step_name == "propose"
    assert ScheduleTimeout(1, 5, "propose", 1000 + 250 * 5) in out


def test_no_skip_to_a_lower_round():
    me = non_proposer(1, 0, 3)
    h = Harness(me)
    h(StartHeight(1, None))
    h.all_vote(PREVOTE, 3, NIL, keys=h.others()[:2])
    assert h.m.round == 3
    h.all_vote(PREVOTE, 1, NIL)
    assert h.m.round == 3


# --- decisions ------------------------------------------------------------------------------------------------

def test_decide_in_an_earlier_round():
    me = non_proposer(1, 0, 1, 2)
    h = Harness(me)
    h(StartHeight(1, None), proposal(A, 0))
    h.all_vote(PREVOTE, 0, NIL, keys=h.others()[:2])
    for r in (0, 1):
        h(TimeoutFired(1, r, "prevote")) if h.m.step_name == "prevote" else None
        h.all_vote(PRECOMMIT, r, NIL, keys=h.others()[:2])
        h(TimeoutFired(1, r, "precommit"))
    assert h.m.round == 2
    out = h.all_vote(PRECOMMIT, 0, A.hash, keys=h.others())  # late precommits for round 0
    (d,) = of(out, Decide)
    assert (d.round, d.block) == (0, A)
    assert d.commit.round == 0


def test_votes_before_the_proposal():
    me = non_proposer(1, 0)
    h = Harness(me)
    h(StartHeight(1, None))
    assert h.all_vote(PRECOMMIT, 0, A.hash) == [ScheduleTimeout(1, 0, "precommit", 500)]
    assert h.m.waiting_for_block == A.hash
    out = h(proposal(A, 0))
    (d,) = of(out, Decide)
    assert d.block == A and h.m.waiting_for_block is None


def test_proposal_after_its_polka():
    me = non_proposer(1, 0)
    h = Harness(me)
    h(StartHeight(1, None))
    h.all_vote(PREVOTE, 0, A.hash)
    out = h(proposal(A, 0))
    assert votes_signed(out) == [(PREVOTE, 0, A.hash), (PRECOMMIT, 0, A.hash)]
    assert h.m.locked_block == A


def test_precommits_without_the_block_wait_then_commit_received():
    me = non_proposer(1, 0)
    h = Harness(me)
    h(StartHeight(1, None))
    out = h.all_vote(PRECOMMIT, 0, A.hash)
    assert not of(out, Decide) and h.m.waiting_for_block == A.hash
    commit = Commit.from_votes([vote(k, PRECOMMIT, 0, A.hash).vote for k in KEYS[:3]])
    out = h(CommitReceived(A, commit))
    (d,) = of(out, Decide)
    assert d.commit == commit and d.block == A


def test_commit_received_needs_quorum_and_the_right_height():
    h = Harness(non_proposer(1, 0))
    h(StartHeight(1, None))
    two = Commit.from_votes([vote(k, PRECOMMIT, 0, A.hash).vote for k in KEYS[:2]])
    assert not of(h(CommitReceived(A, two)), Decide)
    other = Commit.from_votes([vote(k, PRECOMMIT, 0, A.hash, height=2).vote for k in KEYS[:3]])
    assert not of(h(CommitReceived(A, other)), Decide)


def test_after_decide_messages_for_the_height_are_ignored():
    me = non_proposer(1, 0)
    h = Harness(me)
    h(StartHeight(1, None), proposal(A, 0))
    h.all_vote(PREVOTE, 0, A.hash)
    out = h.all_vote(PRECOMMIT, 0, A.hash)
    assert of(out, Decide)
    assert h(vote(me, PRECOMMIT, 0, A.hash), TimeoutFired(1, 0, "precommit"), proposal(B, 1),
             vote(KEYS[0], PREVOTE, 3, NIL), vote(KEYS[1], PREVOTE, 3, NIL)) == []
    assert h.m.round == 0 and h.m.step_name == "commit"


# --- who may speak ------------------------------------------------------------------------------------------------

def test_wrong_proposer_is_ignored():
    me = non_proposer(1, 0)
    wrong = next(k for k in KEYS if k.address != proposer(VS, 1, 0))
    h = Harness(me)
    h(StartHeight(1, None))
    assert h(proposal(A, 0, key=wrong)) == []
    assert h(proposal(A, 0, key=OUTSIDER)) == []
    assert h.m.step_name == "propose"
    # and its block cannot be decided on through it
    h.all_vote(PRECOMMIT, 0, A.hash)
    assert h.m.step_name != "commit"


def test_votes_from_non_validators_and_other_heights_are_ignored():
    h = Harness(non_proposer(1, 0))
    h(StartHeight(1, None))
    assert h(vote(OUTSIDER, PREVOTE, 0, A.hash), vote(OUTSIDER, PREVOTE, 3, A.hash)) == []
    assert h.m.votes.prevotes(0).total_power() == 0
    assert h(*[vote(k, PRECOMMIT, 0, A.hash, height=5) for k in KEYS[:1]]) == []
    assert h.m.round == 0


def test_non_validator_follows_but_never_signs():
    h = Harness(None)
    out = h(StartHeight(1, None), proposal(A, 0))
    out += h.all_vote(PREVOTE, 0, A.hash, keys=KEYS)
    out += h(TimeoutFired(1, 0, "propose"), TimeoutFired(1, 0, "prevote"))
    out += h.all_vote(PRECOMMIT, 0, A.hash, keys=KEYS)
    assert of(out, Decide)
    assert not of(h.log, SignVote) and not of(h.log, SignProposal) and not of(h.log, BuildBlock)
    # also when it would be "the proposer" of every round it sees
    h = Harness(None)
    h(StartHeight(1, None))
    for r in range(5):
        h.all_vote(PRECOMMIT, r, NIL, keys=KEYS)
        h(TimeoutFired(1, r, "precommit"))
    assert not of(h.log, (SignVote, SignProposal, BuildBlock))


def test_block_built_for_a_stale_round_is_ignored():
    me = proposer_key(1, 0)
    h = Harness(me)
    h(StartHeight(1, None))
    h.all_vote(PREVOTE, 2, NIL, keys=h.others()[:2])
    assert h.m.round == 2
    assert not of(h(BlockBuilt(1, 0, A)), SignProposal)


# --- equivocation, duplicates ------------------------------------------------------------------------------------

def test_duplicate_votes_count_once_and_conflicts_give_evidence():
    h = Harness(non_proposer(1, 0))
    h(StartHeight(1, None))
    k = h.others()[0]
    h(vote(k, PREVOTE, 0, A.hash), vote(k, PREVOTE, 0, A.hash))
    assert h.m.votes.prevotes(0).power_for(A.hash) == 1
    out = h(vote(k, PREVOTE, 0, B.hash))
    (ev,) = of(out, Evidence)
    ev.evidence.verify(CID, VS)
    assert h.m.votes.prevotes(0).get(k.address).block_hash == A.hash  # the first vote stays counted
    assert h(vote(k, PREVOTE, 0, B.hash)) == []  # reported once


def test_equivocating_proposer_first_proposal_is_prevoted():
    me = non_proposer(1, 0)
    h = Harness(me)
    h(StartHeight(1, None))
    out = h(proposal(A, 0)) + h(proposal(B, 0))
    assert votes_signed(out) == [(PREVOTE, 0, A.hash)]
    # the second block is kept: if the others decide it, the machine can decide it too
    out = h.all_vote(PRECOMMIT, 0, B.hash)
    (d,) = of(out, Decide)
    assert d.block == B


# --- heights ------------------------------------------------------------------------------------------------------

def test_next_height_votes_are_buffered_and_replayed():
    me = non_proposer(1, 0)
    h = Harness(me)
    h(StartHeight(1, None), proposal(A, 0))
    h.all_vote(PREVOTE, 0, A.hash)
    early = [vote(k, PREVOTE, 0, B.hash, height=2) for k in h.others()]
    h(*early)
    out = h.all_vote(PRECOMMIT, 0, A.hash)
    (d,) = of(out, Decide)
    out = h(StartHeight(2, d.commit))
    assert h.m.height == 2 and h.m.last_commit == d.commit
    assert h.m.votes.prevotes(0).power_for(B.hash) == 3
    assert h.m.step_name == "propose"  # polka seen, but no proposal for B yet


def test_far_ahead_messages_request_catch_up():
    h = Harness(non_proposer(1, 0))
    h(StartHeight(1, None))
    others = h.others()
    assert h(vote(others[0], PREVOTE, 0, NIL, height=7)) == []
    out = h(vote(others[1], PRECOMMIT, 0, NIL, height=9))
    assert out == [RequestCatchUp(7, others[0].address)]
    assert h.m.votes.prevotes(0).total_power() == 0  # dropped, only noted
    assert h(vote(others[1], PRECOMMIT, 1, NIL, height=9)) == []  # not asked twice


def test_start_height_resets_the_round_state():
    me = non_proposer(1, 0)
    h = Harness(me)
    h(StartHeight(1, None), proposal(A, 0))
    h.all_vote(PREVOTE, 0, A.hash)
    assert h.m.locked_block == A
    h(StartHeight(3, None))  # block sync jumped ahead
    assert (h.m.height, h.m.round, h.m.locked_round, h.m.valid_round) == (3, 0, -1, -1)
    assert h.m.locked_block is None and h.m.valid_block is None
    assert h(StartHeight(2, None)) == [] and h.m.height == 3  # heights only go up


@pytest.mark.parametrize("seed", range(3))
def test_same_events_same_effects(seed):
    import random
    rng = random.Random(seed)
    events = [StartHeight(1, None), proposal(A, 0), proposal(B, 1), proposal(A, 1, pol_round=0)]
    for _ in range(60):
        k = rng.choice(KEYS)
        events.append(vote(k, rng.choice([PREVOTE, PRECOMMIT]), rng.randint(0, 3),
                           rng.choice([A.hash, B.hash, NIL])))
        if rng.random() < 0.2:
            events.append(TimeoutFired(1, rng.randint(0, 3), rng.choice(["propose", "prevote", "precommit"])))
    runs = []
    for _ in range(2):
        h = Harness(KEYS[seed])
        runs.append([h(ev) for ev in events])
    assert runs[0] == runs[1]


def test_admits_only_what_can_change_the_state():
    """The driver logs to the WAL only admitted events: duplicates and junk must not be admitted, and an
    event that is not admitted must change nothing a replay needs."""
    me = non_proposer(1, 0)
    h = Harness(me)
    h(StartHeight(1, None))
    other = next(k for k in h.others())
    first = vote(other, PREVOTE, 0, A.hash)
    assert h.m.admits(first)
    h(first)
    assert not h.m.admits(first)  # a duplicate
    junk = [vote(other, PREVOTE, 0, sha256(b"junk %d" % i)) for i in range(8)]
    admitted = []
    for v in junk:
        admitted.append(h.m.admits(v))
        h(v)
    assert admitted.count(True) == 3  # the cap: 4 blocks per validator, A already counted
    # a vote for a block with a known proposal still counts above the cap
    p = proposal(B, 0)
    assert h.m.admits(p)
    h(p)
    assert not h.m.admits(p)
    real = vote(other, PREVOTE, 0, B.hash)
    assert h.m.admits(real)
    h(real)
    assert h.m.votes.prevotes(0).power_for(B.hash) == 1
    nil = vote(other, PREVOTE, 0, NIL)
    assert h.m.admits(nil)
    # proposals from the wrong proposer, other heights and non-validators are not admitted
    wrong = next(k for k in KEYS if k.address != proposer(VS, 1, 0))
    assert not h.m.admits(proposal(C, 0, key=wrong))
    assert not h.m.admits(proposal(block(b"x", height=5), 0, height=5))
    assert not h.m.admits(vote(OUTSIDER, PREVOTE, 0, A.hash))
    assert h.m.admits(vote(other, PREVOTE, 0, A.hash, height=2))  # buffered for the next height

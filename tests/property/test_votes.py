"""Hypothesis: vote-set quorum arithmetic by voting power."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import sha256
from provchain.chain.types import NIL, PRECOMMIT, PREVOTE, Validator, ValidatorSet, Vote
from provchain.consensus.votes import ADDED, DUPLICATE, Conflict, HeightVoteSet, VoteSet

CID = "prop-chain"
KEYS = [PrivateKey.from_seed(sha256(b"votes-prop-%d" % i)) for i in range(10)]
BLOCKS = [NIL, sha256(b"x"), sha256(b"y"), sha256(b"z")]
_SIGNED: dict = {}


def signed(key: PrivateKey, type: int, round: int, block_hash: bytes, height: int = 3) -> Vote:
    k = (key.address, type, round, block_hash, height)
    if k not in _SIGNED:  # signing is the slow part: each distinct vote is signed once per session
        _SIGNED[k] = Vote(type, height, round, block_hash, 5, key.address).signed(key, CID)
    return _SIGNED[k]


@st.composite
def scenario(draw, equivocate: bool = False):
    n = draw(st.integers(1, len(KEYS)))
    powers = draw(st.lists(st.integers(1, 50), min_size=n, max_size=n))
    valset = ValidatorSet(tuple(Validator(k.pubkey, p) for k, p in zip(KEYS, powers)))
    keys = sorted(KEYS[:n], key=lambda k: k.address)
    voters = draw(st.lists(st.sampled_from(keys), unique_by=lambda k: k.address))
    votes = [signed(k, PREVOTE, 0, draw(st.sampled_from(BLOCKS))) for k in voters]
    if equivocate:
        cheats = draw(st.lists(st.sampled_from(keys), unique_by=lambda k: k.address))
        votes += [signed(k, PREVOTE, 0, draw(st.sampled_from(BLOCKS))) for k in cheats]
    votes = draw(st.permutations(votes))
    return valset, votes


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenario())
def test_majority_iff_more_than_two_thirds(case):
    valset, votes = case
    vs = VoteSet(valset, 3, 0, PREVOTE)
    for v in votes:
        assert vs.add(v) == ADDED
    power = {b: sum(valset.by_address[v.validator_address].power for v in votes if v.block_hash == b)
             for b in BLOCKS}
    total = valset.total_power
    for b in BLOCKS:
        assert vs.power_for(b) == power[b]
        assert {v.validator_address for v in vs.votes_for(b)} == \
            {v.validator_address for v in votes if v.block_hash == b}
    winners = [b for b in BLOCKS if 3 * power[b] > 2 * total]
    assert len(winners) <= 1  # never two different majorities
    assert vs.two_thirds_majority() == (winners[0] if winners else None)
    voted = sum(power.values())
    assert vs.total_power() == voted
    assert vs.has_two_thirds_any() == (3 * voted > 2 * total)


@SETTINGS
@given(scenario(equivocate=True))
def test_equivocation_gives_verifying_evidence_and_keeps_first_vote(case):
    valset, votes = case
    vs = VoteSet(valset, 3, 0, PREVOTE)
    first: dict[bytes, Vote] = {}
    blocks_of: dict[bytes, set] = {}
    for v in votes:
        result = vs.add(v)
        addr = v.validator_address
        if addr not in first:
            assert result == ADDED
            first[addr] = v
            blocks_of[addr] = {v.block_hash}
        elif v.block_hash in blocks_of[addr]:
            assert result == DUPLICATE
        else:
            assert isinstance(result, Conflict)
            ev = result.evidence
            ev.verify(CID, valset)
            assert {ev.vote_a, ev.vote_b} == {first[addr], v}
            blocks_of[addr].add(v.block_hash)
        assert vs.get(addr) == first[addr]  # the first vote stays counted
    # each validator counts once in the total, and once for every block it voted for
    total = valset.total_power
    assert vs.total_power() == sum(valset.by_address[a].power for a in first)
    for b in BLOCKS:
        assert vs.power_for(b) == sum(valset.by_address[a].power for a, bs in blocks_of.items() if b in bs)
    # two blocks can both pass 2/3 only if validators with > 1/3 of the power equivocated
    winners = [b for b in BLOCKS if 3 * vs.power_for(b) > 2 * total]
    if len(winners) > 1:
        cheats = sum(valset.by_address[a].power for a, bs in blocks_of.items() if len(bs) > 1)
        assert 3 * cheats > total
    # the majority, once found, never changes
    maj = vs.two_thirds_majority()
    assert maj is None or maj in winners
    if winners:
        assert maj is not None


@SETTINGS
@given(scenario(), st.integers(0, 5))
def test_adding_votes_is_order_independent_for_quorums(case, rot):
    valset, votes = case
    a, b = VoteSet(valset, 3, 0, PREVOTE), VoteSet(valset, 3, 0, PREVOTE)
    for v in votes:
        a.add(v)
    for v in votes[rot:] + votes[:rot]:
        b.add(v)
    assert a.two_thirds_majority() == b.two_thirds_majority()
    assert a.has_two_thirds_any() == b.has_two_thirds_any()
    assert all(a.power_for(x) == b.power_for(x) for x in BLOCKS)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4), st.sampled_from([PREVOTE, PRECOMMIT])),
                max_size=30))
def test_round_skip_power_is_f_plus_one_of_distinct_senders(msgs):
    valset = ValidatorSet(tuple(Validator(k.pubkey, 1) for k in KEYS[:4]))
    keys = sorted(KEYS[:4], key=lambda k: k.address)
    hvs = HeightVoteSet(valset, 3)
    senders: dict[int, set] = {}
    for who, rnd, typ in msgs:
        hvs.add(signed(keys[who], typ, rnd, NIL))
        senders.setdefault(rnd, set()).add(who)
    for rnd in range(5):
        assert hvs.round_power(rnd) == len(senders.get(rnd, ()))
    assert hvs.skip_rounds() == sorted(r for r, s in senders.items() if 3 * len(s) > 4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 12), st.sampled_from(BLOCKS), st.booleans())
def test_junk_votes_never_push_out_a_kept_vote(n_junk, real, junk_first):
    """Issue 12 finding 3: four junk votes from one validator made honest nodes drop its fifth, real vote.
    A vote the machine keeps (nil, or a block with a known proposal) counts whatever junk came first."""
    valset = ValidatorSet(tuple(Validator(k.pubkey, 1) for k in KEYS[:4]))
    key = KEYS[0]
    vs = VoteSet(valset, 3, 0, PREVOTE)
    junk = [signed(key, PREVOTE, 0, sha256(b"junk %d" % i)) for i in range(n_junk)]
    real_vote = signed(key, PREVOTE, 0, real)
    for v in (junk + [real_vote] if junk_first else [real_vote] + junk):
        keep = v is real_vote
        admitted = vs.admits(v, keep)
        before = vs.power_for(v.block_hash)
        vs.add(v, keep)
        assert (vs.power_for(v.block_hash) > before) == admitted
    assert vs.power_for(real) == 1
    # junk alone stays capped: memory is bounded by the cap plus the kept blocks
    assert sum(1 for i in range(n_junk) if vs.power_for(sha256(b"junk %d" % i))) <= VoteSet.MAX_BLOCKS_PER_VALIDATOR

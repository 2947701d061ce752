"""Chain types: canonical round trips, strict from_obj, chain-id-bound signatures, commits and BFT time."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from provchain.chain import jsonfmt, merkle
from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import decode, encode, sha256
from provchain.chain.types import (
    NIL, PRECOMMIT, PREVOTE, Block, Commit, CommitSig, ConsensusParams, DuplicateVoteEvidence, Genesis, Header,
    InvalidError, Proposal, Validator, ValidatorSet, Vote, commit_hash,
)

CHAIN = "provchain-test"
OTHER_CHAIN = "provchain-other"
KEYS = [PrivateKey.from_seed(bytes([i + 1]) * 32) for i in range(7)]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_valset(powers) -> ValidatorSet:
    return ValidatorSet(tuple(Validator(k.pubkey, p) for k, p in zip(KEYS, powers)))


VALSET4 = make_valset([1, 1, 1, 1])


def make_header(height=2, chain_id=CHAIN, **kw) -> Header:
    fields = dict(chain_id=chain_id, height=height, time_ms=1_764_000_000_123,
                  last_block_hash=sha256(b"prev") if height > 1 else b"", last_commit_hash=sha256(b"lc"),
                  data_hash=sha256(b"data"), evidence_hash=sha256(b"ev"), validators_hash=VALSET4.hash(),
                  next_validators_hash=VALSET4.hash(),
                  app_hash=sha256(b"app"), proposer_address=KEYS[0].address)
    fields.update(kw)
    return Header(**fields)


def sign_precommits(block_hash: bytes, height: int, keys, chain_id=CHAIN, round_=0, stamps=None) -> list[Vote]:
    stamps = stamps or [1_764_000_000_000 + 10 * i for i in range(len(keys))]
    return [Vote(PRECOMMIT, height, round_, block_hash, ts, b"").signed(k, chain_id) for k, ts in zip(keys, stamps)]


def make_commit(block_hash: bytes, height: int, keys, **kw) -> Commit:
    return Commit.from_votes(sign_precommits(block_hash, height, keys, **kw))


def make_evidence(height=1) -> DuplicateVoteEvidence:
    a = Vote(PREVOTE, height, 0, sha256(b"x"), 5, b"").signed(KEYS[2], CHAIN)
    b = Vote(PREVOTE, height, 0, sha256(b"y"), 6, b"").signed(KEYS[2], CHAIN)
    return DuplicateVoteEvidence.of(a, b)


def make_block(height=2, txs=(b"tx-a", b"tx-b", b""), evidence=(), chain_id=CHAIN) -> Block:
    last = make_commit(sha256(b"prev"), height - 1, KEYS[:3], chain_id=chain_id) if height > 1 else None
    return Block.make(dict(chain_id=chain_id, height=height, time_ms=1_764_000_000_000,
                           last_block_hash=sha256(b"prev") if height > 1 else b"",
                           validators_hash=VALSET4.hash(), app_hash=sha256(b"app"),
                           proposer_address=KEYS[1].address), txs, evidence, last)


def wire(x):
    """Through the canonical bytes and back to a plain object."""
    return decode(encode(x.to_obj()))


def contains_bool(obj) -> bool:
    if isinstance(obj, list):
        return any(contains_bool(x) for x in obj)
    return isinstance(obj, bool)


def strict_equal(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    return a == b


# --- round trips ----------------------------------------------------------------------------------------

def test_vote_round_trip():
    for v in (Vote(PREVOTE, 5, 2, sha256(b"b"), 123, b"").signed(KEYS[0], CHAIN),
              Vote(PRECOMMIT, 1, 0, NIL, 0, b"").signed(KEYS[3], CHAIN)):
        back = Vote.from_obj(wire(v))
        assert back == v
        back.verify(CHAIN, VALSET4)


def test_proposal_round_trip():
    for pol in (-1, 0, 2):
        p = Proposal(9, 3, pol, sha256(b"blk"), b"").signed(KEYS[1], CHAIN)
        back = Proposal.from_obj(wire(p))
        assert back == p
        back.verify(CHAIN, VALSET4)


def test_commit_header_evidence_valset_round_trip():
    c = make_commit(sha256(b"blk"), 7, KEYS[:4])
    assert Commit.from_obj(wire(c)) == c
    assert Commit.from_obj(wire(c)).hash() == c.hash()
    h = make_header()
    assert Header.from_obj(wire(h)) == h
    assert Header.from_obj(wire(h)).hash() == h.hash()
    ev = make_evidence()
    assert DuplicateVoteEvidence.from_obj(wire(ev)) == ev
    vs = make_valset([3, 1, 4, 1, 5])
    assert ValidatorSet.from_obj(wire(vs)) == vs
    assert ValidatorSet.from_obj(wire(vs)).hash() == vs.hash()


def test_block_round_trip():
    for b in (make_block(1, txs=()), make_block(2), make_block(3, evidence=(make_evidence(2),))):
        back = Block.decode(b.encode())
        assert back == b
        assert back.hash == b.hash
        assert back.encode() == b.encode()
        back.validate_basic()


def test_commit_from_votes_sorts_by_address():
    votes = sign_precommits(sha256(b"blk"), 4, KEYS[:4])
    c1 = Commit.from_votes(votes)
    c2 = Commit.from_votes(list(reversed(votes)))
    assert c1 == c2
    addrs = [s.validator_address for s in c1.signatures]
    assert addrs == sorted(addrs)


def test_genesis_json_round_trip():
    g = Genesis(CHAIN, 1_764_000_000_000, make_valset([1, 2, 3]),
                ConsensusParams(max_tx_bytes=1000, timeout_commit_ms=77), app_name="notes")
    text = g.to_json()
    back = Genesis.from_json(text)
    assert back == g
    assert back.hash() == g.hash()
    d = json.loads(text)
    assert d["chain_id"] == CHAIN
    assert d["genesis_time"] == "2025-11-24T16:00:00.000Z"
    assert [v["power"] for v in d["validators"]] == [str(v.power) for v in g.validators.validators]
    assert all(v["address"] == v["address"].upper() for v in d["validators"])



def test_genesis_rejects_voting_powers_whose_proposer_rotation_is_too_long():
    """Issue 12 finding 6: powers 99_991 and 99_989 (coprime) made every consensus step raise."""
    with pytest.raises(InvalidError, match="proposer rotation"):
        Genesis(CHAIN, 1, make_valset([99_991, 99_989]))
    Genesis(CHAIN, 1, make_valset([100_000, 200_000]))  # gcd 100_000: a period of 3


def test_genesis_rejects_non_positive_params_and_ignores_the_retired_clock_drift():
    with pytest.raises(InvalidError):
        Genesis(CHAIN, 1, make_valset([1]), ConsensusParams(max_block_txs=0))
    g = Genesis(CHAIN, 1, make_valset([1, 1]))
    d = json.loads(g.to_json())
    d["consensus_params"]["max_clock_drift_ms"] = "10000"  # written by earlier versions
    assert Genesis.from_json(json.dumps(d)) == g


@FUZZ
@given(st.sampled_from([PREVOTE, PRECOMMIT]), st.integers(1, 2**63 - 1), st.integers(0, 10_000),
       st.sampled_from([NIL, sha256(b"a"), b"\xff" * 32]), st.integers(0, 2**63 - 1))
def test_vote_fields_round_trip(t, h, r, bh, ts):
    v = Vote(t, h, r, bh, ts, KEYS[0].address, b"\x01" * 64)
    assert Vote.from_obj(wire(v)) == v


@FUZZ
@given(st.integers(1, 2**63 - 1), st.integers(0, 10_000), st.data())
def test_proposal_fields_round_trip(h, r, data):
    pol = data.draw(st.integers(-1, r - 1))
    p = Proposal(h, r, pol, sha256(b"x"), KEYS[0].address, b"\x02" * 64)
    assert Proposal.from_obj(wire(p)) == p


def test_proposal_pol_round_must_be_below_round():
    good = Proposal(3, 2, 1, sha256(b"x"), KEYS[0].address, b"\x02" * 64).to_obj()
    assert Proposal.from_obj(good).pol_round == 1
    for pol in (2, 3, -2):
        bad = list(good)
        bad[2] = pol
        with pytest.raises(InvalidError):
            Proposal.from_obj(bad)


# --- from_obj: strict shapes, only InvalidError -------------------------------------------------------

def valid_objects():
    return {
        Vote: Vote(PREVOTE, 5, 2, sha256(b"b"), 123, KEYS[0].address, b"\x03" * 64).to_obj(),
        Proposal: Proposal(9, 3, 1, sha256(b"blk"), KEYS[1].address, b"\x04" * 64).to_obj(),
        CommitSig: CommitSig(KEYS[0].address, 5, b"\x05" * 64).to_obj(),
        Commit: make_commit(sha256(b"blk"), 7, KEYS[:2]).to_obj(),
        Header: make_header().to_obj(),
        Block: make_block(2, txs=(b"t",), evidence=(make_evidence(1),)).to_obj(),
        DuplicateVoteEvidence: make_evidence().to_obj(),
        Validator: Validator(KEYS[0].pubkey, 10).to_obj(),
        ValidatorSet: make_valset([1, 2]).to_obj(),
    }


VALID = valid_objects()

leaf_values = (st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.sampled_from([0, 1, 2, -1, 10_000, 10_001])
               | st.binary(max_size=70) | st.sampled_from([b"", b"\x00" * 20, b"\x00" * 32, b"\x00" * 64])
               | st.text(max_size=70) | st.floats() | st.just({}) | st.just((1, 2)) | st.just(bytearray(20)))
anything = st.recursive(leaf_values, lambda inner: st.lists(inner, max_size=8), max_leaves=30)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, list):
        for i, x in enumerate(obj):
            yield from _paths(x, prefix + (i,))


def _at(obj, path):
    for i in path:
        obj = obj[i]
    return obj


def _replace(obj, path, new):
    if not path:
        return new
    out = list(obj)
    out[path[0]] = _replace(obj[path[0]], path[1:], new)
    return out


@st.composite
def mutated(draw, cls):
    """A valid object of `cls` with one random change somewhere inside."""
    obj = VALID[cls]
    path = draw(st.sampled_from(list(_paths(obj))))
    target = _at(obj, path)
    op = draw(st.sampled_from(["replace", "drop", "append"] if isinstance(target, list) else ["replace"]))
    if op == "replace":
        new = draw(anything)
    elif op == "drop":
        assume(target)
        i = draw(st.integers(0, len(target) - 1))
        new = target[:i] + target[i + 1:]
    else:
        new = target + [draw(anything)]
    return _replace(obj, path, new)


def _accepts_exactly(cls, obj):
    """from_obj either raises InvalidError, or returns an object whose canonical form is exactly `obj`."""
    try:
        x = cls.from_obj(obj)
    except InvalidError:
        return
    out = x.to_obj()
    if cls is ValidatorSet:  # from_obj canonicalises the order (and refuses duplicates)
        assert strict_equal(out, sorted(obj, key=lambda v: sha256(v[0])[:20]))
    else:
        assert strict_equal(out, obj), (cls.__name__, obj)
    assert not contains_bool(out), f"{cls.__name__} accepted a bool where an int belongs: {obj!r}"
    encode(out)  # and it is encodable


@pytest.mark.parametrize("cls", list(VALID), ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_from_obj_fuzz_near_valid(cls, data):
    _accepts_exactly(cls, data.draw(mutated(cls)))


@pytest.mark.parametrize("cls", list(VALID), ids=lambda c: c.__name__)
@FUZZ
@given(obj=anything)
def test_from_obj_fuzz_arbitrary(cls, obj):
    _accepts_exactly(cls, obj)


@pytest.mark.parametrize("bad_type", [True, False, 1.0, 2.0, 0, 3, None, b"\x01", "1", [1]])
def test_vote_type_must_be_the_integer_1_or_2(bad_type):
    obj = list(VALID[Vote])
    obj[0] = bad_type
    with pytest.raises(InvalidError):
        Vote.from_obj(obj)


def test_block_decode_rejects_garbage_with_invalid_error():
    good = make_block().encode()
    for data in (b"", b"\x00", good[:-1], good + b"\x00", encode([1, 2, 3, 4]), encode([]), b"\x81\x01\x02"):
        with pytest.raises(InvalidError):
            Block.decode(data)


@pytest.mark.parametrize("shape", [
    [], [1], [[], [], [], None], "x", None, 5,
])
def test_block_from_obj_wrong_shapes(shape):
    with pytest.raises(InvalidError):
        Block.from_obj(shape)


def test_validator_set_rules():
    with pytest.raises(InvalidError):
        ValidatorSet(())
    with pytest.raises(InvalidError):
        ValidatorSet((Validator(KEYS[0].pubkey, 1), Validator(KEYS[0].pubkey, 2)))
    with pytest.raises(InvalidError):
        Validator.from_obj([KEYS[0].pubkey, 0])  # zero power
    with pytest.raises(InvalidError):
        Validator.from_obj([KEYS[0].pubkey[:31], 1])
    vs = make_valset([5, 1, 2])
    assert [v.address for v in vs.validators] == sorted(v.address for v in vs.validators)
    assert vs.total_power == 8
    assert ValidatorSet(tuple(reversed(vs.validators))).hash() == vs.hash()
    assert make_valset([5, 1, 3]).hash() != vs.hash()


@given(st.lists(st.integers(1, 50), min_size=1, max_size=7), st.integers(0, 400))
@FUZZ
def test_quorum_thresholds(powers, power):
    vs = make_valset(powers)
    total = sum(powers)
    assume(power <= total)
    assert vs.has_quorum(power) == (power * 3 > total * 2)
    assert vs.has_one_honest(power) == (power * 3 > total)


# --- sign bytes are bound to the chain id and the message kind ------------------------------------------

def test_vote_signed_for_one_chain_fails_on_another():
    v = Vote(PRECOMMIT, 3, 0, sha256(b"b"), 99, b"").signed(KEYS[0], CHAIN)
    v.verify(CHAIN, VALSET4)
    with pytest.raises(InvalidError, match="signature"):
        v.verify(OTHER_CHAIN, VALSET4)
    assert v.sign_bytes(CHAIN) != v.sign_bytes(OTHER_CHAIN)


def test_proposal_signed_for_one_chain_fails_on_another():
    p = Proposal(3, 1, 0, sha256(b"b"), b"").signed(KEYS[0], CHAIN)
    p.verify(CHAIN, VALSET4)
    with pytest.raises(InvalidError, match="signature"):
        p.verify(OTHER_CHAIN, VALSET4)


def test_commit_signed_for_one_chain_fails_on_another():
    c = make_commit(sha256(b"b"), 3, KEYS[:4])
    c.verify(CHAIN, VALSET4)
    with pytest.raises(InvalidError, match="bad commit signature"):
        c.verify(OTHER_CHAIN, VALSET4)


def test_every_signed_vote_field_is_bound():
    v = Vote(PREVOTE, 3, 1, sha256(b"b"), 99, b"").signed(KEYS[0], CHAIN)
    variants = [
        Vote(PRECOMMIT, 3, 1, sha256(b"b"), 99, v.validator_address, v.signature),
        Vote(PREVOTE, 4, 1, sha256(b"b"), 99, v.validator_address, v.signature),
        Vote(PREVOTE, 3, 2, sha256(b"b"), 99, v.validator_address, v.signature),
        Vote(PREVOTE, 3, 1, sha256(b"c"), 99, v.validator_address, v.signature),
        Vote(PREVOTE, 3, 1, NIL, 99, v.validator_address, v.signature),
        Vote(PREVOTE, 3, 1, sha256(b"b"), 100, v.validator_address, v.signature),
        Vote(PREVOTE, 3, 1, sha256(b"b"), 99, KEYS[1].address, v.signature),  # claimed by another validator
    ]
    for bad in variants:
        with pytest.raises(InvalidError):
            bad.verify(CHAIN, VALSET4)


def test_signature_of_one_message_kind_is_useless_for_another():
    # a proposal and a vote with "the same" numbers have different sign bytes (domain tag first)
    p = Proposal(3, 1, -1, sha256(b"b"), b"")
    v = Vote(PREVOTE, 3, 1, sha256(b"b"), 0, b"")
    assert decode(p.sign_bytes(CHAIN))[:2] == ["proposal", CHAIN]
    assert decode(v.sign_bytes(CHAIN))[:2] == ["vote", CHAIN]
    sig = KEYS[0].sign(p.sign_bytes(CHAIN))
    with pytest.raises(InvalidError):
        Vote(PREVOTE, 3, 1, sha256(b"b"), 0, KEYS[0].address, sig).verify(CHAIN, VALSET4)


def test_vote_from_non_validator_rejected():
    outsider = PrivateKey.from_seed(b"\x99" * 32)
    v = Vote(PREVOTE, 3, 0, sha256(b"b"), 1, b"").signed(outsider, CHAIN)
    with pytest.raises(InvalidError, match="non-validator"):
        v.verify(CHAIN, VALSET4)


# --- Commit.verify ----------------------------------------------------------------------------------------

BH = sha256(b"the block")


def test_commit_quorum_equal_powers():
    make_commit(BH, 5, KEYS[:3]).verify(CHAIN, VALSET4, 5, BH)  # 3 of 4 > 2/3
    make_commit(BH, 5, KEYS[:4]).verify(CHAIN, VALSET4, 5, BH)
    with pytest.raises(InvalidError, match="needs > 2/3"):
        make_commit(BH, 5, KEYS[:2]).verify(CHAIN, VALSET4)  # 2 of 4
    vs3 = make_valset([1, 1, 1])
    with pytest.raises(InvalidError, match="needs > 2/3"):
        make_commit(BH, 5, KEYS[:2]).verify(CHAIN, vs3)  # exactly 2/3 is not enough
    make_commit(BH, 5, KEYS[:3]).verify(CHAIN, vs3)


def test_commit_quorum_weighted():
    vs = make_valset([6, 1, 1, 1])  # total 9: > 6 needed
    with pytest.raises(InvalidError):
        make_commit(BH, 5, [KEYS[0]]).verify(CHAIN, vs)  # 6 = exactly 2/3
    make_commit(BH, 5, [KEYS[0], KEYS[3]]).verify(CHAIN, vs)  # 7
    with pytest.raises(InvalidError):
        make_commit(BH, 5, KEYS[1:4]).verify(CHAIN, vs)  # 3


def test_commit_duplicate_signer_rejected():
    votes = sign_precommits(BH, 5, KEYS[:2])
    dup = Commit.from_votes(votes + [votes[0]])
    with pytest.raises(InvalidError, match="twice"):
        dup.verify(CHAIN, VALSET4)
    # the same validator with another timestamp (another valid signature) still counts once
    again = sign_precommits(BH, 5, [KEYS[0]], stamps=[42])
    with pytest.raises(InvalidError, match="twice"):
        Commit.from_votes(votes + again).verify(CHAIN, VALSET4)


def test_commit_non_validator_rejected():
    outsider = PrivateKey.from_seed(b"\x42" * 32)
    c = Commit.from_votes(sign_precommits(BH, 5, KEYS[:3] + [outsider]))
    with pytest.raises(InvalidError, match="non-validator"):
        c.verify(CHAIN, VALSET4)


def test_commit_bad_signature_rejected():
    c = make_commit(BH, 5, KEYS[:4])
    sigs = list(c.signatures)
    s = sigs[2]
    sigs[2] = CommitSig(s.validator_address, s.timestamp_ms, bytes([s.signature[0] ^ 1]) + s.signature[1:])
    with pytest.raises(InvalidError, match="bad commit signature"):
        Commit(c.height, c.round, c.block_hash, tuple(sigs)).verify(CHAIN, VALSET4)
    # a timestamp changed after signing breaks that signature too
    sigs[2] = CommitSig(s.validator_address, s.timestamp_ms + 1, s.signature)
    with pytest.raises(InvalidError, match="bad commit signature"):
        Commit(c.height, c.round, c.block_hash, tuple(sigs)).verify(CHAIN, VALSET4)


def test_commit_wrong_height_block_round_or_nil():
    c = make_commit(BH, 5, KEYS[:4])
    with pytest.raises(InvalidError, match="height"):
        c.verify(CHAIN, VALSET4, height=6)
    with pytest.raises(InvalidError, match="another block"):
        c.verify(CHAIN, VALSET4, block_hash=sha256(b"other"))
    with pytest.raises(InvalidError):  # signatures were for round 0
        Commit(c.height, 1, c.block_hash, c.signatures).verify(CHAIN, VALSET4)
    with pytest.raises(InvalidError):
        Commit(c.height + 1, c.round, c.block_hash, c.signatures).verify(CHAIN, VALSET4)
    nil = Commit.from_votes([Vote(PRECOMMIT, 5, 0, NIL, 1, b"").signed(k, CHAIN) for k in KEYS[:4]])
    with pytest.raises(InvalidError, match="nil"):
        nil.verify(CHAIN, VALSET4)


@FUZZ
@given(st.lists(st.integers(1, 20), min_size=1, max_size=7), st.data())
def test_commit_verify_quorum_arithmetic(powers, data):
    vs = make_valset(powers)
    mask = data.draw(st.lists(st.booleans(), min_size=len(powers), max_size=len(powers)))
    signers = [k for k, m in zip(KEYS, mask) if m]
    assume(signers)
    c = make_commit(BH, 3, signers)
    signed_power = sum(p for p, m in zip(powers, mask) if m)
    if 3 * signed_power > 2 * sum(powers):
        c.verify(CHAIN, vs, 3, BH)
    else:
        with pytest.raises(InvalidError):
            c.verify(CHAIN, vs, 3, BH)


# --- BFT time ------------------------------------------------------------------------------------------

def test_median_time_examples():
    c = make_commit(BH, 3, KEYS[:4], stamps=[100, 400, 200, 300])
    assert c.median_time(VALSET4) in (200, 300)
    one_faulty = make_commit(BH, 3, KEYS[:4], stamps=[100, 110, 120, 10**12])
    assert 100 <= one_faulty.median_time(VALSET4) <= 120
    one_faulty = make_commit(BH, 3, KEYS[:4], stamps=[100, 110, 120, 0])
    assert 100 <= one_faulty.median_time(VALSET4) <= 120
    heavy = make_valset([10, 1, 1])
    c = make_commit(BH, 3, KEYS[:3], stamps=[500, 1, 2])
    assert c.median_time(heavy) == 500


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_median_time_lies_between_honest_timestamps(data):
    """Faulty validators hold < 1/3 of the power and sign arbitrary times; the commit has > 2/3 of the
    power. Then the block time lies within the honest signers' timestamps."""
    n = data.draw(st.integers(1, 7))
    powers = data.draw(st.lists(st.integers(1, 10), min_size=n, max_size=n))
    total = sum(powers)
    faulty = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    while 3 * sum(p for p, f in zip(powers, faulty) if f) >= total:  # trim the faulty set below 1/3
        faulty[faulty.index(True)] = False
    signing = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    while 3 * sum(p for p, s in zip(powers, signing) if s) <= 2 * total:  # grow the signers past 2/3
        signing[signing.index(False)] = True
    honest_ts = st.integers(1_700_000_000_000, 1_700_000_100_000)
    any_ts = st.integers(0, 2**63 - 1)
    stamps = [data.draw(any_ts if f else honest_ts) for f in faulty]
    vs = make_valset(powers)
    sigs = [CommitSig(KEYS[i].address, stamps[i], b"\x00" * 64) for i in range(n) if signing[i]]
    c = Commit(3, 0, BH, tuple(sorted(sigs, key=lambda s: s.validator_address)))
    honest = [stamps[i] for i in range(n) if signing[i] and not faulty[i]]
    assert honest  # > 2/3 signed and < 1/3 is faulty
    t = c.median_time(vs)
    assert min(honest) <= t <= max(honest)


# --- evidence and blocks -----------------------------------------------------------------------------------

def test_duplicate_vote_evidence():
    ev = make_evidence()
    ev.verify(CHAIN, VALSET4)
    assert ev.vote_a.block_hash < ev.vote_b.block_hash
    assert DuplicateVoteEvidence.of(ev.vote_b, ev.vote_a) == ev
    with pytest.raises(InvalidError):
        ev.verify(OTHER_CHAIN, VALSET4)
    with pytest.raises(InvalidError, match="canonical order|different blocks"):
        DuplicateVoteEvidence(ev.vote_b, ev.vote_a).verify(CHAIN, VALSET4)
    with pytest.raises(InvalidError):
        DuplicateVoteEvidence(ev.vote_a, ev.vote_a).verify(CHAIN, VALSET4)
    other_round = Vote(PREVOTE, 1, 1, sha256(b"y"), 6, b"").signed(KEYS[2], CHAIN)
    with pytest.raises(InvalidError, match="differ"):
        DuplicateVoteEvidence.of(ev.vote_a, other_round).verify(CHAIN, VALSET4)
    other_validator = Vote(PREVOTE, 1, 0, sha256(b"y"), 6, b"").signed(KEYS[3], CHAIN)
    with pytest.raises(InvalidError, match="differ"):
        DuplicateVoteEvidence.of(ev.vote_a, other_validator).verify(CHAIN, VALSET4)
    forged = Vote(PREVOTE, 1, 0, sha256(b"y"), 6, KEYS[2].address, b"\x00" * 64)
    with pytest.raises(InvalidError, match="signature"):
        DuplicateVoteEvidence.of(ev.vote_a, forged).verify(CHAIN, VALSET4)


def test_block_validate_basic_detects_tampering():
    b = make_block(3, evidence=(make_evidence(2),))
    b.validate_basic()
    assert b.header.data_hash == merkle.root(list(b.txs))
    with pytest.raises(InvalidError, match="data_hash"):
        Block(b.header, b.txs + (b"extra",), b.evidence, b.last_commit).validate_basic()
    with pytest.raises(InvalidError, match="data_hash"):
        Block(b.header, tuple(reversed(b.txs)), b.evidence, b.last_commit).validate_basic()
    with pytest.raises(InvalidError, match="evidence_hash"):
        Block(b.header, b.txs, (), b.last_commit).validate_basic()
    other_commit = make_commit(sha256(b"prev"), 2, KEYS[1:4])
    with pytest.raises(InvalidError, match="last_commit_hash"):
        Block(b.header, b.txs, b.evidence, other_commit).validate_basic()
    with pytest.raises(InvalidError):
        Block(b.header, b.txs, b.evidence, None).validate_basic()
    # the block hash is the header hash: changing any header field changes it
    for field, value in [("app_hash", sha256(b"x")), ("time_ms", 1), ("proposer_address", KEYS[2].address),
                         ("chain_id", OTHER_CHAIN), ("height", 4)]:
        h2 = Header(**{**b.header.__dict__, field: value})
        assert Block(h2, b.txs, b.evidence, b.last_commit).hash != b.hash


def test_first_block_has_no_last_commit():
    b1 = make_block(1, txs=())
    assert b1.last_commit is None and b1.header.last_commit_hash == commit_hash(None)
    b1.validate_basic()
    lc = make_commit(sha256(b"z"), 1, KEYS[:3])
    fake = Block.make({**{k: v for k, v in b1.header.__dict__.items()
                          if k not in ("data_hash", "evidence_hash", "last_commit_hash")}}, (), (), lc)
    with pytest.raises(InvalidError, match="first block"):
        fake.validate_basic()
    b2 = make_block(2)
    wrong_height = make_commit(sha256(b"prev"), 5, KEYS[:3])
    fake2 = Block.make({k: v for k, v in b2.header.__dict__.items()
                        if k not in ("data_hash", "evidence_hash", "last_commit_hash")}, b2.txs, (), wrong_height)
    with pytest.raises(InvalidError, match="previous height"):
        fake2.validate_basic()


# --- genesis JSON -----------------------------------------------------------------------------------------

GENESIS = Genesis(CHAIN, 1_764_000_000_000, make_valset([1, 1, 2]))


def _genesis_dict():
    return json.loads(GENESIS.to_json())


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("chain_id"),
    lambda d: d.pop("validators"),
    lambda d: d.pop("genesis_time_ms"),
    lambda d: d.__setitem__("validators", []),
    lambda d: d.__setitem__("validators", {"a": 1}),
    lambda d: d.__setitem__("validators", [d["validators"][0], d["validators"][0]]),
    lambda d: d["validators"][0].__setitem__("power", "0"),
    lambda d: d["validators"][0].__setitem__("power", "lots"),
    lambda d: d["validators"][0]["pub_key"].__setitem__("value", "!!notbase64"),
    lambda d: d["validators"][0]["pub_key"].__setitem__("value", "AAAA"),
    lambda d: d["validators"][0]["pub_key"].__setitem__("value", 5),
    lambda d: d["validators"][0].__setitem__("pub_key", None),
    lambda d: d.__setitem__("chain_id", 5),
    lambda d: d.__setitem__("chain_id", "x" * 65),
    lambda d: d.__setitem__("genesis_time_ms", "soon"),
    lambda d: d.__setitem__("consensus_params", {"bogus": 1}),
    lambda d: d.__setitem__("consensus_params", {"max_tx_bytes": "many"}),
    lambda d: d.__setitem__("consensus_params", []),
    lambda d: d.__setitem__("consensus_params", "fast"),
    lambda d: d.__setitem__("app_name", ["notes"]),
    lambda d: d.__setitem__("app_name", 7),
], ids=lambda f: str(id(f)))
def test_genesis_from_json_rejects_bad_shapes(mutate):
    d = _genesis_dict()
    mutate(d)
    with pytest.raises(InvalidError):
        Genesis.from_json(json.dumps(d))


@pytest.mark.parametrize("text", ["", "not json", "[]", "null", "5", '"x"', "{}", '{"validators": null}'])
def test_genesis_from_json_rejects_non_objects(text):
    with pytest.raises(InvalidError):
        Genesis.from_json(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15)


@FUZZ
@given(st.data())
def test_genesis_from_json_fuzz_only_invalid_error(data):
    d = _genesis_dict()
    key = data.draw(st.sampled_from(sorted(d) + ["validators.0", "validators.0.pub_key", "consensus_params",
                                                 "consensus_params.max_tx_bytes"]))
    value = data.draw(json_values)
    target, *rest = key.split(".")
    if not rest:
        d[target] = value
    elif len(rest) == 1 and rest[0].isdigit():
        d[target][int(rest[0])] = value
    elif len(rest) == 1:
        d[target][rest[0]] = value
    else:
        d[target][int(rest[0])][rest[1]] = value
    try:
        g = Genesis.from_json(json.dumps(d))
    except InvalidError:
        return
    assert Genesis.from_json(g.to_json()) == g
    assert isinstance(g.chain_id, str) and isinstance(g.app_name, str)


# --- CometBFT-shaped JSON -----------------------------------------------------------------------------------

def test_header_and_commit_json_round_trip():
    b = make_block(2)
    hj = jsonfmt.header_json(b.header)
    assert hj["height"] == "2" and hj["chain_id"] == CHAIN
    assert hj["data_hash"] == b.header.data_hash.hex().upper()
    assert jsonfmt.header_from_json(json.loads(json.dumps(hj))) == b.header
    c = make_commit(b.hash, 2, KEYS[:3])
    cj = jsonfmt.commit_json(c)
    assert cj["block_id"]["hash"] == b.hash.hex().upper()
    back = jsonfmt.commit_from_json(json.loads(json.dumps(cj)))
    assert back == c
    back.verify(CHAIN, VALSET4, 2, b.hash)


def test_proof_json_round_trip():
    items = [b"a", b"bb", b"ccc"]
    top, ps = merkle.proofs(items)
    for item, p in zip(items, ps):
        d = json.loads(json.dumps(jsonfmt.proof_json(p, item, top)))
        back = jsonfmt.proof_from_json(d)
        assert back == p
        assert back.verify(jsonfmt.parse_hex(d["root_hash"]), jsonfmt.unb64(d["data"]))


def test_rfc3339():
    assert jsonfmt.rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert jsonfmt.rfc3339(1_764_000_000_123) == "2025-11-24T16:00:00.123Z"
    assert jsonfmt.parse_rfc3339_ms("2025-11-24T16:00:00.123Z") == 1_764_000_000_123


@FUZZ
@given(st.integers(0, 253_402_300_799_999))
def test_rfc3339_round_trip(ms):
    assert jsonfmt.parse_rfc3339_ms(jsonfmt.rfc3339(ms)) == ms


def test_parse_helpers_reject_bad_input():
    assert jsonfmt.parse_hex("0xAbCd") == b"\xab\xcd"
    for bad in ("zz", "abc", "0x0"):
        with pytest.raises(ValueError):
            jsonfmt.parse_hex(bad)
    with pytest.raises(ValueError):
        jsonfmt.parse_hex("abcd", size=3)
    with pytest.raises(ValueError):
        jsonfmt.unb64("!!!")

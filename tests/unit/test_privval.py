"""The double-sign guard: never sign below the last (height, round, step), never two different things at one
step, answer a repeat with the earlier signature; all of it also after a restart from the state file."""

from __future__ import annotations

import pytest

from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import decode, sha256
from provchain.chain.types import NIL, InvalidError, PRECOMMIT, PREVOTE, Proposal, Validator, ValidatorSet, Vote
from provchain.consensus.privval import STEP, STEP_PROPOSAL, DoubleSignError, PrivValidator, StaleSignRequest

CHAIN = "privval-test"
KEY = PrivateKey.from_seed(b"\x61" * 32)
VALSET = ValidatorSet((Validator(KEY.pubkey, 1),))
A, B = sha256(b"block A"), sha256(b"block B")


def vote(t, h, r, block_hash=A, ts=1_000) -> Vote:
    return Vote(t, h, r, block_hash, ts, b"")


def proposal(h, r, block_hash=A, pol=-1) -> Proposal:
    return Proposal(h, r, pol, block_hash, b"")


@pytest.fixture
def state_path(tmp_path):
    return tmp_path / "data" / "priv_validator_state"


def open_pv(state_path) -> PrivValidator:
    state_path.parent.mkdir(parents=True, exist_ok=True)
    return PrivValidator(KEY, state_path, CHAIN)


# each case: what was signed first, then what must be refused; checked live and after a restart
REFUSED = {
    "lower height": (vote(PREVOTE, 5, 0), vote(PREVOTE, 4, 3)),
    "lower round": (vote(PREVOTE, 5, 2), vote(PREVOTE, 5, 1)),
    "lower step (prevote after precommit)": (vote(PRECOMMIT, 5, 2), vote(PREVOTE, 5, 2)),
    "proposal after prevote in its round": (vote(PREVOTE, 5, 2), proposal(5, 2)),
    "proposal for an old height": (proposal(6, 0), proposal(5, 9)),
    "conflicting prevote": (vote(PREVOTE, 5, 2, A), vote(PREVOTE, 5, 2, B)),
    "conflicting precommit": (vote(PRECOMMIT, 5, 2, A), vote(PRECOMMIT, 5, 2, B)),
    "nil after a block": (vote(PRECOMMIT, 5, 2, A), vote(PRECOMMIT, 5, 2, NIL)),
    "block after nil": (vote(PREVOTE, 5, 2, NIL), vote(PREVOTE, 5, 2, A)),
    "conflicting proposal": (proposal(5, 2, A), proposal(5, 2, B)),
    "same block, other pol round": (proposal(5, 2, A, pol=-1), proposal(5, 2, A, pol=1)),
}


def _sign(pv, msg):
    return pv.sign_vote(msg) if isinstance(msg, Vote) else pv.sign_proposal(msg)


@pytest.mark.parametrize("restart", [False, True], ids=["live", "after-restart"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_refuses(state_path, case, restart):
    first, second = REFUSED[case]
    pv = open_pv(state_path)
    signed = _sign(pv, first)
    signed.verify(CHAIN, VALSET)
    if restart:
        pv = open_pv(state_path)
    with pytest.raises(DoubleSignError):
        _sign(pv, second)
    # the refusal changed nothing: the first message is still what a repeat returns
    assert _sign(pv, first) == signed


@pytest.mark.parametrize("restart", [False, True], ids=["live", "after-restart"])
def test_repeat_returns_the_earlier_signature(state_path, restart):
    pv = open_pv(state_path)
    v1 = pv.sign_vote(vote(PREVOTE, 3, 1, A, ts=1_000))
    if restart:
        pv = open_pv(state_path)
    v2 = pv.sign_vote(vote(PREVOTE, 3, 1, A, ts=2_000))  # a retry with a fresh timestamp
    assert v2 == v1
    assert v2.timestamp_ms == 1_000
    v2.verify(CHAIN, VALSET)
    p1 = pv.sign_proposal(proposal(4, 0, B))
    if restart:
        pv = open_pv(state_path)
    assert pv.sign_proposal(proposal(4, 0, B)) == p1
    p1.verify(CHAIN, VALSET)


def test_progress_through_the_steps(state_path):
    pv = open_pv(state_path)
    sequence = [proposal(1, 0), vote(PREVOTE, 1, 0), vote(PRECOMMIT, 1, 0, NIL), vote(PREVOTE, 1, 1, B),
                vote(PRECOMMIT, 1, 1, B), proposal(2, 0, B), vote(PREVOTE, 2, 0), proposal(2, 3), vote(PRECOMMIT, 9, 0)]
    for msg in sequence:
        signed = _sign(pv, msg)
        signed.verify(CHAIN, VALSET)
        assert signed.signature
        step = STEP_PROPOSAL if isinstance(msg, Proposal) else STEP[msg.type]
        assert pv.last == (msg.height, msg.round, step)
        # the state file already says so (the guard persists before it returns the signature)
        h, r, s, last_signed, _kept = decode(state_path.read_bytes())
        assert (h, r, s) == pv.last
        assert last_signed == signed.to_obj()
        pv = open_pv(state_path)  # and survives a restart at every step


def test_signature_is_bound_to_the_chain(state_path):
    pv = open_pv(state_path)
    v = pv.sign_vote(vote(PRECOMMIT, 2, 0))
    v.verify(CHAIN, VALSET)
    with pytest.raises(InvalidError):
        v.verify("another-chain", VALSET)


def test_no_state_file_until_something_is_signed(state_path):
    pv = open_pv(state_path)
    assert pv.last == (0, -1, -1)
    assert not state_path.exists()
    pv.sign_vote(vote(PREVOTE, 1, 0))
    assert state_path.exists()
    assert not state_path.with_name(state_path.name + ".tmp").exists()


def test_every_message_of_the_height_is_kept_and_returned_after_a_restart(state_path):
    """A restarted node asks again for the steps it signed before the crash (WAL replay): it gets the same
    signatures back, so it can re-send them, instead of a refusal that silences it."""
    pv = open_pv(state_path)
    first = [_sign(pv, m) for m in (proposal(3, 0, A), vote(PREVOTE, 3, 0, A), vote(PRECOMMIT, 3, 0, A),
                                      vote(PREVOTE, 3, 1, NIL))]
    pv = open_pv(state_path)
    assert pv.signed_at(3) == first
    assert [_sign(pv, m) for m in (proposal(3, 0, A), vote(PREVOTE, 3, 0, A, ts=9), vote(PRECOMMIT, 3, 0, A),
                                   vote(PREVOTE, 3, 1, NIL))] == first
    with pytest.raises(DoubleSignError):
        pv.sign_vote(vote(PRECOMMIT, 3, 0, NIL))
    _sign(pv, vote(PREVOTE, 4, 0, B))
    assert pv.signed_at(3) == [] and len(pv.signed_at(4)) == 1  # only the latest height is kept


def test_a_step_never_signed_below_the_last_is_a_stale_request_not_a_conflict(state_path):
    pv = open_pv(state_path)
    pv.sign_vote(vote(PRECOMMIT, 5, 2, A))
    with pytest.raises(StaleSignRequest):
        pv.sign_vote(vote(PREVOTE, 5, 0, NIL))
    with pytest.raises(DoubleSignError) as conflict:
        pv.sign_vote(vote(PRECOMMIT, 5, 2, B))
    assert not isinstance(conflict.value, StaleSignRequest)


def test_state_files_of_the_previous_format_still_load(state_path):
    from provchain.chain.encoding import encode
    signed = vote(PREVOTE, 7, 1, A).signed(KEY, CHAIN)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_bytes(encode([7, 1, 1, signed.to_obj()]))
    pv = open_pv(state_path)
    assert pv.last == (7, 1, 1) and pv.sign_vote(vote(PREVOTE, 7, 1, A, ts=5)) == signed

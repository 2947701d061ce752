"""Validator updates through the app: authorisation by > 2/3 of the current set, replay, effect at H + 2."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provchain.chain import valsets
from provchain.chain.app import ERR_VALIDATOR_UPDATE, NoteApp
from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import sha256
from provchain.chain.store import MemoryKV
from provchain.chain.tx import SignedTx
from provchain.chain.types import Block, InvalidError, Validator, ValidatorSet

CHAIN = "valset-test"
KEYS = [PrivateKey.from_seed(bytes([i + 1]) * 32) for i in range(8)]
GENESIS = ValidatorSet(tuple(Validator(k.pubkey, 10) for k in KEYS[:4]))
SUBMITTER = PrivateKey.from_seed(b"\x77" * 32)


def update_tx(nonce, upd: valsets.ValidatorUpdate) -> bytes:
    return SignedTx.create(SUBMITTER, CHAIN, valsets.KIND, nonce, upd.to_obj()).encode()


def block(app, txs) -> Block:
    h, app_hash = app.info()
    vs = app.valset_at(h + 1)
    return Block.make(dict(chain_id=CHAIN, height=h + 1, time_ms=1_000 * (h + 1), last_block_hash=b"",
                           validators_hash=vs.hash(), next_validators_hash=app.valset_at(h + 2).hash(),
                           app_hash=app_hash, proposer_address=b"\x00" * 20), txs)


def commit(kv, app, txs=()):
    results, _ = app.finalize_block(block(app, txs))
    kv.write(app.pending_writes())
    app.commit()
    return results


@pytest.fixture
def kv():
    return MemoryKV()


@pytest.fixture
def app(kv):
    return NoteApp(kv, CHAIN, 4096, GENESIS)


def add(seq, key, power=10):
    return valsets.ValidatorUpdate.make(seq, {key.pubkey: power})


def test_an_update_signed_by_two_thirds_applies_two_heights_later(kv, app):
    upd = add(0, KEYS[4]).signed_by(KEYS[:3], CHAIN)  # 30 of 40
    assert app.check_tx(update_tx(0, upd)).ok
    [res] = commit(kv, app, [update_tx(0, upd)])
    assert res.ok and res.data == [0, 3]
    assert app.valset_at(2) == GENESIS  # block 1's update applies from height 3
    assert KEYS[4].address in app.valset_at(3).by_address and app.valset_at(3).total_power == 50
    for _ in range(5):
        commit(kv, app)
    assert all(app.valset_at(h) == app.valset_at(3) for h in range(3, 9))  # pointers to height 3


def test_an_update_without_two_thirds_is_refused(kv, app):
    upd = add(0, KEYS[4]).signed_by(KEYS[:2], CHAIN)  # 20 of 40 is not more than 2/3
    res = app.check_tx(update_tx(0, upd))
    assert res.code == ERR_VALIDATOR_UPDATE and "needs more than 2/3" in res.log
    assert app.process_proposal(block(app, [update_tx(0, upd)])) is not None
    outsider = add(0, KEYS[4]).signed_by(KEYS[:3] + [KEYS[5]], CHAIN)
    assert "not a validator of the current set" in app.check_tx(update_tx(0, outsider)).log
    other_chain = add(0, KEYS[4]).signed_by(KEYS[:4], "another-chain")
    assert "bad signature" in app.check_tx(update_tx(0, other_chain)).log


def test_a_replayed_update_is_refused(kv, app):
    upd = add(0, KEYS[4]).signed_by(KEYS[:3], CHAIN)
    commit(kv, app, [update_tx(0, upd)])
    res = app.check_tx(update_tx(1, upd))
    assert res.code == ERR_VALIDATOR_UPDATE and "replayed" in res.log


def test_the_new_set_signs_the_next_update(kv, app):
    commit(kv, app, [update_tx(0, add(0, KEYS[4]).signed_by(KEYS[:3], CHAIN))])
    commit(kv, app)  # height 2: still the genesis set
    remove = valsets.ValidatorUpdate.make(1, {KEYS[0].pubkey: 0})
    # at height 3 the set is 5 x 10: 30 is no longer more than 2/3, 40 is
    assert app.check_tx(update_tx(1, remove.signed_by(KEYS[1:4], CHAIN))).code == ERR_VALIDATOR_UPDATE
    assert app.check_tx(update_tx(1, remove.signed_by(KEYS[1:5], CHAIN))).ok
    commit(kv, app, [update_tx(1, remove.signed_by(KEYS[1:5], CHAIN))])
    assert set(app.valset_at(5).by_address) == {k.address for k in KEYS[1:5]}


def test_pending_updates_chain_in_the_mempool(kv, app):
    first = add(0, KEYS[4]).signed_by(KEYS[:3], CHAIN)
    second = add(1, KEYS[5]).signed_by(KEYS[:3], CHAIN)
    assert app.check_tx(update_tx(0, second)).code == ERR_VALIDATOR_UPDATE  # seq 1 before seq 0
    assert app.check_tx(update_tx(0, first)).ok and app.check_tx(update_tx(1, second)).ok
    results = commit(kv, app, [update_tx(0, first), update_tx(1, second)])
    assert all(r.ok for r in results)
    assert len(app.valset_at(3).validators) == 6


@pytest.mark.parametrize("changes, message", [
    ({k.pubkey: 0 for k in KEYS[:4]}, "remove every validator"),
    ({KEYS[6].pubkey: 0}, "not a validator"),
    ({KEYS[6].pubkey: 999_983, KEYS[5].pubkey: 1_000_003}, "proposer rotation"),
])
def test_updates_that_would_make_a_bad_set_are_refused(app, changes, message):
    upd = valsets.ValidatorUpdate.make(0, changes).signed_by(KEYS[:4], CHAIN)
    res = app.check_tx(update_tx(0, upd))
    assert res.code == ERR_VALIDATOR_UPDATE and message in res.log


@pytest.mark.parametrize("body", [
    [0, [], []], [0, [[pk, 1] for pk in sorted([KEYS[0].pubkey, KEYS[1].pubkey], reverse=True)], []], [0, [[b"x", 1]], []], [-1, [[KEYS[0].pubkey, 1]], []],
    [0, [[KEYS[0].pubkey, 1]], [[KEYS[0].address, b"s" * 64], [KEYS[0].address, b"s" * 64]]], "junk",
])
def test_malformed_updates_do_not_decode(body):
    with pytest.raises(InvalidError):
        valsets.ValidatorUpdate.from_obj(body)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 3), st.booleans()), max_size=8))
def test_the_set_of_each_height_follows_a_model(ops):
    """Random updates (some unauthorised) over blocks: each height's set is the model's."""
    kv = MemoryKV()
    app = NoteApp(kv, CHAIN, 4096, GENESIS)
    model = {1: GENESIS, 2: GENESIS}
    seq, nonce = 0, 0
    for who, power, authorised in ops:
        h = app.info()[0] + 1
        cur = model[h]
        signers = [k for k in KEYS if k.address in cur.by_address]
        if not authorised:  # signers holding at most 2/3 of the power
            some, power = [], 0
            for k in signers:
                if 3 * (power + cur.by_address[k.address].power) <= 2 * cur.total_power:
                    some.append(k)
                    power += cur.by_address[k.address].power
            signers = some
        upd = valsets.ValidatorUpdate.make(seq, {KEYS[who].pubkey: power}).signed_by(signers, CHAIN)
        ok = app.check_tx(update_tx(nonce, upd)).ok
        try:
            expected = valsets.apply_changes(model[h + 1], upd.changes) if authorised else None
        except InvalidError:
            expected = None
        assert ok == (expected is not None)
        commit(kv, app, [update_tx(nonce, upd)] if ok else [])
        model[h + 2] = expected or model[h + 1]
        seq, nonce = seq + ok, nonce + ok
        assert app.valset_at(h + 2) == model[h + 2] and app.valset_at(h) == model[h]

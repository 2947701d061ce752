"""The application protocol through NoteApp: admission codes, deterministic execution, durable commits."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provchain.chain import schema
from provchain.chain.app import (ERR_BODY, ERR_DECODE, ERR_KIND, ERR_NONCE, ERR_SIGNATURE, ERR_SIZE, OK, NoteApp,
                                 Overlay)
from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import decode, encode, sha256
from provchain.chain.store import LevelDBKV, MemoryKV
from provchain.chain.tx import SignedTx
from provchain.chain.types import Block, InvalidError, tx_hash

CHAIN = "app-test"
ALICE = PrivateKey.from_seed(b"\x1a" * 32)
BOB = PrivateKey.from_seed(b"\x1b" * 32)
MAX_TX = 2048


def note(key, nonce, body=b"note", chain_id=CHAIN, kind="note") -> bytes:
    return SignedTx.create(key, chain_id, kind, nonce, body).encode()


def make_block(app, txs, height=None) -> Block:
    h, app_hash = app.info()
    return Block.make(dict(chain_id=CHAIN, height=height or h + 1, time_ms=1_000 * (h + 1), last_block_hash=b"",
                           validators_hash=sha256(b"v"), app_hash=app_hash, proposer_address=b"\x00" * 20), txs)


def apply_block(kv, app, txs):
    block = make_block(app, txs)
    results, app_hash = app.finalize_block(block)
    kv.write(app.pending_writes())
    app.commit()
    return results, app_hash


@pytest.fixture
def kv():
    return MemoryKV()


@pytest.fixture
def app(kv):
    return NoteApp(kv, CHAIN, MAX_TX)


# --- check_tx ------------------------------------------------------------------------------------------

def test_check_tx_accepts_next_nonces_in_order(app):
    assert app.check_tx(note(ALICE, 0)).ok
    assert app.check_tx(note(ALICE, 1)).ok
    assert app.check_tx(note(BOB, 0)).ok
    assert app.next_nonce(ALICE.pubkey) == 2
    assert app.nonce(ALICE.pubkey) == 0  # nothing committed yet
    res = app.check_tx(note(ALICE, 1, b"again"))
    assert res.code == ERR_NONCE and "replayed" in res.log
    res = app.check_tx(note(ALICE, 5))
    assert res.code == ERR_NONCE and "replayed" not in res.log
    app.reset_check_state()
    assert app.next_nonce(ALICE.pubkey) == 0
    assert app.check_tx(note(ALICE, 0, b"fresh")).ok


def test_check_tx_error_codes(app):
    good = SignedTx.create(ALICE, CHAIN, "note", 0, b"body")
    flipped = bytearray(good.encode())
    flipped[-1] ^= 1  # last byte of the signature
    tampered = SignedTx(good.kind, good.sender, good.nonce, b"other body", good.signature).encode()
    impostor = SignedTx(good.kind, BOB.pubkey, good.nonce, good.body, good.signature).encode()
    cases = [
        (b"", ERR_DECODE),
        (b"\xc1", ERR_DECODE),
        (encode(["note", ALICE.pubkey, 0, b"x"]), ERR_DECODE),  # four fields
        (encode(["note", ALICE.pubkey[:31], 0, b"x", b"\x00" * 64]), ERR_DECODE),
        (encode(["note", ALICE.pubkey, -1, b"x", b"\x00" * 64]), ERR_DECODE),
        (encode(["note", ALICE.pubkey, True, b"x", b"\x00" * 64]), ERR_DECODE),
        (encode(["note", ALICE.pubkey, 0, b"x", b"\x00" * 63]), ERR_DECODE),
        (good.encode() + b"\x00", ERR_DECODE),
        (note(ALICE, 0, kind="transfer"), ERR_KIND),
        (note(ALICE, 0, body=b"x" * 1025), ERR_BODY),
        (note(ALICE, 0, body="text, not bytes"), ERR_BODY),
        (note(ALICE, 0, body=[b"a"]), ERR_BODY),
        (bytes(flipped), ERR_SIGNATURE),
        (tampered, ERR_SIGNATURE),
        (impostor, ERR_SIGNATURE),
        (note(ALICE, 0, chain_id="another-chain"), ERR_SIGNATURE),
        (b"\x95" + b"\x00" * (MAX_TX + 10), ERR_SIZE),
    ]
    for raw, code in cases:
        res = app.check_tx(raw)
        assert res.code == code, (raw[:40], res)
        assert res.log
    assert app.next_nonce(ALICE.pubkey) == 0  # none of them used a nonce
    assert app.check_tx(good.encode()).ok


def test_signed_tx_round_trip_and_limits():
    tx = SignedTx.create(ALICE, CHAIN, "note", 7, b"body")
    raw = tx.encode()
    assert SignedTx.decode(raw, MAX_TX) == tx
    with pytest.raises(InvalidError, match="exceeds"):
        SignedTx.decode(raw, len(raw) - 1)
    with pytest.raises(InvalidError):
        SignedTx.decode(raw[:-1], MAX_TX)
    assert decode(tx.sign_bytes(CHAIN))[:2] == ["tx", CHAIN]
    assert tx.sign_bytes(CHAIN) != tx.sign_bytes("other")


# --- finalize, commit, info ---------------------------------------------------------------------------

def test_finalize_stages_and_commit_makes_durable(kv, app):
    assert app.info() == (0, b"")
    txs = [note(ALICE, 0, b"first"), note(ALICE, 1, b"second"), note(BOB, 0, b"bob")]
    block = make_block(app, txs)
    results, app_hash = app.finalize_block(block)
    assert [r.code for r in results] == [OK, OK, OK]
    assert len(app_hash) == 32
    # staged only: nothing visible in the KV yet
    assert app.info() == (0, b"")
    assert app.nonce(ALICE.pubkey) == 0
    writes = app.pending_writes()
    assert writes[schema.nonce_key(ALICE.pubkey)] == encode(2)
    assert writes[schema.NOTE + tx_hash(txs[2])] == b"bob"
    assert decode(writes[schema.APP_STATE]) == [1, app_hash]
    kv.write(writes)
    app.commit()
    assert app.pending_writes() == {}
    assert app.info() == (1, app_hash)
    assert app.nonce(ALICE.pubkey) == 2 and app.nonce(BOB.pubkey) == 1
    assert kv.get(schema.NOTE + tx_hash(txs[0])) == b"first"


def test_finalize_marks_bad_txs_and_leaves_their_state_alone(kv, app):
    apply_block(kv, app, [note(ALICE, 0)])
    txs = [
        note(ALICE, 0, b"replay of nonce 0"),  # stale nonce
        note(ALICE, 2, b"gap"),                 # future nonce
        b"\x00junk",                            # undecodable
        note(BOB, 0, chain_id="elsewhere"),    # bad signature
        note(ALICE, 1, b"good"),
        note(ALICE, 1, b"good"),                # the same tx twice in one block
    ]
    results, _ = apply_block(kv, app, txs)
    assert [r.code for r in results] == [ERR_NONCE, ERR_NONCE, ERR_DECODE, ERR_SIGNATURE, OK, ERR_NONCE]
    assert app.nonce(ALICE.pubkey) == 2
    assert app.nonce(BOB.pubkey) == 0
    assert kv.get(schema.NOTE + tx_hash(txs[0])) is None
    assert kv.get(schema.NOTE + tx_hash(txs[4])) == b"good"


def test_process_proposal_accepts_only_blocks_whose_txs_all_succeed(kv, app):
    apply_block(kv, app, [note(ALICE, 0)])
    before = dict(kv.data)
    assert app.process_proposal(make_block(app, [note(ALICE, 1), note(ALICE, 2), note(BOB, 0)])) is None
    for bad in ([note(ALICE, 0, b"replay")], [note(ALICE, 2)], [b"junk"], [note(BOB, 0, chain_id="x")],
                [note(ALICE, 1), note(ALICE, 1)], [note(ALICE, 1), note(BOB, 0), note(ALICE, 1, b"dup nonce")]):
        reason = app.process_proposal(make_block(app, bad))
        assert reason is not None and "would fail" in reason
    assert kv.data == before  # a dry run only
    assert app.pending_writes() == {}


def test_app_hash_is_deterministic_and_chained():
    blocks = [[note(ALICE, 0, b"a"), note(BOB, 0, b"b")], [], [note(ALICE, 1, b"c")]]
    kv1, kv2 = MemoryKV(), MemoryKV()
    app1, app2 = NoteApp(kv1, CHAIN, MAX_TX), NoteApp(kv2, CHAIN, MAX_TX)
    hashes1 = [apply_block(kv1, app1, txs)[1] for txs in blocks]
    hashes2 = [apply_block(kv2, app2, txs)[1] for txs in blocks]
    assert hashes1 == hashes2
    assert kv1.data == kv2.data
    assert len(set(hashes1)) == 3  # an empty block still moves the hash (height is in the chain)
    # another body at the same position gives another hash from there on
    kv3 = MemoryKV()
    app3 = NoteApp(kv3, CHAIN, MAX_TX)
    h3 = [apply_block(kv3, app3, txs)[1] for txs in [blocks[0], [], [note(ALICE, 1, b"C")]]]
    assert h3[:2] == hashes1[:2] and h3[2] != hashes1[2]
    # and a different history before gives a different hash for the same last block
    kv4 = MemoryKV()
    app4 = NoteApp(kv4, CHAIN, MAX_TX)
    h4 = [apply_block(kv4, app4, txs)[1] for txs in [[note(ALICE, 0, b"a"), note(BOB, 0, b"B")], [], blocks[2]]]
    assert h4[2] != hashes1[2]


def test_finalize_twice_without_commit_is_idempotent(kv, app):
    block = make_block(app, [note(ALICE, 0)])
    r1, h1 = app.finalize_block(block)
    r2, h2 = app.finalize_block(block)
    assert h1 == h2 and [r.code for r in r1] == [r.code for r in r2]
    # a crash before the write: a new app over the same KV computes the same hash again
    again = NoteApp(kv, CHAIN, MAX_TX)
    assert again.finalize_block(block)[1] == h1


def test_overlay_reads_through_staged_writes():
    kv = MemoryKV()
    kv.write({b"k": b"committed", b"gone": b"x"})
    ov = Overlay(kv)
    ov.put(b"k", b"staged")
    ov.put(b"gone", None)
    assert ov.get(b"k") == b"staged"
    assert ov.get(b"gone") is None
    assert ov.get(b"other") is None
    assert kv.get(b"k") == b"committed"


def test_state_survives_reopening_leveldb(tmp_path):
    path = tmp_path / "db"
    kv = LevelDBKV(path)
    app = NoteApp(kv, CHAIN, MAX_TX)
    apply_block(kv, app, [note(ALICE, 0), note(ALICE, 1)])
    _, h2 = apply_block(kv, app, [note(BOB, 0)])
    app.check_tx(note(ALICE, 2))  # pending only: not durable
    kv.close()
    kv = LevelDBKV(path)
    try:
        app = NoteApp(kv, CHAIN, MAX_TX)
        assert app.info() == (2, h2)
        assert app.nonce(ALICE.pubkey) == 2 and app.nonce(BOB.pubkey) == 1
        assert app.next_nonce(ALICE.pubkey) == 2
        assert app.check_tx(note(ALICE, 2)).ok
    finally:
        kv.close()


# --- admission never raises, whatever the bytes ----------------------------------------------------------

@st.composite
def mutated_txs(draw):
    raw = bytearray(note(ALICE, draw(st.integers(0, 3)), draw(st.binary(max_size=40))))
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(raw) - 1))
        raw[pos] = draw(st.integers(0, 255))
    return bytes(raw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), mutated_txs()))
def test_check_tx_answers_any_bytes(raw):
    app = NoteApp(MemoryKV(), CHAIN, MAX_TX)
    res = app.check_tx(raw)
    assert res.code in (OK, ERR_DECODE, ERR_SIGNATURE, ERR_NONCE, ERR_SIZE, ERR_KIND, ERR_BODY)
    if res.ok:  # only a genuine, correctly signed next-nonce note gets in
        tx = SignedTx.decode(raw, MAX_TX)
        assert tx.sender == ALICE.pubkey and tx.nonce == 0 and tx.kind == "note"
        assert SignedTx.create(ALICE, CHAIN, "note", 0, tx.body).encode() == raw
    try:
        SignedTx.decode(raw, MAX_TX)
    except InvalidError:
        pass

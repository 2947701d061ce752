"""Mempool: admission through the app, dedupe, count and byte caps, recheck after a commit, reap order."""

from __future__ import annotations

from provchain.chain import schema
from provchain.chain.app import ERR_DECODE, ERR_DUPLICATE, ERR_NONCE, ERR_SIGNATURE, ERR_SIZE, NoteApp
from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import sha256
from provchain.chain.mempool import ERR_FULL, Mempool
from provchain.chain.store import MemoryKV
from provchain.chain.tx import SignedTx
from provchain.chain.types import Block

CHAIN = "mempool-test"
ALICE = PrivateKey.from_seed(b"\x0a" * 32)
BOB = PrivateKey.from_seed(b"\x0b" * 32)
MAX_TX = 4096


def note(key, nonce, body=b"hello", chain_id=CHAIN) -> bytes:
    return SignedTx.create(key, chain_id, "note", nonce, body).encode()


def fresh(**kw):
    kv = MemoryKV()
    app = NoteApp(kv, CHAIN, MAX_TX)
    return kv, app, Mempool(app, max_tx_bytes=kw.pop("max_tx_bytes", MAX_TX), **kw)


def commit_block(kv, app, mempool, txs) -> list:
    """What the node does on a decision: finalize, write, commit, then update the mempool."""
    height = app.info()[0] + 1
    block = Block.make(dict(chain_id=CHAIN, height=height, time_ms=height, last_block_hash=b"",
                            validators_hash=sha256(b"v"), app_hash=app.info()[1], proposer_address=b"\x00" * 20),
                       txs)
    results, _ = app.finalize_block(block)
    kv.write(app.pending_writes())
    app.commit()
    mempool.update(list(txs))
    return results


def test_add_and_dedupe():
    _, app, mp = fresh()
    tx = note(ALICE, 0)
    assert mp.add(tx).ok
    assert len(mp) == 1 and mp.size_bytes == len(tx)
    res = mp.add(tx)
    assert res.code == ERR_DUPLICATE and "mempool" in res.log
    assert len(mp) == 1 and mp.size_bytes == len(tx)
    assert app.next_nonce(ALICE.pubkey) == 1  # the duplicate did not advance the pending nonce


def test_committed_tx_is_not_readmitted():
    kv, app, mp = fresh()
    tx = note(ALICE, 0)
    assert mp.add(tx).ok
    assert all(r.ok for r in commit_block(kv, app, mp, [tx]))
    assert len(mp) == 0 and mp.size_bytes == 0
    res = mp.add(tx)
    assert res.code == ERR_DUPLICATE and "committed" in res.log
    # once out of the recent-commit cache the nonce check still refuses it
    mp2 = Mempool(app, max_tx_bytes=MAX_TX)
    assert mp2.add(tx).code == ERR_NONCE


def test_rejected_txs_are_not_kept():
    _, app, mp = fresh()
    assert mp.add(b"\x00garbage").code == ERR_DECODE
    assert mp.add(note(ALICE, 5)).code == ERR_NONCE
    assert mp.add(note(ALICE, 0, chain_id="other-chain")).code == ERR_SIGNATURE
    assert len(mp) == 0 and mp.size_bytes == 0
    assert app.next_nonce(ALICE.pubkey) == 0


def test_oversized_tx_rejected_before_the_app_sees_it():
    _, app, mp = fresh(max_tx_bytes=300)
    big = note(ALICE, 0, b"x" * 400)
    assert len(big) > 300
    res = mp.add(big)
    assert res.code == ERR_SIZE and "exceeds" in res.log
    assert len(mp) == 0
    assert app.next_nonce(ALICE.pubkey) == 0  # check_tx never ran
    assert mp.add(note(ALICE, 0, b"x" * 100)).ok


def test_count_cap():
    kv, app, mp = fresh(max_txs=3)
    txs = [note(ALICE, i) for i in range(4)]
    assert all(mp.add(t).ok for t in txs[:3])
    res = mp.add(txs[3])
    assert res.code == ERR_FULL
    assert len(mp) == 3
    assert app.next_nonce(ALICE.pubkey) == 3  # a refused tx does not use a nonce
    commit_block(kv, app, mp, txs[:1])
    assert len(mp) == 2
    assert mp.add(txs[3]).ok
    assert len(mp) == 3


def test_byte_cap():
    kv, app, mp = fresh()
    txs = [note(ALICE, i, b"y" * 200) for i in range(3)]
    mp.max_bytes = len(txs[0]) + len(txs[1])
    assert mp.add(txs[0]).ok and mp.add(txs[1]).ok
    assert mp.add(txs[2]).code == ERR_FULL
    assert mp.size_bytes == len(txs[0]) + len(txs[1])
    small = note(BOB, 0, b"")
    assert mp.add(small).code == ERR_FULL  # any tx over the byte cap, however small
    commit_block(kv, app, mp, txs[:1])
    assert mp.size_bytes == len(txs[1])
    assert mp.add(txs[2]).ok
    assert mp.size_bytes == len(txs[1]) + len(txs[2]) <= mp.max_bytes


def test_recheck_drops_txs_made_stale_by_another_block():
    kv, app, mp = fresh()
    a0, a1, a2, b0 = note(ALICE, 0, b"a0"), note(ALICE, 1, b"a1"), note(ALICE, 2, b"a2"), note(BOB, 0, b"b0")
    for t in (a0, a1, a2, b0):
        assert mp.add(t).ok
    # another node's block used Alice's nonces 0 and 1 for different txs
    other0, other1 = note(ALICE, 0, b"elsewhere 0"), note(ALICE, 1, b"elsewhere 1")
    assert all(r.ok for r in commit_block(kv, app, mp, [other0, other1]))
    assert list(mp.txs.values()) == [a2, b0]  # a0, a1 stale; a2 is now next in line; bob untouched
    assert mp.size_bytes == len(a2) + len(b0)
    assert app.next_nonce(ALICE.pubkey) == 3
    assert app.next_nonce(BOB.pubkey) == 1


def test_recheck_drops_a_tx_left_with_a_gap():
    kv, app, mp = fresh()
    a0, a1 = note(ALICE, 0, b"a0"), note(ALICE, 1, b"a1")
    assert mp.add(a0).ok and mp.add(a1).ok
    # a block commits a different nonce-0 tx and the sender's nonce-1 tx in another version
    assert all(r.ok for r in commit_block(kv, app, mp, [note(ALICE, 0, b"x"), note(ALICE, 1, b"y")]))
    assert len(mp) == 0 and mp.size_bytes == 0


def test_recheck_keeps_everything_still_valid():
    kv, app, mp = fresh()
    txs = [note(ALICE, i, b"%d" % i) for i in range(5)] + [note(BOB, 0)]
    for t in txs:
        assert mp.add(t).ok
    commit_block(kv, app, mp, txs[:2])
    assert list(mp.txs.values()) == txs[2:]
    assert app.nonce(ALICE.pubkey) == 2
    assert mp.add(note(ALICE, 5, b"5")).ok  # pending nonces were rebuilt by the recheck


def test_reap_respects_limits_and_order():
    _, _, mp = fresh()
    txs = [note(ALICE, i, b"z" * (10 * i)) for i in range(6)]
    for t in txs:
        assert mp.add(t).ok
    assert mp.reap(10**9, 100) == txs
    assert mp.reap(10**9, 4) == txs[:4]
    assert mp.reap(10**9, 0) == []
    budget = sum(len(t) for t in txs[:3]) + len(txs[3]) - 1
    assert mp.reap(budget, 100) == txs[:3]
    # it stops at the first tx that does not fit, never skipping ahead (later nonces need earlier ones)
    assert mp.reap(len(txs[0]) + 5, 100) == txs[:1]
    assert mp.reap(len(txs[0]) - 1, 100) == []
    assert len(mp) == 6  # reaping does not remove


def test_reap_keeps_arrival_order_across_senders():
    _, _, mp = fresh()
    order = [note(BOB, 0), note(ALICE, 0), note(BOB, 1), note(ALICE, 1)]
    for t in order:
        assert mp.add(t).ok
    assert mp.reap(10**9, 10) == order


def test_committed_cache_is_bounded():
    kv, app, mp = fresh(committed_cache=2)
    txs = [note(ALICE, i) for i in range(4)]
    for t in txs:
        assert mp.add(t).ok
    commit_block(kv, app, mp, txs)
    assert len(mp._committed) == 2
    assert mp.add(txs[3]).code == ERR_DUPLICATE  # still cached
    assert mp.add(txs[0]).code == ERR_NONCE  # evicted: the nonce check catches it
    assert kv.get(schema.nonce_key(ALICE.pubkey)) is not None

"""Hypothesis state machine: NoteApp + Mempool + BlockStore over a real LevelDB, with crashes.

Rules submit txs (valid, replayed nonce, bad signature, oversized, garbage), produce blocks the way the node
does (reap -> Block.make -> process_proposal -> finalize_block -> one kv.write of the block store batch and
the app's writes -> app.commit -> mempool.update), and crash the node at different points (close and reopen
LevelDB; the app and mempool are rebuilt; anything not written is gone). A second app on its own in-memory
KV is fed every committed block, as another node would be.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from provchain.chain.app import (ERR_BODY, ERR_DECODE, ERR_DUPLICATE, ERR_KIND, ERR_NONCE, ERR_SIGNATURE, ERR_SIZE,
                                 OK, NoteApp)
from provchain.chain.crypto import PrivateKey
from provchain.chain.mempool import ERR_FULL, Mempool
from provchain.chain.store import BlockStore, LevelDBKV, MemoryKV
from provchain.chain.tx import SignedTx
from provchain.chain.types import PRECOMMIT, Block, Commit, Validator, ValidatorSet, Vote, tx_hash

CHAIN = "machine-test"
MAX_TX = 1500
GENESIS_MS = 1_764_000_000_000
SENDERS = [PrivateKey.from_seed(bytes([0x21 + i]) * 32) for i in range(3)]
STRANGER = PrivateKey.from_seed(b"\x2f" * 32)
VALIDATORS = [PrivateKey.from_seed(bytes([0x41 + i]) * 32) for i in range(4)]
VALSET = ValidatorSet(tuple(Validator(k.pubkey, 1) for k in VALIDATORS))

POOL_TXS, POOL_BYTES = 12, 2_000  # small, so the caps are reached
senders = st.integers(0, len(SENDERS) - 1)
notes = st.binary(max_size=24)


class Node:
    """The parts of a node this test exercises, over one LevelDB directory."""

    def __init__(self, path: str):
        self.kv = LevelDBKV(path)
        self.store = BlockStore(self.kv)
        self.app = NoteApp(self.kv, CHAIN, MAX_TX)
        self.mempool = Mempool(self.app, max_txs=POOL_TXS, max_bytes=POOL_BYTES, max_tx_bytes=MAX_TX)

    def close(self):
        self.kv.close()


class AppMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="provchain-app-machine-")
        self.node = Node(self.dir)
        self.peer_kv = MemoryKV()
        self.peer = NoteApp(self.peer_kv, CHAIN, MAX_TX)
        self.peer_hashes: dict[int, bytes] = {}
        # the model
        self.pending: list[bytes] = []                 # what the mempool should hold, in order
        self.next_nonce = {k.pubkey: 0 for k in SENDERS}  # counting pending txs
        self.committed = Counter()                      # sender -> txs committed with OK
        self.ok_location: dict[bytes, tuple[int, int]] = {}  # tx hash -> (height, index) of its OK result
        self.committed_txs: list[bytes] = []
        self.unique = 0

    def teardown(self):
        self.node.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- helpers
    def _note(self, body: bytes) -> bytes:
        self.unique += 1
        return body + b"#%d" % self.unique  # every tx distinct

    def _committed_nonce(self, i: int) -> int:
        return self.committed[SENDERS[i].pubkey]

    def _build(self, txs) -> Block:
        h, app_hash, last_hash, _ = self.node.store.chain_state()
        last_commit = self.node.store.commit(h) if h else None
        time_ms = GENESIS_MS if h == 0 else last_commit.median_time(VALSET)
        return Block.make(dict(chain_id=CHAIN, height=h + 1, time_ms=time_ms, last_block_hash=last_hash,
                               validators_hash=VALSET.hash(), app_hash=app_hash,
                               proposer_address=VALIDATORS[h % 4].address), txs, (), last_commit)

    def _commit_for(self, block: Block) -> Commit:
        h = block.header.height
        return Commit.from_votes([Vote(PRECOMMIT, h, 0, block.hash, block.header.time_ms + 1 + i, b"")
                                  .signed(k, CHAIN) for i, k in enumerate(VALIDATORS[:3])])

    def _full_for(self, tx: bytes) -> bool:
        return len(self.pending) >= POOL_TXS or sum(map(len, self.pending)) + len(tx) > POOL_BYTES

    def _submit(self, tx: bytes, expect: tuple[int, ...]):
        """Add tx; a full pool answers ERR_FULL for anything of an acceptable size."""
        before = list(self.node.mempool.txs.values())
        res = self.node.mempool.add(tx)
        if len(tx) <= MAX_TX and self._full_for(tx) and tx_hash(tx) not in self.node.mempool.txs:
            if not (res.code == ERR_DUPLICATE and ERR_DUPLICATE in expect):  # dedupe comes before the caps
                assert res.code == ERR_FULL, res
                event("mempool full")
        else:
            assert res.code in expect, (res, expect)
        if not res.ok:
            assert list(self.node.mempool.txs.values()) == before
        return res

    # --- submissions
    @rule(who=st.lists(senders, min_size=1, max_size=4), body=notes)
    def submit_valid(self, who, body):
        for i in who:
            key = SENDERS[i]
            tx = SignedTx.create(key, CHAIN, "note", self.next_nonce[key.pubkey], self._note(body)).encode()
            if self._submit(tx, (OK,)).ok:
                self.pending.append(tx)
                self.next_nonce[key.pubkey] += 1

    @precondition(lambda self: any(self.next_nonce.values()))
    @rule(body=notes, data=st.data())
    def submit_replayed_nonce(self, body, data):
        key = data.draw(st.sampled_from([k for k in SENDERS if self.next_nonce[k.pubkey]]))
        nonce = data.draw(st.integers(0, self.next_nonce[key.pubkey] - 1))  # committed or pending
        tx = SignedTx.create(key, CHAIN, "note", nonce, self._note(body)).encode()
        self._submit(tx, (ERR_NONCE,))

    @precondition(lambda self: self.committed_txs)
    @rule(data=st.data())
    def resubmit_committed_tx(self, data):
        tx = data.draw(st.sampled_from(self.committed_txs))
        self._submit(tx, (ERR_DUPLICATE, ERR_NONCE))

    @rule(i=senders, body=notes, how=st.sampled_from(["other key", "other chain", "flipped", "tampered"]))
    def submit_bad_signature(self, i, body, how):
        key = SENDERS[i]
        nonce = self.next_nonce[key.pubkey]  # the right nonce: only the signature is wrong
        body = self._note(body)
        if how == "other key":
            real = SignedTx.create(STRANGER, CHAIN, "note", nonce, body)
            tx = SignedTx("note", key.pubkey, nonce, body, real.signature).encode()
        elif how == "other chain":
            tx = SignedTx.create(key, CHAIN + "-fork", "note", nonce, body).encode()
        elif how == "flipped":
            real = SignedTx.create(key, CHAIN, "note", nonce, body)
            sig = bytes([real.signature[0] ^ 0x80]) + real.signature[1:]
            tx = SignedTx("note", key.pubkey, nonce, body, sig).encode()
        else:
            real = SignedTx.create(key, CHAIN, "note", nonce, body)
            tx = SignedTx("note", key.pubkey, nonce, body + b"!", real.signature).encode()
        self._submit(tx, (ERR_SIGNATURE,))

    @rule(i=senders, size=st.sampled_from([MAX_TX, 4 * MAX_TX]))
    def submit_oversized(self, i, size):
        key = SENDERS[i]
        tx = SignedTx.create(key, CHAIN, "note", self.next_nonce[key.pubkey], b"o" * size).encode()
        assert len(tx) > MAX_TX
        self._submit(tx, (ERR_SIZE,))

    @rule(i=senders)
    def submit_body_too_big_for_a_note(self, i):
        key = SENDERS[i]
        tx = SignedTx.create(key, CHAIN, "note", self.next_nonce[key.pubkey], b"n" * 1025).encode()
        assert len(tx) <= MAX_TX
        self._submit(tx, (ERR_BODY,))

    @rule(data=st.binary(max_size=80))
    def submit_garbage(self, data):
        self._submit(data, (ERR_DECODE, ERR_KIND, ERR_BODY, ERR_SIGNATURE, ERR_SIZE))

    # --- blocks
    def _produce(self, max_txs: int, crash: str | None = None) -> None:
        node = self.node
        txs = node.mempool.reap(10**6, max_txs)
        assert txs == self.pending[:len(txs)]
        block = self._build(txs)
        block.validate_basic()
        if block.last_commit is not None:
            block.last_commit.verify(CHAIN, VALSET, block.header.height - 1, block.header.last_block_hash)
        assert node.app.process_proposal(block) is None
        results, app_hash = node.app.finalize_block(block)
        assert [r.code for r in results] == [OK] * len(txs)
        event(f"block with {min(len(txs), 3)}+ txs" + (f", crash {crash}" if crash else ""))
        if crash == "before write":
            return
        commit = self._commit_for(block)
        batch = node.store.batch_for(block, commit, results, app_hash)
        batch.update(node.app.pending_writes())
        # the node writes with sync=True; a crash here is a process crash (close + reopen), for which the
        # OS cache is as good as the disk, so skip the fsync to keep the machine fast
        node.kv.write(batch, sync=False)
        # the block is durable now: record it in the model and feed the other node
        h = block.header.height
        for i, tx in enumerate(txs):
            assert tx_hash(tx) not in self.ok_location, "a tx committed twice"
            self.ok_location[tx_hash(tx)] = (h, i)
            self.committed[_sender(tx)] += 1
            self.committed_txs.append(tx)
        peer_results, peer_hash = self.peer.finalize_block(block)
        self.peer_kv.write(self.peer.pending_writes())
        self.peer.commit()
        assert [r.code for r in peer_results] == [r.code for r in results]
        assert peer_hash == app_hash
        self.peer_hashes[h] = peer_hash
        if crash == "after write":
            return
        node.app.commit()
        node.mempool.update(list(block.txs))
        self.pending = self.pending[len(txs):]

    @rule(max_txs=st.integers(0, 6))
    def produce_block(self, max_txs):
        self._produce(max_txs)

    @precondition(lambda self: self.committed_txs or len(self.pending) >= 2)
    @rule(data=st.data())
    def byzantine_proposal_is_refused(self, data):
        """A proposer that includes a replayed or duplicated tx: process_proposal says no."""
        choices = []
        if self.committed_txs:
            choices.append([data.draw(st.sampled_from(self.committed_txs))])
        if self.pending:
            choices.append([self.pending[0], self.pending[0]])
        first_of_sender = {}
        for tx in self.pending:
            if first_of_sender.setdefault(_sender(tx), tx) is not tx:
                choices.append([tx])  # a sender's later tx without its earlier one: skips a nonce
                break
        txs = data.draw(st.sampled_from(choices))
        assert self.node.app.process_proposal(self._build(txs)) is not None

    @rule(max_txs=st.integers(0, 4), when=st.sampled_from(["idle", "before write", "after write"]))
    def crash_restart(self, max_txs, when):
        if when != "idle":
            self._produce(max_txs, crash=when)
        self.node.close()
        self.node = Node(self.dir)
        # what was only in memory is gone; clients start over from the committed nonces
        self.pending = []
        self.next_nonce = {k.pubkey: self.committed[k.pubkey] for k in SENDERS}

    # --- invariants
    @invariant()
    def app_and_store_agree(self):
        height, app_hash = self.node.app.info()
        store_height, store_app_hash, _, _ = self.node.store.chain_state()
        assert height == store_height
        assert app_hash == store_app_hash
        if height:
            assert self.peer_hashes[height] == app_hash
        assert self.peer.info() == (height, app_hash)

    @invariant()
    def nonces_count_committed_txs(self):
        for k in SENDERS:
            assert self.node.app.nonce(k.pubkey) == self.committed[k.pubkey]
            assert self.peer.nonce(k.pubkey) == self.committed[k.pubkey]
        assert sum(self.committed.values()) == len(self.ok_location) == len(self.committed_txs)

    @invariant()
    def every_committed_tx_once_where_the_store_says(self):
        store = self.node.store
        seen = set()
        for h in range(1, store.height() + 1):
            block = store.block(h)
            for i, tx in enumerate(block.txs):
                th = tx_hash(tx)
                assert th not in seen, "a tx committed twice"
                seen.add(th)
                assert store.tx_location(th) == (h, i, OK, "")
                assert self.ok_location[th] == (h, i)
        assert seen == set(self.ok_location)

    @invariant()
    def mempool_matches_model(self):
        mp = self.node.mempool
        assert list(mp.txs.values()) == self.pending
        assert mp.size_bytes == sum(len(t) for t in self.pending)
        for k in SENDERS:
            assert self.node.app.next_nonce(k.pubkey) == self.next_nonce[k.pubkey]


def _sender(raw: bytes) -> bytes:
    return SignedTx.decode(raw, MAX_TX).sender


AppMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=40, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestAppMachine = AppMachine.TestCase

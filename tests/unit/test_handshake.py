"""The node's start-up handshake on a real LevelDB: replays blocks the app missed, and refuses to start
when the app's hash differs from the one the chain recorded."""

from __future__ import annotations

import pytest

from provchain.chain import schema
from provchain.chain.app import NoteApp, TxResult
from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import encode
from provchain.chain.store import BlockStore, LevelDBKV
from provchain.chain.tx import SignedTx
from provchain.chain.types import PRECOMMIT, Block, Commit, Validator, ValidatorSet, Vote
from provchain.consensus.node import StateError, handshake

CHAIN = "handshake-test"
KEYS = [PrivateKey.from_seed(bytes([0x50 + i]) * 32) for i in range(4)]
VALSET = ValidatorSet(tuple(Validator(k.pubkey, 1) for k in KEYS))
SENDER = PrivateKey.from_seed(b"\x77" * 32)


def make_chain(kv, n: int, app_lags: int = 0) -> None:
    """n blocks of notes, stored as the driver stores them; then the app's state is put back to what it
    was `app_lags` blocks earlier (as if the app's state were behind the block store)."""
    app, store = NoteApp(kv, CHAIN, 4096), BlockStore(kv)
    last_commit, nonce, snapshot = None, 0, {}
    for h in range(1, n + 1):
        txs = []
        for _ in range(2):
            txs.append(SignedTx.create(SENDER, CHAIN, "note", nonce, b"note %d" % nonce).encode())
            nonce += 1
        _, app_hash, last_hash, _ = store.chain_state()
        block = Block.make(dict(chain_id=CHAIN, height=h, time_ms=1_000 * h, last_block_hash=last_hash,
                                validators_hash=VALSET.hash(), app_hash=app_hash,
                                proposer_address=KEYS[h % 4].address), txs, (), last_commit)
        commit = Commit.from_votes([Vote(PRECOMMIT, h, 0, block.hash, 1_000 * h, b"").signed(k, CHAIN)
                                    for k in KEYS[:3]])
        results, app_hash = app.finalize_block(block)
        batch = store.batch_for(block, commit, results, app_hash)
        batch.update(app.pending_writes())
        kv.write(batch)
        app.commit()
        last_commit = commit
        if h == n - app_lags:
            snapshot = dict(kv.iterate(schema.APP))
    if app_lags:
        kv.write({**{k: None for k, _ in kv.iterate(schema.APP)}, **snapshot})


class ChangedNoteApp(NoteApp):
    """A 'new version' of the app that stores notes differently: same txs, another state."""

    def __init__(self, *a):
        super().__init__(*a)
        self.handlers["note"].apply = self._apply_changed

    @staticmethod
    def _apply_changed(state, tx, h, index, block):
        state.put(schema.NOTE + h, tx.body.upper())
        return TxResult()


@pytest.fixture
def kv(tmp_path):
    db = LevelDBKV(tmp_path / "state.db")
    yield db
    db.close()


def test_app_in_step_with_the_store_starts(kv):
    make_chain(kv, 4)
    assert handshake(BlockStore(kv), NoteApp(kv, CHAIN, 4096), kv) == 0


def test_app_behind_the_store_is_replayed_to_the_recorded_hash(kv):
    make_chain(kv, 5, app_lags=3)
    app = NoteApp(kv, CHAIN, 4096)
    assert app.info()[0] == 2
    assert handshake(BlockStore(kv), app, kv) == 3
    assert app.info() == (5, BlockStore(kv).chain_state()[1])
    assert app.nonce(SENDER.pubkey) == 10


def test_changed_app_refuses_to_start_at_the_first_block_it_computes_differently(kv):
    make_chain(kv, 5, app_lags=3)
    with pytest.raises(StateError, match=r"app hash mismatch at height 3: .* run the provchain version"):
        handshake(BlockStore(kv), ChangedNoteApp(kv, CHAIN, 4096), kv, "/x/data/state.db")
    # checked before writing: the state the chain does not have never reached the disk
    assert NoteApp(kv, CHAIN, 4096).info()[0] == 2


def test_damaged_app_state_at_the_store_height_refuses_to_start(kv):
    make_chain(kv, 3)
    kv.write({schema.APP_STATE: encode([3, b"\x01" * 32])})
    with pytest.raises(StateError, match="app hash mismatch at height 3: this node's app computes 0101"):
        handshake(BlockStore(kv), NoteApp(kv, CHAIN, 4096), kv)


def test_app_ahead_of_the_store_refuses_to_start(kv):
    make_chain(kv, 3)
    kv.write({schema.APP_STATE: encode([9, b"\x01" * 32])})
    with pytest.raises(StateError, match="ahead of the block store"):
        handshake(BlockStore(kv), NoteApp(kv, CHAIN, 4096), kv)

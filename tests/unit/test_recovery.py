"""Recovering a node's store, on a real LevelDB: the start-up handshake (replays blocks the app missed,
refuses to start when the app's hash differs from the one the chain recorded); a corrupted database gives a
clear StoreError, at open or on a later read; `--repair-db` keeps the intact prefix and rebuilds the rest."""

from __future__ import annotations

import os
import sys

import pytest

from provchain.chain import schema
from provchain.chain.app import NoteApp, TxResult
from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import encode
from provchain.chain.store import BlockStore, LevelDBKV, MemoryKV, StoreError
from provchain.chain.tx import SignedTx
from provchain.chain.types import PRECOMMIT, Block, Commit, Genesis, Validator, ValidatorSet, Vote
from provchain.consensus.node import StateError, handshake
from provchain.consensus.repair import repair_store

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from leveldb_damage import largest_log, log_records, smash  # noqa: E402

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


# --- a corrupted database

def corrupt_log_at_block(db_dir, height):
    """Overwrite the start of the log record that wrote block `height` (one record per block batch)."""
    log = largest_log(db_dir)
    offset, _ = log_records(log)[height - 1]
    smash(log, offset + 20)


def genesis():
    return Genesis(CHAIN, 1_000, VALSET)


def note_app(kv, g):
    return NoteApp(kv, g.chain_id, 4096)


def test_log_corrupted_mid_file_is_a_store_error_naming_the_directory(tmp_path):
    kv = LevelDBKV(tmp_path / "state.db")
    make_chain(kv, 8)
    kv.close()
    corrupt_log_at_block(tmp_path / "state.db", 4)
    with pytest.raises(StoreError) as e:
        LevelDBKV(tmp_path / "state.db")
    assert e.value.corrupted and e.value.path == str(tmp_path / "state.db") and "checksum" in e.value.detail


def test_damaged_table_is_found_on_read_and_reported_before_raising(tmp_path):
    kv = LevelDBKV(tmp_path / "state.db")
    kv.write({b"k%06d" % i: bytes([i % 251]) * 300 for i in range(5000)})
    kv.close()
    LevelDBKV(tmp_path / "state.db").close()  # reopening moves the log into a table file
    table = max(tmp_path.joinpath("state.db").glob("*.ldb"), key=lambda p: p.stat().st_size)
    smash(table, table.stat().st_size // 3, 64)
    seen = []
    kv = LevelDBKV(tmp_path / "state.db", on_corruption=seen.append)
    with pytest.raises(StoreError) as e:
        for i in range(5000):
            kv.get(b"k%06d" % i)
        list(kv.iterate(b"k"))
    kv.close()
    assert seen == [e.value] and e.value.corrupted


def test_database_held_by_another_process_is_not_called_corrupted(tmp_path):
    kv = LevelDBKV(tmp_path / "state.db")
    try:
        with pytest.raises(StoreError, match="another node running") as e:
            LevelDBKV(tmp_path / "state.db")
        assert not e.value.corrupted
    finally:
        kv.close()


def test_repair_keeps_the_intact_prefix_and_rebuilds_app_state_and_indexes(tmp_path):
    db = tmp_path / "state.db"
    kv = LevelDBKV(db)
    make_chain(kv, 10)
    kv.close()
    corrupt_log_at_block(db, 6)
    report = repair_store(db, genesis(), note_app)
    assert report.kept == 5 and report.highest_block == 10 and report.dropped_blocks >= 4
    kv = LevelDBKV(db)
    try:
        store = BlockStore(kv)
        assert store.height() == 5 and store.block(6) is None and store.commit(6) is None
        # byte for byte what a node that committed only blocks 1..5 holds (make_chain is deterministic)
        ref = LevelDBKV(tmp_path / "ref.db")
        make_chain(ref, 5)
        height_5 = dict(ref.iterate(b""))
        ref.close()
        assert dict(kv.iterate(b"")) == height_5
        assert handshake(store, NoteApp(kv, CHAIN, 4096), kv) == 0
    finally:
        kv.close()


def test_repair_of_a_sound_database_changes_nothing(tmp_path):
    db = tmp_path / "state.db"
    kv = LevelDBKV(db)
    make_chain(kv, 6)
    want = dict(kv.iterate(b""))
    kv.close()
    assert repair_store(db, genesis(), note_app).kept == 6
    kv = LevelDBKV(db)
    assert dict(kv.iterate(b"")) == want
    kv.close()


def test_a_store_of_an_older_block_format_is_refused_in_one_line():
    from provchain.consensus.node import StateError, check_format
    kv = MemoryKV()
    make_chain(kv, 2)
    store = BlockStore(kv)
    check_format(store)  # this version's blocks pass
    old = store.block(2).to_obj()
    old[0] = old[0][:8] + old[0][9:]  # a header without next_validators_hash (10 fields)
    kv.write({schema.block_key(2): encode(old)})
    with pytest.raises(StateError, match="earlier version"):
        check_format(store)


@pytest.mark.parametrize("tail", ["junk after the last record", "zeros after half a record",
                                  "junk after half a record"])
def test_torn_log_tail_from_a_power_loss_is_cut_and_the_store_opens(tmp_path, tail, caplog):
    import random
    db = tmp_path / "state.db"
    kv = LevelDBKV(db)
    make_chain(kv, 8)
    kv.close()
    log = largest_log(db)
    want, garbage = 8, 900
    if "half" in tail:
        offset, length = log_records(log)[-1]  # block 8's batch: half of it reached the disk
        with open(log, "r+b") as f:
            f.truncate(offset + 7 + length // 2)
        # more than the record's missing half: a record cut short by the end of the file is no error to
        # LevelDB, a record whose bytes are all there but wrong is
        want, garbage = 7, length
    with open(log, "ab") as f:
        f.write(bytes(garbage) if "zeros" in tail else random.Random(3).randbytes(garbage - 200))
    with caplog.at_level("WARNING"):
        kv = LevelDBKV(db)
    try:
        assert BlockStore(kv).height() == want
        assert handshake(BlockStore(kv), NoteApp(kv, CHAIN, 4096), kv) == 0
    finally:
        kv.close()
    if "zeros" in tail:  # LevelDB itself (paranoid checks) refuses this one: "checksum mismatch"
        assert "cut a torn tail" in caplog.text


def test_damage_followed_by_good_records_is_not_taken_for_a_torn_tail(tmp_path):
    db = tmp_path / "state.db"
    kv = LevelDBKV(db)
    make_chain(kv, 8)
    kv.close()
    log = largest_log(db)
    size = log.stat().st_size
    corrupt_log_at_block(db, 7)  # block 8's record after it is intact
    with pytest.raises(StoreError):
        LevelDBKV(db)
    assert log.stat().st_size == size  # nothing cut

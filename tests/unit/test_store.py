"""Storage: LevelDB (real plyvel in tmp_path) and the in-memory KV behave alike; the block store's batch."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provchain.chain import schema
from provchain.chain.app import OK, TxResult
from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import decode, sha256
from provchain.chain.store import BlockStore, LevelDBKV, MemoryKV
from provchain.chain.types import (PRECOMMIT, PREVOTE, Block, Commit, DuplicateVoteEvidence, Validator,
                                   ValidatorSet, Vote, tx_hash)

CHAIN = "store-test"
KEYS = [PrivateKey.from_seed(bytes([0x30 + i]) * 32) for i in range(4)]
VALSET = ValidatorSet(tuple(Validator(k.pubkey, 1) for k in KEYS))


def build_chain(n: int, txs_per_block: int = 3) -> list[tuple[Block, Commit, list[TxResult], bytes]]:
    """n consecutive blocks, each with a real commit from 3 of 4 validators."""
    out, last_commit, last_hash = [], None, b""
    for h in range(1, n + 1):
        txs = [f"tx {h}.{i}".encode() for i in range(txs_per_block)]
        evidence = ()
        if h == 3:
            a = Vote(PREVOTE, 2, 0, sha256(b"x"), 1, b"").signed(KEYS[3], CHAIN)
            b = Vote(PREVOTE, 2, 0, sha256(b"y"), 1, b"").signed(KEYS[3], CHAIN)
            evidence = (DuplicateVoteEvidence.of(a, b),)
        block = Block.make(dict(chain_id=CHAIN, height=h, time_ms=1_000 * h, last_block_hash=last_hash,
                                validators_hash=VALSET.hash(), app_hash=sha256(b"app %d" % (h - 1)),
                                proposer_address=KEYS[h % 4].address), txs, evidence, last_commit)
        commit = Commit.from_votes([Vote(PRECOMMIT, h, 0, block.hash, 1_000 * h + i, b"").signed(k, CHAIN)
                                    for i, k in enumerate(KEYS[:3])])
        results = [TxResult(OK if i % 2 == 0 else 3, "" if i % 2 == 0 else "bad nonce") for i in range(len(txs))]
        out.append((block, commit, results, sha256(b"app %d" % h)))
        last_commit, last_hash = commit, block.hash
    return out


@pytest.fixture(params=["leveldb", "memory"])
def kv(request, tmp_path):
    store = LevelDBKV(tmp_path / "db") if request.param == "leveldb" else MemoryKV()
    yield store
    store.close()


def test_empty_store(kv):
    s = BlockStore(kv)
    assert s.chain_state() == (0, b"", b"", 0)
    assert s.height() == 0
    assert s.block(1) is None and s.commit(1) is None
    assert s.tx_location(sha256(b"nothing")) is None
    assert s.height_of_block(sha256(b"nothing")) is None


def test_blocks_commits_and_txs_read_back(kv):
    s = BlockStore(kv)
    chain = build_chain(4)
    for block, commit, results, app_hash in chain:
        kv.write(s.batch_for(block, commit, results, app_hash))
    assert s.height() == 4
    last_block, _, _, last_app = chain[-1]
    assert s.chain_state() == (4, last_app, last_block.hash, last_block.header.time_ms)
    for block, commit, results, _ in chain:
        h = block.header.height
        assert s.block(h) == block
        assert s.block(h).hash == block.hash
        assert s.commit(h) == commit
        s.commit(h).verify(CHAIN, VALSET, h, block.hash)
        assert s.height_of_block(block.hash) == h
        for i, (tx, res) in enumerate(zip(block.txs, results)):
            assert s.tx_location(tx_hash(tx)) == (h, i, res.code, res.log)
    assert s.has_evidence(chain[2][0].evidence[0].hash())
    assert not s.has_evidence(sha256(b"other"))


def test_leveldb_persists_across_reopen(tmp_path):
    path = tmp_path / "db"
    chain = build_chain(3)
    kv = LevelDBKV(path)
    s = BlockStore(kv)
    for block, commit, results, app_hash in chain:
        kv.write(s.batch_for(block, commit, results, app_hash))
    kv.close()
    kv2 = LevelDBKV(path)
    try:
        s2 = BlockStore(kv2)
        assert s2.height() == 3
        assert [s2.block(h) for h in (1, 2, 3)] == [c[0] for c in chain]
        assert s2.commit(3) == chain[2][1]
    finally:
        kv2.close()


def test_batch_is_one_write_of_every_key(kv):
    block, commit, results, app_hash = build_chain(3)[2]
    batch = BlockStore(kv).batch_for(block, commit, results, app_hash)
    h = block.header.height
    expected = {schema.block_key(h), schema.block_hash_key(block.hash), schema.commit_key(h), schema.CHAIN_STATE,
                schema.evidence_key(block.evidence[0].hash()), schema.commit_key(h - 1)} | \
        {schema.tx_key(tx_hash(t)) for t in block.txs}
    assert set(batch) == expected
    # the previous height's commit becomes the one this block carries, which every node stores alike
    assert decode(batch[schema.commit_key(h - 1)]) == block.last_commit.to_obj()
    assert all(isinstance(v, bytes) for v in batch.values())
    assert decode(batch[schema.CHAIN_STATE]) == [h, app_hash, block.hash, block.header.time_ms]


def test_failed_batch_writes_nothing(kv):
    """The block, its commit and the app's changes go down together or not at all."""
    kv.write({b"keep": b"1"})
    with pytest.raises(TypeError):
        kv.write({b"a/1": b"x", b"a/2": b"y", b"a/3": "not bytes", b"a/4": b"z", b"keep": None})
    assert kv.get(b"a/1") is None and kv.get(b"a/2") is None
    assert kv.get(b"keep") == b"1"
    assert list(kv.iterate(b"a/")) == []


def test_deletes_and_puts_in_one_batch(kv):
    kv.write({b"p/1": b"one", b"p/2": b"two", b"q/1": b"x"})
    kv.write({b"p/1": None, b"p/3": b"three", b"missing": None})
    assert kv.get(b"p/1") is None
    assert list(kv.iterate(b"p/")) == [(b"p/2", b"two"), (b"p/3", b"three")]
    assert list(kv.iterate(b"p/", reverse=True)) == [(b"p/3", b"three"), (b"p/2", b"two")]
    assert list(kv.iterate(b"q/")) == [(b"q/1", b"x")]
    assert list(kv.iterate(b"z/")) == []


def test_block_keys_sort_by_height(kv):
    heights = [1, 2, 9, 10, 255, 256, 65_535, 65_536, 2**32 + 1]
    kv.write({schema.block_key(h): schema.height_bytes(h) for h in reversed(heights)})
    got = [schema.height_from(v) for _, v in kv.iterate(schema.BLOCK)]
    assert got == heights
    assert [schema.height_from(k[len(schema.BLOCK):]) for k, _ in kv.iterate(schema.BLOCK, reverse=True)] \
        == list(reversed(heights))


def test_schema_prefixes_do_not_overlap():
    store_prefixes = [schema.BLOCK, schema.BLOCK_HASH, schema.COMMIT, schema.TX, schema.EVIDENCE, schema.CHAIN_STATE]
    for a in store_prefixes:
        assert not a.startswith(schema.APP)
        for b in store_prefixes:
            if a is not b:
                assert not b.startswith(a), (a, b)
    app = [schema.APP_STATE, schema.NONCE, schema.NOTE, schema.RECORD, schema.RECORD_SEQ, schema.RECORD_BY_SEQ,
           schema.BY_FILE_SHA, schema.BY_FRAMES_SHA, schema.BY_CREATOR]
    assert all(p.startswith(schema.APP) for p in app)
    assert len(set(app)) == len(app)
    for a in app:  # no key space nests inside another
        for b in app:
            if a is not b:
                assert not b.startswith(a), (a, b)


# --- the in-memory KV is a faithful stand-in for LevelDB ---------------------------------------------------

keys = st.binary(min_size=1, max_size=4).map(lambda b: b"k" + b)
batches = st.lists(st.dictionaries(keys, st.none() | st.binary(max_size=8), max_size=6), max_size=8)


@pytest.fixture(scope="module")
def shared_leveldb(tmp_path_factory):
    kv = LevelDBKV(tmp_path_factory.mktemp("differential") / "db")
    kv.examples = 0
    yield kv
    kv.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch_list=batches, prefixes=st.lists(st.binary(max_size=3), min_size=1, max_size=4))
def test_memory_kv_matches_leveldb(shared_leveldb, batch_list, prefixes):
    # one LevelDB for all examples; each example works under its own namespace
    shared_leveldb.examples += 1
    ns = b"%d/" % shared_leveldb.examples
    real, mem = shared_leveldb, MemoryKV()
    for batch in batch_list:
        batch = {ns + k: v for k, v in batch.items()}
        real.write(batch, sync=False)
        mem.write(batch)
    for prefix in [ns + b"k" + p for p in prefixes] + [ns]:
        for reverse in (False, True):
            assert list(real.iterate(prefix, reverse)) == list(mem.iterate(prefix, reverse))
    for batch in batch_list:
        for k in batch:
            assert real.get(ns + k) == mem.get(ns + k)


def test_reverse_iteration_includes_a_key_equal_to_the_prefix(kv):
    # plyvel's own reverse prefix iterator drops b"ka" here; LevelDBKV must not
    kv.write({b"a": b"0", b"ka": b"1", b"kb": b"2"})
    assert list(kv.iterate(b"ka", reverse=True)) == [(b"ka", b"1")]
    assert list(kv.iterate(b"ka")) == [(b"ka", b"1")]
    kv.write({b"ka\x00": b"3"})
    assert list(kv.iterate(b"ka", reverse=True)) == [(b"ka\x00", b"3"), (b"ka", b"1")]
    assert list(kv.iterate(b"", reverse=True))[0] == (b"kb", b"2")

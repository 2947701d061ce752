"""The provenance app's admission and execution rules, on a real LevelDB."""

import random

import pytest

from provchain.chain import schema
from provchain.chain.app import ERR_BODY, ERR_DECODE, ERR_DUPLICATE, ERR_NONCE, ERR_SIGNATURE, ERR_SIZE
from provchain.chain.crypto import PrivateKey
from provchain.chain.store import BlockStore, LevelDBKV
from provchain.chain.tx import SignedTx
from provchain.chain.types import Block, Commit, ConsensusParams
from provchain.provenance.app import ProvenanceApp
from provchain.provenance.fingerprint import ALG, HASH_BYTES, Fingerprint
from provchain.provenance.record import KIND, MediaInfo, RegisterClip

CHAIN = "test-chain"
MAX_TX = ConsensusParams().max_tx_bytes


def record(seed: int, samples: int = 20) -> RegisterClip:
    rng = random.Random(seed)
    fp = Fingerprint(ALG, tuple(200 * i for i in range(samples)), tuple(rng.randbytes(HASH_BYTES) for _ in range(samples)))
    return RegisterClip(rng.randbytes(32), rng.randbytes(32), fp, MediaInfo(4000, 24000, 256, 256, "h264", "mp4"),
                        1_700_000_000_000)


@pytest.fixture
def app(tmp_path):
    kv = LevelDBKV(tmp_path / "db")
    yield ProvenanceApp(kv, CHAIN, MAX_TX)
    kv.close()


def commit_block(app, txs, height=1):
    block = Block.make(dict(chain_id=CHAIN, height=height, time_ms=1000 * height, last_block_hash=b"",
                            validators_hash=b"\0" * 32, app_hash=b"", proposer_address=b"\0" * 20), txs)
    assert app.process_proposal(block) is None
    results, app_hash = app.finalize_block(block)
    fake_commit = Commit(height, 0, block.hash, ())
    batch = BlockStore(app.kv).batch_for(block, fake_commit, results, app_hash)
    batch.update(app.pending_writes())
    app.kv.write(batch)
    app.commit()
    return results


def test_check_tx_rejects_bad_registrations_with_clear_reasons(app):
    key = PrivateKey.generate()
    good = record(1).sign(key, CHAIN, 0)
    forged = SignedTx(KIND, key.pubkey, 0, good.body, bytes(64))
    assert app.check_tx(forged.encode()).code == ERR_SIGNATURE
    other_key = PrivateKey.generate()
    stolen = SignedTx(KIND, other_key.pubkey, 0, good.body, good.signature)  # someone else's signature
    assert app.check_tx(stolen.encode()).code == ERR_SIGNATURE
    res = app.check_tx(record(2).sign(key, CHAIN, 3).encode())
    assert res.code == ERR_NONCE and "nonce 3" in res.log
    big = record(3, samples=7000)  # a fingerprint bigger than a tx may be
    res = app.check_tx(big.sign(key, CHAIN, 0).encode())
    assert res.code == ERR_SIZE and "exceeds" in res.log
    body = good.body.copy()
    body[1] = b"short"  # file_sha256 must be 32 bytes
    res = app.check_tx(SignedTx.create(key, CHAIN, KIND, 0, body).encode())
    assert res.code == ERR_BODY and "file_sha256" in res.log
    body = good.body.copy()
    body[3] = ["other-alg", [0], b"x" * HASH_BYTES]
    res = app.check_tx(SignedTx.create(key, CHAIN, KIND, 0, body).encode())
    assert res.code == ERR_BODY and "algorithm" in res.log
    assert app.check_tx(b"\x93\x01\x02").code == ERR_DECODE
    assert app.check_tx(good.encode()).ok


def test_records_are_indexed_and_duplicates_answered_with_the_existing_record(app):
    alice, bob = PrivateKey.generate(), PrivateKey.generate()
    rec = record(10)
    tx = rec.sign(alice, CHAIN, 0).encode()
    assert app.check_tx(tx).ok
    (res,) = commit_block(app, [tx])
    rid = res.data
    stored = app.record(rid)
    assert stored["creator"] == alice.pubkey and stored["height"] == 1 and stored["seq"] == 0
    assert app.record_id_by_content(rec.file_sha256) == rid == app.record_id_by_content(rec.frames_sha256)
    assert [k for k, _ in app.kv.iterate(schema.BY_CREATOR + alice.pubkey)]
    dup = app.check_tx(rec.sign(bob, CHAIN, 0).encode())
    assert dup.code == ERR_DUPLICATE and rid.hex().upper() in dup.log
    hits = app.pindex.query(rec.fingerprint, max_candidates=4)
    assert hits and hits[0][0] == 0


def test_a_block_with_a_failing_registration_is_refused(app):
    """Inclusion in a committed block must prove success, so process_proposal refuses such blocks."""
    key = PrivateKey.generate()
    rec = record(20)
    a, b = rec.sign(key, CHAIN, 0).encode(), rec.sign(key, CHAIN, 1).encode()  # same content twice
    block = Block.make(dict(chain_id=CHAIN, height=1, time_ms=1, last_block_hash=b"", validators_hash=b"\0" * 32,
                            app_hash=b"", proposer_address=b"\0" * 20), [a, b])
    reason = app.process_proposal(block)
    assert reason and "tx 1" in reason and "already registered" in reason


def test_perceptual_index_is_rebuilt_from_leveldb_on_restart(tmp_path):
    kv = LevelDBKV(tmp_path / "db")
    app = ProvenanceApp(kv, CHAIN, MAX_TX)
    key = PrivateKey.generate()
    recs = [record(30 + i) for i in range(3)]
    commit_block(app, [r.sign(key, CHAIN, i).encode() for i, r in enumerate(recs)])
    kv.close()
    kv = LevelDBKV(tmp_path / "db")
    again = ProvenanceApp(kv, CHAIN, MAX_TX)
    for seq, r in enumerate(recs):
        assert again.pindex.query(r.fingerprint, max_candidates=4)[0][0] == seq
    kv.close()


def with_parents(rec: RegisterClip, *parents: bytes) -> RegisterClip:
    return RegisterClip(rec.file_sha256, rec.frames_sha256, rec.fingerprint, rec.media, rec.claimed_time_ms,
                        rec.generator, tuple(parents))


def test_a_declared_parent_must_be_on_chain(app):
    from provchain.provenance.app import ERR_NO_PARENT
    alice, bob = PrivateKey.generate(), PrivateKey.generate()
    ghost = bytes(range(32))
    res = app.check_tx(with_parents(record(40), ghost).sign(bob, CHAIN, 0).encode())
    assert res.code == ERR_NO_PARENT and ghost.hex().upper() in res.log
    # a block carrying it is refused too (execution checks the same rule)
    orphan = with_parents(record(40), ghost).sign(bob, CHAIN, 0).encode()
    block = Block.make(dict(chain_id=CHAIN, height=1, time_ms=1, last_block_hash=b"", validators_hash=b"\0" * 32,
                            app_hash=b"", proposer_address=b"\0" * 20), [orphan])
    assert "does not exist" in (app.process_proposal(block) or "")
    # a parent registered earlier in the same block counts; the child is stored with its parent
    parent_tx = record(41).sign(alice, CHAIN, 0)
    from provchain.chain.types import tx_hash
    pid = tx_hash(parent_tx.encode())
    child_tx = with_parents(record(42), pid).sign(bob, CHAIN, 0).encode()
    r1, r2 = commit_block(app, [parent_tx.encode(), child_tx])
    assert r1.ok and r2.ok and app.record(r2.data)["body"].parents == (pid,)
    assert app.record_json(app.record(r2.data))["parents"] == [pid.hex().upper()]
    # a repeated parent is a malformed record
    res = app.check_tx(with_parents(record(43), pid, pid).sign(bob, CHAIN, 1).encode())
    assert res.code == ERR_BODY and "repeat" in res.log

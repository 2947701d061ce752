"""light.check_tx_inclusion: ok for a real proof and commit; each kind of tampering fails its own check."""

from __future__ import annotations

import pytest

from provchain.chain import merkle
from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import sha256
from provchain.chain.light import check_tx_inclusion
from provchain.chain.types import PRECOMMIT, Block, Commit, Header, Validator, ValidatorSet, Vote

CHAIN = "light-test"
KEYS = [PrivateKey.from_seed(bytes([0x70 + i]) * 32) for i in range(4)]
VALSET = ValidatorSet(tuple(Validator(k.pubkey, 1) for k in KEYS))
TXS = (b"tx zero", b"tx one", b"tx two", b"tx three", b"tx four")
NAMES = ["merkle_inclusion", "chain_id", "header_matches_commit", "commit_signatures"]


def make_block(chain_id=CHAIN, txs=TXS, app_hash=b"\x11" * 32, height=5) -> Block:
    return Block.make(dict(chain_id=chain_id, height=height, time_ms=1_764_000_000_000, last_block_hash=b"\x22" * 32,
                           validators_hash=VALSET.hash(), app_hash=app_hash, proposer_address=KEYS[0].address),
                      txs, (), Commit(height - 1, 0, b"\x22" * 32, ()))


def make_commit(block: Block, keys, chain_id=CHAIN) -> Commit:
    return Commit.from_votes([Vote(PRECOMMIT, block.header.height, 0, block.hash, 1_764_000_000_000 + i, b"")
                              .signed(k, chain_id) for i, k in enumerate(keys)])


BLOCK = make_block()
COMMIT = make_commit(BLOCK, KEYS[:3])
ROOT, PROOFS = merkle.proofs(list(TXS))


def outcome(checks) -> dict[str, bool]:
    assert [c.name for c in checks] == NAMES
    for c in checks:
        assert c.detail  # every check explains itself
        assert c.to_json() == {"name": c.name, "ok": c.ok, "detail": c.detail}
    return {c.name: c.ok for c in checks}


def failing(checks) -> set[str]:
    return {name for name, ok in outcome(checks).items() if not ok}


@pytest.mark.parametrize("i", range(len(TXS)))
def test_real_proof_and_commit_pass(i):
    assert ROOT == BLOCK.header.data_hash
    checks = check_tx_inclusion(TXS[i], PROOFS[i], BLOCK.header, COMMIT, CHAIN, VALSET)
    assert failing(checks) == set()


def test_weighted_validator_set():
    vs = ValidatorSet(tuple(Validator(k.pubkey, p) for k, p in zip(KEYS, [7, 1, 1, 1])))
    block = Block.make({**{k: v for k, v in BLOCK.header.__dict__.items()
                           if k not in ("data_hash", "evidence_hash", "last_commit_hash")},
                        "validators_hash": vs.hash()}, TXS, (), BLOCK.last_commit)
    heavy_only = make_commit(block, [KEYS[0]])
    assert failing(check_tx_inclusion(TXS[0], PROOFS[0], block.header, heavy_only, CHAIN, vs)) == set()
    light_three = make_commit(block, KEYS[1:])
    assert failing(check_tx_inclusion(TXS[0], PROOFS[0], block.header, light_three, CHAIN, vs)) == {
        "commit_signatures"}


def test_other_tx():
    checks = check_tx_inclusion(b"a tx never included", PROOFS[1], BLOCK.header, COMMIT, CHAIN, VALSET)
    assert failing(checks) == {"merkle_inclusion"}
    # a real tx of the block with another tx's proof
    assert failing(check_tx_inclusion(TXS[2], PROOFS[1], BLOCK.header, COMMIT, CHAIN, VALSET)) == {
        "merkle_inclusion"}


def test_tampered_proof():
    p = PROOFS[3]
    bad_aunt = merkle.Proof(p.index, p.total, p.leaf_hash, (sha256(b"x"),) + p.aunts[1:])
    wrong_index = merkle.Proof(2, p.total, p.leaf_hash, p.aunts)
    for proof in (bad_aunt, wrong_index):
        assert failing(check_tx_inclusion(TXS[3], proof, BLOCK.header, COMMIT, CHAIN, VALSET)) == {
            "merkle_inclusion"}


def test_wrong_header():
    # a header that commits to the same txs but is not the block the validators signed
    other = make_block(app_hash=b"\x33" * 32)
    assert other.header.data_hash == BLOCK.header.data_hash
    checks = check_tx_inclusion(TXS[0], PROOFS[0], other.header, COMMIT, CHAIN, VALSET)
    assert failing(checks) == {"header_matches_commit", "commit_signatures"}


def test_header_of_another_block_with_other_txs():
    other = make_block(txs=(b"x", b"y"))
    checks = check_tx_inclusion(TXS[0], PROOFS[0], other.header, COMMIT, CHAIN, VALSET)
    assert failing(checks) == {"merkle_inclusion", "header_matches_commit", "commit_signatures"}


def test_commit_for_another_block():
    other = make_block(app_hash=b"\x44" * 32)
    commit = make_commit(other, KEYS)  # fully signed, but for another block at the same height
    commit.verify(CHAIN, VALSET, other.header.height, other.hash)
    checks = check_tx_inclusion(TXS[0], PROOFS[0], BLOCK.header, commit, CHAIN, VALSET)
    assert failing(checks) == {"header_matches_commit", "commit_signatures"}


def test_commit_for_another_height():
    block6 = make_block(height=6)
    commit = make_commit(block6, KEYS)
    checks = check_tx_inclusion(TXS[0], PROOFS[0], BLOCK.header, commit, CHAIN, VALSET)
    assert failing(checks) == {"header_matches_commit", "commit_signatures"}


@pytest.mark.parametrize("signers", [[], KEYS[:1], KEYS[:2], [KEYS[0], KEYS[3]]])
def test_too_few_signatures(signers):
    commit = make_commit(BLOCK, signers) if signers else Commit(BLOCK.header.height, 0, BLOCK.hash, ())
    checks = check_tx_inclusion(TXS[0], PROOFS[0], BLOCK.header, commit, CHAIN, VALSET)
    assert failing(checks) == {"commit_signatures"}
    assert "2/3" in next(c.detail for c in checks if c.name == "commit_signatures")


def test_duplicated_signature_does_not_count_twice():
    two = make_commit(BLOCK, KEYS[:2])
    padded = Commit(two.height, two.round, two.block_hash, two.signatures + two.signatures[:1])
    assert failing(check_tx_inclusion(TXS[0], PROOFS[0], BLOCK.header, padded, CHAIN, VALSET)) == {
        "commit_signatures"}


def test_signatures_from_outside_the_trusted_set():
    outsiders = [PrivateKey.from_seed(bytes([0x90 + i]) * 32) for i in range(4)]
    commit = make_commit(BLOCK, outsiders)
    assert failing(check_tx_inclusion(TXS[0], PROOFS[0], BLOCK.header, commit, CHAIN, VALSET)) == {
        "commit_signatures"}


def test_another_chain_id():
    # a whole chain that looks right but is another one: its own header, proof and valid commit
    foreign = make_block(chain_id="someone-elses-chain")
    foreign_commit = make_commit(foreign, KEYS, chain_id="someone-elses-chain")
    checks = check_tx_inclusion(TXS[0], PROOFS[0], foreign.header, foreign_commit, CHAIN, VALSET)
    assert failing(checks) == {"chain_id", "commit_signatures"}
    assert failing(check_tx_inclusion(TXS[0], PROOFS[0], foreign.header, foreign_commit, "someone-elses-chain",
                                      VALSET)) == set()


def test_commit_signed_for_another_chain_over_our_header():
    commit = make_commit(BLOCK, KEYS, chain_id="someone-elses-chain")
    assert failing(check_tx_inclusion(TXS[0], PROOFS[0], BLOCK.header, commit, CHAIN, VALSET)) == {
        "commit_signatures"}


def test_header_is_the_one_hashed():
    # swapping in a header that differs in one field is caught even though every other object is genuine
    for field, value in [("time_ms", 1), ("height", 6), ("proposer_address", KEYS[1].address),
                         ("validators_hash", b"\x00" * 32)]:
        h = Header(**{**BLOCK.header.__dict__, field: value})
        assert "header_matches_commit" in failing(check_tx_inclusion(TXS[0], PROOFS[0], h, COMMIT, CHAIN, VALSET))

"""Hypothesis: Merkle roots and inclusion proofs (RFC 6962 / RFC 9162 style, as CometBFT's crypto/merkle).

The implementation is cross-checked against an independent transcription of the RFC algorithms: the Merkle
Tree Hash of RFC 6962 section 2.1 and the inclusion-proof verification of RFC 9162 section 2.1.3.2.
"""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from provchain.chain import merkle
from provchain.chain.merkle import Proof, inner_hash, leaf_hash, proofs, root

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def H(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def rfc6962_mth(items: list[bytes]) -> bytes:
    """MTH(D[n]) from RFC 6962 2.1, written from the RFC text."""
    n = len(items)
    if n == 0:
        return H(b"")
    if n == 1:
        return H(b"\x00" + items[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return H(b"\x01" + rfc6962_mth(items[:k]) + rfc6962_mth(items[k:]))


def rfc9162_verify(index: int, size: int, leaf: bytes, path: list[bytes], expected_root: bytes) -> bool:
    """Inclusion-proof verification, RFC 9162 2.1.3.2, step by step."""
    if index >= size or index < 0:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = H(b"\x01" + p + r)
            if not fn & 1:
                while not (fn & 1) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = H(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


item_lists = st.lists(st.binary(max_size=40), min_size=1, max_size=40)
unique_item_lists = st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=40, unique=True)


def test_certificate_transparency_vectors():
    # the RFC 6962 reference vectors used by certificate-transparency-go and CometBFT
    leaves = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
              b"\x50\x51\x52\x53\x54\x55\x56\x57",
              b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"]
    expected = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    for n in range(1, 9):
        assert root(leaves[:n]).hex() == expected[n - 1], n
    assert root([]) == H(b"")
    assert proofs([]) == (H(b""), [])


@SETTINGS
@given(st.lists(st.binary(max_size=40), max_size=40))
def test_root_matches_rfc6962(items):
    assert root(items) == rfc6962_mth(items)


@SETTINGS
@given(item_lists)
def test_every_leaf_proves(items):
    top, ps = proofs(items)
    assert top == root(items)
    assert len(ps) == len(items)
    for i, (item, p) in enumerate(zip(items, ps)):
        assert (p.index, p.total) == (i, len(items))
        assert p.leaf_hash == leaf_hash(item)
        assert p.verify(top, item)
        assert rfc9162_verify(i, len(items), leaf_hash(item), list(p.aunts), top)
        assert Proof.from_obj(p.to_obj()) == p
    # the path length is the leaf's depth: at most ceil(log2 n)
    assert max(len(p.aunts) for p in ps) == (len(items) - 1).bit_length()


@SETTINGS
@given(item_lists, st.data())
def test_changed_leaf_fails(items, data):
    top, ps = proofs(items)
    i = data.draw(st.integers(0, len(items) - 1))
    other = data.draw(st.binary(max_size=41).filter(lambda b: b != items[i]))
    assert not ps[i].verify(top, other)
    # even with a proof whose leaf hash is updated to match, the path no longer leads to the root
    forged = Proof(i, len(items), leaf_hash(other), ps[i].aunts)
    assert not forged.verify(top, other)


@SETTINGS
@given(item_lists, st.data())
def test_changed_aunt_fails(items, data):
    assume(len(items) >= 2)
    top, ps = proofs(items)
    i = data.draw(st.integers(0, len(items) - 1))
    p = ps[i]
    j = data.draw(st.integers(0, len(p.aunts) - 1))
    bit = data.draw(st.integers(0, 255))
    aunt = bytearray(p.aunts[j])
    aunt[bit // 8] ^= 1 << (bit % 8)
    aunts = p.aunts[:j] + (bytes(aunt),) + p.aunts[j + 1:]
    assert not Proof(p.index, p.total, p.leaf_hash, aunts).verify(top, items[i])
    # dropping, adding or swapping aunts breaks it too
    assert not Proof(p.index, p.total, p.leaf_hash, p.aunts[:-1]).verify(top, items[i])
    assert not Proof(p.index, p.total, p.leaf_hash, p.aunts + (top,)).verify(top, items[i])
    # an unused extra aunt below the leaf's level is refused, not ignored (proofs are not malleable)
    assert not Proof(p.index, p.total, p.leaf_hash, (p.leaf_hash,) + p.aunts).verify(top, items[i])
    if len(p.aunts) >= 2 and p.aunts[0] != p.aunts[1]:
        swapped = (p.aunts[1], p.aunts[0]) + p.aunts[2:]
        assert not Proof(p.index, p.total, p.leaf_hash, swapped).verify(top, items[i])


@SETTINGS
@given(unique_item_lists, st.data())
def test_wrong_index_fails(items, data):
    assume(len(items) >= 2)
    top, ps = proofs(items)
    i = data.draw(st.integers(0, len(items) - 1))
    j = data.draw(st.integers(-3, len(items) + 3).filter(lambda j: j != i))
    p = ps[i]
    assert not Proof(j, p.total, p.leaf_hash, p.aunts).verify(top, items[i])


@SETTINGS
@given(item_lists, st.data())
def test_wrong_total_agrees_with_rfc9162(items, data):
    """A proof does not bind `total` where two tree sizes give the leaf the same path (e.g. leaf 0 of 3 and
    of 4 items: RFC 9162 accepts both too). Everywhere else a wrong total fails, exactly as RFC 9162 says."""
    top, ps = proofs(items)
    i = data.draw(st.integers(0, len(items) - 1))
    p = ps[i]
    for total in range(0, len(items) + 9):
        if total == len(items):
            continue
        got = Proof(i, total, p.leaf_hash, p.aunts).verify(top, items[i])
        assert got == rfc9162_verify(i, total, p.leaf_hash, list(p.aunts), top), total
        if i >= total or (total - 1).bit_length() < len(p.aunts):
            assert not got


def test_wrong_total_examples():
    items = [b"a", b"b", b"c", b"d", b"e"]
    top, ps = proofs(items)
    assert not Proof(4, 6, ps[4].leaf_hash, ps[4].aunts).verify(top, b"e")  # the last leaf: shape changes
    assert not Proof(4, 4, ps[4].leaf_hash, ps[4].aunts).verify(top, b"e")  # index out of range
    assert not Proof(1, 2, ps[1].leaf_hash, ps[1].aunts).verify(top, b"b")  # fewer levels
    assert not Proof(0, 1, ps[0].leaf_hash, ps[0].aunts).verify(top, b"a")
    assert not Proof(0, 0, ps[0].leaf_hash, ps[0].aunts).verify(top, b"a")
    # leaf 0 of 5 and of 8 have the same three left turns: both RFC 9162 and we accept this one
    assert Proof(0, 8, ps[0].leaf_hash, ps[0].aunts).verify(top, b"a")
    assert rfc9162_verify(0, 8, ps[0].leaf_hash, list(ps[0].aunts), top)


@SETTINGS
@given(item_lists, st.data())
def test_root_changes_when_any_item_changes(items, data):
    before = root(items)
    i = data.draw(st.integers(0, len(items) - 1))
    other = data.draw(st.binary(max_size=41).filter(lambda b: b != items[i]))
    assert root(items[:i] + [other] + items[i + 1:]) != before
    # adding or removing an item changes it too
    assert root(items + [other]) != before
    assert root(items[:i] + items[i + 1:]) != before


@SETTINGS
@given(unique_item_lists, st.data())
def test_root_depends_on_order(items, data):
    assume(len(items) >= 2)
    i, j = data.draw(st.lists(st.integers(0, len(items) - 1), min_size=2, max_size=2, unique=True))
    swapped = list(items)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    assert root(swapped) != root(items)


@SETTINGS
@given(item_lists)
def test_concatenation_of_items_is_not_a_collision(items):
    # without length framing in the leaves, [a, b] and [a + b] must still differ (they are different trees)
    assume(len(items) >= 2)
    assert root(items) != root([b"".join(items)])


@SETTINGS
@given(st.lists(st.binary(max_size=20), min_size=2, max_size=33))
def test_leaf_cannot_pose_as_inner_node(items):
    """RFC 6962 domain separation: an inner node's preimage (left || right), submitted as a leaf, gives
    another hash, so a proof that stops one level early cannot prove a forged "item"."""
    n = len(items)
    top, ps = proofs(items)
    k = 1
    while k * 2 < n:
        k *= 2
    left, right = root(items[:k]), root(items[k:])
    assert top == inner_hash(left, right)
    fake_item = left + right
    assert root([fake_item]) != top
    assert not Proof(0, 1, leaf_hash(fake_item), ()).verify(top, fake_item)
    # the same attack one level lower: the parent of leaves 0 and 1 posing as the leftmost leaf of a tree
    # one level shallower. Its path really computes the root; only the leaf prefix stops the forgery.
    p0 = ps[0]
    parent = inner_hash(p0.leaf_hash, p0.aunts[0])
    forged = Proof(0, 2 ** (len(p0.aunts) - 1), parent, p0.aunts[1:])
    assert forged.compute_root() == top
    assert not forged.verify(top, p0.leaf_hash + p0.aunts[0])
    assert leaf_hash(p0.leaf_hash + p0.aunts[0]) != parent


@SETTINGS
@given(st.binary(max_size=64), st.binary(max_size=32), st.binary(max_size=32))
def test_leaf_and_inner_hash_domains_are_separate(x, a, b):
    assert leaf_hash(x) == H(b"\x00" + x)
    assert inner_hash(a, b) == H(b"\x01" + a + b)
    assert leaf_hash(a + b) != inner_hash(a, b)


@SETTINGS
@given(st.integers(1, 2000), st.binary(min_size=32, max_size=32))
def test_proof_shape_bounds(total, leaf):
    # impossible shapes are refused instead of recursing or raising
    assert Proof(total, total, leaf, ()).compute_root() is None
    assert Proof(-1, total, leaf, ()).compute_root() is None
    assert Proof(0, total, leaf, (leaf,) * (merkle.MAX_AUNTS + 1)).compute_root() is None
    if total > 1:
        assert Proof(0, total, leaf, ()).compute_root() is None
    else:
        assert Proof(0, 1, leaf, ()).compute_root() == leaf
        assert Proof(0, 1, leaf, (leaf,)).compute_root() is None

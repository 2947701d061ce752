"""Merkle roots and inclusion proofs, RFC 6962 style (as CometBFT's crypto/merkle).

leaf = sha256(0x00 || item), inner = sha256(0x01 || left || right); a tree of n items splits at the
largest power of two below n. The empty tree hashes to sha256(b"").
"""

from __future__ import annotations

from dataclasses import dataclass

from .encoding import sha256

LEAF_PREFIX = b"\x00"
INNER_PREFIX = b"\x01"
MAX_AUNTS = 100


def leaf_hash(item: bytes) -> bytes:
    return sha256(LEAF_PREFIX + item)


def inner_hash(left: bytes, right: bytes) -> bytes:
    return sha256(INNER_PREFIX + left + right)


def _split_point(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root_of_leaves(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split_point(len(leaves))
    return inner_hash(_root_of_leaves(leaves[:k]), _root_of_leaves(leaves[k:]))


def root(items: list[bytes]) -> bytes:
    if not items:
        return sha256(b"")
    return _root_of_leaves([leaf_hash(x) for x in items])


@dataclass(frozen=True)
class Proof:
    index: int
    total: int
    leaf_hash: bytes
    aunts: tuple[bytes, ...]  # sibling hashes from the leaf up to the root

    def to_obj(self) -> list:
        return [self.index, self.total, self.leaf_hash, list(self.aunts)]

    @classmethod
    def from_obj(cls, obj) -> "Proof":
        index, total, leaf, aunts = obj
        return cls(index, total, leaf, tuple(aunts))

    def compute_root(self) -> bytes | None:
        """The root this proof leads to, or None if its shape is impossible."""
        if not (0 <= self.index < self.total) or len(self.aunts) > MAX_AUNTS:
            return None
        return _root_from_aunts(self.index, self.total, self.leaf_hash, list(self.aunts))

    def verify(self, expected_root: bytes, item: bytes) -> bool:
        return leaf_hash(item) == self.leaf_hash and self.compute_root() == expected_root


def _root_from_aunts(index: int, total: int, leaf: bytes, aunts: list[bytes]) -> bytes | None:
    if total == 1:
        return leaf if not aunts else None
    if not aunts:
        return None
    k = _split_point(total)
    if index < k:
        left = _root_from_aunts(index, k, leaf, aunts[:-1])
        return None if left is None else inner_hash(left, aunts[-1])
    right = _root_from_aunts(index - k, total - k, leaf, aunts[:-1])
    return None if right is None else inner_hash(aunts[-1], right)


def proofs(items: list[bytes]) -> tuple[bytes, list[Proof]]:
    """Root and one proof per item."""
    leaves = [leaf_hash(x) for x in items]
    trails: list[list[bytes]] = [[] for _ in items]

    def build(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaves[lo]
        k = lo + _split_point(hi - lo)
        left, right = build(lo, k), build(k, hi)
        for i in range(lo, k):
            trails[i].append(right)
        for i in range(k, hi):
            trails[i].append(left)
        return inner_hash(left, right)

    if not items:
        return sha256(b""), []
    top = build(0, len(items))
    return top, [Proof(i, len(items), leaves[i], tuple(trails[i])) for i in range(len(items))]

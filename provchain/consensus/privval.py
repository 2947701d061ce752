"""The double-sign guard: a validator's signing key plus the last (height, round, step) it signed.

The last-signed state is fsynced to disk before a signature is returned, so a node killed at any point
and restarted can never sign a conflicting proposal or vote for a step it has already signed. Asked to
sign the same step again for the same block, it returns the earlier signature (and timestamp).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..chain import crypto
from ..chain.encoding import decode, encode
from ..chain.types import PRECOMMIT, PREVOTE, Proposal, Vote
from .files import OSFiles

STEP_PROPOSAL = 0
STEP = {PREVOTE: 1, PRECOMMIT: 2}


class DoubleSignError(Exception):
    """Signing this message could conflict with a signature already given."""


class PrivValidator:
    def __init__(self, key: crypto.PrivateKey, state_path: str | os.PathLike, chain_id: str, files=None):
        self.files = files or OSFiles()
        self.key = key
        self.address = key.address
        self.chain_id = chain_id
        self.path = Path(state_path)
        self.last: tuple[int, int, int] = (0, -1, -1)  # (height, round, step)
        self.last_signed: list | None = None  # the encoded message last signed, to answer repeats
        raw = self.files.read(self.path)
        if raw is not None:
            h, r, s, signed = decode(raw)
            self.last, self.last_signed = (h, r, s), signed

    def _persist(self, hrs: tuple[int, int, int], signed: list) -> None:
        self.files.write_atomic(self.path, encode([*hrs, signed]))
        self.last, self.last_signed = hrs, signed

    def _check(self, hrs: tuple[int, int, int]) -> bool:
        """True when this exact step was already signed (caller may return the earlier signature)."""
        if hrs < self.last:
            raise DoubleSignError(f"already signed height/round/step {self.last}, asked for {hrs}")
        return hrs == self.last

    def sign_vote(self, vote: Vote) -> Vote:
        hrs = (vote.height, vote.round, STEP[vote.type])
        if self._check(hrs):
            prev = Vote.from_obj(self.last_signed)
            if prev.block_hash != vote.block_hash:
                raise DoubleSignError(f"conflicting vote at {hrs}: already voted for another block")
            return prev
        signed = vote.signed(self.key, self.chain_id)
        self._persist(hrs, signed.to_obj())
        return signed

    def sign_proposal(self, proposal: Proposal) -> Proposal:
        hrs = (proposal.height, proposal.round, STEP_PROPOSAL)
        if self._check(hrs):
            prev = Proposal.from_obj(self.last_signed)
            if prev.block_hash != proposal.block_hash or prev.pol_round != proposal.pol_round:
                raise DoubleSignError(f"conflicting proposal at {hrs}")
            return prev
        signed = proposal.signed(self.key, self.chain_id)
        self._persist(hrs, signed.to_obj())
        return signed

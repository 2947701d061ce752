"""The double-sign guard: a validator's signing key plus what it has signed at its latest height.

The state is fsynced to disk before a signature is returned, so a node killed at any point and restarted
can never sign a conflicting proposal or vote for a step it has already signed. Every message signed at
the latest height is kept: asked to sign one of those steps again for the same block, the guard returns
the earlier signature (and timestamp), so a restarted node can re-send what it signed instead of falling
silent; `signed_at` lists them for the driver to re-send after a restart.

Two kinds of refusal: `DoubleSignError` for a request that conflicts with a kept signature (a real
double-sign attempt: the node's own state is inconsistent), and its subclass `StaleSignRequest` for a
step below the last one signed that was never signed itself (the node lost its consensus state or is
catching up: normal after a restart, nothing conflicting was asked).
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
MAX_KEPT = 64  # signed messages kept for the latest height (rounds beyond ~20 drop their oldest)


class DoubleSignError(Exception):
    """Signing this message would conflict with a signature already given."""


class StaleSignRequest(DoubleSignError):
    """A step below the last one signed, never signed itself: refused, but no conflict was asked for."""


class PrivValidator:
    def __init__(self, key: crypto.PrivateKey, state_path: str | os.PathLike, chain_id: str, files=None):
        self.files = files or OSFiles()
        self.key = key
        self.address = key.address
        self.chain_id = chain_id
        self.path = Path(state_path)
        self.last: tuple[int, int, int] = (0, -1, -1)  # (height, round, step)
        self.last_signed: list | None = None  # the encoded message last signed
        self._kept: dict[tuple[int, int, int], list] = {}  # (h, r, step) -> encoded message, latest height
        raw = self.files.read(self.path)
        if raw is not None:
            state = decode(raw)
            h, r, s, signed = state[:4]
            self.last, self.last_signed = (h, r, s), signed
            # files written before the guard kept every message hold the last one only
            kept = state[4] if len(state) > 4 else [[h, r, s, signed]]
            self._kept = {(kh, kr, ks): obj for kh, kr, ks, obj in kept}

    def _persist(self, hrs: tuple[int, int, int], signed: list) -> None:
        kept = dict(self._kept) if hrs[0] == self.last[0] else {}
        kept[hrs] = signed
        for old in sorted(kept)[:-MAX_KEPT]:
            del kept[old]
        self.files.write_atomic(self.path, encode([*hrs, signed, [[*k, v] for k, v in sorted(kept.items())]]))
        self.last, self.last_signed, self._kept = hrs, signed, kept

    def signed_at(self, height: int) -> list[Vote | Proposal]:
        """The messages kept for `height` (all it signed there, up to MAX_KEPT), in step order."""
        return [Proposal.from_obj(obj) if s == STEP_PROPOSAL else Vote.from_obj(obj)
                for (h, r, s), obj in sorted(self._kept.items()) if h == height]

    def _refuse_new(self, hrs: tuple[int, int, int]) -> None:
        if hrs <= self.last:
            raise StaleSignRequest(f"already signed height/round/step {self.last}, asked for {hrs}")

    def sign_vote(self, vote: Vote) -> Vote:
        hrs = (vote.height, vote.round, STEP[vote.type])
        kept = self._kept.get(hrs)
        if kept is not None:
            prev = Vote.from_obj(kept)
            if prev.block_hash != vote.block_hash:
                raise DoubleSignError(f"conflicting vote at {hrs}: already voted for another block")
            return prev
        self._refuse_new(hrs)
        signed = vote.signed(self.key, self.chain_id)
        self._persist(hrs, signed.to_obj())
        return signed

    def sign_proposal(self, proposal: Proposal) -> Proposal:
        hrs = (proposal.height, proposal.round, STEP_PROPOSAL)
        kept = self._kept.get(hrs)
        if kept is not None:
            prev = Proposal.from_obj(kept)
            if prev.block_hash != proposal.block_hash or prev.pol_round != proposal.pol_round:
                raise DoubleSignError(f"conflicting proposal at {hrs}")
            return prev
        self._refuse_new(hrs)
        signed = proposal.signed(self.key, self.chain_id)
        self._persist(hrs, signed.to_obj())
        return signed

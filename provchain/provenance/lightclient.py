"""Proves a record from an untrusted node: the block's header followed from the trusted genesis through
every validator-set change (chain/light.py: CometBFT's light-client rules), the tx's Merkle inclusion,
the block's commit signatures, the record id, and the creator's signature on the record."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..chain import jsonfmt as jf
from ..chain import light
from ..chain.light import Check
from ..chain.tx import SignedTx
from ..chain.types import Genesis, InvalidError, ValidatorSet, tx_hash
from .client import NodeClient, NodeError
from .record import KIND, RegisterClip


@dataclass
class ProvenRecord:
    record_id: bytes
    checks: list[Check]
    record: RegisterClip | None = None
    creator: bytes = b""
    height: int = 0
    index: int = 0  # the tx's position in its block: orders records of the same block
    block_time_ms: int = 0

    @property
    def verified(self) -> bool:
        return self.record is not None and bool(self.checks) and all(c.ok for c in self.checks)


class LightClient:
    """Verified heights of one chain, from its genesis, fetched from one untrusted node. Heights verified
    once are kept (a later record starts from the nearest verified height below it)."""

    def __init__(self, client: NodeClient, genesis: Genesis, now_ms: int | None = None):
        self.client, self.genesis = client, genesis
        self.now_ms = now_ms
        self.trusted: dict[int, light.TrustedBlock] = {0: light.TrustedBlock.genesis(genesis)}
        self.blocks: dict[int, light.LightBlock] = {}
        self._fetched: dict[int, light.LightBlock] = {}

    def _validators(self, height: int) -> ValidatorSet:
        items, page = [], 1
        while True:
            r = self.client.get("/validators", height=str(height), page=str(page), per_page="100")
            items += r["validators"]
            if len(items) >= int(r["total"]) or not r["validators"] or page >= 20:
                return jf.validators_from_json(items)
            page += 1

    def fetch(self, height: int) -> light.LightBlock:
        lb = self._fetched.get(height)
        if lb is None:
            try:
                cm = self.client.get("/commit", height=str(height))
                lb = light.LightBlock(jf.header_from_json(cm["signed_header"]["header"]),
                                      jf.commit_from_json(cm["signed_header"]["commit"]),
                                      self._validators(height), self._validators(height + 1))
            except NodeError as exc:
                if "unreachable" in str(exc):
                    raise
                raise light.VerificationError(f"the node did not give height {height}: {exc}") from None
            except (KeyError, TypeError, ValueError, InvalidError) as exc:
                raise light.VerificationError(f"the node sent a malformed light block for {height}: {exc}") from None
            self._fetched[height] = lb
        return lb

    def verify(self, height: int) -> tuple[light.LightBlock, str]:
        """The light block of `height`, verified from the genesis, and how (for the report)."""
        if height in self.blocks:
            return self.blocks[height], f"height {height} already verified"
        start = max(h for h in self.trusted if h < height)
        now = self.now_ms if self.now_ms is not None else int(time.time() * 1000)
        lb, steps = light.verify_to(self.trusted[start], height, self.fetch, self.genesis.chain_id, now)
        for h, _ in steps:
            self.trusted[h] = light.TrustedBlock.of(self._fetched[h])
            self.blocks[h] = self._fetched[h]
        skips = sum(1 for _, how in steps if how == "skipping")
        origin = "the genesis" if start == 0 else f"verified height {start}"
        return lb, (f"height {height} verified from {origin} in {len(steps)} step(s) ({skips} skipping with trust "
                    f"level 1/3, {len(steps) - skips} adjacent); its validator set has "
                    f"{len(lb.validators.validators)} validators")


_LIGHT_CLIENTS: dict[tuple[str, bytes], LightClient] = {}


def light_client(client: NodeClient, genesis: Genesis) -> LightClient:
    """The light client of this node URL and genesis, kept for the life of the process (the explorer makes
    a NodeClient per request), so each height is verified once and later ones start from it."""
    key = (client.url, genesis.hash())
    lc = _LIGHT_CLIENTS.get(key)
    if lc is None:
        if len(_LIGHT_CLIENTS) >= 16:
            _LIGHT_CLIENTS.clear()
        lc = _LIGHT_CLIENTS[key] = LightClient(client, genesis)
    lc.client = client
    return lc


def prove_record(client: NodeClient, record_id: bytes, genesis: Genesis) -> ProvenRecord:
    """Fetch and check everything; never raises for a lying node, it reports failed checks instead.
    Raises NodeError only when the node is unreachable."""
    out = ProvenRecord(record_id, [])
    try:
        txr = client.get("/tx", hash=record_id.hex(), prove="true")
        tx = jf.unb64(txr["tx"])
        proof = jf.proof_from_json(txr["proof"])
        height = int(txr["height"])
    except NodeError as exc:
        if "unreachable" in str(exc):
            raise
        out.checks.append(Check("fetch_proof", False, f"the node did not give a proof: {exc}"))
        return out
    except (KeyError, TypeError, ValueError, InvalidError) as exc:
        out.checks.append(Check("fetch_proof", False, f"the node sent a malformed proof: {exc}"))
        return out
    out.checks.append(Check("record_id", tx_hash(tx) == record_id,
                            "the record id is the hash of the proven tx" if tx_hash(tx) == record_id
                            else "the node sent a different tx than the record id names"))
    try:
        lb, how = light_client(client, genesis).verify(height)
    except light.VerificationError as exc:
        out.checks.append(Check("light_client", False, f"height {height} does not follow from the genesis: {exc}"))
        return out
    out.checks.append(Check("light_client", True, how))
    header = lb.header
    out.checks += light.check_tx_inclusion(tx, proof, header, lb.commit, genesis.chain_id, lb.validators)
    try:
        stx = SignedTx.decode(tx, genesis.params.max_tx_bytes)
        if stx.kind != KIND:
            raise InvalidError(f"tx kind is {stx.kind!r}, not {KIND!r}")
        record = RegisterClip.from_obj(stx.body)
    except InvalidError as exc:
        out.checks.append(Check("record_decodes", False, str(exc)))
        return out
    from ..chain import crypto
    sig_ok = crypto.verify(stx.sender, stx.sign_bytes(genesis.chain_id), stx.signature)
    out.checks.append(Check("creator_signature", sig_ok,
                            f"signed by creator {stx.sender.hex().upper()[:16]}…" if sig_ok
                            else "the creator's signature on the record does not verify"))
    out.record, out.creator, out.height, out.block_time_ms = record, stx.sender, height, header.time_ms
    out.index = proof.index
    return out

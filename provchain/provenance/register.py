"""Registering a clip: fingerprint -> RegisterClip -> sign with the creator key -> submit -> wait for commit.

Before registering, `prior_claims` asks the node which records the clip already matches (same content,
or perceptually: the node's /match candidates, judged here with match.match on their fingerprints).
The first registrant of content is its origin; registering someone else's content needs a declared
parent (a derivative) or an explicit force (`check_claims`).  This is advice from one node, not a
proof: the chain itself only refuses byte-identical content and parents that do not exist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..chain import crypto
from ..chain import jsonfmt as jf
from .claims import related_records
from .client import NodeClient, NodeError
from .fingerprint import ClipAnalysis
from .record import GeneratorInfo, MediaInfo, RegisterClip

ERR_DUPLICATE = 7


@dataclass
class Registration:
    record_id: str
    height: int
    block_time: str
    existing: bool  # the content was already on chain: this is the earlier record
    creator: str = ""  # upper-case hex public key of the record's creator

    def to_json(self) -> dict:
        return {"record_id": self.record_id, "height": self.height, "block_time": self.block_time,
                "creator": self.creator, "existing": self.existing}


@dataclass(frozen=True)
class PriorClaim:
    """A record on chain that the clip already matches."""
    record_id: str
    creator: str
    height: int
    block_time: str
    how: str  # "same content" (file or decoded frames identical), "match" or "altered" (perceptual)
    similarity: float
    index: int = 0  # position in its block

    def to_json(self) -> dict:
        return {"record_id": self.record_id, "creator": self.creator, "height": self.height,
                "block_time": self.block_time, "how": self.how, "similarity": self.similarity, "index": self.index}

    def describe(self) -> str:
        what = {"same content": "is the same content as", "match": f"is a copy ({self.similarity:.0%}) of",
                "altered": "contains parts of"}[self.how]
        return (f"{what} record {self.record_id}, first registered at height {self.height} by creator "
                f"{self.creator[:16]}… ({self.block_time})")


def _prior(rec: dict, how: str, similarity: float) -> PriorClaim:
    return PriorClaim(rec["record_id"], rec["creator"], int(rec["height"]), rec["block_time"], how, similarity,
                      int(rec.get("index", 0)))


def prior_claims(client: NodeClient, analysis: ClipAnalysis) -> list[PriorClaim]:
    """Records the clip already matches, earliest first: identical content, then every /match
    candidate that matches the clip on its own (verdict match or altered)."""
    out: dict[str, PriorClaim] = {}
    for sha in dict.fromkeys((analysis.file_sha256, analysis.frames_sha256)):
        rec = client.record_by_content(sha)
        if rec is not None:
            out.setdefault(rec["record_id"], _prior(rec, "same content", 1.0))
    try:
        related = related_records(analysis.fingerprint, client.match(analysis.fingerprint.wire_form().to_obj()))
    except (KeyError, TypeError, ValueError) as exc:
        raise NodeError(f"node {client.url} sent a malformed /match candidate: {exc}") from None
    for r in related:
        out.setdefault(r.record["record_id"], _prior(r.record, r.verdict, r.match.similarity))
    return sorted(out.values(), key=lambda c: (c.height, c.index, c.record_id))


def check_claims(prior: list[PriorClaim], creator: str, parents: list[str], force: bool) -> str | None:
    """Why registering should stop, or None.  Identical content is one record (yours: the existing one;
    someone else's: refused).  Otherwise, when the first registrant of what the clip matches is someone
    else, one of the matched records must be declared a parent, or `force` given."""
    same = [c for c in prior if c.how == "same content"]
    if same:
        if same[0].creator == creator:
            return None
        return (f"{same[0].describe()}; the chain keeps one record per content (an edit of it can be "
                f"registered with --parent {same[0].record_id})")
    if not prior or prior[0].creator == creator or force or {c.record_id for c in prior} & set(parents):
        return None
    return (f"{prior[0].describe()}; register it as a derivative with --parent {prior[0].record_id}, or with "
            f"--force to register it as new content (verify will then show it as a later claim)")


def build_record(analysis: ClipAnalysis, generator: GeneratorInfo | None = None, parents=(),
                 claimed_time_ms: int | None = None) -> RegisterClip:
    return RegisterClip(analysis.file_sha256, analysis.frames_sha256, analysis.fingerprint.record_form(),
                        MediaInfo(**vars(analysis.facts)),
                        claimed_time_ms if claimed_time_ms is not None else int(time.time() * 1000),
                        generator, tuple(parents))


def submit_record(client: NodeClient, key: crypto.PrivateKey, record: RegisterClip, chain_id: str | None = None,
                  timeout: float = 60.0) -> Registration:
    """Sign and submit; wait for commit. A repeat of registered content returns the existing record."""
    existing = client.record_by_content(record.file_sha256)
    if existing is None and record.frames_sha256 != record.file_sha256:
        existing = client.record_by_content(record.frames_sha256)
    if existing is not None:
        return Registration(existing["record_id"], int(existing["height"]), existing["block_time"], True,
                            existing["creator"])
    chain_id = chain_id or client.status()["node_info"]["network"]
    for attempt in range(3):
        tx = record.sign(key, chain_id, client.next_nonce(key.pubkey)).encode()
        try:
            res = client.broadcast(tx, wait=True, timeout=timeout)
        except NodeError as exc:
            data = exc.data if isinstance(exc.data, dict) else {}
            if data.get("code") == 3 and attempt < 2:  # another tx of ours took the nonce: retry
                continue
            if data.get("code") == ERR_DUPLICATE:
                rec = client.record_by_content(record.file_sha256) or client.record_by_content(record.frames_sha256)
                if rec is not None:
                    return Registration(rec["record_id"], int(rec["height"]), rec["block_time"], True,
                                        rec["creator"])
            raise
        if res.get("code", 0) != 0:
            raise NodeError(f"registration failed: {res.get('log')}")
        height = int(res["height"])
        block = client.get("/block", height=str(height))
        return Registration(res["hash"], height, block["block"]["header"]["time"], False, jf.hexu(key.pubkey))
    raise NodeError("could not get a nonce accepted")


def record_id_bytes(reg: Registration) -> bytes:
    return jf.parse_hex(reg.record_id, 32)

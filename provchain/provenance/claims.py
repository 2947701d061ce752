"""Which records on chain show the same content as a clip: the node's /match candidates judged here.

The chain only timestamps claims; the perceptual judgement is made by the reader (`register`, the
explorer; `verify` does the same over proven records in verify.judge).  A candidate counts when it
matches the clip on its own (match.match verdict `match` or `altered`); records are ordered by
registration: height, then position in the block.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from ..chain.encoding import EncodingError, decode
from .fingerprint import Fingerprint
from .match import RecordMatch, match


@dataclass(frozen=True)
class Related:
    record: dict  # the node's record JSON (record_id, creator, height, index, block_time, ...)
    verdict: str  # "match": the clip is a copy of it; "altered": the clip contains parts of it
    match: RecordMatch

    @property
    def order(self) -> tuple[int, int, str]:
        return int(self.record["height"]), int(self.record.get("index", 0)), self.record["record_id"]


def candidate_fingerprint(record: dict) -> Fingerprint:
    """The fingerprint inside a node's record JSON; ValueError when it is missing or unreadable."""
    try:
        return Fingerprint.from_obj(decode(base64.b64decode(record["fingerprint"]["data"], validate=True)))
    except (KeyError, TypeError, ValueError, EncodingError) as exc:
        raise ValueError(f"record {str(record.get('record_id', '?'))[:16]}… carries no readable fingerprint: "
                         f"{exc}") from None


def related_records(query: Fingerprint, candidates: list[dict]) -> list[Related]:
    """The /match candidates (each {"record": record JSON with fingerprint data}) that match `query`
    on their own, in registration order.  ValueError for a malformed candidate."""
    out = []
    for cand in candidates:
        rec = cand["record"] if isinstance(cand, dict) and "record" in cand else cand
        r = match(query, {rec["record_id"]: candidate_fingerprint(rec)})
        if r.verdict != "unregistered":
            out.append(Related(rec, r.verdict, r.matches[0]))
    return sorted(out, key=lambda x: x.order)

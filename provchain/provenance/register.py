"""Registering a clip: fingerprint -> RegisterClip -> sign with the creator key -> submit -> wait for commit."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..chain import crypto
from ..chain import jsonfmt as jf
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

    def to_json(self) -> dict:
        return {"record_id": self.record_id, "height": self.height, "block_time": self.block_time,
                "existing": self.existing}


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
        return Registration(existing["record_id"], int(existing["height"]), existing["block_time"], True)
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
                    return Registration(rec["record_id"], int(rec["height"]), rec["block_time"], True)
            raise
        if res.get("code", 0) != 0:
            raise NodeError(f"registration failed: {res.get('log')}")
        height = int(res["height"])
        block = client.get("/block", height=str(height))
        return Registration(res["hash"], height, block["block"]["header"]["time"], False)
    raise NodeError("could not get a nonce accepted")


def record_id_bytes(reg: Registration) -> bytes:
    return jf.parse_hex(reg.record_id, 32)

"""The search box: where a block height, a block/transaction hash, a record id, a content SHA-256,
a creator public key or a validator address leads (the page URL and its API twin)."""

from __future__ import annotations

from .chain import RECORD_KIND, Chain, decode_tx
from .errors import HEX40, HEX64, bad, not_found, parse_height
from .node import NodeAnswer


async def search(chain: Chain, q: str) -> dict:
    t = (q or "").strip()
    if not t:
        raise bad("Type a block height, a block or transaction hash, a record id, a content SHA-256 "
                  "or a creator public key.")
    if t.isdigit() and len(t) < 40:  # 40 and 64 digits are an address or a hash that happens to be all digits
        h = parse_height(t)
        tip = await chain.tip()
        if h > tip:
            raise not_found(f"Block {h} is beyond the tip of the chain (the latest block is {tip}).")
        return {"type": "block", "url": f"/block/{h}", "api": f"/api/block/{h}"}
    if HEX40.match(t):
        addr = t[-40:].upper()
        if addr in {v["address"] for v in await chain.validators()}:
            return {"type": "validator", "url": f"/validators#v-{addr}", "api": "/api/validators"}
        raise not_found(f"No validator with address {addr}.")
    if not HEX64.match(t):
        raise bad(f"{t[:80]!r} is neither a block height nor a 64-hex-digit hash or public key.")
    hx = t[-64:].upper()
    node = chain.node
    blk = await node.get_or_none("/block_by_hash", hash=hx)
    if blk is not None:
        h = blk["block"]["header"]["height"]
        return {"type": "block", "url": f"/block/{h}", "api": f"/api/block/{h}"}
    tx = await node.get_or_none("/tx", hash=hx)
    if tx is not None:
        if decode_tx(tx["tx"]).get("kind") == RECORD_KIND and await chain.record_or_none(id=hx):
            return {"type": "record", "url": f"/record/{hx}", "api": f"/api/record/{hx}"}
        return {"type": "tx", "url": f"/tx/{hx}", "api": f"/api/tx/{hx}"}
    rec = await chain.record_or_none(content_sha256=hx)
    if rec is not None:
        rid = rec["record_id"]
        return {"type": "record", "url": f"/record/{rid}", "api": f"/api/record/{rid}",
                "matched": "content_sha256" if rec["content_sha256"] == hx else "frames_sha256"}
    try:
        cr = await node.get("/records", creator=hx, page=1, per_page=1)
        if int(cr["total"]) > 0:
            return {"type": "creator", "url": f"/creator/{hx}", "api": f"/api/creator/{hx}"}
    except NodeAnswer:
        pass
    raise not_found(f"Nothing on this chain has the hash {hx}: no block, transaction, record, content "
                    "SHA-256 or creator with records.")

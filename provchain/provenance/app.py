"""The provenance application: RegisterClip records, their indexes and the RPC routes that serve them.

State (all in LevelDB, keys in chain/schema.py): the records, a sequence number per record, an exact
index by file SHA-256 and by frames SHA-256, a per-creator index, and the nonces of the account base.
The perceptual index is in memory, rebuilt from the records on start and updated after each commit.
A second registration of content already on chain (same file or same decoded frames) is refused with
the existing record's id.  A record may declare parents (the records it was derived from); each must
already be on chain.  Nothing perceptual is judged here: the chain only timestamps claims, and `verify`,
`register` and the explorer decide which records show the same content (first registrant = origin).
"""

from __future__ import annotations

import base64
import json
import logging

from ..chain import jsonfmt as jf
from ..chain import schema
from ..chain.app import (ERR_DUPLICATE, QUERY_BAD_DATA, QUERY_NOT_FOUND, AccountApp, KindHandler, Overlay,
                         QueryAnswer, TxResult)
from ..chain.encoding import EncodingError, decode, encode
from ..chain.store import KV
from ..chain.tx import SignedTx
from ..chain.types import Block, InvalidError, tx_hash
from .fingerprint import Fingerprint
from .record import KIND, RegisterClip, validate_body

log = logging.getLogger("provchain.provenance")

MAX_MATCH_CANDIDATES = 16
ERR_NO_PARENT = ERR_DUPLICATE + 1  # a declared parent record is not on chain


def _seq_key(seq: int) -> bytes:
    return schema.height_bytes(seq)


class ProvenanceApp(AccountApp):
    def __init__(self, kv: KV, chain_id: str, max_tx_bytes: int, validators=None):
        super().__init__(kv, chain_id, max_tx_bytes, validators)
        self.handlers[KIND] = KindHandler(validate_body, self._apply)
        self._pending_content: dict[bytes, bytes] = {}  # content hash -> tx hash, for txs in the mempool
        from .pindex import PerceptualIndex
        self.pindex = PerceptualIndex()
        n = 0
        for _, rid in kv.iterate(schema.RECORD_BY_SEQ):
            rec = self.record(rid)
            self.pindex.add(rec["seq"], rec["body"].fingerprint)
            n += 1
        if n:
            log.info("perceptual index rebuilt from %d records", n)

    # --- state access
    def record_count(self, state=None) -> int:
        raw = (state or self.kv).get(schema.RECORD_SEQ)
        return decode(raw) if raw is not None else 0

    def record(self, record_id: bytes, state=None) -> dict | None:
        raw = (state or self.kv).get(schema.RECORD + record_id)
        if raw is None:
            return None
        body, creator, height, index, time_ms, seq = decode(raw)
        return {"id": record_id, "body": RegisterClip.from_obj(body), "creator": creator, "height": height,
                "index": index, "time_ms": time_ms, "seq": seq}

    def record_id_by_content(self, sha: bytes, state=None) -> bytes | None:
        st = state or self.kv
        return st.get(schema.BY_FILE_SHA + sha) or st.get(schema.BY_FRAMES_SHA + sha)

    def record_id_by_seq(self, seq: int) -> bytes | None:
        return self.kv.get(schema.RECORD_BY_SEQ + _seq_key(seq))

    # --- tx execution
    def _duplicate_of(self, rec: RegisterClip, state) -> bytes | None:
        return (state.get(schema.BY_FILE_SHA + rec.file_sha256)
                or state.get(schema.BY_FRAMES_SHA + rec.frames_sha256))

    def check_stateful(self, tx: SignedTx, h: bytes) -> TxResult:
        rec: RegisterClip = tx.parsed
        existing = self._duplicate_of(rec, self.kv)
        if existing is not None:
            return TxResult(ERR_DUPLICATE, f"content already registered as record {existing.hex().upper()}",
                            existing)
        for sha in (rec.file_sha256, rec.frames_sha256):
            other = self._pending_content.get(sha)
            if other is not None and other != h:
                return TxResult(ERR_DUPLICATE, f"content is already being registered by tx {other.hex().upper()}",
                                other)
        for parent in rec.parents:
            if self.kv.get(schema.RECORD + parent) is None:
                return TxResult(ERR_NO_PARENT, f"parent record {parent.hex().upper()} does not exist")
        self._pending_content[rec.file_sha256] = h
        self._pending_content[rec.frames_sha256] = h
        return TxResult()

    def reset_check_state(self) -> None:
        super().reset_check_state()
        self._pending_content.clear()

    def _apply(self, state: Overlay, tx: SignedTx, h: bytes, index: int, block: Block) -> TxResult:
        rec: RegisterClip = tx.parsed
        existing = self._duplicate_of(rec, state)
        if existing is not None:
            return TxResult(ERR_DUPLICATE, f"content already registered as record {existing.hex().upper()}",
                            existing)
        for parent in rec.parents:
            if state.get(schema.RECORD + parent) is None:
                return TxResult(ERR_NO_PARENT, f"parent record {parent.hex().upper()} does not exist")
        seq = self.record_count(state)
        state.put(schema.RECORD + h, encode([tx.body, tx.sender, block.header.height, index,
                                             block.header.time_ms, seq]))
        state.put(schema.RECORD_SEQ, encode(seq + 1))
        state.put(schema.RECORD_BY_SEQ + _seq_key(seq), h)
        state.put(schema.BY_FILE_SHA + rec.file_sha256, h)
        state.put(schema.BY_FRAMES_SHA + rec.frames_sha256, h)
        state.put(schema.BY_CREATOR + tx.sender + _seq_key(seq), h)
        return TxResult(data=h)

    def _save_check_state(self):
        return super()._save_check_state(), dict(self._pending_content)

    def _restore_check_state(self, saved) -> None:
        super()._restore_check_state(saved[0])
        self._pending_content = saved[1]

    def events_of(self, tx: SignedTx, raw: bytes, code: int):
        """Adds a register_clip event: record_id, creator, content_sha256, frames_sha256, model, parents."""
        events = super().events_of(tx, raw, code)
        if tx.kind != KIND or code != 0:
            return events
        rec: RegisterClip = tx.parsed
        attrs = [("record_id", jf.hexu(tx_hash(raw))), ("creator", jf.hexu(tx.sender)),
                 ("content_sha256", jf.hexu(rec.file_sha256)), ("frames_sha256", jf.hexu(rec.frames_sha256))]
        if rec.generator is not None:
            attrs.append(("model", rec.generator.model))
        attrs += [("parent", jf.hexu(p)) for p in rec.parents]
        return events + [("register_clip", attrs)]

    def block_events(self, block: Block, tx_events: list):
        """A provenance event on blocks that register clips: how many (block_search provenance.new_records>0)."""
        n = sum(any(etype == "register_clip" for etype, _ in evs) for evs in tx_events)
        return [("provenance", [("new_records", str(n))])] if n else []

    def on_commit(self, staged: Overlay) -> None:
        """Index the block's new records now that they are durable."""
        for key, rid in staged.writes.items():
            if key.startswith(schema.RECORD_BY_SEQ) and rid is not None:
                rec = self.record(rid)
                self.pindex.add(rec["seq"], rec["body"].fingerprint)

    @staticmethod
    def result_json(result: TxResult):
        return {"record_id": result.data.hex().upper()} if isinstance(result.data, bytes) else None

    # --- abci_query paths (values are the same JSON the /record and /match routes answer)
    def query(self, path: str, data: bytes) -> QueryAnswer:
        if path in ("/record", "/record/by_content"):
            if len(data) != 32:
                return QueryAnswer(QUERY_BAD_DATA, "data must be 32 bytes (a record id or a content SHA-256)")
            rid = data if path == "/record" else self.record_id_by_content(data)
            rec = self.record(rid) if rid else None
            if rec is None:
                return QueryAnswer(QUERY_NOT_FOUND, "no record for that id or content hash")
            return QueryAnswer(value=json.dumps(self.record_json(rec)).encode(), prove_tx=rid)
        if path == "/records/count":
            return QueryAnswer(value=str(self.record_count()).encode())
        if path == "/match":
            try:
                fp = Fingerprint.from_obj(decode(data))
            except (EncodingError, InvalidError, ValueError, TypeError) as exc:
                return QueryAnswer(QUERY_BAD_DATA, f"data must be a msgpack fingerprint: {exc}")
            return QueryAnswer(value=json.dumps({"candidates": self._candidates(fp)}).encode())
        return super().query(path, data)

    def query_paths(self) -> list[str]:
        return super().query_paths() + ["/record", "/record/by_content", "/records/count", "/match"]

    # --- RPC routes
    def routes(self):
        return super().routes() + [("GET", "/record", self.rpc_record), ("GET", "/records", self.rpc_records),
                ("POST", "/match", self.rpc_match), ("GET", "/provenance_status", self.rpc_status)]

    def record_json(self, rec: dict, with_fingerprint: bool = True) -> dict:
        body: RegisterClip = rec["body"]
        out = {
            "record_id": jf.hexu(rec["id"]), "tx_hash": jf.hexu(rec["id"]), "seq": rec["seq"],
            "height": str(rec["height"]), "index": rec["index"], "block_time": jf.rfc3339(rec["time_ms"]),
            "creator": jf.hexu(rec["creator"]), "content_sha256": jf.hexu(body.file_sha256),
            "frames_sha256": jf.hexu(body.frames_sha256),
            "media": {"duration_ms": body.media.duration_ms, "fps": body.media.fps_milli / 1000,
                      "width": body.media.width, "height": body.media.height, "codec": body.media.codec,
                      "container": body.media.container},
            "claimed_time": jf.rfc3339(body.claimed_time_ms),
            "generator": None if body.generator is None else {
                "model": body.generator.model, "weights_sha256": jf.hexu(body.generator.weights_sha256),
                "prompt_sha256": jf.hexu(body.generator.prompt_sha256), "seed": str(body.generator.seed),
                "settings": dict(body.generator.settings)},
            "parents": [jf.hexu(p) for p in body.parents],
            "fingerprint": {"alg": body.fingerprint.alg, "samples": len(body.fingerprint.times_ms)},
        }
        if with_fingerprint:
            out["fingerprint"]["data"] = base64.b64encode(encode(body.fingerprint.to_obj())).decode()
        return out

    async def rpc_record(self, request):
        q = request.query
        if "id" in q:
            rid = jf.parse_hex(q["id"], 32)
        elif "content_sha256" in q:
            rid = self.record_id_by_content(jf.parse_hex(q["content_sha256"], 32))
        else:
            raise ValueError("give id= or content_sha256=")
        rec = self.record(rid) if rid else None
        if rec is None:
            raise LookupError("no record for that id or content hash")
        return self.record_json(rec, q.get("fingerprint", "true") != "false")

    async def rpc_records(self, request):
        """Records newest first: all, or one creator's (?creator=HEX); paginated by ?page=&per_page=."""
        q = request.query
        page = max(1, int(q.get("page", 1)))
        per_page = min(100, max(1, int(q.get("per_page", 20))))
        if "creator" in q:
            creator = jf.parse_hex(q["creator"], 32)
            ids = [rid for _, rid in self.kv.iterate(schema.BY_CREATOR + creator, reverse=True)]
            total = len(ids)
            ids = ids[(page - 1) * per_page: page * per_page]
        else:
            total = self.record_count()
            top = total - 1 - (page - 1) * per_page
            ids = [self.record_id_by_seq(s) for s in range(top, max(top - per_page, -1), -1)]
        return {"total": str(total), "page": page, "per_page": per_page,
                "records": [self.record_json(self.record(rid), False) for rid in ids]}

    async def rpc_match(self, request):
        """Body: JSON {"fingerprint": base64(msgpack fingerprint)}. Returns candidate records by votes."""
        try:
            payload = json.loads(await request.read())  # deep nesting: RecursionError, caught below
            fp = Fingerprint.from_obj(decode(base64.b64decode(payload["fingerprint"], validate=True)))
        except (ValueError, KeyError, TypeError, EncodingError, InvalidError, RecursionError) as exc:
            raise ValueError(f'body must be JSON {{"fingerprint": base64}} of a valid fingerprint: {exc}') from None
        return {"candidates": self._candidates(fp)}

    def _candidates(self, fp: Fingerprint) -> list[dict]:
        out = []
        for seq, votes in self.pindex.query(fp, max_candidates=MAX_MATCH_CANDIDATES):
            rid = self.record_id_by_seq(seq)
            if rid is not None:
                out.append({"votes": int(votes), "record": self.record_json(self.record(rid))})
        return out

    async def rpc_status(self, request):
        return {"records": str(self.record_count())}

"""The block explorer: server-rendered pages, a JSON API under /api/, live updates over server-sent events.

It reads a node's RPC only (never its LevelDB). Verification reuses `provenance.verify` exactly: an
uploaded clip goes through `verify_file`, and an exact SHA-256 hit (computed in the browser) is proven
by record id with `lightclient.prove_record` and judged by `verify.decide`; proofs are checked against
the genesis validator set (`--genesis PATH`, otherwise taken from the node with the trust warning).

Bad input never reaches a stack trace: unknown hashes and heights beyond the tip are 404, malformed
queries 400, empty or non-video uploads 400/422, uploads over the cap 413, a node that is down 503.
Uploaded files are streamed to a temporary file and deleted in every case.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import os
import re
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

from aiohttp import web

from ..chain import crypto, merkle
from ..chain.tx import SignedTx
from ..chain.types import Genesis, InvalidError
from . import html as H
from .fpimage import CELL_W, fingerprint_from_b64, fingerprint_png, row_height
from .html import Markup, esc
from .node import AsyncNode, NodeAnswer, NodeDown

log = logging.getLogger("provchain.explorer")

HERE = Path(__file__).resolve().parent
PER_PAGE = 20
HOME_ROWS = 10
DEFAULT_WINDOW = 100
MAX_WINDOW = 500
ONLINE_WINDOW = 3  # a validator that signed one of the last 3 commits (or is connected) is online
EMPTY_EVIDENCE_HASH = merkle.root([]).hex().upper()
HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
HEX40 = re.compile(r"^(0x)?[0-9a-fA-F]{40}$")
RECORD_KIND = "register_clip"
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class ExplorerError(Exception):
    def __init__(self, status: int, message: str, title: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra or {}
        self.title = title or {400: "Bad request", 404: "Not found", 405: "Method not allowed",
                               409: "Conflict", 413: "File too large", 422: "Not a readable video",
                               502: "Bad answer from the node", 503: "Node unavailable"}.get(status, "Error")


def bad(message: str) -> ExplorerError:
    return ExplorerError(400, message)


def not_found(message: str) -> ExplorerError:
    return ExplorerError(404, message)


def parse_hex64(text: str, what: str) -> str:
    t = (text or "").strip()
    if not HEX64.match(t):
        raise bad(f"{what} must be 64 hexadecimal digits (32 bytes), got {t[:80]!r}")
    return t[-64:].upper()


def parse_height(text: str) -> int:
    t = (text or "").strip()
    if not t.isdigit() or len(t) > 18:
        raise bad(f"a block height is a positive whole number, got {t[:40]!r}")
    h = int(t)
    if h < 1:
        raise bad("block heights start at 1")
    return h


def parse_page(request) -> int | None:
    raw = request.query.get("page")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
        raise bad(f"page must be a whole number from 1, got {raw[:40]!r}")
    return int(raw)


def parse_per_page(request) -> int:
    raw = request.query.get("per_page")
    if raw is None or raw == "":
        return PER_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise bad(f"per_page must be a whole number from 1 to 100, got {raw[:40]!r}")
    return int(raw)


def address_of_pubkey_hex(h: str) -> str | None:
    try:
        pk = bytes.fromhex(h)
    except ValueError:
        return None
    return crypto.address_of(pk).hex().upper() if len(pk) == crypto.PUBKEY_SIZE else None


def decode_tx(b64tx: str) -> dict:
    raw = base64.b64decode(b64tx)
    from ..chain.types import tx_hash
    out = {"hash": tx_hash(raw).hex().upper(), "size": len(raw), "kind": None, "sender": None, "nonce": None}
    try:
        stx = SignedTx.decode(raw, 1 << 30)
        out.update(kind=stx.kind, sender=stx.sender.hex().upper(), nonce=stx.nonce)
        if stx.kind == RECORD_KIND:
            out["record_id"] = out["hash"]
    except (InvalidError, ValueError, TypeError) as exc:
        out["decode_error"] = str(exc)
    return out


def block_summary(meta: dict) -> dict:
    """From a /blockchain block meta (or a /block answer): what a row of 'latest blocks' shows."""
    header = meta["header"] if "header" in meta else meta["block"]["header"]
    ntx = int(meta["num_txs"]) if "num_txs" in meta else len(meta["block"]["data"]["txs"])
    return {"height": int(header["height"]), "hash": meta["block_id"]["hash"], "time": header["time"],
            "num_txs": ntx, "proposer": header["proposer_address"]}


def record_summary(r: dict) -> dict:
    return {"record_id": r["record_id"], "creator": r["creator"], "height": int(r["height"]),
            "block_time": r["block_time"], "content_sha256": r["content_sha256"],
            "duration_ms": r.get("media", {}).get("duration_ms"),
            "width": r.get("media", {}).get("width"), "height_px": r.get("media", {}).get("height"),
            "model": (r.get("generator") or {}).get("model")}


def probe_duration(path: str) -> float | None:
    try:
        import av
        with av.open(path) as c:
            if c.duration:
                return round(c.duration / 1_000_000, 3)
            for s in c.streams.video:
                if s.duration and s.time_base:
                    return round(float(s.duration * s.time_base), 3)
    except Exception:  # noqa: BLE001 - a best-effort fact for the timeline
        return None
    return None


class Explorer:
    def __init__(self, node_url: str, genesis_path: str | None = None, upload_cap_mb: float = 200,
                 poll_interval: float = 1.0):
        self.node_url = node_url.rstrip("/")
        self.node = AsyncNode(self.node_url)
        self.genesis_path = genesis_path
        self.upload_cap = int(upload_cap_mb * 1024 * 1024)
        self.poll_interval = poll_interval
        self._trust: tuple[Genesis, dict] | None = None
        self._trust_lock = threading.Lock()
        self._commits: OrderedDict[int, dict] = OrderedDict()
        self._valset: list[dict] | None = None
        self.clients: set[asyncio.Queue] = set()
        self.last_height: int | None = None
        self.last_records: int | None = None
        self.node_ok = True
        self.latest_summary: dict | None = None
        self._poller: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="explorer-verify")
        self._verify_sem: asyncio.Semaphore | None = None

    # --- app --------------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.errors_middleware], client_max_size=1024 * 1024)
        r = app.router
        for path, handler in [
            ("/", self.page_home), ("/search", self.page_search), ("/block/{height}", self.page_block),
            ("/block/hash/{hash}", self.page_block_by_hash), ("/tx/{hash}", self.page_tx),
            ("/record/{id}", self.page_record), ("/records", self.page_records),
            ("/creator/{pubkey}", self.page_creator), ("/validators", self.page_validators),
            ("/verify", self.page_verify),
            ("/api", self.api_index), ("/api/", self.api_index), ("/api/health", self.api_health),
            ("/api/status", self.api_status),
            ("/api/blocks", self.api_blocks), ("/api/block/{height}", self.api_block),
            ("/api/block_by_hash/{hash}", self.api_block_by_hash), ("/api/tx/{hash}", self.api_tx),
            ("/api/record", self.api_record_query), ("/api/record/{id}", self.api_record),
            ("/api/record/{id}/fingerprint.png", self.api_fingerprint_png),
            ("/api/records", self.api_records), ("/api/creator/{pubkey}", self.api_creator),
            ("/api/validators", self.api_validators), ("/api/search", self.api_search),
            ("/api/verify/record/{id}", self.api_verify_record), ("/api/events", self.api_events),
        ]:
            r.add_get(path, handler, allow_head=True)
        r.add_post("/api/verify", self.api_verify)
        r.add_static("/static", HERE / "static", append_version=False)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        app.on_response_prepare.append(self._headers)
        return app

    async def _on_startup(self, app) -> None:
        self._verify_sem = asyncio.Semaphore(1)
        await self.node.start()
        self._poller = asyncio.create_task(self.poll_loop())

    async def _on_shutdown(self, app) -> None:
        for q in list(self.clients):
            try:
                q.put_nowait(None)
            except asyncio.QueueFull:
                q.get_nowait()
                q.put_nowait(None)

    async def _on_cleanup(self, app) -> None:
        if self._poller:
            self._poller.cancel()
            try:
                await self._poller
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self.node.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    async def _headers(request, response) -> None:
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        if response.content_type == "text/html":
            h.setdefault("Content-Security-Policy", CSP)
            h.setdefault("Cache-Control", "no-store")

    # --- errors ----------------------------------------------------------------------------------
    @web.middleware
    async def errors_middleware(self, request, handler):
        try:
            return await handler(request)
        except ExplorerError as exc:
            return self.error_response(request, exc)
        except NodeDown as exc:
            return self.error_response(request, ExplorerError(503, f"{exc}. The explorer will show the chain again "
                                                                   "as soon as the node answers."))
        except NodeAnswer as exc:
            status = exc.status if exc.status in (400, 404) else 502
            return self.error_response(request, ExplorerError(status, exc.message))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            msg = {404: f"There is no page at {request.path}.", 405: f"{request.method} is not allowed here."}
            return self.error_response(request, ExplorerError(exc.status, msg.get(exc.status, exc.reason or "error")))
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:  # noqa: BLE001 - logged; the user gets a plain 500 without a trace
            log.exception("explorer %s %s failed", request.method, request.path)
            return self.error_response(request, ExplorerError(500, "The explorer hit an internal error; "
                                                                   "the details are in its log.", "Internal error"))

    def error_response(self, request, exc: ExplorerError) -> web.Response:
        if request.path == "/api" or request.path.startswith("/api/"):
            body = {"error": {"status": exc.status, "title": exc.title, "message": exc.message}, **exc.extra}
            return web.json_response(body, status=exc.status)
        query = request.query.get("q", "") if request.path == "/search" else ""
        body = H.render("error.html", status=exc.status, title=exc.title, message=exc.message,
                        node=self.node_url)
        return web.Response(text=H.page(f"{exc.status} {exc.title}", Markup(body), query=query),
                            status=exc.status, content_type="text/html")

    # --- node data -------------------------------------------------------------------------------
    async def status(self) -> dict:
        return await self.node.get("/status")

    async def tip(self) -> int:
        return int((await self.status())["sync_info"]["latest_block_height"])

    async def validators(self) -> list[dict]:
        """The validator set (static from genesis): address, pubkey (hex), power, index."""
        if self._valset is None:
            res = await self.node.get("/validators")
            vals = []
            for i, v in enumerate(res["validators"]):
                pk = base64.b64decode(v["pub_key"]["value"]).hex().upper()
                vals.append({"index": i, "address": v["address"], "pub_key": pk, "voting_power": int(v["voting_power"])})
            self._valset = vals
        return self._valset

    async def commit(self, height: int) -> dict:
        """The commit for `height` (cached: a committed block is final and its commit never changes)."""
        c = self._commits.get(height)
        if c is None:
            res = await self.node.get("/commit", height=height)
            c = res["signed_header"]["commit"]
            self._commits[height] = c
            while len(self._commits) > 5000:
                self._commits.popitem(last=False)
        return c

    async def commits(self, heights) -> dict[int, dict]:
        sem = asyncio.Semaphore(8)

        async def one(h):
            async with sem:
                try:
                    return h, await self.commit(h)
                except NodeAnswer:
                    return h, None
        return {h: c for h, c in await asyncio.gather(*(one(h) for h in heights)) if c is not None}

    async def record_count(self) -> int | None:
        try:
            return int((await self.node.get("/provenance_status"))["records"])
        except NodeAnswer:
            return None  # not a provenance chain

    async def online(self, st: dict | None = None) -> dict:
        st = st or await self.status()
        tip = int(st["sync_info"]["latest_block_height"])
        vals = await self.validators()
        try:
            net = await self.node.get("/net_info")
            connected = {address_of_pubkey_hex(p["node_info"]["id"]) for p in net.get("peers", [])
                         if p.get("is_outbound") or p.get("connected_inbound")}
        except NodeAnswer:
            connected = set()
        me = (st.get("validator_info") or {}).get("address")
        if me:
            connected.add(me)
        recent: set[str] = set()
        if tip:
            for c in (await self.commits(range(max(1, tip - ONLINE_WINDOW + 1), tip + 1))).values():
                recent |= {s["validator_address"] for s in c["signatures"] if s.get("block_id_flag", 2) == 2}
        per = {v["address"]: {"connected": v["address"] in connected, "signed_recently": v["address"] in recent,
                              "online": v["address"] in connected or v["address"] in recent} for v in vals}
        total_power = sum(v["voting_power"] for v in vals)
        online_power = sum(v["voting_power"] for v in vals if per[v["address"]]["online"])
        return {"total": len(vals), "online": sum(1 for p in per.values() if p["online"]),
                "total_power": total_power, "online_power": online_power, "by_address": per,
                "queried_node": me or None}

    async def summary(self, st: dict | None = None) -> dict:
        st = st or await self.status()
        si = st["sync_info"]
        online = await self.online(st)
        records = await self.record_count()
        return {"chain_id": st["node_info"]["network"], "latest_height": int(si["latest_block_height"]),
                "latest_block_time": si["latest_block_time"], "latest_block_hash": si["latest_block_hash"],
                "catching_up": si.get("catching_up", False), "records": records,
                "validators": {k: online[k] for k in ("total", "online", "total_power", "online_power")},
                "node": {"url": self.node_url, "moniker": st["node_info"].get("moniker")}}

    async def latest_blocks(self, n: int = HOME_ROWS, max_height: int | None = None) -> list[dict]:
        tip = max_height if max_height is not None else await self.tip()
        if tip < 1:
            return []
        res = await self.node.get("/blockchain", minHeight=max(1, tip - n + 1), maxHeight=tip)
        return [block_summary(m) for m in res["block_metas"]][:n]

    async def block_view(self, height: int | None = None, bhash: str | None = None) -> dict:
        if bhash is not None:
            b = await self.node.get("/block_by_hash", hash=bhash)
        else:
            b = await self.node.get("/block", height=height)
        header = b["block"]["header"]
        h = int(header["height"])
        st, commit, vals = await asyncio.gather(self.status(), self.commit(h), self.validators())
        tip = int(st["sync_info"]["latest_block_height"])
        by_addr = {v["address"]: v for v in vals}
        total = sum(v["voting_power"] for v in vals)
        sigs = []
        for s in commit["signatures"]:
            v = by_addr.get(s["validator_address"])
            sigs.append({"validator_address": s["validator_address"], "validator_index": v["index"] if v else None,
                         "voting_power": v["voting_power"] if v else 0, "timestamp": s["timestamp"],
                         "signature": s["signature"]})
        signed_power = sum(s["voting_power"] for s in sigs)
        signed = {s["validator_address"] for s in sigs}
        prop = by_addr.get(header["proposer_address"])
        evidence = [{"type": e.get("type"), "height": e["value"]["height"], "hash": e["value"]["hash"],
                     "validator_address": e["value"]["vote_a"]["validator_address"],
                     "vote_a": e["value"]["vote_a"], "vote_b": e["value"]["vote_b"]}
                    for e in (b["block"].get("evidence") or {}).get("evidence") or []]
        return {
            "height": h, "hash": b["block_id"]["hash"], "final": True, "chain_id": header["chain_id"],
            "time": header["time"], "header": header,
            "proposer": {"address": header["proposer_address"], "validator_index": prop["index"] if prop else None,
                         "voting_power": prop["voting_power"] if prop else None},
            "commit": {"height": int(commit["height"]), "round": commit["round"], "signatures": sigs,
                       "signed_power": signed_power, "total_power": total,
                       "not_signed": [v["address"] for v in vals if v["address"] not in signed]},
            "txs": [decode_tx(t) for t in b["block"]["data"]["txs"]],
            "evidence": evidence,
            "prev": h - 1 if h > 1 else None, "next": h + 1 if h < tip else None, "latest_height": tip,
        }

    async def records_page(self, page: int | None, creator: str | None = None, per: int = PER_PAGE) -> dict:
        """Stable pages: page 1 holds the oldest `per` records, page N always the same records; the
        default is the newest page. Records within a page are listed newest first."""
        extra = {"creator": creator} if creator else {}
        for _ in range(3):
            first = await self.node.get("/records", page=1, per_page=1, **extra)
            total = int(first["total"])
            pages = max(1, math.ceil(total / per))
            p = pages if page is None else page
            if p > pages:
                raise not_found(f"page {p} does not exist: there {'is' if pages == 1 else 'are'} {pages} "
                                f"page{'s' if pages != 1 else ''} of records")
            a, b = (p - 1) * per, min(total, p * per)  # oldest-first indices [a, b)
            lo, hi = total - b, total - a  # newest-first positions [lo, hi)
            recs, consistent = [], True
            if hi > lo:
                for q in range(lo // per + 1, (hi - 1) // per + 2):
                    res = await self.node.get("/records", page=q, per_page=per, **extra)
                    if int(res["total"]) != total:
                        consistent = False
                        break
                    base = (q - 1) * per
                    recs += [r for i, r in enumerate(res["records"]) if lo <= base + i < hi]
            if consistent:
                return {"total": total, "page": p, "pages": pages, "per_page": per,
                        "order": "newest first; page 1 holds the oldest records", "creator": creator,
                        "records": recs}
        raise ExplorerError(503, "records are arriving too fast to page through; try again")

    async def search(self, q: str) -> dict:
        t = (q or "").strip()
        if not t:
            raise bad("Type a block height, a block or transaction hash, a record id, a content SHA-256 "
                      "or a creator public key.")
        if t.isdigit() and len(t) < 40:  # 40 and 64 digits are an address or a hash that happens to be all digits
            h = parse_height(t)
            tip = await self.tip()
            if h > tip:
                raise not_found(f"Block {h} is beyond the tip of the chain (the latest block is {tip}).")
            return {"type": "block", "url": f"/block/{h}", "api": f"/api/block/{h}"}
        if HEX40.match(t):
            addr = t[-40:].upper()
            if addr in {v["address"] for v in await self.validators()}:
                return {"type": "validator", "url": f"/validators#v-{addr}", "api": "/api/validators"}
            raise not_found(f"No validator with address {addr}.")
        if not HEX64.match(t):
            raise bad(f"{t[:80]!r} is neither a block height nor a 64-hex-digit hash or public key.")
        hx = t[-64:].upper()
        blk = await self.node.get_or_none("/block_by_hash", hash=hx)
        if blk is not None:
            h = blk["block"]["header"]["height"]
            return {"type": "block", "url": f"/block/{h}", "api": f"/api/block/{h}"}
        tx = await self.node.get_or_none("/tx", hash=hx)
        if tx is not None:
            if decode_tx(tx["tx"]).get("kind") == RECORD_KIND and await self._record_or_none(id=hx):
                return {"type": "record", "url": f"/record/{hx}", "api": f"/api/record/{hx}"}
            return {"type": "tx", "url": f"/tx/{hx}", "api": f"/api/tx/{hx}"}
        rec = await self._record_or_none(content_sha256=hx)
        if rec is not None:
            rid = rec["record_id"]
            return {"type": "record", "url": f"/record/{rid}", "api": f"/api/record/{rid}",
                    "matched": "content_sha256" if rec["content_sha256"] == hx else "frames_sha256"}
        try:
            cr = await self.node.get("/records", creator=hx, page=1, per_page=1)
            if int(cr["total"]) > 0:
                return {"type": "creator", "url": f"/creator/{hx}", "api": f"/api/creator/{hx}"}
        except NodeAnswer:
            pass
        raise not_found(f"Nothing on this chain has the hash {hx}: no block, transaction, record, content "
                        "SHA-256 or creator with records.")

    async def _record_or_none(self, **params) -> dict | None:
        try:
            return await self.node.get_or_none("/record", fingerprint="false", **params)
        except NodeAnswer as exc:
            if exc.status == 400 and "no route" not in exc.message:
                raise
            return None

    async def record(self, rid: str, with_fingerprint: bool = True) -> dict:
        rid = parse_hex64(rid, "a record id")
        params = {"id": rid} if with_fingerprint else {"id": rid, "fingerprint": "false"}
        try:
            rec = await self.node.get("/record", **params)
        except NodeAnswer as exc:
            if exc.status == 404:
                raise not_found(f"No record with id {rid}.") from None
            raise
        return {**rec, "final": True}

    async def validators_view(self, window: int = DEFAULT_WINDOW) -> dict:
        st = await self.status()
        tip = int(st["sync_info"]["latest_block_height"])
        vals = await self.validators()
        lo = max(1, tip - window + 1)
        heights = range(lo, tip + 1) if tip else range(0)
        commits, online = await asyncio.gather(self.commits(heights), self.online(st))
        signers = {h: {s["validator_address"] for s in c["signatures"] if s.get("block_id_flag", 2) == 2}
                   for h, c in commits.items()}
        evidence = await self.recent_evidence(lo, tip) if tip else []
        double = {}
        for e in evidence:
            double.setdefault(e["validator_address"], []).append(e["height"])
        out = []
        for v in vals:
            a = v["address"]
            signed = [h for h in heights if a in signers.get(h, ())]
            out.append({**v, "last_signed_height": max(signed) if signed else None,
                        "signed": len(signed), "missed": len(commits) - len(signed),
                        "uptime": round(len(signed) / len(commits), 4) if commits else None,
                        **online["by_address"][a], "double_sign_evidence_heights": double.get(a, [])})
        return {"latest_height": tip, "window": {"from": lo if tip else 0, "to": tip, "blocks": len(commits)},
                "total_power": sum(v["voting_power"] for v in vals), "online": online["online"],
                "queried_node": online["queried_node"], "validators": out, "evidence": evidence}

    async def recent_evidence(self, lo: int, hi: int) -> list[dict]:
        found, h = [], hi
        while h >= lo:
            res = await self.node.get("/blockchain", minHeight=max(lo, h - 19), maxHeight=h)
            for m in res["block_metas"]:
                if m["header"]["evidence_hash"] not in (EMPTY_EVIDENCE_HASH, ""):
                    b = await self.node.get("/block", height=m["header"]["height"])
                    for e in (b["block"].get("evidence") or {}).get("evidence") or []:
                        va, vb = e["value"]["vote_a"], e["value"]["vote_b"]
                        found.append({"included_at": int(m["header"]["height"]), "height": int(e["value"]["height"]),
                                      "hash": e["value"]["hash"], "validator_address": va["validator_address"],
                                      "round": va["round"], "block_a": va["block_id"]["hash"],
                                      "block_b": vb["block_id"]["hash"]})
            h -= 20
        return found

    # --- trust + verification (synchronous code, run in the executor) -----------------------------
    def _trust_sync(self):
        from ..provenance.client import NodeClient
        from ..provenance.verify import load_trust
        with self._trust_lock:
            if self._trust is None:
                self._trust = load_trust(NodeClient(self.node_url), self.genesis_path)
            return self._trust

    def _verify_upload_sync(self, path: str, name: str) -> tuple[dict, float | None]:
        from ..provenance.client import NodeClient
        from ..provenance.verify import verify_file
        genesis, trust = self._trust_sync()
        res = verify_file(path, NodeClient(self.node_url), genesis, trust)
        res["file"] = name
        res["errors"] = [str(e).replace(path, name) for e in res["errors"]]
        return res, probe_duration(path) if res["verdict"] != "error" else None

    def _verify_record_sync(self, rid: str, sha: str | None, name: str) -> dict:
        from ..provenance.client import NodeClient
        from ..provenance.lightclient import prove_record
        from ..provenance.verify import SCHEMA_VERSION, decide
        genesis, trust = self._trust_sync()
        p = prove_record(NodeClient(self.node_url), bytes.fromhex(rid), genesis)
        if p.verified and sha is not None and p.record.file_sha256.hex().upper() != sha:
            raise ExplorerError(409, "the proven record's content SHA-256 is not the file's; upload the file "
                                     "to compare it by fingerprint")
        file_sha = bytes.fromhex(sha) if sha else (p.record.file_sha256 if p.record else b"")
        verdict, matches = decide(SimpleNamespace(file_sha256=file_sha, fingerprint=None), [p])
        return {"schema_version": SCHEMA_VERSION, "file": name, "content_sha256": sha or (file_sha.hex().upper() or None),
                "verdict": verdict, "matches": matches, "trust": trust, "errors": []}

    async def run_sync(self, fn, *args):
        from ..provenance.client import NodeError
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except NodeError as exc:
            raise ExplorerError(503, f"the node at {self.node_url} could not be asked: {exc}") from None
        except InvalidError as exc:
            raise ExplorerError(500, f"the trusted genesis could not be loaded: {exc}", "Trust not available") from None

    # --- live updates ----------------------------------------------------------------------------
    def broadcast(self, event: str, data) -> None:
        msg = f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
        for q in list(self.clients):
            try:
                q.put_nowait(msg)
            except asyncio.QueueFull:  # a client that doesn't read: drop it, EventSource reconnects
                self.clients.discard(q)
                try:
                    q.get_nowait()
                    q.put_nowait(None)
                except (asyncio.QueueEmpty, asyncio.QueueFull):
                    pass

    async def poll_loop(self) -> None:
        while True:
            try:
                await self.poll_once()
            except NodeDown as exc:
                if self.node_ok:
                    log.warning("%s", exc)
                    self.node_ok = False
                    self.broadcast("node", {"ok": False, "message": str(exc)})
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep polling whatever the node sends
                log.exception("poll failed")
            await asyncio.sleep(self.poll_interval)

    async def poll_once(self) -> None:
        st = await self.status()
        if not self.node_ok:
            self.node_ok = True
            self.broadcast("node", {"ok": True})
        h = int(st["sync_info"]["latest_block_height"])
        if self.last_height is None or h < self.last_height:
            self.last_height = h
            self.last_records = await self.record_count()
            return
        if h == self.last_height:
            return
        if self.clients:
            for b in await self.new_blocks(self.last_height, h):
                self.broadcast("block", b)
        self.last_height = h
        recs = await self.record_count()
        if self.clients and recs is not None and self.last_records is not None and recs > self.last_records:
            for r in await self.new_records(self.last_records, recs):
                self.broadcast("record", r)
        self.last_records = recs
        if self.clients:
            self.latest_summary = await self.summary(st)
            self.broadcast("status", self.latest_summary)

    async def new_blocks(self, since: int, tip: int) -> list[dict]:
        """Block summaries for heights (since, tip], oldest first, at most 20."""
        if tip <= since:
            return []
        res = await self.node.get("/blockchain", minHeight=max(since + 1, tip - 19), maxHeight=tip)
        return [block_summary(m) for m in reversed(res["block_metas"])]

    async def new_records(self, seen: int, total: int) -> list[dict]:
        if total <= seen:
            return []
        res = await self.node.get("/records", page=1, per_page=min(20, total - seen))
        return [record_summary(r) for r in reversed(res["records"])]

    async def api_events(self, request):
        """Server-sent events: `status`, `block`, `record`, `node`. ?since=H&records=N catch up first."""
        since = request.query.get("since", "")
        seen = request.query.get("records", "")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        q: asyncio.Queue = asyncio.Queue(maxsize=256)
        self.clients.add(q)
        try:
            await resp.write(b"retry: 2000\n\n")
            try:
                st = await self.status()
                summary = await self.summary(st)
                tip = summary["latest_height"]
                catch = []
                if since.isdigit():
                    catch += [("block", b) for b in await self.new_blocks(int(since), tip)]
                if seen.isdigit() and summary["records"] is not None:
                    catch += [("record", r) for r in await self.new_records(int(seen), summary["records"])]
                for ev, data in catch + [("status", summary)]:
                    await resp.write(f"event: {ev}\ndata: {json.dumps(data)}\n\n".encode())
            except NodeDown as exc:
                await resp.write(f"event: node\ndata: {json.dumps({'ok': False, 'message': str(exc)})}\n\n".encode())
            while True:
                try:
                    msg = await asyncio.wait_for(q.get(), 15)
                except asyncio.TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if msg is None:
                    break
                await resp.write(msg)
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.clients.discard(q)
        return resp

    # --- API -------------------------------------------------------------------------------------
    async def api_index(self, request):
        return web.json_response({
            "name": "provchain explorer", "node": self.node_url, "upload_cap_bytes": self.upload_cap,
            "trust": "genesis_file" if self.genesis_path else "node",
            "routes": {
                "GET /api/status": "chain id, latest height and block time, validators online, records",
                "GET /api/blocks?limit=N": "latest blocks (N <= 20)",
                "GET /api/block/{height}": "a block: header, proposer, commit signatures, txs, evidence",
                "GET /api/block_by_hash/{hash}": "the same by block hash",
                "GET /api/tx/{hash}": "a transaction",
                "GET /api/record/{id}": "a provenance record (fingerprint included)",
                "GET /api/record?content_sha256=HEX": "the record of a file by its SHA-256",
                "GET /api/record/{id}/fingerprint.png": "the fingerprint as a picture",
                "GET /api/records?page=N&per_page=M": "all records, stable pages (1 = oldest), newest page by default",
                "GET /api/creator/{pubkey}?page=N&per_page=M": "a creator's records, stable pages",
                "GET /api/validators?window=N": "voting power, last signed, missed blocks, double-sign evidence",
                "GET /api/search?q=": "where a height, hash, record id, content SHA-256 or key leads",
                "GET /api/verify/record/{id}?content_sha256=HEX": "prove a record (the exact-hash path)",
                "POST /api/verify": "upload a clip (raw body or multipart 'file'); the verify --json result",
                "GET /api/events": "server-sent events: status, block, record, node",
            }})

    async def api_health(self, request):
        """The explorer itself is up (what `provchain devnet` waits for); says whether the node answers."""
        return web.json_response({"ok": True, "node_ok": self.node_ok})

    async def api_status(self, request):
        return web.json_response(await self.summary())

    async def api_blocks(self, request):
        raw = request.query.get("limit", str(HOME_ROWS))
        if not raw.isdigit() or not 1 <= int(raw) <= 20:
            raise bad("limit must be a whole number from 1 to 20")
        return web.json_response({"blocks": await self.latest_blocks(int(raw))})

    async def api_block(self, request):
        return web.json_response(await self.block_view(height=parse_height(request.match_info["height"])))

    async def api_block_by_hash(self, request):
        return web.json_response(await self.block_view(bhash=parse_hex64(request.match_info["hash"], "a block hash")))

    async def tx_view(self, th: str) -> dict:
        th = parse_hex64(th, "a transaction hash")
        try:
            res = await self.node.get("/tx", hash=th)
        except NodeAnswer as exc:
            if exc.status == 404:
                raise not_found(f"No committed transaction with hash {th}.") from None
            raise
        info = decode_tx(res["tx"])
        info.update(height=int(res["height"]), index=res["index"], code=res["tx_result"]["code"],
                    log=res["tx_result"]["log"], final=True)
        return info

    async def api_tx(self, request):
        return web.json_response(await self.tx_view(request.match_info["hash"]))

    async def api_record(self, request):
        return web.json_response(await self.record(request.match_info["id"],
                                                   request.query.get("fingerprint", "true") != "false"))

    async def api_record_query(self, request):
        q = request.query
        fp = q.get("fingerprint", "true") != "false"
        if "id" in q:
            return web.json_response(await self.record(q["id"], fp))
        if "content_sha256" not in q:
            raise bad("give ?id=RECORD_ID or ?content_sha256=HEX")
        sha = parse_hex64(q["content_sha256"], "content_sha256")
        rec = await self.node.get_or_none("/record", content_sha256=sha, fingerprint="true" if fp else "false")
        if rec is None:
            raise not_found(f"No record has the content SHA-256 {sha}.")
        return web.json_response({**rec, "final": True})

    async def api_fingerprint_png(self, request):
        rec = await self.record(request.match_info["id"])
        try:
            png = fingerprint_png(fingerprint_from_b64(rec["fingerprint"]["data"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ExplorerError(502, f"the node sent a fingerprint that can't be read: {exc}") from None
        return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "max-age=86400"})

    async def api_records(self, request):
        return web.json_response(await self.records_page(parse_page(request), per=parse_per_page(request)))

    async def api_creator(self, request):
        pk = parse_hex64(request.match_info["pubkey"], "a creator public key")
        return web.json_response(await self.records_page(parse_page(request), creator=pk, per=parse_per_page(request)))

    def _window(self, request) -> int:
        raw = request.query.get("window", str(DEFAULT_WINDOW))
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_WINDOW:
            raise bad(f"window must be a whole number of blocks from 1 to {MAX_WINDOW}")
        return int(raw)

    async def api_validators(self, request):
        return web.json_response(await self.validators_view(self._window(request)))

    async def api_search(self, request):
        return web.json_response(await self.search(request.query.get("q", "")))

    async def api_verify_record(self, request):
        rid = parse_hex64(request.match_info["id"], "a record id")
        sha = request.query.get("content_sha256")
        sha = parse_hex64(sha, "content_sha256") if sha else None
        name = request.query.get("file", "")[:200] or f"record {rid[:16]}…"
        await self.record(rid, with_fingerprint=False)  # 404 for an unknown id before any proof work
        res = await self.run_sync(self._verify_record_sync, rid, sha, name)
        rec_dur = None
        if res["matches"] and res["matches"][0]["segments"]:
            rec_dur = res["matches"][0]["segments"][0]["query_end_s"]
        return web.json_response({"method": "exact_hash", "uploaded": False,
                                  "clip": {"name": name, "duration_s": rec_dur}, "verify": res})

    async def api_verify(self, request):
        """Stream an upload to a temp file (size-capped), run verify_file on it, delete it in all cases."""
        cap = self.upload_cap
        if request.content_length is not None and request.content_length > cap:
            raise self._too_large()
        name = unquote(request.headers.get("X-Filename", ""))
        fd, path = tempfile.mkstemp(prefix="provchain-upload-", suffix=".bin")
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                if request.content_type.startswith("multipart/"):
                    reader = await request.multipart()
                    part = None
                    while True:
                        part = await reader.next()
                        if part is None or getattr(part, "filename", None) is not None or part.name == "file":
                            break
                    if part is None:
                        raise bad("the form has no file field")
                    name = part.filename or name
                    chunks = part
                    while True:
                        chunk = await chunks.read_chunk(1 << 16)
                        if not chunk:
                            break
                        size += len(chunk)
                        if size > cap:
                            raise self._too_large()
                        f.write(chunk)
                else:
                    async for chunk in request.content.iter_chunked(1 << 16):
                        size += len(chunk)
                        if size > cap:
                            raise self._too_large()
                        f.write(chunk)
            name = os.path.basename(name.replace("\\", "/"))[:200] or "upload"
            if size == 0:
                raise bad(f"{name} is empty (0 bytes): drop a video file")
            async with self._verify_sem:
                res, dur = await self.run_sync(self._verify_upload_sync, path, name)
        finally:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        body = {"method": "upload", "uploaded": True, "clip": {"name": name, "size": size, "duration_s": dur},
                "verify": res}
        if res["verdict"] == "error":
            if res["content_sha256"] is None:
                raise ExplorerError(422, "; ".join(res["errors"]) or f"{name} is not a readable video", extra=body)
            raise ExplorerError(503, "; ".join(res["errors"]) or "the node could not be asked", extra=body)
        return web.json_response(body)

    def _too_large(self) -> ExplorerError:
        mb = self.upload_cap / (1024 * 1024)
        return ExplorerError(413, f"the file is larger than this explorer's upload cap of {mb:g} MB; "
                                  "use the `verify` command for big files")

    # --- pages -----------------------------------------------------------------------------------
    def html(self, title: str, body, active: str = "", scripts=(), status: int = 200, query: str = "") -> web.Response:
        return web.Response(text=H.page(title, Markup(body), active=active, scripts=scripts, query=query),
                            status=status, content_type="text/html")

    def block_rows(self, blocks: list[dict], vals: list[dict]) -> list:
        idx = {v["address"]: v["index"] for v in vals}
        return [[H.link(f"/block/{b['height']}", b["height"]), H.time_tag(b["time"]), b["num_txs"],
                 H.tag("span", f"validator {idx[b['proposer']]}" if b["proposer"] in idx else H.short(b["proposer"]),
                       title=b["proposer"]),
                 H.hash_link(f"/block/{b['height']}", b["hash"], 6)] for b in blocks]

    @staticmethod
    def record_rows(recs: list[dict], with_creator: bool = True) -> list:
        rows = []
        for r in recs:
            m = r.get("media") or {}
            row = [H.hash_link(f"/record/{r['record_id']}", r["record_id"], 6)]
            if with_creator:
                row.append(H.hash_link(f"/creator/{r['creator']}", r["creator"], 6))
            model = (r.get("generator") or {}).get("model")
            media = f"{H.duration(m.get('duration_ms'))} · {m.get('width')}×{m.get('height')}" if m else ""
            row += [H.link(f"/block/{r['height']}", r["height"]), H.time_tag(r["block_time"]),
                    media + (f" · {model}" if model else "")]
            rows.append(row)
        return rows

    async def page_home(self, request):
        st = await self.status()
        summary, vals = await asyncio.gather(self.summary(st), self.validators())
        tip = summary["latest_height"]
        blocks = await self.latest_blocks(HOME_ROWS, tip)
        recs = []
        if summary["records"]:
            recs = (await self.node.get("/records", page=1, per_page=HOME_ROWS))["records"]
        v = summary["validators"]
        body = H.render(
            "home.html", chain_id=summary["chain_id"], height=tip,
            height_link=H.link(f"/block/{tip}", tip, id="latest-height") if tip else H.tag("span", "0", id="latest-height"),
            block_time=H.time_tag(summary["latest_block_time"]) if tip else "—",
            block_time_abs=H.utc(summary["latest_block_time"]),
            online=f"{v['online']} / {v['total']}", online_power=f"{v['online_power']} of {v['total_power']} voting power",
            records="—" if summary["records"] is None else summary["records"],
            records_count=summary["records"] if summary["records"] is not None else "",
            blocks=H.table(["Height", "Time", "Txs", "Proposer", "Hash"], self.block_rows(blocks, vals),
                           tbody_id="blocks-body", empty="No blocks yet."),
            recs=H.table(["Record", "Creator", "Height", "Registered", "Media"], self.record_rows(recs),
                         tbody_id="records-body", empty="No records registered yet."),
            validators_json=json.dumps({x["address"]: x["index"] for x in vals}))
        return self.html("Home", body, "home", scripts=("home.js",))

    async def page_search(self, request):
        q = request.query.get("q", "")
        res = await self.search(q)
        raise web.HTTPFound(res["url"])

    async def page_block_by_hash(self, request):
        v = await self.block_view(bhash=parse_hex64(request.match_info["hash"], "a block hash"))
        raise web.HTTPFound(f"/block/{v['height']}")

    async def page_block(self, request):
        b = await self.block_view(height=parse_height(request.match_info["height"]))
        hd = b["header"]
        vals = await self.validators()
        idx = {v["address"]: v["index"] for v in vals}
        prop = b["proposer"]
        header_rows = [
            ("Height", H.Markup(f"{b['height']} {H.tag('span', 'final', class_='badge ok', title='BFT blocks are final once committed: no confirmations to wait for')}")),
            ("Block hash", H.mono(b["hash"])), ("Chain id", hd["chain_id"]),
            ("Time", H.time_tag(hd["time"], with_abs=True)),
            ("Proposer", H.Markup(f"{esc('validator ' + str(prop['validator_index']) if prop['validator_index'] is not None else 'unknown')} "
                                  f"{H.mono(prop['address'])}")),
            ("Transactions", len(b["txs"])),
            ("Previous block", H.hash_link(f"/block/{b['height'] - 1}", hd["last_block_id"]["hash"]) if b["prev"] else "— (first block)"),
            ("Last commit hash", H.mono(hd["last_commit_hash"])), ("Data hash", H.mono(hd["data_hash"])),
            ("Validators hash", H.mono(hd["validators_hash"])), ("App hash", H.mono(hd["app_hash"])),
            ("Evidence hash", H.mono(hd["evidence_hash"])),
        ]
        c = b["commit"]
        sig_rows = [[H.tag("span", f"validator {s['validator_index']}" if s["validator_index"] is not None else "unknown"),
                     H.mono(s["validator_address"]), s["voting_power"], H.time_tag(s["timestamp"])]
                    for s in c["signatures"]]
        sig_rows += [[H.tag("span", f"validator {idx.get(a, '?')}"), H.mono(a), H.tag("span", "did not sign", class_="muted"), "—"]
                     for a in c["not_signed"]]
        tx_rows = [[i, H.hash_link(f"/record/{t['hash']}" if t.get("record_id") else f"/tx/{t['hash']}", t["hash"], 8),
                    t["kind"] or H.tag("span", "undecodable", class_="bad"),
                    H.hash_link(f"/creator/{t['sender']}", t["sender"], 6) if t["sender"] else "—", t["nonce"], f"{t['size']} B"]
                   for i, t in enumerate(b["txs"])]
        ev_rows = [[H.mono(e["validator_address"]), e["height"], H.mono(e["vote_a"]["block_id"]["hash"][:16] + "…"),
                    H.mono(e["vote_b"]["block_id"]["hash"][:16] + "…")] for e in b["evidence"]]
        nav = H.Markup(
            (H.link(f"/block/{b['prev']}", f"‹ Block {b['prev']}", rel="prev") if b["prev"] else H.tag("span", "‹ first block", class_="disabled"))
            + H.tag("span", f"latest is {b['latest_height']}", class_="current")
            + (H.link(f"/block/{b['next']}", f"Block {b['next']} ›", rel="next") if b["next"] else H.tag("span", "latest block ›", class_="disabled")))
        body = H.render(
            "block.html", height=b["height"], nav=nav, header=H.kv_table(header_rows),
            commit_summary=f"{len(c['signatures'])} of {len(vals)} validators signed in round {c['round']}: "
                           f"{c['signed_power']} of {c['total_power']} voting power "
                           f"({100 * c['signed_power'] / max(1, c['total_power']):.0f}%, more than ⅔ needed).",
            commit=H.table(["Validator", "Address", "Voting power", "Signed"], sig_rows),
            txs=H.table(["#", "Hash", "Kind", "Sender", "Nonce", "Size"], tx_rows, empty="No transactions in this block."),
            evidence=H.table(["Validator", "Height", "Vote A for", "Vote B for"], ev_rows, empty="None.") if ev_rows else "",
            evidence_title="Evidence of double signing" if ev_rows else "")
        return self.html(f"Block {b['height']}", body)

    async def page_tx(self, request):
        t = await self.tx_view(request.match_info["hash"])
        if t.get("record_id") and await self._record_or_none(id=t["hash"]):
            raise web.HTTPFound(f"/record/{t['hash']}")
        rows = [("Hash", H.mono(t["hash"])),
                ("Status", H.Markup(H.tag("span", "final", class_="badge ok") + " " + esc(f"code {t['code']}" + (f": {t['log']}" if t["log"] else "")))),
                ("Block", H.link(f"/block/{t['height']}", t["height"])), ("Index in block", t["index"]),
                ("Kind", t["kind"] or "undecodable"), ("Sender", H.mono(t["sender"]) if t["sender"] else "—"),
                ("Nonce", t["nonce"]), ("Size", f"{t['size']} bytes")]
        body = H.render("tx.html", hash=H.short(t["hash"], 10), table=H.kv_table(rows),
                        raw=json.dumps(t, indent=2))
        return self.html("Transaction", body)

    async def page_record(self, request):
        r = await self.record(request.match_info["id"])
        m, g = r["media"], r.get("generator")
        rid = r["record_id"]
        fp_rows = r["fingerprint"].get("samples", 0)
        rows = [
            ("Record id", H.mono(rid)),
            ("Status", H.Markup(H.tag("span", "final", class_="badge ok") + " committed in "
                                + H.link(f"/block/{r['height']}", f"block {r['height']}") + esc(f" (tx #{r['index']})"))),
            ("Creator", H.Markup(H.link(f"/creator/{r['creator']}", H.tag("code", r["creator"], class_="hash")))),
            ("Block time", H.time_tag(r["block_time"], with_abs=True)),
            ("Claimed creation time", H.utc(r["claimed_time"])),
            ("File SHA-256", H.mono(r["content_sha256"])), ("Frames SHA-256", H.mono(r["frames_sha256"])),
        ]
        media = [("Duration", H.duration(m["duration_ms"])), ("Frame size", f"{m['width']} × {m['height']}"),
                 ("Frame rate", f"{m['fps']:g} fps"), ("Codec", m["codec"]), ("Container", m["container"])]
        if g:
            gen = [("Model", g["model"]), ("Weights SHA-256", H.mono(g["weights_sha256"])),
                   ("Prompt SHA-256", H.mono(g["prompt_sha256"])), ("Seed", g["seed"])]
            gen += [(f"Setting: {k}", v) for k, v in sorted(g.get("settings", {}).items())]
            gen_html = H.kv_table(gen)
        else:
            gen_html = H.tag("p", "No generator facts: the creator did not say which model made this clip.", class_="muted")
        parents = (H.Markup("<ul class=\"plain\">" + "".join(f"<li>{H.hash_link('/record/' + p, p, 10)}</li>" for p in r["parents"]) + "</ul>")
                   if r["parents"] else H.tag("p", "None: this clip was not declared as an edit of another record.", class_="muted"))
        raw = dict(r)
        body = H.render(
            "record.html", rid=rid, short_id=H.short(rid, 8), table=H.kv_table(rows), media=H.kv_table(media),
            generator=gen_html, parents=parents, samples=fp_rows, alg=r["fingerprint"].get("alg", ""),
            fp_src=f"/api/record/{rid}/fingerprint.png",
            fp_width=256 * CELL_W, fp_height=max(1, fp_rows) * row_height(fp_rows), raw=json.dumps(raw, indent=2))
        return self.html(f"Record {H.short(rid, 6)}", body, scripts=("record.js",))

    async def _records_listing(self, request, creator: str | None):
        page, per = parse_page(request), parse_per_page(request)
        res = await self.records_page(page, creator=creator, per=per)
        keep = {"per_page": per} if per != PER_PAGE else {}
        base = f"/creator/{creator}" if creator else "/records"
        first = (res["page"] - 1) * res["per_page"] + 1
        last = first + len(res["records"]) - 1
        span = (f"Records {first}–{last} of {res['total']} (page {res['page']} of {res['pages']}; page 1 holds the "
                f"oldest, so a page link always shows the same records)") if res["records"] else "No records yet."
        body = H.render("records.html",
                        heading="Creator" if creator else "All records",
                        who=H.Markup(f"<p class=\"wrap\">Public key {H.mono(creator)}<br>Address {H.mono(crypto.address_of(bytes.fromhex(creator)).hex().upper())}</p>") if creator else "",
                        span=span, pager=H.pager(base, res["page"], res["pages"], keep),
                        table=H.table(["Record", "Creator", "Height", "Registered", "Media"] if not creator else
                                      ["Record", "Height", "Registered", "Media"],
                                      self.record_rows(res["records"], with_creator=not creator),
                                      empty="This creator has no records." if creator else "No records yet."),
                        api=f"/api{'/creator/' + creator if creator else '/records'}?page={res['page']}"
                            + (f"&per_page={per}" if keep else ""))
        return self.html(f"Creator {H.short(creator, 6)}" if creator else "Records", body,
                         "" if creator else "records")

    async def page_records(self, request):
        return await self._records_listing(request, None)

    async def page_creator(self, request):
        return await self._records_listing(request, parse_hex64(request.match_info["pubkey"], "a creator public key"))

    async def page_validators(self, request):
        window = self._window(request)
        v = await self.validators_view(window)
        rows = []
        for x in v["validators"]:
            state = (H.tag("span", "online", class_="badge ok") if x["online"] else H.tag("span", "offline", class_="badge bad"))
            ds = (H.tag("span", f"double-signed at {', '.join(map(str, x['double_sign_evidence_heights']))}", class_="badge bad")
                  if x["double_sign_evidence_heights"] else H.tag("span", "none", class_="muted"))
            rows.append([H.Markup(f'<span id="v-{esc(x["address"])}">validator {x["index"]}</span>'
                                  + (" " + H.tag("span", "queried node", class_="badge") if x["address"] == v["queried_node"] else "")),
                         H.tag("code", H.short(x["address"], 6), class_="hash", title=x["address"]), x["voting_power"],
                         H.link(f"/block/{x['last_signed_height']}", x["last_signed_height"]) if x["last_signed_height"] else "—",
                         H.Markup(f"{x['missed']} <span class=\"muted\">of {v['window']['blocks']}</span>"),
                         f"{100 * x['uptime']:.1f}%" if x["uptime"] is not None else "—", state, ds])
        ev_rows = [[H.mono(e["validator_address"]), e["height"], e["round"], H.link(f"/block/{e['included_at']}", e["included_at"]),
                    H.mono(H.short(e["block_a"], 6)), H.mono(H.short(e["block_b"], 6))] for e in v["evidence"]]
        w = v["window"]
        body = H.render(
            "validators.html", count=len(v["validators"]), online=v["online"], total_power=v["total_power"],
            window=f"blocks {w['from']}–{w['to']} ({w['blocks']} commits)",
            table=H.table(["Validator", "Address", "Voting power", "Last signed", "Missed", "Signed", "Status", "Double signing"], rows),
            evidence=H.table(["Validator", "Height", "Round", "Included in", "Vote A for", "Vote B for"], ev_rows,
                             empty="No evidence of double signing in these blocks."),
            windows=H.join([H.link(f"/validators?window={n}", f"last {n}", "active" if n == window else None)
                            for n in (20, 100, 500)], " · "))
        return self.html("Validators", body, "validators")

    async def page_verify(self, request):
        mb = self.upload_cap / (1024 * 1024)
        trust = ("Proofs are checked against the genesis file given to this explorer."
                 if self.genesis_path else
                 "Trust note: this explorer took the validator set from the node it reads; run it with "
                 "--genesis PATH (or use the verify command with --genesis) to check against a genesis file you trust.")
        body = H.render("verify.html", cap=f"{mb:g} MB", cap_bytes=self.upload_cap, trust=trust,
                        trust_cls="" if self.genesis_path else "warn")
        return self.html("Verify a clip", body, "verify", scripts=("verify.js",))


def make_app(node_url: str = "http://127.0.0.1:26657", genesis_path: str | None = None,
             upload_cap_mb: float = 200, poll_interval: float = 1.0) -> web.Application:
    return Explorer(node_url, genesis_path, upload_cap_mb, poll_interval).make_app()


def run(node_url: str, host: str = "127.0.0.1", port: int = 8080, genesis_path: str | None = None,
        upload_cap_mb: float = 200) -> int:
    import sys
    if genesis_path:
        try:
            Genesis.from_json(Path(genesis_path).read_text())
        except (OSError, InvalidError) as exc:
            print(f"error: cannot use genesis {genesis_path}: {exc}", file=sys.stderr)
            return 2
    if upload_cap_mb <= 0:
        print("error: --upload-cap-mb must be positive", file=sys.stderr)
        return 2
    app = make_app(node_url, genesis_path, upload_cap_mb)
    print(f"explorer: http://{host}:{port} reading node {node_url}", file=sys.stderr, flush=True)
    try:
        web.run_app(app, host=host, port=port, print=None, access_log=None, shutdown_timeout=5)
    except OSError as exc:
        print(f"error: cannot serve on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0

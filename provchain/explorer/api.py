"""The JSON API under /api/: the same facts the pages show, for scripts (documented at GET /api)."""

from __future__ import annotations

from aiohttp import web

from .chain import HOME_ROWS, Chain, record_view
from .errors import (ExplorerError, bad, not_found, parse_height, parse_hex64, parse_page, parse_per_page,
                     parse_window)
from .events import Events
from .fpimage import fingerprint_from_b64, fingerprint_png, strip_png
from .previews import PreviewStore
from .search import search

ROUTES_DOC = {
    "GET /api/status": "chain id, latest height and block time, validators online, records",
    "GET /api/blocks?limit=N": "latest blocks (N <= 20)",
    "GET /api/block/{height}": "a block: header, proposer, commit signatures, txs, evidence",
    "GET /api/block_by_hash/{hash}": "the same by block hash",
    "GET /api/tx/{hash}": "a transaction",
    "GET /api/record/{id}": "a provenance record (fingerprint included)",
    "GET /api/record?content_sha256=HEX": "the record of a file by its SHA-256",
    "GET /api/record/{id}/fingerprint.png": "the fingerprint as a picture",
    "GET /api/record/{id}/strip.png": "the fingerprint as a time strip (one tile per sampled frame)",
    "GET /api/record/{id}/poster.png": "the clip's first frame, when a Verify upload gave the explorer the clip (else 404)",
    "GET /api/record/{id}/preview.mp4": "its first 3 s, small and silent (H.264), likewise",
    "GET /api/record/{id}/related": "records of the same content registered earlier and later (judged here)",
    "GET /api/records?page=N&per_page=M": "all records, stable pages (1 = oldest), newest page by default",
    "GET /api/creator/{pubkey}?page=N&per_page=M": "a creator's records, stable pages",
    "GET /api/validators?window=N": "voting power, last signed, missed blocks, double-sign evidence",
    "GET /api/search?q=": "where a height, hash, record id, content SHA-256 or key leads",
    "GET /api/verify/record/{id}?content_sha256=HEX": "prove a record (the exact-hash path)",
    "POST /api/verify": "upload a clip (raw body or multipart 'file'); the verify --json result",
    "GET /api/events": "server-sent events: status, block, record, node",
}


class Api:
    def __init__(self, chain: Chain, events: Events, genesis_path: str | None, upload_cap: int,
                 previews: PreviewStore | None = None):
        self.chain = chain
        self.previews = previews or PreviewStore()
        self.events = events
        self.genesis_path = genesis_path
        self.upload_cap = upload_cap

    def routes(self):
        return [("GET", path, handler) for path, handler in [
            ("/api", self.index), ("/api/", self.index), ("/api/health", self.health),
            ("/api/status", self.status), ("/api/blocks", self.blocks), ("/api/block/{height}", self.block),
            ("/api/block_by_hash/{hash}", self.block_by_hash), ("/api/tx/{hash}", self.tx),
            ("/api/record", self.record_query), ("/api/record/{id}", self.record),
            ("/api/record/{id}/fingerprint.png", self.fingerprint_png),
            ("/api/record/{id}/strip.png", self.strip_png),
            ("/api/record/{id}/poster.png", self.poster), ("/api/record/{id}/preview.mp4", self.poster),
            ("/api/record/{id}/related", self.related),
            ("/api/records", self.records), ("/api/creator/{pubkey}", self.creator),
            ("/api/validators", self.validators), ("/api/search", self.search),
        ]]

    async def index(self, request):
        return web.json_response({
            "name": "provchain explorer", "node": self.chain.node_url, "upload_cap_bytes": self.upload_cap,
            "trust": "genesis_file" if self.genesis_path else "node", "routes": ROUTES_DOC})

    async def health(self, request):
        """The explorer itself is up (what `provchain devnet` waits for); says whether the node answers."""
        return web.json_response({"ok": True, "node_ok": self.events.node_ok})

    async def status(self, request):
        return web.json_response(await self.chain.summary())

    async def blocks(self, request):
        raw = request.query.get("limit", str(HOME_ROWS))
        if not raw.isdigit() or not 1 <= int(raw) <= 20:
            raise bad("limit must be a whole number from 1 to 20")
        return web.json_response({"blocks": await self.chain.latest_blocks(int(raw))})

    async def block(self, request):
        return web.json_response(await self.chain.block_view(height=parse_height(request.match_info["height"])))

    async def block_by_hash(self, request):
        h = parse_hex64(request.match_info["hash"], "a block hash")
        return web.json_response(await self.chain.block_view(bhash=h))

    async def tx(self, request):
        return web.json_response(await self.chain.tx_view(request.match_info["hash"]))

    async def record(self, request):
        return web.json_response(await self.chain.record(request.match_info["id"],
                                                         request.query.get("fingerprint", "true") != "false"))

    async def record_query(self, request):
        q = request.query
        fp = q.get("fingerprint", "true") != "false"
        if "id" in q:
            return web.json_response(await self.chain.record(q["id"], fp))
        if "content_sha256" not in q:
            raise bad("give ?id=RECORD_ID or ?content_sha256=HEX")
        sha = parse_hex64(q["content_sha256"], "content_sha256")
        rec = await self.chain.node.get_or_none("/record", content_sha256=sha, fingerprint="true" if fp else "false")
        if rec is None:
            raise not_found(f"No record has the content SHA-256 {sha}.")
        return web.json_response({**record_view(rec), "final": True})

    async def _fingerprint_picture(self, request, draw):
        rec = await self.chain.record(request.match_info["id"])
        try:
            png = draw(fingerprint_from_b64(rec["fingerprint"]["data"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ExplorerError(502, f"the node sent a fingerprint that can't be read: {exc}") from None
        return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "max-age=86400"})

    async def fingerprint_png(self, request):
        return await self._fingerprint_picture(request, fingerprint_png)

    async def strip_png(self, request):
        return await self._fingerprint_picture(request, strip_png)

    async def poster(self, request):
        """poster.png / preview.mp4 of a record whose clip the explorer has (a Verify upload)."""
        rid = parse_hex64(request.match_info["id"], "a record id")
        name = request.path.rsplit("/", 1)[-1]
        path = self.previews.get(rid, name)
        if path is None:
            raise not_found(f"This explorer has no copy of record {rid}'s clip (only of clips uploaded on its "
                            "Verify page); its fingerprint strip is at /api/record/{id}/strip.png.")
        return web.FileResponse(path, headers={"Cache-Control": "max-age=3600",
                                               "Content-Type": "image/png" if name.endswith(".png") else "video/mp4"})

    async def related(self, request):
        return web.json_response(await self.chain.related(await self.chain.record(request.match_info["id"])))

    async def records(self, request):
        return web.json_response(await self.chain.records_page(parse_page(request), per=parse_per_page(request)))

    async def creator(self, request):
        pk = parse_hex64(request.match_info["pubkey"], "a creator public key")
        return web.json_response(await self.chain.records_page(parse_page(request), creator=pk,
                                                               per=parse_per_page(request)))

    async def validators(self, request):
        return web.json_response(await self.chain.validators_view(parse_window(request)))

    async def search(self, request):
        return web.json_response(await search(self.chain, request.query.get("q", "")))

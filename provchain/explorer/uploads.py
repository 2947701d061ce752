"""The verify flow behind the Verify page: an uploaded clip goes through `provenance.verify.verify_file`
exactly as the `verify` command runs it; an exact SHA-256 hit (computed in the browser, so the file
never leaves it) is proven by record id with `lightclient.prove_record` and judged by `verify.judge`.
Proofs are checked against the genesis validator set (`--genesis PATH`, otherwise taken from the node
with the trust warning). An uploaded clip's C2PA manifest is read and checked like `verify` does
(`--c2pa-trust PEM` anchors); a clip found by its hash alone was not uploaded, so its manifest is not read.

Uploads are streamed to a temporary file (capped at `upload_cap` bytes) and deleted in every case;
one verification runs at a time, in a worker thread, so pages stay responsive.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from urllib.parse import unquote

from aiohttp import web

from ..chain.types import Genesis, InvalidError
from .chain import Chain
from .errors import ExplorerError, bad, parse_hex64
from .previews import PreviewStore


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


class Uploads:
    def __init__(self, chain: Chain, genesis_path: str | None, upload_cap: int, c2pa_trust: str | None = None,
                 previews: PreviewStore | None = None):
        self.previews = previews
        self.chain = chain
        self.node_url = chain.node_url
        self.genesis_path = genesis_path
        self.upload_cap = upload_cap
        self.c2pa_trust = c2pa_trust
        self._trust: tuple[Genesis, dict] | None = None
        self._trust_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="explorer-verify")
        self._verify_sem: asyncio.Semaphore | None = None

    def routes(self):
        return [("GET", "/api/verify/record/{id}", self.api_verify_record), ("POST", "/api/verify", self.api_verify)]

    async def start(self) -> None:
        self._verify_sem = asyncio.Semaphore(1)

    def stop(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- synchronous verification (runs in the executor) ------------------------------------------
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
        res = verify_file(path, NodeClient(self.node_url), genesis, trust, c2pa_trust=self.c2pa_trust)
        res["file"] = name
        res["errors"] = [str(e).replace(path, name) for e in res["errors"]]
        if self.previews is not None:
            self.previews.keep(path, res)  # a picture for the record page, when the clip is the record's
        return res, probe_duration(path) if res["verdict"] != "error" else None

    def _verify_record_sync(self, rid: str, sha: str | None, name: str) -> dict:
        """Prove the record, then judge it like `verify` does a file: the other records the node offers
        for its proven fingerprint are proven too, so an earlier registrant of the same content is named."""
        from ..provenance.c2pa_read import not_read
        from ..provenance.c2pa_sign import SETTING
        from ..provenance.client import NodeClient
        from ..provenance.lightclient import prove_record
        from ..provenance.match import evidence_shortfall
        from ..provenance.verify import empty_result, judge, prove_candidates
        genesis, trust = self._trust_sync()
        client = NodeClient(self.node_url)
        p = prove_record(client, bytes.fromhex(rid), genesis)
        if p.verified and sha is not None and p.record.file_sha256.hex().upper() != sha:
            raise ExplorerError(409, "the proven record's content SHA-256 is not the file's; upload the file "
                                     "to compare it by fingerprint")
        file_sha = bytes.fromhex(sha) if sha else (p.record.file_sha256 if p.record else b"")
        fp = p.record.fingerprint if p.verified and not evidence_shortfall(p.record.fingerprint) else None
        signed = p.verified and dict(p.record.generator.settings if p.record.generator else ()).get(SETTING) == 1
        out = {**empty_result(name, trust), "content_sha256": sha or (file_sha.hex().upper() or None),
               "c2pa": not_read("the file was not uploaded (found by its SHA-256), so its C2PA manifest was not "
                                "read here; the `verify` command reads it" + (
                                    ". The proven record says the registered file, byte-identical to this one, "
                                    "carries a C2PA manifest signed by its creator" if signed else ""))}
        try:
            others = [q for q in prove_candidates(client, genesis, [], fp) if q.record_id != p.record_id]
        except (KeyError, TypeError, ValueError) as exc:
            return {**out, "verdict": "invalid", "errors": [f"the node sent malformed candidates: {exc}"]}
        return {**out, **judge(SimpleNamespace(file_sha256=file_sha, fingerprint=fp), [p] + others)}

    async def run_sync(self, fn, *args):
        from ..provenance.client import NodeError
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except NodeError as exc:
            raise ExplorerError(503, f"the node at {self.node_url} could not be asked: {exc}") from None
        except InvalidError as exc:
            raise ExplorerError(500, f"the trusted genesis could not be loaded: {exc}", "Trust not available") from None

    # --- handlers ----------------------------------------------------------------------------------
    async def api_verify_record(self, request):
        rid = parse_hex64(request.match_info["id"], "a record id")
        sha = request.query.get("content_sha256")
        sha = parse_hex64(sha, "content_sha256") if sha else None
        name = request.query.get("file", "")[:200] or f"record {rid[:16]}…"
        await self.chain.record(rid, with_fingerprint=False)  # 404 for an unknown id before any proof work
        res = await self.run_sync(self._verify_record_sync, rid, sha, name)
        rec_dur = None
        if res["matches"] and res["matches"][0]["segments"]:
            rec_dur = res["matches"][0]["segments"][0]["query_end_s"]
        return web.json_response({"method": "exact_hash", "uploaded": False,
                                  "clip": {"name": name, "duration_s": rec_dur}, "verify": res})

    async def api_verify(self, request):
        """Stream an upload to a temp file (size-capped), run verify_file on it, delete it in all cases."""
        if request.content_length is not None and request.content_length > self.upload_cap:
            raise self._too_large()
        fd, path = tempfile.mkstemp(prefix="provchain-upload-", suffix=".bin")
        try:
            with os.fdopen(fd, "wb") as f:
                name, size = await self._receive(request, f)
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

    async def _receive(self, request, f) -> tuple[str, int]:
        """Copy the body (raw, or a multipart form's file field) into `f`; returns (file name, size)."""
        name = unquote(request.headers.get("X-Filename", ""))
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None or getattr(part, "filename", None) is not None or part.name == "file":
                    break
            if part is None:
                raise bad("the form has no file field")
            name = part.filename or name
            chunks = _part_chunks(part)
        else:
            chunks = request.content.iter_chunked(1 << 16)
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > self.upload_cap:
                raise self._too_large()
            f.write(chunk)
        return name, size

    def _too_large(self) -> ExplorerError:
        mb = self.upload_cap / (1024 * 1024)
        return ExplorerError(413, f"the file is larger than this explorer's upload cap of {mb:g} MB; "
                                  "use the `verify` command for big files")


async def _part_chunks(part):
    while True:
        chunk = await part.read_chunk(1 << 16)
        if not chunk:
            return
        yield chunk

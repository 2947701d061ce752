"""Live updates: a poller that watches the node's tip and record count and pushes `status`, `block`,
`record` and `node` events to every browser connected to /api/events (server-sent events)."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from .chain import Chain
from .node import NodeDown

log = logging.getLogger("provchain.explorer")


def sse(event: str, data) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Events:
    def __init__(self, chain: Chain, poll_interval: float = 1.0):
        self.chain = chain
        self.poll_interval = poll_interval
        self.clients: set[asyncio.Queue] = set()
        self.last_height: int | None = None
        self.last_records: int | None = None
        self.node_ok = True
        self._poller: asyncio.Task | None = None

    def routes(self):
        return [("GET", "/api/events", self.api_events)]

    async def start(self) -> None:
        self._poller = asyncio.create_task(self.poll_loop())

    async def disconnect_all(self) -> None:
        for q in list(self.clients):
            try:
                q.put_nowait(None)
            except asyncio.QueueFull:
                q.get_nowait()
                q.put_nowait(None)

    async def stop(self) -> None:
        if self._poller:
            self._poller.cancel()
            try:
                await self._poller
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass

    def broadcast(self, event: str, data) -> None:
        msg = sse(event, data)
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
        chain = self.chain
        st = await chain.status()
        if not self.node_ok:
            self.node_ok = True
            self.broadcast("node", {"ok": True})
        h = int(st["sync_info"]["latest_block_height"])
        if self.last_height is None or h < self.last_height:
            self.last_height = h
            self.last_records = await chain.record_count()
            return
        if h == self.last_height:
            return
        if self.clients:
            for b in await chain.blocks_after(self.last_height, h):
                self.broadcast("block", b)
        self.last_height = h
        recs = await chain.record_count()
        if self.clients and recs is not None and self.last_records is not None and recs > self.last_records:
            for r in await chain.records_after(self.last_records, recs):
                self.broadcast("record", r)
        self.last_records = recs
        if self.clients:
            self.broadcast("status", await chain.summary(st))

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
                summary = await self.chain.summary()
                tip = summary["latest_height"]
                catch = []
                if since.isdigit():
                    catch += [("block", b) for b in await self.chain.blocks_after(int(since), tip)]
                if seen.isdigit() and summary["records"] is not None:
                    catch += [("record", r) for r in await self.chain.records_after(int(seen), summary["records"])]
                for ev, data in catch + [("status", summary)]:
                    await resp.write(sse(ev, data))
            except NodeDown as exc:
                await resp.write(sse("node", {"ok": False, "message": str(exc)}))
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

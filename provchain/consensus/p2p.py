"""Validator-to-validator messaging over aiohttp websockets.

Each node dials every peer it knows and sends only on the connections it dialled; it receives on the
connections others dialled to it. So each pair of nodes has two one-way links, each with a reconnect
loop and a send queue bounded in frames and in bytes (when a peer is slow, old gossip is dropped:
consensus re-gossips on timeouts, so loss costs time, never safety). The first frame on a link is a hello naming the chain and
the sender; a link for another chain is refused; malformed frames are counted and logged, and a peer
that keeps sending them is cut off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

import aiohttp
from aiohttp import web

from ..chain.encoding import EncodingError, decode, encode
from ..chain.jsonfmt import hexu

log = logging.getLogger("provchain.p2p")

MAX_FRAME = 8 * 1024 * 1024
MAX_BAD_FRAMES = 20
SEND_QUEUE = 10_000  # frames
SEND_QUEUE_BYTES = 32 * 1024 * 1024  # per peer: a few blocks of the largest size


class Peer:
    def __init__(self, addr: str):
        self.addr = addr  # host:port it listens on
        self.node_id: bytes | None = None
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.ready = asyncio.Event()
        self.connected_out = False
        self.connected_in = False
        self.since = 0.0
        self.bad_frames = 0


class P2P:
    def __init__(self, chain_id: str, node_id: bytes, listen_addr: str, peer_addrs: list[str], on_message,
                 on_connect=None):
        self.chain_id = chain_id
        self.node_id = node_id
        self.listen_addr = listen_addr
        self.peers = {a: Peer(a) for a in peer_addrs if a != listen_addr}
        self.on_message = on_message  # (peer_addr, obj) -> None
        self.on_connect = on_connect  # (peer_addr) -> None, when our link to a peer (re)opens
        self._tasks: list[asyncio.Task] = []
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/p2p", self._inbound)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host, port = self.listen_addr.rsplit(":", 1)
        await web.TCPSite(self._runner, host, int(port)).start()
        self._session = aiohttp.ClientSession()
        for peer in self.peers.values():
            self._tasks.append(asyncio.create_task(self._dial_loop(peer)))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    # --- sending
    def broadcast(self, obj, exclude: str | None = None) -> None:
        frame = encode(obj)
        for peer in self.peers.values():
            if peer.addr != exclude:
                self._enqueue(peer, frame)

    def send(self, peer_addr: str, obj) -> None:
        peer = self.peers.get(peer_addr)
        if peer is not None:
            self._enqueue(peer, encode(obj))

    @staticmethod
    def _enqueue(peer: Peer, frame: bytes) -> None:
        if not peer.connected_out:
            return  # on reconnect, consensus re-sends what matters for the current height
        q = peer.queue
        while q and (len(q) >= SEND_QUEUE or peer.queued_bytes + len(frame) > SEND_QUEUE_BYTES):
            peer.queued_bytes -= len(q.popleft())  # the oldest gossip goes first
        q.append(frame)
        peer.queued_bytes += len(frame)
        peer.ready.set()

    @staticmethod
    async def _next_frame(peer: Peer) -> bytes:
        while not peer.queue:
            peer.ready.clear()
            await peer.ready.wait()
        frame = peer.queue.popleft()
        peer.queued_bytes -= len(frame)
        return frame

    async def _dial_loop(self, peer: Peer) -> None:
        backoff = 0.1
        while True:
            try:
                async with self._session.ws_connect(f"http://{peer.addr}/p2p", max_msg_size=MAX_FRAME,
                                                    heartbeat=5.0, timeout=aiohttp.ClientWSTimeout(ws_close=2)) as ws:
                    await ws.send_bytes(encode(["hello", self.chain_id, self.node_id, self.listen_addr]))
                    peer.connected_out = True
                    peer.since = time.time()
                    backoff = 0.1
                    log.info("connected to %s", peer.addr)
                    if self.on_connect:
                        self.on_connect(peer.addr)
                    while True:
                        frame = await self._next_frame(peer)
                        await ws.send_bytes(frame)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, reset, closed: all mean "try again later"
                if peer.connected_out:
                    log.info("lost link to %s: %s", peer.addr, exc.__class__.__name__)
            finally:
                peer.connected_out = False
                peer.queue.clear()
                peer.queued_bytes = 0
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    # --- receiving
    async def _inbound(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=5.0)
        await ws.prepare(request)
        peer = None
        try:
            first = await ws.receive(timeout=5)
            try:
                tag, chain_id, node_id, addr = decode(first.data) if first.type == aiohttp.WSMsgType.BINARY else (None,) * 4
            except (EncodingError, ValueError, TypeError):
                tag = None
            if tag != "hello" or not isinstance(addr, str):
                log.warning("refused p2p link from %s: no valid hello", request.remote)
                return ws
            if chain_id != self.chain_id:
                log.warning("refused p2p link from %s: chain %r is not %r", addr, chain_id, self.chain_id)
                return ws
            peer = self.peers.get(addr)
            if peer is None:
                log.warning("refused p2p link from unknown peer %s", addr)
                return ws
            peer.node_id = node_id
            peer.connected_in = True
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    self._bad(peer, ws, "non-binary frame")
                    continue
                try:
                    obj = decode(msg.data, MAX_FRAME)
                    if not isinstance(obj, list) or not obj or not isinstance(obj[0], str):
                        raise EncodingError("frame is not a tagged message")
                except EncodingError as exc:
                    self._bad(peer, ws, str(exc))
                    continue
                try:
                    self.on_message(peer.addr, obj)
                except Exception as exc:  # a handler bug must not kill the link; log it loudly
                    log.exception("error handling %s from %s: %s", obj[0], peer.addr, exc)
        except asyncio.TimeoutError:
            pass
        finally:
            if peer is not None:
                peer.connected_in = False
        return ws

    def _bad(self, peer: Peer, ws, reason: str) -> None:
        peer.bad_frames += 1
        log.warning("bad frame from %s: %s", peer.addr, reason)
        if peer.bad_frames > MAX_BAD_FRAMES:
            log.warning("closing link from %s after %d bad frames", peer.addr, peer.bad_frames)
            asyncio.ensure_future(ws.close())

    def info(self) -> list[dict]:
        return [{"addr": p.addr, "node_id": hexu(p.node_id or b""), "outbound": p.connected_out,
                 "inbound": p.connected_in, "since": p.since} for p in self.peers.values()]

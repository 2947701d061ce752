"""Node-to-node messaging: authenticated, encrypted websocket links, peer limits, bans and peer exchange.

Every link is one websocket over mutually authenticated TLS 1.3 (nodekey.py), carrying frames both ways. A
link is refused unless the remote's certificate key hashes to the node id it was dialled as (outbound) or
announces in its hello (inbound), and the hello names our chain. Peers are keyed by node id; when two nodes
dial each other at once, the link dialled by the smaller id is kept on both sides.

Bounds: at most `max_inbound` inbound and `max_outbound` outbound links (persistent peers are dialled
whatever the count); a send queue per peer bounded in frames and bytes (when a peer is slow, the oldest
gossip goes: consensus re-gossips, so loss costs time, never safety); a receive rate per peer in messages
and bytes (over it we stop reading: TCP pushes back on the sender); malformed frames and invalid messages
(reported by consensus through `misbehaved`) count against a peer, and past `max_bad` it is banned for
`ban_seconds` seconds: its link is closed, it is neither dialled nor accepted until the ban expires.

Discovery: persistent peers and seeds are dialled first; every link asks its peer for addresses
(`pex_request`, answered with up to PEX_MAX `pex_addrs` of peers it knows), and the address book feeds the
outbound slots. An address is only a hint: it is dialled under its id, so a wrong one is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import time
from collections import deque
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from ..chain.encoding import EncodingError, decode, encode
from .nodekey import (PeerAddress, PeerAddressError, join_hostport, node_id, remote_id, split_hostport,
                      tls_contexts)

log = logging.getLogger("provchain.p2p")

MAX_FRAME = 8 * 1024 * 1024
HELLO_TIMEOUT_S = 5.0
PEX_MAX = 30  # addresses per pex answer
PEX_EVERY_S = 30.0  # a peer answers at most one pex request per this
BOOK_MAX = 1000
BANS_MAX = 10_000
DIAL_EVERY_S = 0.5
BAD_WINDOW_S = 60.0
MISMATCH_RETRY_S = 30.0  # a key that is not the id we dial will not change soon


@dataclass
class Limits:
    max_inbound: int = 40
    max_outbound: int = 10
    send_queue_frames: int = 10_000
    send_queue_bytes: int = 32 * 1024 * 1024  # per peer: a few blocks of the largest size
    recv_msgs_per_s: float = 2_000.0
    recv_bytes_per_s: float = 32 * 1024 * 1024
    max_bad: int = 20  # malformed frames or invalid messages within BAD_WINDOW_S before a ban
    ban_seconds: float = 600.0

    @classmethod
    def from_dict(cls, d: dict) -> "Limits":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _ip(host: str):
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return ip


def _nowhere(host: str) -> bool:
    """A wildcard host: the node listens on every address, which names none of them."""
    ip = _ip(host)
    return ip is not None and ip.is_unspecified


def _loopback(host: str) -> bool:
    ip = _ip(host)
    return host.lower() == "localhost" or (ip is not None and ip.is_loopback)


def announce_address(announced: str, reached_host: str | None, reached_port: int | None = None) -> str | None:
    """The HOST:PORT to dial a peer at, and to pass on in peer exchange, from the address it announces in
    its hello and the one we reached it at: `reached_port` when we dialled it, None for an inbound link
    (its remote port is the dialler's own, not the one it listens on). One rule for both directions:

    - an announced address others can dial is kept (p2p.external_address: behind NAT or a port mapping
      the node knows best);
    - a wildcard host (0.0.0.0, ::) names no address, and a loopback one (127.0.0.0/8, ::1, localhost)
      names the dialler itself unless the peer is on the same machine: the host we reached it at takes
      its place, with the port we dialled, else the announced port. Loopback reached over loopback (a
      devnet, maybe on 127.0.0.N) is kept;
    - an announcement that is not HOST:PORT gives the address we dialled, or None inbound (no port).

    None also when the reached host cannot stand in (a wildcard or not an address). The result always
    parses (nodekey.split_hostport), so peer exchange never passes on an address others reject."""
    try:
        host, port = split_hostport(announced)
    except PeerAddressError:
        host, port = None, reached_port
    if host is not None and not _nowhere(host) and not (_loopback(host) and not _loopback(reached_host or "")):
        return join_hostport(host, port)
    if not reached_host or _nowhere(reached_host) or port is None:
        return None
    out = join_hostport(reached_host, reached_port or port)
    try:
        split_hostport(out)
    except PeerAddressError:
        return None  # e.g. an IPv6 remote with a zone (fe80::1%eth0)
    return out


class TokenBucket:
    """`rate` per second with a burst of one second's worth; `take` says how long to wait before going on."""

    def __init__(self, rate: float):
        self.rate = rate
        self.tokens = rate
        self.last = time.monotonic()

    def take(self, n: float) -> float:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate) - n
        self.last = now
        return max(0.0, -self.tokens / self.rate)


class Peer:
    """One established, authenticated link."""

    def __init__(self, pid: str, addr: str, outbound: bool, ws, limits: Limits):
        self.id = pid
        self.addr = addr  # host:port to dial it at (announce_address), "" when unknown
        self.outbound = outbound
        self.ws = ws
        self.moniker = ""
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.ready = asyncio.Event()
        self.since = time.time()
        self.bad = 0
        self.bad_since = 0.0
        self.pex_answered = 0.0
        self.pex_asked = False
        self.msgs = TokenBucket(limits.recv_msgs_per_s)
        self.bytes = TokenBucket(limits.recv_bytes_per_s)


class P2P:
    def __init__(self, chain_id: str, key, listen_addr: str, persistent_peers: list[str], on_message,
                 on_connect=None, seeds: list[str] = (), external_addr: str = "", limits: Limits | None = None,
                 pex: bool = True, moniker: str = ""):
        self.chain_id = chain_id
        self.key = key
        self.id = node_id(key.pubkey)
        self.listen_addr = listen_addr
        self.external_addr = external_addr or listen_addr  # what we announce in hellos and pex
        self.limits = limits or Limits()
        self.pex = pex
        self.moniker = moniker
        self.persistent = {pa.id: pa for pa in map(PeerAddress.parse, persistent_peers) if pa.id != self.id}
        self.seeds = [pa for pa in map(PeerAddress.parse, seeds) if pa.id != self.id]
        self.book: dict[str, str] = {pa.id: pa.hostport for pa in [*self.persistent.values(), *self.seeds]}
        self.peers: dict[str, Peer] = {}
        self.bans: dict[str, float] = {}  # node id -> monotonic time the ban ends
        self.on_message = on_message  # (peer_id, obj) -> None
        self.on_connect = on_connect  # (peer_id) -> None, when a link to a peer opens
        self._server_ctx, self._client_ctx = tls_contexts(key)
        self._dialing: set[str] = set()
        self._retry: dict[str, tuple[float, float]] = {}  # id -> (next attempt, back-off)
        self._pending_inbound = 0
        self._tasks: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/p2p", self._inbound)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        host, port = self.listen_addr.rsplit(":", 1)
        await web.TCPSite(self._runner, host, int(port), ssl_context=self._server_ctx).start()
        self._session = aiohttp.ClientSession()
        self._spawn(self._dial_loop())

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for peer in list(self.peers.values()):
            await peer.ws.close()
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ sending
    def broadcast(self, obj, exclude: str | None = None) -> None:
        frame = encode(obj)
        for peer in list(self.peers.values()):
            if peer.id != exclude:
                self._enqueue(peer, frame)

    def send(self, peer_id: str, obj) -> None:
        peer = self.peers.get(peer_id)
        if peer is not None:
            self._enqueue(peer, encode(obj))

    def _enqueue(self, peer: Peer, frame: bytes) -> None:
        q = peer.queue
        while q and (len(q) >= self.limits.send_queue_frames
                     or peer.queued_bytes + len(frame) > self.limits.send_queue_bytes):
            peer.queued_bytes -= len(q.popleft())  # the oldest gossip goes first
        q.append(frame)
        peer.queued_bytes += len(frame)
        peer.ready.set()

    async def _send_loop(self, peer: Peer) -> None:
        while True:
            while not peer.queue:
                peer.ready.clear()
                await peer.ready.wait()
            frame = peer.queue.popleft()
            peer.queued_bytes -= len(frame)
            await peer.ws.send_bytes(frame)

    # ------------------------------------------------------------------ peers: limits, bans
    def banned(self, pid: str) -> bool:
        until = self.bans.get(pid)
        if until is not None and until <= time.monotonic():
            del self.bans[pid]
            return False
        return until is not None

    def ban(self, pid: str, reason: str) -> None:
        log.warning("banned peer %s for %.0f s: %s", pid, self.limits.ban_seconds, reason)
        now = time.monotonic()
        if len(self.bans) >= BANS_MAX:  # fresh keys are cheap: forget expired bans, then the oldest
            self.bans = {i: t for i, t in self.bans.items() if t > now}
            for i in sorted(self.bans, key=self.bans.get)[:len(self.bans) - BANS_MAX + 1]:
                del self.bans[i]
        self.bans[pid] = now + self.limits.ban_seconds
        peer = self.peers.get(pid)
        if peer is not None:
            self._spawn(peer.ws.close())

    def misbehaved(self, pid: str, reason: str) -> None:
        """A malformed frame or an invalid message (a bad signature, a block that fails validation)."""
        peer = self.peers.get(pid)
        if peer is None or self.banned(pid):
            return
        now = time.monotonic()
        if now - peer.bad_since > BAD_WINDOW_S:
            peer.bad, peer.bad_since = 0, now  # an honest peer's rare rejected message does not add up
        peer.bad += 1
        if peer.bad > self.limits.max_bad:
            self.ban(pid, f"{peer.bad} invalid messages, the last: {reason}")

    def _count(self, outbound: bool) -> int:
        return sum(1 for p in self.peers.values() if p.outbound == outbound and p.id not in self.persistent)

    # ------------------------------------------------------------------ dialling
    async def _dial_loop(self) -> None:
        """Keep persistent peers connected and the outbound slots filled from the address book."""
        while True:
            now = time.monotonic()
            wanted = [pa for pa in self.persistent.values()]
            free = self.limits.max_outbound - self._count(True) - sum(
                1 for i in self._dialing if i not in self.persistent)
            if free > 0:
                others = [PeerAddress.parse(f"{i}@{a}") for i, a in self.book.items() if i not in self.persistent]
                random.shuffle(others)
                wanted += others[:free * 2]
            for pa in wanted:
                if (pa.id in self.peers or pa.id in self._dialing or pa.id == self.id or self.banned(pa.id)
                        or self._retry.get(pa.id, (0, 0))[0] > now):
                    continue
                if pa.id not in self.persistent:
                    if free <= 0:
                        continue
                    free -= 1
                self._dialing.add(pa.id)
                self._spawn(self._dial(pa))
            await asyncio.sleep(DIAL_EVERY_S)

    def _backoff(self, pid: str, ok: bool) -> None:
        if ok:
            self._retry.pop(pid, None)
            return
        _, delay = self._retry.get(pid, (0, 0.1))
        cap = 2.0 if pid in self.persistent else 30.0
        self._retry[pid] = (time.monotonic() + delay, min(delay * 2, cap))

    async def _dial(self, pa: PeerAddress) -> None:
        ok = False
        try:
            ws = await self._session.ws_connect(f"https://{pa.hostport}/p2p", ssl=self._client_ctx,
                                                max_msg_size=MAX_FRAME, heartbeat=5.0,
                                                timeout=aiohttp.ClientWSTimeout(ws_close=2))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # refused, unreachable, TLS failure: try again later
            log.debug("cannot reach %s: %s", pa, exc)
            self._dialing.discard(pa.id)
            self._backoff(pa.id, False)
            return
        try:
            rid = remote_id(ws.get_extra_info("ssl_object"))
            if rid != pa.id:  # a wrong id in our config, or someone else at that address: retry slowly
                log.warning("refused link to %s: its key is node %s, not %s", pa.hostport, rid, pa.id)
                self._retry[pa.id] = (time.monotonic() + MISMATCH_RETRY_S, MISMATCH_RETRY_S)
                ok = True  # not a transient failure: keep this back-off
                return
            await ws.send_bytes(self._hello())
            hello = await self._read_hello(ws, rid, pa.hostport)
            if hello is None:
                return
            ok = True
            self._dialing.discard(pa.id)
            self._backoff(pa.id, True)
            addr = announce_address(hello[3], pa.host, pa.port) or ""
            await self._run_link(Peer(rid, addr, True, ws, self.limits), hello)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("lost link to %s: %s", pa, exc.__class__.__name__)
        finally:
            self._dialing.discard(pa.id)
            if not ok:
                self._backoff(pa.id, False)
            await ws.close()

    # ------------------------------------------------------------------ accepting
    async def _inbound(self, request: web.Request) -> web.StreamResponse:
        rid = remote_id(request.transport.get_extra_info("ssl_object") if request.transport else None)
        if rid is None or rid == self.id:
            return web.Response(status=403, text="no node key presented")
        if self.banned(rid):
            return web.Response(status=403, text="banned")
        if rid not in self.persistent and self._count(False) + self._pending_inbound >= self.limits.max_inbound:
            log.info("refused inbound link from %s (%s): %d inbound peers is the limit", rid, request.remote,
                     self.limits.max_inbound)
            return web.Response(status=503, text="too many inbound peers")
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=5.0)
        self._pending_inbound += 1
        counted = True
        try:
            await ws.prepare(request)
            hello = await self._read_hello(ws, rid, request.remote)
            if hello is None:
                return ws
            await ws.send_bytes(self._hello())
            addr = announce_address(hello[3], request.remote) or ""  # "": not dialled back, not passed on
            self._pending_inbound -= 1
            counted = False
            await self._run_link(Peer(rid, addr, False, ws, self.limits), hello)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("lost link from %s: %s", rid, exc.__class__.__name__)
        finally:
            if counted:
                self._pending_inbound -= 1
            await ws.close()
        return ws

    # ------------------------------------------------------------------ the link
    def _hello(self) -> bytes:
        return encode(["hello", self.chain_id, self.id, self.external_addr, self.moniker])

    async def _read_hello(self, ws, rid: str, where) -> list | None:
        """The remote's hello if it names our chain and the id its key has; None (logged) otherwise."""
        try:
            msg = await ws.receive(timeout=HELLO_TIMEOUT_S)
            hello = decode(msg.data, 4096) if msg.type == aiohttp.WSMsgType.BINARY else None
        except (asyncio.TimeoutError, EncodingError, ValueError, TypeError):
            hello = None
        if (not isinstance(hello, list) or len(hello) < 5 or hello[0] != "hello"
                or not all(isinstance(x, str) for x in hello[1:5])):
            log.warning("refused p2p link from %s (%s): no valid hello", rid, where)
            return None
        if hello[1] != self.chain_id:
            log.warning("refused p2p link from %s (%s): chain %r is not %r", rid, where, hello[1], self.chain_id)
            return None
        if hello[2] != rid:
            log.warning("refused p2p link from %s: it announces node id %s but its key is node %s", where,
                        hello[2], rid)
            return None
        return hello

    def _register(self, peer: Peer) -> bool:
        """Add an authenticated link; of two links to one peer keep the one dialled by the smaller id."""
        old = self.peers.get(peer.id)
        if old is not None:
            dialer = self.id if peer.outbound else peer.id
            old_dialer = self.id if old.outbound else old.id
            if old_dialer < dialer:
                return False
            self._spawn(old.ws.close())
        if peer.outbound and peer.id not in self.persistent and self._count(True) >= self.limits.max_outbound:
            return False
        self.peers[peer.id] = peer
        return True

    async def _run_link(self, peer: Peer, hello: list) -> None:
        peer.moniker = hello[4][:64]
        if not self._register(peer):
            return
        self._learn(peer.id, peer.addr)
        log.info("connected to %s %s@%s (%s)", peer.moniker or "peer", peer.id, peer.addr,
                 "outbound" if peer.outbound else "inbound")
        sender = asyncio.create_task(self._send_loop(peer))
        try:
            if self.on_connect:
                self.on_connect(peer.id)
            if self.pex:
                peer.pex_asked = True
                self._enqueue(peer, encode(["pex_request"]))
            await self._receive_loop(peer)
        finally:
            sender.cancel()
            if self.peers.get(peer.id) is peer:
                del self.peers[peer.id]
                log.info("disconnected from %s@%s", peer.id, peer.addr)

    async def _receive_loop(self, peer: Peer) -> None:
        async for msg in peer.ws:
            if self.banned(peer.id):
                break  # its link is closing: what it sent after the ban is not looked at
            if msg.type == aiohttp.WSMsgType.ERROR:  # e.g. a frame over MAX_FRAME: aiohttp closes the link
                reason = str(peer.ws.exception())
                log.warning("bad frame from %s: %s", peer.id, reason)
                self.misbehaved(peer.id, reason)
                break
            if msg.type != aiohttp.WSMsgType.BINARY:
                self.misbehaved(peer.id, "non-binary frame")
                continue
            wait = max(peer.msgs.take(1), peer.bytes.take(len(msg.data)))
            if wait > 0:
                await asyncio.sleep(wait)  # over its rate: stop reading, TCP slows the sender down
            try:
                obj = decode(msg.data, MAX_FRAME)
                if not isinstance(obj, list) or not obj or not isinstance(obj[0], str):
                    raise EncodingError("frame is not a tagged message")
            except EncodingError as exc:
                log.warning("bad frame from %s: %s", peer.id, exc)
                self.misbehaved(peer.id, str(exc))
                continue
            if obj[0].startswith("pex_"):
                self._on_pex(peer, obj)
                continue
            try:
                self.on_message(peer.id, obj)
            except Exception as exc:  # a handler bug must not kill the link; log it loudly
                log.exception("error handling %s from %s: %s", obj[0], peer.id, exc)

    # ------------------------------------------------------------------ peer exchange
    def _learn(self, pid: str, addr: str) -> None:
        if pid != self.id and addr and (pid in self.book or len(self.book) < BOOK_MAX):
            self.book[pid] = addr

    def _on_pex(self, peer: Peer, obj: list) -> None:
        if obj[0] == "pex_request":
            now = time.monotonic()
            if now - peer.pex_answered < PEX_EVERY_S:
                return
            peer.pex_answered = now
            known = [f"{p.id}@{p.addr}" for p in self.peers.values() if p.id != peer.id and p.addr]
            known += [f"{i}@{a}" for i, a in self.book.items() if i not in self.peers and i != peer.id]
            self._enqueue(peer, encode(["pex_addrs", known[:PEX_MAX]]))
        elif obj[0] == "pex_addrs" and peer.pex_asked and len(obj) == 2 and isinstance(obj[1], list):
            peer.pex_asked = False  # one answer per request
            for text in obj[1][:PEX_MAX]:
                try:
                    pa = PeerAddress.parse(text) if isinstance(text, str) else None
                except PeerAddressError:
                    pa = None
                if pa is None:
                    self.misbehaved(peer.id, "malformed pex address")
                elif pa.id not in self.peers:
                    self._learn(pa.id, pa.hostport)
        else:
            self.misbehaved(peer.id, f"unexpected {obj[0]}")

    def info(self) -> list[dict]:
        return [{"node_id": p.id, "addr": p.addr, "moniker": p.moniker, "outbound": p.outbound,
                 "inbound": not p.outbound, "since": p.since} for p in self.peers.values()]

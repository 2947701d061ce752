"""P2P links over real sockets on 127.0.0.1: mutual TLS with node-key identities, impersonation refused,
peer limits, bans, peer exchange; send queues bounded in frames and bytes."""

from __future__ import annotations

import asyncio
import logging
import ssl

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from provchain.chain import crypto
from provchain.chain.encoding import encode
from provchain.consensus.nodekey import (PeerAddress, PeerAddressError, join_hostport, node_id, split_hostport,
                                         tls_contexts)
from provchain.consensus.p2p import P2P, Limits, Peer, TokenBucket, announce_address
from provchain.devnet.cluster import free_base_port

CHAIN = "test-chain"


class Node:
    def __init__(self, port: int, peers=(), seeds=(), limits=None, chain=CHAIN, key=None, external=""):
        self.key = key or crypto.PrivateKey.generate()
        self.id = node_id(self.key.pubkey)
        self.addr = f"127.0.0.1:{port}"
        self.got: list = []
        self.p2p = P2P(chain, self.key, self.addr, list(peers), on_message=lambda p, m: self.got.append((p, m)),
                       seeds=list(seeds), limits=limits or Limits(), external_addr=external)

    def __str__(self):
        return f"{self.id}@{self.addr}"


async def until(cond, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        if cond():
            return True
        await asyncio.sleep(0.05)
    return cond()


def ports(n):
    base = free_base_port(n)
    return [base + 10 * i for i in range(n)]


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 60))


def test_peer_address_parsing():
    key = crypto.PrivateKey.generate()
    pa = PeerAddress.parse(f"{node_id(key.pubkey).upper()}@node1:26656")
    assert (pa.id, pa.host, pa.port) == (node_id(key.pubkey), "node1", 26656)
    assert str(PeerAddress.parse(str(pa))) == str(pa)
    for bad in ("node1:26656", "abc@node1:26656", f"{pa.id}@node1", f"{pa.id}@node1:0", f"{pa.id}@no de:1"):
        with pytest.raises(PeerAddressError, match="ID@host:port"):
            PeerAddress.parse(bad)


def test_two_nodes_link_both_ways_and_exchange_frames():
    async def main():
        pa, pb = ports(2)
        b = Node(pb)
        a = Node(pa, peers=[str(b)])
        await a.p2p.start()
        await b.p2p.start()
        try:
            assert await until(lambda: b.id in a.p2p.peers and a.id in b.p2p.peers)
            a.p2p.broadcast(["ping", 1])
            b.p2p.send(a.id, ["pong", 2])  # one link carries both directions
            assert await until(lambda: ("ping" in str(b.got)) and ("pong" in str(a.got)))
            assert (a.id, ["ping", 1]) in b.got and (b.id, ["pong", 2]) in a.got
            assert a.p2p.peers[b.id].outbound and not b.p2p.peers[a.id].outbound
        finally:
            await a.p2p.stop()
            await b.p2p.stop()
    run(main())


def test_simultaneous_dials_keep_one_link():
    async def main():
        pa, pb = ports(2)
        ka, kb = crypto.PrivateKey.generate(), crypto.PrivateKey.generate()
        a_id, b_id = node_id(ka.pubkey), node_id(kb.pubkey)
        a = Node(pa, peers=[f"{b_id}@127.0.0.1:{pb}"], key=ka)
        b = Node(pb, peers=[f"{a_id}@127.0.0.1:{pa}"], key=kb)
        await asyncio.gather(a.p2p.start(), b.p2p.start())
        try:
            assert await until(lambda: b.id in a.p2p.peers and a.id in b.p2p.peers)
            await asyncio.sleep(1.0)
            la, lb = a.p2p.peers[b.id], b.p2p.peers[a.id]
            assert la.outbound != lb.outbound  # the same link seen from both ends
            dialer = a.id if la.outbound else b.id
            assert dialer == min(a.id, b.id)
            a.p2p.send(b.id, ["x"])
            assert await until(lambda: (a.id, ["x"]) in b.got)
        finally:
            await a.p2p.stop()
            await b.p2p.stop()
    run(main())


def test_a_node_dialled_under_another_id_is_refused(caplog):
    """The key behind host:port is not the one the address names: no link, whatever it says in its hello."""
    b_id, impostor_id = [], node_id(crypto.PrivateKey.generate().pubkey)

    async def main():
        pa, pb = ports(2)
        b = Node(pb)
        b_id.append(b.id)
        a = Node(pa, peers=[f"{impostor_id}@{b.addr}"])
        await b.p2p.start()
        await a.p2p.start()
        try:
            await asyncio.sleep(1.5)
            assert not a.p2p.peers and not b.p2p.peers
        finally:
            await a.p2p.stop()
            await b.p2p.stop()
    with caplog.at_level(logging.WARNING, "provchain.p2p"):
        run(main())
    assert f"its key is node {b_id[0]}, not {impostor_id}" in caplog.text


async def raw_link(port: int, key, hello_id: str | None = None, chain=CHAIN, hello=True):
    """A hand-made client: TLS with `key`'s certificate, then a hello announcing `hello_id`."""
    _, client_ctx = tls_contexts(key)
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"https://127.0.0.1:{port}/p2p", ssl=client_ctx)
    if hello:
        await ws.send_bytes(encode(["hello", chain, hello_id or node_id(key.pubkey), "127.0.0.1:1", "raw"]))
    return session, ws


def test_an_inbound_peer_announcing_another_id_or_chain_is_refused(caplog):
    async def main():
        (pb,) = ports(1)
        b = Node(pb)
        await b.p2p.start()
        try:
            victim = node_id(crypto.PrivateKey.generate().pubkey)
            for kwargs in (dict(hello_id=victim), dict(chain="other-chain")):
                session, ws = await raw_link(pb, crypto.PrivateKey.generate(), **kwargs)
                msg = await ws.receive(timeout=5)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
                assert not b.p2p.peers
                await session.close()
            # no certificate at all: the TLS handshake fails
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            async with aiohttp.ClientSession() as s:
                with pytest.raises(aiohttp.ClientError):
                    async with s.ws_connect(f"https://127.0.0.1:{pb}/p2p", ssl=ctx) as ws:
                        await ws.receive(timeout=5)
                        raise aiohttp.ClientError("closed")
        finally:
            await b.p2p.stop()
    with caplog.at_level(logging.WARNING, "provchain.p2p"):
        run(main())
    assert "announces node id" in caplog.text and "chain 'other-chain'" in caplog.text


def test_inbound_links_are_limited():
    async def main():
        (pb,) = ports(1)
        b = Node(pb, limits=Limits(max_inbound=3))
        await b.p2p.start()
        sessions = []
        try:
            accepted = refused = 0
            for _ in range(8):
                try:
                    session, ws = await raw_link(pb, crypto.PrivateKey.generate())
                    sessions.append((session, ws))  # keep the link open
                    reply = await ws.receive(timeout=5)
                    accepted += reply.type == aiohttp.WSMsgType.BINARY
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 503
                    refused += 1
            assert (accepted, refused) == (3, 5)
            assert len(b.p2p.peers) == 3
        finally:
            for s, _ in sessions:
                await s.close()
            await b.p2p.stop()
    run(main())


def test_a_peer_sending_junk_is_banned_and_not_let_back_in():
    async def main():
        (pb,) = ports(1)
        b = Node(pb, limits=Limits(max_bad=5, ban_seconds=60))
        await b.p2p.start()
        key = crypto.PrivateKey.generate()
        try:
            session, ws = await raw_link(pb, key)
            await ws.receive(timeout=5)  # its hello
            for _ in range(10):
                await ws.send_bytes(b"\xc1junk")
            assert await until(lambda: b.p2p.banned(node_id(key.pubkey)))
            assert await until(lambda: not b.p2p.peers)
            await session.close()
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await raw_link(pb, key)
            assert err.value.status == 403
        finally:
            await b.p2p.stop()
    run(main())


def test_misbehaviour_reported_by_consensus_leads_to_a_ban_that_expires():
    async def main():
        pa, pb = ports(2)
        b = Node(pb, limits=Limits(max_bad=2, ban_seconds=1.0))
        a = Node(pa, peers=[str(b)])
        await b.p2p.start()
        await a.p2p.start()
        try:
            assert await until(lambda: a.id in b.p2p.peers)
            for _ in range(3):
                b.p2p.misbehaved(a.id, "bad vote signature")
            assert b.p2p.banned(a.id)
            assert await until(lambda: a.id not in b.p2p.peers)
            assert await until(lambda: a.id in b.p2p.peers, 10)  # a dials again once the second is over
        finally:
            await a.p2p.stop()
            await b.p2p.stop()
    run(main())


def test_peer_exchange_finds_nodes_through_a_seed():
    """c knows only the seed s; a and b are connected to s; c learns them and dials them."""
    async def main():
        ps, pa, pb, pc = ports(4)
        s = Node(ps)
        a = Node(pa, peers=[str(s)])
        b = Node(pb, peers=[str(s)])
        c = Node(pc, seeds=[str(s)])
        for n in (s, a, b):
            await n.p2p.start()
        try:
            assert await until(lambda: len(s.p2p.peers) == 2)
            await c.p2p.start()
            assert await until(lambda: {a.id, b.id, s.id} <= set(c.p2p.peers), 15), c.p2p.book
            assert c.p2p.book[a.id] == a.addr
        finally:
            for n in (s, a, b, c):
                await n.p2p.stop()
    run(main())


@pytest.mark.parametrize("announced,reached_host,reached_port,expected", [
    ("203.0.113.7:26656", "10.0.0.2", 26656, "203.0.113.7:26656"),  # external_address: kept
    ("203.0.113.7:26656", "10.0.0.2", None, "203.0.113.7:26656"),
    ("node1:26656", "172.18.0.3", None, "node1:26656"),  # a name (docker) is kept
    ("0.0.0.0:26656", "10.0.0.2", 30000, "10.0.0.2:30000"),  # wildcard, dialled: what we dialled
    ("0.0.0.0:26656", "10.0.0.2", None, "10.0.0.2:26656"),  # wildcard, inbound: its host, announced port
    ("[::]:26656", "2001:db8::5", None, "[2001:db8::5]:26656"),
    ("127.0.0.1:26656", "10.0.0.2", None, "10.0.0.2:26656"),  # loopback from elsewhere names the dialler
    ("localhost:26656", "10.0.0.2", 26656, "10.0.0.2:26656"),
    ("127.0.0.1:26656", "127.0.0.1", None, "127.0.0.1:26656"),  # a devnet on one machine
    ("127.0.0.5:26656", "127.0.0.1", None, "127.0.0.5:26656"),  # its links leave from 127.0.0.1
    ("[::1]:26656", "::ffff:127.0.0.1", None, "[::1]:26656"),
    ("", "10.0.0.2", 26656, "10.0.0.2:26656"),  # nothing usable announced: what we dialled
    ("", "10.0.0.2", None, None),  # ... inbound: no port to dial
    ("not an address", "10.0.0.2", None, None),
    ("host:0", "10.0.0.2", None, None),
    ("0.0.0.0:26656", "fe80::1%eth0", None, None),  # a remote that is no dialable host
    ("0.0.0.0:26656", None, None, None),
])
def test_announce_address_rule(announced, reached_host, reached_port, expected):
    assert announce_address(announced, reached_host, reached_port) == expected


HOSTS = st.one_of(st.ip_addresses().map(str), st.sampled_from(["localhost", "node0", "seed.example.org"]),
                  st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,5})?", fullmatch=True))
PORTS = st.integers(1, 65535)
ANNOUNCED = st.one_of(st.builds(join_hostport, HOSTS, PORTS), st.text(max_size=40))


def _is(host: str, kind: str) -> bool:
    import ipaddress
    if host == "localhost":
        return kind == "loopback"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback if kind == "loopback" else ip.is_unspecified


@given(ANNOUNCED, HOSTS, st.none() | PORTS)
def test_announce_address_gives_a_dialable_address_or_none(announced, reached_host, reached_port):
    """Whatever a peer announces: the result parses (peer exchange never passes on junk), names no wildcard,
    names loopback only for a peer reached over loopback, is kept when it was dialable, and is stable."""
    out = announce_address(announced, reached_host, reached_port)
    if out is None:
        assert reached_port is None or _is(reached_host, "unspecified")
        return
    host, port = split_hostport(out)
    assert not _is(host, "unspecified")
    assert not _is(host, "loopback") or _is(reached_host, "loopback")
    try:
        a_host, a_port = split_hostport(announced)
    except PeerAddressError:
        a_host = None
    if a_host is not None and not _is(a_host, "unspecified") and (
            not _is(a_host, "loopback") or _is(reached_host, "loopback")):
        assert (host, port) == (a_host, a_port)
    else:
        assert host == reached_host and port == (reached_port or a_port)
    assert announce_address(out, reached_host, reached_port) == out


def test_inbound_peers_are_known_by_a_dialable_address_and_junk_is_not_passed_on():
    """b listens everywhere (announces 0.0.0.0), c announces junk; both dial a. a knows b at the address its
    link came from with b's port, c at none: a new node d that asks a for peers learns b, not c, and has no
    reason to count a's answer as malformed."""
    async def main():
        pa, pb, pc, pd = ports(4)
        a = Node(pa)
        b = Node(pb, peers=[str(a)], external=f"0.0.0.0:{pb}")
        c = Node(pc, peers=[str(a)], external="not an address")
        d = Node(pd, seeds=[str(a)])
        for n in (a, b, c):
            await n.p2p.start()
        try:
            assert await until(lambda: {b.id, c.id} <= set(a.p2p.peers))
            assert a.p2p.peers[b.id].addr == f"127.0.0.1:{pb}" and a.p2p.book[b.id] == f"127.0.0.1:{pb}"
            assert a.p2p.peers[c.id].addr == "" and c.id not in a.p2p.book
            assert b.p2p.peers[a.id].addr == a.addr  # outbound: a announces its own dialable address
            await d.p2p.start()
            assert await until(lambda: b.id in d.p2p.book and a.id in d.p2p.peers, 15), d.p2p.book
            await asyncio.sleep(0.3)
            assert d.p2p.book[b.id] == f"127.0.0.1:{pb}" and c.id not in d.p2p.book
            assert d.p2p.peers[a.id].bad == 0
        finally:
            for n in (a, b, c, d):
                await n.p2p.stop()
    run(main())


def test_send_queue_is_bounded_in_frames_and_bytes_and_drops_the_oldest():
    async def main():
        p2p = P2P(CHAIN, crypto.PrivateKey.generate(), "127.0.0.1:1", [], on_message=None,
                  limits=Limits(send_queue_bytes=10_000, send_queue_frames=5))
        peer = Peer("x", "", True, None, p2p.limits)
        frames = [bytes([i]) * 3_000 for i in range(10)]  # 30 KB offered to a 10 KB queue
        for f in frames:
            p2p._enqueue(peer, f)
        assert peer.queued_bytes == sum(len(f) for f in peer.queue) <= 10_000
        assert list(peer.queue) == frames[-3:]  # the newest survive
        for i in range(20):
            p2p._enqueue(peer, b"%d" % i)
        assert list(peer.queue) == [b"%d" % i for i in range(15, 20)]
    run(main())


def test_token_bucket_allows_a_burst_then_asks_to_wait():
    bucket = TokenBucket(100.0)
    assert bucket.take(100) == 0.0
    assert bucket.take(50) == pytest.approx(0.5, abs=0.05)


def test_the_ban_list_is_bounded(monkeypatch):
    from provchain.consensus import p2p as p2p_mod
    monkeypatch.setattr(p2p_mod, "BANS_MAX", 5)
    p2p = P2P(CHAIN, crypto.PrivateKey.generate(), "127.0.0.1:1", [], on_message=None)
    for i in range(20):
        p2p.ban(f"{i:040x}", "junk")
    assert len(p2p.bans) <= 5 and p2p.banned(f"{19:040x}")  # the newest bans stay

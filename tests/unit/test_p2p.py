"""P2P send queues are bounded in bytes as well as frames: a slow peer cannot make a node hold gigabytes."""

from __future__ import annotations

import asyncio

from provchain.consensus import p2p
from provchain.consensus.p2p import P2P, Peer


def test_send_queue_is_bounded_in_bytes_and_drops_the_oldest(monkeypatch):
    monkeypatch.setattr(p2p, "SEND_QUEUE_BYTES", 10_000)
    peer = Peer("127.0.0.1:1")
    peer.connected_out = True
    frames = [bytes([i]) * 3_000 for i in range(10)]  # 30 KB offered to a 10 KB queue
    for f in frames:
        P2P._enqueue(peer, f)
    assert peer.queued_bytes == sum(len(f) for f in peer.queue) <= 10_000
    assert list(peer.queue) == frames[-3:]  # the newest survive


def test_send_queue_is_bounded_in_frames(monkeypatch):
    monkeypatch.setattr(p2p, "SEND_QUEUE", 5)
    peer = Peer("127.0.0.1:1")
    peer.connected_out = True
    for i in range(20):
        P2P._enqueue(peer, b"%d" % i)
    assert list(peer.queue) == [b"%d" % i for i in range(15, 20)]


def test_nothing_is_queued_for_a_peer_that_is_not_connected():
    peer = Peer("127.0.0.1:1")
    P2P._enqueue(peer, b"x" * 100)
    assert not peer.queue and peer.queued_bytes == 0


def test_next_frame_waits_for_a_frame_and_keeps_the_byte_count():
    async def main():
        peer = Peer("127.0.0.1:1")
        peer.connected_out = True
        waiter = asyncio.ensure_future(P2P._next_frame(peer))
        await asyncio.sleep(0)
        assert not waiter.done()
        P2P._enqueue(peer, b"abc")
        assert await asyncio.wait_for(waiter, 1) == b"abc"
        assert peer.queued_bytes == 0
    asyncio.run(main())

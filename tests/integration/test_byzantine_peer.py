"""A byzantine outsider against real validator processes: it completes the TLS handshake with its own node
key and then sends node 0, over the real p2p socket, what an attacker would: frames that are not msgpack,
messages of unknown kinds and wrong shapes, votes and proposals that claim a validator but carry the
wrong signature, votes from a key outside the set, block requests for absurd heights; then another peer
sends one frame over the size limit. Node 0 must log each as a rejected message (WARNING), ban the peer and refuse it when it
comes back, keep committing the same blocks as the others, and never log an ERROR or a traceback."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import pytest

from provchain.chain import crypto
from provchain.chain.encoding import encode
from provchain.chain.types import PRECOMMIT, PREVOTE, Block, Proposal, Vote
from provchain.consensus.nodekey import node_id, tls_contexts
from provchain.consensus.p2p import MAX_FRAME
from provchain.devnet.cluster import Cluster
from provchain.devnet.testnet import ports

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CHAIN = "provchain-devnet"


def attack_frames(height: int, validators: list[bytes], outsider: crypto.PrivateKey) -> list[bytes]:
    """One of each kind of bad input, for the height the chain is at."""
    forged_sig = os.urandom(64)
    frames = [b"\xc1not msgpack", encode(["no-such-kind", 1]), encode(["vote"]), encode(["vote", [1, 2, 3]]),
              encode(["get_block", -5]), encode(["get_block", 2**62]), encode(["status", "high"])]
    for addr in validators:  # a validator's name, the wrong signature
        for t in (PREVOTE, PRECOMMIT):
            frames.append(encode(["vote", [t, height, 0, os.urandom(32), 1, addr, forged_sig]]))
    frames.append(encode(["vote", Vote(PREVOTE, height, 0, os.urandom(32), 1, outsider.address).signed(
        outsider, CHAIN).to_obj()]))  # well signed, by a key outside the set
    block = Block.make(dict(chain_id=CHAIN, height=height, time_ms=1, last_block_hash=os.urandom(32),
                            validators_hash=os.urandom(32), next_validators_hash=os.urandom(32),
                            app_hash=b"", proposer_address=validators[0]), [b"junk tx"], [], None)
    proposal = Proposal(height, 0, -1, block.hash, validators[0], forged_sig)  # claims validator 0
    frames.append(encode(["proposal", proposal.to_obj(), block.to_obj()]))
    return frames


async def attack(port: int, key: crypto.PrivateKey, frames: list[bytes], rounds: int = 3) -> tuple[bool, int]:
    """Send the frames `rounds` times. Returns (the node closed the link, the HTTP status of a second
    connection attempt: 403 when banned)."""
    _, ctx = tls_contexts(key)
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"https://127.0.0.1:{port}/p2p", ssl=ctx, max_msg_size=MAX_FRAME)
        await ws.send_bytes(encode(["hello", CHAIN, node_id(key.pubkey), "127.0.0.1:1", "byzantine"]))
        closed = False
        try:
            for _ in range(rounds):
                for f in frames:
                    await ws.send_bytes(f)
                await asyncio.sleep(0.2)
            for _ in range(100):  # read until the node closes the link (bounded: 10 s)
                msg = await ws.receive(timeout=10)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
                                aiohttp.WSMsgType.ERROR):
                    closed = True
                    break
        except (ConnectionError, asyncio.TimeoutError, aiohttp.ClientError):
            closed = True
        await ws.close()
        try:
            again = await session.ws_connect(f"https://127.0.0.1:{port}/p2p", ssl=ctx)
            await again.close()
            status = 101
        except aiohttp.WSServerHandshakeError as exc:
            status = exc.status
    return closed, status


def test_a_byzantine_peer_is_rejected_and_banned_and_the_chain_goes_on(tmp_path):
    cluster = Cluster(tmp_path / "net", n=4, app="note")
    outsider = crypto.PrivateKey.generate()
    try:
        cluster.start_all()
        cluster.wait_height(0, 2, timeout=60)
        _, body = cluster.rpc(0, "/validators")
        validators = [bytes.fromhex(v["address"]) for v in body["result"]["validators"]]
        height = cluster.height(0) + 1
        closed, status = asyncio.run(asyncio.wait_for(
            attack(ports(0, cluster.base_port)[0], outsider, attack_frames(height, validators, outsider)), 60))
        assert closed and status == 403, (closed, status)
        big = crypto.PrivateKey.generate()  # one frame over the size limit: the link is closed at once
        closed, status = asyncio.run(asyncio.wait_for(
            attack(ports(0, cluster.base_port)[0], big, [b"\x00" * (MAX_FRAME + 1024)], rounds=1), 60))
        assert closed, "an oversized frame did not close the link"
        assert f"bad frame from {node_id(big.pubkey)}: Message size" in cluster.log(0), cluster.log(0)[-2000:]
        top = cluster.height(0)
        for i in range(4):
            cluster.wait_height(i, top + 3, timeout=60)
        forks = cluster.fork_heights(range(4), top + 2)
        assert not forks, f"fork at heights {forks}"
    finally:
        cluster.stop_all()
    log = cluster.log(0)
    for reason in ("malformed msgpack", "unknown message 'no-such-kind'", "rejected vote from", "too few fields",
                   "bad vote signature", "vote from a non-validator", "bad height -5", "bad proposal signature"):
        assert reason in log, (reason, log[-3000:])
    assert log.count(f"banned peer {node_id(outsider.pubkey)}") == 1, log[-3000:]  # once, then not looked at
    for i in range(4):
        assert not cluster.error_lines(i), (i, cluster.error_lines(i)[:5])

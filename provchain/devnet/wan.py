"""A userspace TCP relay that makes 127.0.0.1 behave like a slow, lossy wide-area link (this machine has no
`tc netem`). Each chunk read from one side is written to the other after a random one-way delay, in order;
now and then a chunk waits a retransmission timeout longer (how packet loss looks above TCP); `cut()`
closes a random relayed link at both ends (a NAT or a router dropping the connection). All randomness
comes from one seed; the relays run in one asyncio loop on a background thread. For tests and benchmarks.

    net = WanProxies(seed=1)
    port = net.relay(("127.0.0.1", 26656))   # dial 127.0.0.1:port to reach 26656 through the "WAN"
    route_cluster(cluster, net)              # or: every p2p link of a devnet Cluster, before it starts
    ...
    net.close()
"""

from __future__ import annotations

import asyncio
import random
import re
import threading

from .testnet import ports


class WanProxies:
    def __init__(self, seed: int, delay_ms: tuple[int, int] = (30, 120), loss: float = 0.02,
                 rto_ms: tuple[int, int] = (200, 600)):
        self.rng = random.Random(seed)
        self.delay_ms, self.loss, self.rto_ms = delay_ms, loss, rto_ms
        self.links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.accepted = self.cuts = 0
        self._servers: list[asyncio.AbstractServer] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="wan-proxies", daemon=True)
        self._thread.start()

    def _call(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def relay(self, target: tuple[str, int]) -> int:
        """Listen on a free 127.0.0.1 port that relays to `target`; returns the port."""
        async def start():
            server = await asyncio.start_server(lambda r, w: self._link(r, w, target), "127.0.0.1", 0)
            self._servers.append(server)
            return server.sockets[0].getsockname()[1]
        return self._call(start())

    def cut(self) -> bool:
        """Close one random open link at both ends; False when none is open."""
        async def cut_one():
            self.links = [(a, b) for a, b in self.links if not a.is_closing()]
            if not self.links:
                return False
            a, b = self.links.pop(self.rng.randrange(len(self.links)))
            a.close()
            b.close()
            self.cuts += 1
            return True
        return self._call(cut_one())

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        self.accepted += 1
        self.links.append((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)
        except asyncio.CancelledError:
            pass  # close(): end quietly (asyncio logs a cancelled connection task as an error)
        finally:
            writer.close()
            up_writer.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        """Copy src to dst, each chunk delayed; order kept (a chunk never overtakes the one before)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver():
            while True:
                at, data = await queue.get()
                if data is None:
                    break
                await asyncio.sleep(max(0.0, at - loop.time()))
                dst.write(data)
                await dst.drain()

        sender = asyncio.create_task(deliver())
        last = 0.0
        try:
            while data := await src.read(65536):
                delay = self.rng.uniform(*self.delay_ms)
                if self.rng.random() < self.loss:
                    delay += self.rng.uniform(*self.rto_ms)
                last = max(last, loop.time() + delay / 1000)
                queue.put_nowait((last, data))
        except (ConnectionError, OSError):
            pass
        finally:
            queue.put_nowait((last, None))
            try:
                await sender
            except (ConnectionError, OSError):
                pass
            dst.close()

    def close(self) -> None:
        async def stop():
            for s in self._servers:
                s.close()
            for a, b in self.links:
                a.close()
                b.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self._call(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


def route_cluster(cluster, net: WanProxies) -> None:
    """Make every node of a devnet Cluster (not started yet) dial its peers through a relay of `net`, with
    peer exchange off so that no node learns a direct address."""
    relays = {ports(j, cluster.base_port)[0]: net.relay(("127.0.0.1", ports(j, cluster.base_port)[0]))
              for j in range(cluster.n)}
    for home in cluster.homes:
        cfg = home / "config" / "config.toml"
        text = re.sub(r"@127\.0\.0\.1:(\d+)", lambda m: f"@127.0.0.1:{relays[int(m.group(1))]}", cfg.read_text())
        cfg.write_text(text.replace("pex = true", "pex = false"))

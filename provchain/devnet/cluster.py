"""A local cluster of validator processes for tests and benchmarks: start, kill, pause, wipe, query."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .launcher import node_command, wait_healthy
from .supervisor import die_with_parent
from .testnet import metrics_port, ports, write_testnet


def free_base_port(n: int, rng: random.Random | None = None) -> int:
    """A base port whose 2n node ports (p2p, rpc every 10) are all free on 127.0.0.1."""
    rng = rng or random.Random()
    # stay below the kernel's ephemeral range, where outgoing connections could take a port later
    try:
        ephemeral_lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_lo = 32768
    for _ in range(200):
        base = rng.randrange(10000, ephemeral_lo - 10 * n - 10, 10)
        wanted = [p for i in range(n) for p in (*ports(i, base), metrics_port(i, base))]
        socks = []
        try:
            for p in wanted:
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range found")


def http_json(url: str, data: bytes | None = None, timeout: float = 10.0, content_type: str | None = None):
    """GET (or POST when data is given) and parse JSON, also for error statuses. Returns (status, body)."""
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Cluster:
    def __init__(self, root: str | Path, n: int = 4, base_port: int | None = None, app: str = "note",
                 genesis_validators: int | None = None):
        self.root = Path(root)
        self.n = n
        self.base_port = base_port or free_base_port(n)
        self.homes = write_testnet(self.root, n, base_port=self.base_port, app_name=app,
                                   genesis_validators=genesis_validators)
        self.procs: list[subprocess.Popen | None] = [None] * n
        self.node_env: dict[int, dict[str, str]] = {}  # extra environment of one node (a test's faked clock)

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{ports(i, self.base_port)[1]}"

    def metrics_url(self, i: int) -> str:
        return f"http://127.0.0.1:{metrics_port(i, self.base_port)}/metrics"

    def start(self, i: int, wait: bool = True) -> None:
        logf = open(self.homes[i] / "node.log", "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.node_env.get(i, {}))
        self.procs[i] = subprocess.Popen(node_command(self.homes[i]), stdout=logf, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True,
                                         preexec_fn=die_with_parent(os.getpid()))  # no orphans if we are killed
        if wait and not wait_healthy(self.url(i), 60, self.procs[i]):
            raise RuntimeError(f"node{i} did not start:\n{self.log(i)[-3000:]}")

    def start_all(self) -> None:
        """Start every node; if one does not come up, stop the others before raising (no orphans)."""
        for i in range(self.n):
            self.start(i, wait=False)
        for i in range(self.n):
            if not wait_healthy(self.url(i), 60, self.procs[i]):
                log = self.log(i)[-3000:]
                self.stop_all()
                raise RuntimeError(f"node{i} did not start:\n{log}")

    def signal(self, i: int, sig: int) -> None:
        self.procs[i].send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.procs[i].wait(30)
            self.procs[i] = None

    def stop_all(self) -> None:
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        for i, p in enumerate(self.procs):
            if p is not None:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                self.procs[i] = None

    def wipe(self, i: int) -> None:
        """Delete node i's chain data, keeping its key and config (and its double-sign guard state)."""
        shutil.rmtree(self.homes[i] / "data" / "state.db")
        shutil.rmtree(self.homes[i] / "data" / "cs.wal", ignore_errors=True)

    def log(self, i: int) -> str:
        p = self.homes[i] / "node.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def fork_heights(self, nodes, upto: int, start: int = 1) -> list[int]:
        """Heights in [start, upto] at which the given nodes hold different blocks (none: no fork)."""
        return [h for h in range(start, upto + 1) if len({self.block_hash(i, h) for i in nodes}) != 1]

    def error_lines(self, i: int) -> list[str]:
        """Node i's ERROR log lines and traceback starts: an honest node under faults should have none."""
        return [line for line in self.log(i).splitlines() if " ERROR " in line or "Traceback" in line]

    def rpc(self, i: int, path: str, data: bytes | None = None, **kw):
        return http_json(self.url(i) + path, data, **kw)

    def height(self, i: int) -> int:
        status, body = self.rpc(i, "/status", timeout=3)
        return int(body["result"]["sync_info"]["latest_block_height"])

    def block_hash(self, i: int, height: int) -> str:
        status, body = self.rpc(i, f"/block?height={height}")
        return body["result"]["block_id"]["hash"]

    def wait_height(self, i: int, height: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        h = -1
        while time.monotonic() < deadline:
            try:
                h = self.height(i)
                if h >= height:
                    return h
            except (OSError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"node{i} stuck at height {h}, wanted {height}\n{self.log(i)[-3000:]}")

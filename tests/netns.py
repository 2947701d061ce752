"""Several hosts on one machine: each node in its own Linux network namespace with its own address.

A `Lab` makes a "switch" namespace holding a bridge, and one namespace per host joined to it by a veth pair
(10.213.0.N/24). Nothing is added to the root namespace: the hosts reach each other only through the
bridge, never through loopback, and no traffic leaves the namespaces the lab made. `link_down(host)` cuts a
host's cable at the switch (a partition); `link_up` heals it. Processes start inside a host's namespace
(`popen`), and the test talks to them from inside it too (`call_in`, `http_json`): the test process itself
stays in the root namespace. `close()` kills the lab's processes and deletes its namespaces (and with them
the bridge and veths), also after a failure; use the lab as a context manager.

Needs root (CAP_SYS_ADMIN) and iproute2; `available()` says why not otherwise.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNET = 0x40000000
SUBNET = "10.213.0"
NETNS_DIR = Path("/run/netns")


def available() -> str | None:
    """None when namespaces can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    probe = f"pcprobe{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot create a network namespace: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", *(["-n", ns] if ns else []), *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")


def _setns(ns: str) -> None:
    """Move the calling thread (or, before exec, the child process) into namespace `ns`."""
    fd = os.open(NETNS_DIR / ns, os.O_RDONLY)
    try:
        if ctypes.CDLL("libc.so.6", use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns} failed")
    finally:
        os.close(fd)


@dataclass
class Host:
    name: str
    ns: str
    ip: str
    switch_port: str  # the veth end on the bridge
    procs: list = field(default_factory=list)


class Lab:
    def __init__(self, tag: str = "t"):
        self.prefix = f"pc{os.getpid() % 100000}{tag}"[:9]  # interface names are at most 15 characters
        self.switch = f"{self.prefix}sw"
        self.hosts: dict[str, Host] = {}
        self._namespaces: list[str] = []
        _ip("netns", "add", self.switch)
        self._namespaces.append(self.switch)
        _ip("link", "add", "br0", "type", "bridge", ns=self.switch)
        _ip("link", "set", "br0", "up", ns=self.switch)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add_host(self, name: str) -> Host:
        n = len(self.hosts) + 1
        ns = f"{self.prefix}h{n}"
        ip = f"{SUBNET}.{n}"
        _ip("netns", "add", ns)
        self._namespaces.append(ns)
        port = f"{self.prefix}p{n}"
        _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", self.switch)
        _ip("link", "set", port, "master", "br0", "up", ns=self.switch)
        _ip("addr", "add", f"{ip}/24", "dev", "eth0", ns=ns)
        _ip("link", "set", "eth0", "up", ns=ns)
        _ip("link", "set", "lo", "up", ns=ns)
        host = Host(name, ns, ip, port)
        self.hosts[name] = host
        return host

    # --- faults
    def link_down(self, host: Host) -> None:
        """Unplug the host's cable at the switch: it can reach no one, and no one it."""
        _ip("link", "set", host.switch_port, "down", ns=self.switch)

    def link_up(self, host: Host) -> None:
        _ip("link", "set", host.switch_port, "up", ns=self.switch)

    # --- processes and calls inside a host
    def popen(self, host: Host, argv: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
        parent = os.getpid()

        def enter():
            _setns(host.ns)
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no orphans if we die
            if os.getppid() != parent:
                os._exit(1)
        log = open(log_path, "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env or dict(os.environ),
                                start_new_session=True, preexec_fn=enter)
        log.close()
        host.procs.append(proc)
        return proc

    def run(self, host: Host, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=lambda: _setns(host.ns))

    @staticmethod
    def call_in(host: Host, fn, *args):
        """Run fn(*args) on a thread inside the host's namespace (sockets it opens live there)."""
        out: dict = {}

        def target():
            try:
                _setns(host.ns)
                out["value"] = fn(*args)
            except BaseException as exc:  # re-raised in the caller
                out["error"] = exc
        t = threading.Thread(target=target, daemon=True)
        t.start()
        t.join()
        if "error" in out:
            raise out["error"]
        return out["value"]

    def http_json(self, host: Host, url: str, data: bytes | None = None, timeout: float = 5.0,
                  content_type: str = "application/octet-stream"):
        """GET (or POST `data`) a URL from inside `host`; (status, parsed JSON)."""
        def get():
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
            if data is not None:
                req.add_header("Content-Type", content_type)
            try:
                with opener.open(req, timeout=timeout) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read() or b"null")
        return self.call_in(host, get)

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 15) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(sig)
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        """Kill the lab's processes, then delete its namespaces (their veths and the bridge go with them)."""
        for host in self.hosts.values():
            for proc in host.procs:
                try:
                    self.stop(proc)
                except OSError:
                    pass
        for ns in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self._namespaces.clear()


# ---------------------------------------------------------------- provchain nodes on lab hosts
RPC_PORT = 26657  # every host has its own addresses: CometBFT's default ports cannot collide
P2P_PORT = 26656
METRICS_PORT = 26660


class ChainLab:
    """A provchain testnet on a Lab: validator i on host `v{i}` at 10.213.0.(i+1), full nodes added later."""

    def __init__(self, lab: Lab, root: Path, validators: int = 4, app: str = "note", chain_id: str = "netns-chain"):
        import sys
        from provchain.chain import crypto
        from provchain.chain.types import Genesis, Validator, ValidatorSet
        from provchain.consensus.config import NodeConfig
        from provchain.consensus.node import Home
        from provchain.consensus.nodekey import node_id
        import time
        self.lab, self.root, self.chain_id, self.python = lab, Path(root), chain_id, sys.executable
        self.hosts: dict[str, Host] = {}
        self.homes: dict[str, Path] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.ids: dict[str, str] = {}
        keys = [crypto.PrivateKey.generate() for _ in range(validators)]
        self.validator_keys = keys
        genesis = Genesis(chain_id, int(time.time() * 1000),
                          ValidatorSet(tuple(Validator(k.pubkey, 10) for k in keys)), app_name=app)
        self.genesis = genesis
        names = [f"v{i}" for i in range(validators)]
        for name in names:
            self.hosts[name] = lab.add_host(name)
        node_keys = {name: crypto.PrivateKey.generate() for name in names}
        self.ids = {name: node_id(k.pubkey) for name, k in node_keys.items()}
        for name, key in zip(names, keys):
            home = Home(self.root / name)
            home.config_dir.mkdir(parents=True, exist_ok=True)
            home.data_dir.mkdir(parents=True, exist_ok=True)
            home.genesis.write_text(genesis.to_json())
            key.save(home.key)
            node_keys[name].save(home.node_key)
            peers = [self.address(other) for other in names if other != name]
            home.node_config.write_text(NodeConfig(
                moniker=name, rpc_laddr=f"0.0.0.0:{RPC_PORT}", p2p_laddr=f"{self.hosts[name].ip}:{P2P_PORT}",
                peers=peers, prometheus_laddr=f"0.0.0.0:{METRICS_PORT}").to_toml())
            self.homes[name] = home.root

    def address(self, name: str) -> str:
        return f"{self.ids[name]}@{self.hosts[name].ip}:{P2P_PORT}"

    def url(self, name: str) -> str:
        return f"http://{self.hosts[name].ip}:{RPC_PORT}"

    def provchain(self, name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a `provchain` command inside host `name`."""
        return self.lab.run(self.hosts[name], [self.python, "-m", "provchain", *args], timeout=timeout)

    def init_full_node(self, name: str, seeds: list[str] = (), peers: list[str] = ()) -> Path:
        """`provchain init` on a new host, genesis fetched from v0's RPC over the bridge."""
        host = self.lab.add_host(name)
        self.hosts[name] = host
        home = self.root / name
        r = self.provchain(name, "init", "--home", str(home), "--genesis", self.url("v0"), "--moniker", name,
                           "--seeds", ",".join(seeds), "--persistent-peers", ",".join(peers),
                           "--p2p-laddr", f"{host.ip}:{P2P_PORT}", "--rpc-laddr", f"0.0.0.0:{RPC_PORT}",
                           "--prometheus-laddr", f"0.0.0.0:{METRICS_PORT}")
        if r.returncode != 0:
            raise RuntimeError(f"provchain init failed: {r.stdout}{r.stderr}")
        self.homes[name] = home
        self.ids[name] = self.provchain(name, "show-node-id", "--home", str(home)).stdout.strip()
        return home

    def start(self, name: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.procs[name] = self.lab.popen(self.hosts[name], [self.python, "-m", "provchain", "node", "--home",
                                                             str(self.homes[name])],
                                          self.homes[name] / "node.log", env=env)

    def log(self, name: str) -> str:
        p = self.homes[name] / "node.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def rpc(self, name: str, path: str, data: bytes | None = None, timeout: float = 5.0):
        return self.lab.http_json(self.hosts[name], self.url(name) + path, data, timeout=timeout)

    def height(self, name: str) -> int:
        return int(self.rpc(name, "/status", timeout=3)[1]["result"]["sync_info"]["latest_block_height"])

    def block_hash(self, name: str, height: int) -> str:
        return self.rpc(name, f"/block?height={height}")[1]["result"]["block_id"]["hash"]

    def wait_height(self, name: str, height: int, timeout: float = 60.0) -> int:
        import time
        deadline = time.monotonic() + timeout
        h = -1
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")
            try:
                h = self.height(name)
                if h >= height:
                    return h
            except (OSError, KeyError, ValueError, TypeError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{name} stuck at height {h}, wanted {height}\n{self.log(name)[-3000:]}")

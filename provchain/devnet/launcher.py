"""`provchain devnet`: N validators as separate OS processes on 127.0.0.1, plus the explorer.

Keys and genesis are made on the first run; later runs resume from the same home folder. Ctrl-C stops
every process cleanly (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .testnet import BASE_P2P, ports, write_testnet

EXPLORER_PORT = 8080


def node_command(home: Path) -> list[str]:
    return [sys.executable, "-m", "provchain", "node", "--home", str(home)]


def wait_healthy(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def start_processes(root: Path, n: int, base_port: int) -> list[tuple[subprocess.Popen, str, Path]]:
    procs = []
    for i in range(n):
        home = root / f"node{i}"
        logf = open(home / "node.log", "ab")
        proc = subprocess.Popen(node_command(home), stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append((proc, f"http://127.0.0.1:{ports(i, base_port)[1]}", home))
    return procs


def stop_processes(procs: list[subprocess.Popen], grace: float = 10.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_devnet(args) -> int:
    root = Path(os.path.expanduser(args.home))
    n = args.validators
    if n < 1:
        print("error: --validators must be at least 1", file=sys.stderr)
        return 2
    existing = sorted(root.glob("node*/config/genesis.json"))
    if not existing:
        write_testnet(root, n, base_port=args.base_port, app_name=args.app)
        print(f"created keys and genesis for {n} validators in {root}", file=sys.stderr)
    elif len(existing) != n:
        print(f"error: {root} holds a devnet of {len(existing)} validators; use --validators {len(existing)} "
              f"or another --home", file=sys.stderr)
        return 2
    else:
        print(f"resuming the devnet in {root}", file=sys.stderr)
    # SIGTERM (docker stop, kill, timeout) stops the children just like Ctrl-C does
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (background job)
    procs = start_processes(root, n, args.base_port)
    children = [p for p, _, _ in procs]
    explorer = None
    try:
        for proc, url, home in procs:
            if not wait_healthy(url, 60, proc):
                print(f"error: validator in {home} did not start; see {home / 'node.log'}", file=sys.stderr)
                return 1
            print(f"validator {home.name}: {url}", flush=True)
        if not getattr(args, "no_explorer", False):
            explorer_port = args.explorer_port or EXPLORER_PORT + (args.base_port - BASE_P2P)
            explorer = start_explorer(root, procs[0][1], explorer_port)
            if explorer is not None:
                children.append(explorer)
                print(f"explorer: http://127.0.0.1:{explorer_port}", flush=True)
        print("devnet running; Ctrl-C to stop", file=sys.stderr, flush=True)
        while True:
            for proc, url, home in procs:
                if proc.poll() is not None:
                    print(f"validator {home.name} exited with {proc.returncode}; see {home / 'node.log'}",
                          file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping the devnet", file=sys.stderr)
        return 0
    finally:
        stop_processes(children)


def start_explorer(root: Path, node_url: str, port: int) -> subprocess.Popen | None:
    try:
        import provchain.explorer.server  # noqa: F401
    except ImportError:
        return None
    logf = open(root / "explorer.log", "ab")
    genesis = root / "node0" / "config" / "genesis.json"  # the devnet's own genesis: trust rooted locally
    proc = subprocess.Popen([sys.executable, "-m", "provchain", "explorer", "--node", node_url, "--port", str(port),
                             "--genesis", str(genesis)],
                            stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    if not wait_healthy(f"http://127.0.0.1:{port}/api", 30, proc):  # polls /api/health
        print(f"warning: explorer did not start; see {root / 'explorer.log'}", file=sys.stderr)
    return proc

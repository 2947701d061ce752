"""`provchain devnet`: N validators as separate OS processes on 127.0.0.1, plus the explorer.

Keys and genesis are made on the first run; later runs resume from the same home folder. A validator
(or the explorer) that dies is reported and restarted with back-off while the others keep running
(supervisor.py). Ctrl-C stops every process cleanly (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .supervisor import Child, RestartPolicy, Supervisor, last_log_line
from .testnet import BASE_P2P, add_node_ids, ports, write_testnet

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
        print(f"created keys and genesis for {n} validators in {root}; C2PA test CA in {root / 'ca'} "
              f"(`provchain keys cert --ca {root / 'ca'}`)", file=sys.stderr)
    elif len(existing) != n:
        print(f"error: {root} holds a devnet of {len(existing)} validators; use --validators {len(existing)} "
              f"or another --home", file=sys.stderr)
        return 2
    else:
        print(f"resuming the devnet in {root}", file=sys.stderr)
        if add_node_ids(root, n):
            print("gave each validator a node key and addressed its peers as ID@host:port", file=sys.stderr)
    # SIGTERM (docker stop, kill, timeout) stops the children just like Ctrl-C does
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (background job)
    policy = RestartPolicy(first_delay=getattr(args, "restart_delay", None) or RestartPolicy.first_delay)
    validators = [Child(f"validator node{i}", node_command(root / f"node{i}"), root / f"node{i}" / "node.log")
                  for i in range(n)]
    sup = Supervisor(validators, policy)
    try:
        for c in validators:
            c.start()
        for i, c in enumerate(validators):
            url = f"http://127.0.0.1:{ports(i, args.base_port)[1]}"
            if not wait_healthy(url, 60, c.proc):
                print(f"error: {c.name} did not start; its log {c.log_path} ends: {last_log_line(c.log_path)}",
                      file=sys.stderr)
                return 1
            print(f"{c.name}: {url}", flush=True)
        if not getattr(args, "no_explorer", False):
            explorer_port = args.explorer_port or EXPLORER_PORT + (args.base_port - BASE_P2P)
            explorer = start_explorer(root, f"http://127.0.0.1:{ports(0, args.base_port)[1]}", explorer_port)
            if explorer is not None:
                sup.children.append(explorer)
                print(f"explorer: http://127.0.0.1:{explorer_port}", flush=True)
        print("devnet running; a validator that dies is restarted; Ctrl-C to stop", file=sys.stderr, flush=True)
        while True:
            sup.poll()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping the devnet", file=sys.stderr)
        return 0
    finally:
        sup.stop()


def start_explorer(root: Path, node_url: str, port: int) -> Child | None:
    try:
        import provchain.explorer.server  # noqa: F401
    except ImportError:
        return None
    genesis = root / "node0" / "config" / "genesis.json"  # the devnet's own genesis: trust rooted locally
    anchors = ["--c2pa-trust", str(root / "ca" / "ca.pem")] if (root / "ca" / "ca.pem").exists() else []  # C2PA
    child = Child("explorer", [sys.executable, "-m", "provchain", "explorer", "--node", node_url, "--port", str(port),
                               "--genesis", str(genesis), *anchors], root / "explorer.log")
    proc = child.start()
    if not wait_healthy(f"http://127.0.0.1:{port}/api", 30, proc):  # polls /api/health
        print(f"warning: explorer did not start; see {child.log_path}", file=sys.stderr)
    return child

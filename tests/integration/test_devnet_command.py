"""`provchain devnet`: starts 4 validator processes, stops them all on Ctrl-C, resumes from disk."""

import re
import signal
import subprocess
import sys
import time

import pytest

from provchain.devnet.cluster import free_base_port, http_json

pytestmark = pytest.mark.slow


def start(home, base):
    p = subprocess.Popen([sys.executable, "-m", "provchain", "devnet", "--home", str(home), "--base-port", str(base),
                          "--no-explorer"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    urls = []
    deadline = time.monotonic() + 90
    while len(urls) < 4 and time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        urls += re.findall(r"(http://127\.0\.0\.1:\d+)", line)
    assert len(urls) == 4, p.stderr.read() if p.poll() is not None else "devnet printed no URLs"
    return p, urls


def height(url):
    return int(http_json(url + "/status")[1]["result"]["sync_info"]["latest_block_height"])


def wait_height(url, h, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if height(url) >= h:
            return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not reach height {h}")


def children_of(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_devnet_stops_on_ctrl_c_and_resumes(tmp_path):
    base = free_base_port(4)
    p, urls = start(tmp_path / "dn", base)
    assert urls == [f"http://127.0.0.1:{base + 1 + 10 * i}" for i in range(4)]
    for u in urls:
        wait_height(u, 3)
    kids = children_of(p.pid)
    assert len(kids) == 4
    p.send_signal(signal.SIGINT)
    assert p.wait(30) == 0
    time.sleep(0.5)
    assert not [k for k in kids if subprocess.run(["kill", "-0", str(k)], capture_output=True).returncode == 0]
    p2, urls2 = start(tmp_path / "dn", base)
    try:
        h = height(urls2[0])
        assert h >= 3  # resumed from disk, not a new chain
        wait_height(urls2[0], h + 2)
    finally:
        p2.send_signal(signal.SIGTERM)
        assert p2.wait(30) == 0

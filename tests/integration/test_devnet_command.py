"""`provchain devnet`: starts 4 validator processes, restarts one that dies while the others keep
committing, stops them all on Ctrl-C, resumes from disk."""

import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from provchain.devnet.cluster import free_base_port, http_json

pytestmark = pytest.mark.slow


def start(home, base, *extra):
    p = subprocess.Popen([sys.executable, "-m", "provchain", "devnet", "--home", str(home), "--base-port", str(base),
                          "--no-explorer", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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


def up(url):
    try:
        height(url)
        return True
    except OSError:
        return False


def block_hash(url, h):
    return http_json(f"{url}/block?height={h}")[1]["result"]["block_id"]["hash"]


def collect(stream, lines):
    for line in stream:
        lines.append(line)


def wait_height(url, h, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if up(url) and height(url) >= h:  # a restarted node may not be listening yet
            return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not reach height {h}")


def children_of(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def validator_pids(pid):
    """{node index: pid} of the devnet's validator children."""
    found = {}
    for k in children_of(pid):
        try:
            cmd = open(f"/proc/{k}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"node" in cmd and b"--home" in cmd:
            found[int(cmd[cmd.index(b"--home") + 1].decode().rsplit("node", 1)[1])] = k
    return found


def test_devnet_restarts_a_killed_validator_while_the_others_keep_committing(tmp_path):
    base = free_base_port(4)
    p, urls = start(tmp_path / "dn", base, "--restart-delay", "4")
    err: list[str] = []
    threading.Thread(target=collect, args=(p.stderr, err), daemon=True).start()
    after = {}
    try:
        for u in urls:
            wait_height(u, 3)
        before = validator_pids(p.pid)
        assert sorted(before) == [0, 1, 2, 3]
        subprocess.run(["kill", "-9", str(before[2])], check=True)
        h = height(urls[0])
        # the chain keeps committing while node2 is down (3 of 4 hold > 2/3 of the power)
        committed_while_down = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not up(urls[2]):
            if min(height(urls[i]) for i in (0, 1, 3)) >= h + 2:
                committed_while_down = not up(urls[2])
                break
            time.sleep(0.1)
        assert committed_while_down, "the others did not commit 2 blocks while node2 was down"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("restarted validator node2" in line for line in err):
            time.sleep(0.2)
        death = [line for line in err if "validator node2 killed by SIGKILL" in line]
        assert death and "restarting it in 4 s" in death[0], err
        tip = height(urls[0])
        wait_height(urls[2], tip, timeout=60)  # restarted and caught up
        after = validator_pids(p.pid)
        assert after[2] != before[2] and all(after[i] == before[i] for i in (0, 1, 3)), (before, after)
        assert len({block_hash(u, tip) for u in urls}) == 1
        assert p.poll() is None
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(30) == 0
    time.sleep(0.5)
    assert not [k for k in after.values() if subprocess.run(["kill", "-0", str(k)], capture_output=True).returncode == 0]


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


def test_validators_stop_when_the_devnet_process_is_killed(tmp_path):
    """kill -9 of `provchain devnet` itself (or the OOM killer) must not leave orphaned validators holding
    the ports and the databases: a new devnet on the same home must start."""
    base = free_base_port(4)
    p, urls = start(tmp_path / "dn", base)
    kids = list(validator_pids(p.pid).values())
    assert len(kids) == 4
    p.kill()
    p.wait(10)
    deadline = time.monotonic() + 30
    alive = kids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [k for k in kids if subprocess.run(["kill", "-0", str(k)], capture_output=True).returncode == 0
                 and "Z" not in open(f"/proc/{k}/stat").read().split()[2]]
    for k in alive:  # don't leave them running when the assertion fails
        subprocess.run(["kill", str(k)])
    assert not alive, f"validators {alive} outlived the devnet"
    p2, urls2 = start(tmp_path / "dn", base)
    try:
        h = height(urls2[0])
        wait_height(urls2[0], h + 1)
    finally:
        p2.send_signal(signal.SIGTERM)
        assert p2.wait(30) == 0

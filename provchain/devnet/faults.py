"""A fault campaign on real validator processes: registration load, kill -9, SIGSTOP, WAL damage.

Four `provchain node` OS processes (cluster.py) run the provenance app. Submitter threads register
clips (signed RegisterClip txs) through `POST /broadcast_tx?wait=commit` on a random validator and count a
registration as *acknowledged* only when a node answered that it is committed (code 0 and a height);
a submitter whose request failed sends the same tx again, to another node, until it is acknowledged.
Meanwhile a seeded schedule injects one fault at a time, each healed before the next:
  kill9      kill -9 a random validator (often in the middle of a LevelDB batch or WAL append), restart it
  wal_tail   kill -9 a validator, cut a random number of bytes off its consensus WAL, restart it
  pause2     SIGSTOP two validators (the chain must halt: 2 of 4 is not > 2/3), then SIGCONT both
  pause1     SIGSTOP one validator, then SIGCONT it
  leveldb    kill -9 a validator, overwrite bytes in the middle of its LevelDB log (or a table), run
             `provchain node --repair-db` on it (the operator's fix, docs/operators.md), restart it
At the end the load stops, every node must reach the same tip, and the campaign checks that every
acknowledged registration is in every node's chain and that all nodes hold the same block at every
height. The schedule and the clips come from the seed; thread timing does not, so a failing seed shows
a fault, not an exact replay: the report carries the command that re-runs it.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..chain import crypto
from ..provenance.fingerprint import ALG, HASH_BYTES, SAMPLE_PERIOD_MS, Fingerprint
from ..provenance.record import MediaInfo, RegisterClip
from .cluster import Cluster, http_json

CHAIN = "provchain-devnet"
HEAL_WAIT = 120  # seconds the healed cluster gets to commit a new block at the end
FAULTS = {"kill9": 4, "wal_tail": 2, "pause2": 2, "pause1": 1, "leveldb": 1}  # weights


@dataclass
class Report:
    seed: int
    seconds: float
    faults: Counter = field(default_factory=Counter)
    acknowledged: int = 0
    resubmitted: int = 0          # requests that failed (node down, paused, timed out) and were sent again
    present_on_all: int = 0       # acknowledged registrations found on every node
    missing: list = field(default_factory=list)  # (node, tx hash) of acknowledged ones not found
    tip: int = 0
    halted_at: int | None = None  # the height all nodes were stuck at when the faults were over (liveness)
    forks: list = field(default_factory=list)    # heights where nodes hold different blocks
    tracebacks: dict = field(default_factory=dict)  # node -> lines of Python tracebacks in its log
    errors: Counter = field(default_factory=Counter)  # ERROR/CRITICAL log lines by their text, per kind

    @property
    def ok(self) -> bool:
        return (self.acknowledged > 0 and self.present_on_all == self.acknowledged and not self.forks
                and self.halted_at is None)

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        return (f"seed {self.seed}: {self.seconds:.0f} s of faults ({faults}); {self.acknowledged} registrations "
                f"acknowledged, {self.present_on_all} present on all 4 nodes, {len(self.missing)} missing; "
                f"{self.tip} blocks, {len(self.forks)} forks; {self.resubmitted} requests re-sent"
                + (f"; HALTED: no commit after height {self.halted_at} for {HEAL_WAIT} s with all 4 nodes up"
                   if self.halted_at is not None else ""))

    def details(self) -> str:
        """Tracebacks and ERROR lines from the node logs, what is missing, where the nodes forked."""
        out = []
        for node, tbs in sorted(self.tracebacks.items()):
            out.append(f"{node}: {len(tbs)} tracebacks")
            out += [f"    {line}" for line in sorted(set(tbs))[:10]]
        out += [f"{n:6d} x ERROR {text}" for text, n in self.errors.most_common(15)]
        out += [f"MISSING on {node}: {h}" for node, h in self.missing[:20]]
        if self.forks:
            out.append(f"FORKS at heights {self.forks[:20]}")
        return "\n".join(out)


def make_record(rng: random.Random, key: crypto.PrivateKey, nonce: int) -> bytes:
    samples = 10  # a 2 s clip
    fp = Fingerprint(ALG, tuple(k * SAMPLE_PERIOD_MS for k in range(samples)),
                     tuple(rng.randbytes(HASH_BYTES) for _ in range(samples)))
    rec = RegisterClip(rng.randbytes(32), rng.randbytes(32), fp, MediaInfo(2000, 24000, 256, 256, "h264", "mp4"),
                       1_700_000_000_000)
    return rec.sign(key, CHAIN, nonce).encode()


class Submitter(threading.Thread):
    """One creator registering clips one after another, each sent until a node acknowledges its commit."""

    def __init__(self, cluster: Cluster, seed: int, stop: threading.Event, deadline: float):
        super().__init__(daemon=True)
        self.cluster, self.stop, self.deadline = cluster, stop, deadline
        self.rng = random.Random(seed)
        self.key = crypto.PrivateKey.from_seed(self.rng.randbytes(32))
        self.acked: list[str] = []
        self.resent = 0

    def run(self) -> None:
        nonce = 0
        while not self.stop.is_set():
            tx = make_record(self.rng, self.key, nonce)
            while time.monotonic() < self.deadline:
                node = self.rng.randrange(self.cluster.n)
                try:
                    status, body = http_json(self.cluster.url(node) + "/broadcast_tx?wait=commit&timeout=8", tx,
                                             timeout=10, content_type="application/octet-stream")
                except (OSError, ValueError):
                    status, body = 0, None
                result = (body or {}).get("result") or {}
                if status == 200 and result.get("code") == 0 and result.get("height"):
                    self.acked.append(result["hash"])
                    break
                self.resent += 1
                time.sleep(0.2)
            else:
                return
            nonce += 1


def _truncate_wal_tail(home: Path, rng: random.Random) -> int:
    wals = sorted((home / "data" / "cs.wal").glob("*.wal"))
    if not wals or wals[-1].stat().st_size == 0:
        return 0
    size = wals[-1].stat().st_size
    cut = rng.randint(1, min(size, 4096))
    with open(wals[-1], "r+b") as f:
        f.truncate(size - cut)
    return cut


def _damage_leveldb(home: Path, rng: random.Random) -> str:
    """Overwrite 16 bytes at a random place in the node's LevelDB log (or a table file when the log is
    empty, as it is right after a restart), then repair the database as an operator would."""
    db = home / "data" / "state.db"
    files = [p for p in db.glob("*.log") if p.stat().st_size > 64] or \
        [p for p in db.glob("*.ldb") if p.stat().st_size > 64]
    if not files:
        return "nothing to damage yet"
    path = rng.choice(sorted(files))
    offset = rng.randrange(0, path.stat().st_size - 32)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(rng.randbytes(16))
    r = subprocess.run([sys.executable, "-m", "provchain", "node", "--home", str(home), "--repair-db"],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"--repair-db failed on {home}:\n{r.stderr[-2000:]}")
    kept = re.search(r"blocks 1\.\.(\d+) are intact", r.stdout)
    return f"damaged {path.name} at byte {offset}, repaired: kept blocks 1..{kept[1] if kept else 0}"


def inject(cluster: Cluster, kind: str, rng: random.Random, log) -> None:
    """One fault, healed before returning."""
    if kind in ("kill9", "wal_tail", "leveldb"):
        i = rng.randrange(cluster.n)
        time.sleep(rng.uniform(0, 0.5))
        cluster.signal(i, signal.SIGKILL)
        detail = ""
        if kind == "wal_tail":
            detail = f", cut {_truncate_wal_tail(cluster.homes[i], rng)} bytes off its WAL"
        elif kind == "leveldb":
            detail = ", " + _damage_leveldb(cluster.homes[i], rng)
        down = rng.uniform(1, 5)
        log(f"{kind}: node{i} killed{detail}, down {down:.1f} s")
        time.sleep(down)
        cluster.start(i, wait=False)
    else:
        victims = rng.sample(range(cluster.n), 2 if kind == "pause2" else 1)
        paused = rng.uniform(2, 6)
        log(f"{kind}: SIGSTOP node{' node'.join(map(str, victims))} for {paused:.1f} s")
        for i in victims:
            cluster.signal(i, signal.SIGSTOP)
        time.sleep(paused)
        for i in victims:
            cluster.signal(i, signal.SIGCONT)


def scan_logs(cluster: Cluster, report: Report) -> None:
    """Collect each node's Python tracebacks (their exception lines) and its ERROR/CRITICAL lines by kind."""
    for i in range(cluster.n):
        lines = cluster.log(i).splitlines()
        for k, ln in enumerate(lines):
            if ln.startswith("Traceback"):
                end = next((j for j in range(k + 1, len(lines)) if not lines[j].startswith(" ")), None)
                context = lines[k - 1] if k else ""
                if end is not None:
                    report.tracebacks.setdefault(f"node{i}", []).append(f"{_shape(context)} -> {lines[end]}")
            for level in (" ERROR ", " CRITICAL "):
                if level in ln:
                    report.errors[_shape(ln.split(level, 1)[1])] += 1


def _shape(text: str) -> str:
    """An error line with its numbers and hashes blanked, so equal kinds count together."""
    return re.sub(r"\b[0-9a-f]{8,}\b|\d+", "#", text)[:160]


def run_campaign(root: str | Path, seed: int, seconds: float, submitters: int = 6, log=print) -> Report:
    rng = random.Random(seed)
    report = Report(seed, seconds)
    cluster = Cluster(root, n=4, app="provenance")
    cluster.start_all()
    stop = threading.Event()
    try:
        for i in range(cluster.n):
            cluster.wait_height(i, 2, timeout=60)
        t_end = time.monotonic() + seconds
        workers = [Submitter(cluster, seed * 1000 + k, stop, t_end + 120) for k in range(submitters)]
        for w in workers:
            w.start()
        while time.monotonic() < t_end:
            time.sleep(rng.uniform(1, 3))  # everyone healthy in between: the chain must move
            kind = rng.choices(list(FAULTS), weights=list(FAULTS.values()))[0]
            inject(cluster, kind, rng, log)
            report.faults[kind] += 1
        stop.set()
        for w in workers:
            w.join(150)
        acked = [h for w in workers for h in w.acked]
        report.acknowledged = len(acked)
        report.resubmitted = sum(w.resent for w in workers)
        # all nodes up: they must agree on a common tip
        for i in range(cluster.n):
            if cluster.procs[i] is None:
                cluster.start(i, wait=False)
        tip = max(cluster.height(i) for i in range(cluster.n) if _up(cluster, i)) + 1
        try:
            for i in range(cluster.n):
                cluster.wait_height(i, tip, timeout=HEAL_WAIT)
        except TimeoutError:  # a liveness failure: still check safety on what every node has
            report.halted_at = tip = min(cluster.height(i) for i in range(cluster.n))
            states = [cluster.rpc(i, "/consensus_state")[1].get("result", {}).get("round_state", {})
                      .get("height/round/step") for i in range(cluster.n)]
            log(f"HALTED at height {tip}: nodes at height/round/step {states}; their WALs are in {cluster.root}")
        report.tip = tip
        report.forks = cluster.fork_heights(range(cluster.n), tip)
        missing = []
        for h in acked:
            gone = [i for i in range(cluster.n) if cluster.rpc(i, f"/tx?hash={h}")[0] != 200]
            missing += [(f"node{i}", h) for i in gone]
            report.present_on_all += not gone
        report.missing = missing
    finally:
        stop.set()
        cluster.stop_all()
    scan_logs(cluster, report)
    return report


def _up(cluster: Cluster, i: int) -> bool:
    try:
        cluster.height(i)
        return True
    except (OSError, KeyError, ValueError):
        return False

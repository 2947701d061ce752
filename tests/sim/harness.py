"""A deterministic simulator of the production consensus node (after FoundationDB's simulation testing and
TigerBeetle's VOPR).

Every node runs the real `Driver`, `WAL`, `PrivValidator` (double-sign guard), `BlockStore` and `NoteApp`;
only the edges are simulated, all from one seed:
- the clock: one simulated time line, each node reading it with its own skew, timers in one queue;
- the disk (`SimDisk`): WAL and guard files live in memory; a power loss keeps what was fsynced plus a
  random prefix of what was not (a torn write). The block store's KV is an in-memory dict: the driver
  writes it with sync=True only, so it survives a power loss whole, as LevelDB's synced batches do;
- the network (`SimNet`): delay, drop, duplicate, reorder (random delays), partitions, a cut-off of the
  node that has just decided; frames are msgpack-encoded and decoded as on the wire.

Faults: power loss of validators (restarted from their surviving files), byzantine validators (Twins: a
second process with the same key; withholding: a prevote to one peer, then silence; amnesia: state wiped
on restart; junk-vote floods), an outsider sending junk proposals and malformed frames, large clock skew,
validator-set changes on chain (the `valset` family: validator_update txs replace validators by spare
nodes, one at a time; the model's set of each height checks every commit and both header set hashes).

Invariants, checked after every simulated step (one delivered frame or fired timer): agreement; validity
(the commit verifies against the set of its height, the block extends the decided chain, its txs were
submitted by clients); no honest
validator signs two conflicting messages; an honest validator's prevote respects its lock; block time
strictly increases and is no later than the fastest honest clock; WAL, evidence pool and buffers stay
bounded; no ERROR log on an honest node; and after the faults end (GST) every live honest node reaches the
target height.

Replay one seed:  python tests/sim/harness.py FAMILY SEED   (families: see FAMILIES)
"""

from __future__ import annotations

import heapq
import logging
import random
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from provchain.chain import crypto, valsets
from provchain.chain.app import NoteApp
from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import decode, encode, sha256
from provchain.chain.mempool import Mempool
from provchain.chain.store import BlockStore, MemoryKV
from provchain.chain.tx import SignedTx
from provchain.chain.types import (NIL, PRECOMMIT, PREVOTE, Block, ConsensusParams, Genesis, InvalidError, Proposal,
                                   Validator, ValidatorSet, Vote)
from provchain.consensus.driver import Driver
from provchain.consensus.node import handshake
from provchain.consensus.privval import PrivValidator, STEP, STEP_PROPOSAL
from provchain.consensus.wal import WAL

CHAIN_ID = "sim-chain"
GENESIS_TIME_MS = 1_700_000_000_000
PARAMS = ConsensusParams(timeout_propose_ms=1000, timeout_vote_ms=500, timeout_delta_ms=500,
                         timeout_commit_ms=300)
WAL_MAX_BYTES = 2 * 1024 * 1024  # far above what an honest height writes here; a flood must not get near it
EVIDENCE_POOL_MAX = 1000
NEXT_HEIGHT_MAX = 8
HONEST_SKEW_MS = 50


class InvariantError(AssertionError):
    """An invariant failed; `kind` names which (AGREEMENT, DOUBLE_SIGN, LOCK, NO_PROGRESS, ...).

    Raised where the violation is seen, often deep inside the driver, which logs and swallows exceptions
    of one effect to keep the others going; so the world also records the first one and re-raises it after
    the step (`World.failure`)."""

    def __init__(self, kind: str, msg: str):
        super().__init__(f"{kind}: {msg}")
        self.kind = kind
        if _ACTIVE and _ACTIVE[-1].failure is None:
            _ACTIVE[-1].failure = self


_ACTIVE: list = []  # the world being run (the one InvariantErrors are recorded on)


def keys(n: int, tag: bytes = b"validator") -> list[PrivateKey]:
    return [PrivateKey.from_seed(sha256(b"provchain-sim-%s-%d" % (tag, i))) for i in range(n)]


# --- time ------------------------------------------------------------------------------------------------

class Handle:
    __slots__ = ("cancelled",)

    def __init__(self):
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """One simulated time line (ms); items run in (time, sequence) order, so runs are reproducible."""

    def __init__(self):
        self.now = 0
        self._heap: list = []
        self._seq = 0

    def after(self, delay_ms: int, fn, *args) -> Handle:
        h = Handle()
        self._seq += 1
        heapq.heappush(self._heap, (self.now + max(0, delay_ms), self._seq, h, fn, args))
        return h

    def run(self, until: int, stop=None) -> None:
        while self._heap and self._heap[0][0] <= until:
            at, _, h, fn, args = heapq.heappop(self._heap)
            if h.cancelled:
                continue
            self.now = at
            fn(*args)
            if stop is not None and stop():
                return
        self.now = max(self.now, until)


class SimClock:
    """The driver's clock seam for one node incarnation: skewed wall time, timers that die with the node."""

    def __init__(self, node: "SimNode"):
        self.node = node
        self.sched = node.world.sched
        self.life = node.life

    def now_ms(self) -> int:
        return GENESIS_TIME_MS + self.sched.now + self.node.skew_ms

    def monotonic(self) -> float:
        return self.sched.now / 1000

    def call_later(self, delay_s: float, fn, *args) -> Handle:
        return self.sched.after(int(round(delay_s * 1000)), self.node.step, self.life, fn, args)


# --- disk ------------------------------------------------------------------------------------------------

class _File:
    __slots__ = ("data", "synced")

    def __init__(self):
        self.data = bytearray()
        self.synced = 0  # bytes that survive a power loss


class SimDisk:
    """The files of one node. Metadata (create, delete, rename) is durable at once; data is durable only
    up to the last fsync; a power loss keeps a random prefix of the rest."""

    def __init__(self):
        self.files: dict[str, _File] = {}
        self.fsyncs = 0

    def mkdir(self, path) -> None:
        pass

    def list(self, directory) -> list[str]:
        d = str(directory)
        return sorted(PurePosixPath(p).name for p in self.files if str(PurePosixPath(p).parent) == d)

    def read(self, path) -> bytes | None:
        f = self.files.get(str(path))
        return None if f is None else bytes(f.data)

    def delete(self, path) -> None:
        self.files.pop(str(path), None)

    def truncate(self, path, size: int) -> None:
        f = self.files[str(path)]
        del f.data[size:]
        f.synced = len(f.data)
        self.fsyncs += 1

    def open_append(self, path) -> "SimAppendFile":
        return SimAppendFile(self, self.files.setdefault(str(path), _File()))

    def write_atomic(self, path, data: bytes) -> None:
        f = _File()
        f.data[:] = data
        f.synced = len(data)
        self.files[str(path)] = f
        self.fsyncs += 1

    def power_loss(self, rng: random.Random) -> int:
        """Drop unsynced data (keeping a random, possibly torn, prefix of it); returns the bytes lost."""
        lost = 0
        for f in self.files.values():
            keep = f.synced + rng.randint(0, len(f.data) - f.synced) if rng.random() < 0.5 else f.synced
            lost += len(f.data) - keep
            del f.data[keep:]
            f.synced = len(f.data)
        return lost

    def size(self, prefix: str) -> int:
        return sum(len(f.data) for p, f in self.files.items() if p.startswith(prefix))


class SimAppendFile:
    def __init__(self, disk: SimDisk, f: _File):
        self.disk, self.f = disk, f

    def write(self, data: bytes) -> None:
        self.f.data += data

    def sync(self) -> None:
        self.f.synced = len(self.f.data)
        self.disk.fsyncs += 1

    def close(self) -> None:
        pass


# --- network ---------------------------------------------------------------------------------------------

class SimNet:
    def __init__(self, world: "World", rng: random.Random, sc: "Scenario"):
        self.world, self.rng, self.sc = world, rng, sc
        self.blocked = lambda src, dst: False
        self.frames = self.dropped = self.duplicated = 0

    def send(self, src: "SimNode", dst: "SimNode", frame: bytes) -> None:
        sc = self.sc
        self.frames += 1
        if self.blocked(src, dst) or (sc.drop and self.rng.random() < sc.drop):
            self.dropped += 1
            return
        copies = 1
        if sc.dup and self.rng.random() < sc.dup:
            copies = 2
            self.duplicated += 1
        for _ in range(copies):
            slow = dst.index in sc.slow and not (sc.slow_until_power_loss and self.world.faults["power_loss"])
            if (sc.late and self.rng.random() < sc.late) or (slow and self.rng.random() < sc.slow_share):
                delay = self.rng.randint(2000, 6000)
            else:
                delay = self.rng.randint(sc.min_delay, sc.max_delay)
            self.world.sched.after(delay, self._deliver, src, dst, frame)

    def _deliver(self, src: "SimNode", dst: "SimNode", frame: bytes) -> None:
        if dst.driver is None or self.blocked(src, dst):
            return  # the node is down, or the link went down while the frame was in flight
        obj = decode(frame)
        dst.step(dst.life, dst.driver.on_message, (src.name, obj))


class SimLink:
    """The driver's p2p seam: frames go into SimNet, through the node's byzantine behaviour if it has one."""

    def __init__(self, node: "SimNode"):
        self.node = node

    def broadcast(self, obj, exclude: str | None = None) -> None:
        for peer in self.node.world.nodes:
            if peer is not self.node and peer.name != exclude:
                self._out(peer, obj)

    def send(self, peer_name: str, obj) -> None:
        peer = self.node.world.by_name.get(peer_name)
        if peer is not None:
            self._out(peer, obj)

    def _out(self, peer: "SimNode", obj) -> None:
        node = self.node
        if node.behaviour is not None:
            for dst, o in node.behaviour.outgoing(node, peer, obj):
                node.world.net.send(node, dst, encode(o))
        else:
            node.world.net.send(node, peer, encode(obj))


# --- the signing ledger: what every validator ever signed ---------------------------------------------------

class Ledger:
    """Every signature made in the run (honest and byzantine), to check no-double-sign and locks."""

    def __init__(self, world: "World"):
        self.world = world
        self.signed: dict[tuple, bytes] = {}  # (address, h, r, step) -> block hash (first signature)
        self.prevoters: dict[tuple, set] = {}  # (h, r, block hash) -> addresses that prevoted it
        self.precommits: dict[tuple, list] = {}  # (address, h) -> [(round, block hash)] non-nil precommits
        self.signatures = 0

    def record(self, node: "SimNode", address: bytes, h: int, r: int, step: int, block_hash: bytes) -> None:
        self.signatures += 1
        key = (address, h, r, step)
        prev = self.signed.setdefault(key, block_hash)
        honest = address not in self.world.byzantine_addresses
        if honest and prev != block_hash:
            raise InvariantError("DOUBLE_SIGN", f"{node.name} signed two different messages at "
                                 f"h={h} r={r} step={step}: {prev.hex()[:8]} and {block_hash.hex()[:8]}")
        if step == STEP[PREVOTE]:
            self.prevoters.setdefault((h, r, block_hash), set()).add(address)
            if honest and block_hash != NIL and self.world.sc.check_locks:
                self._check_lock(node, address, h, r, block_hash)
        elif step == STEP[PRECOMMIT] and block_hash != NIL:
            self.precommits.setdefault((address, h), []).append((r, block_hash))

    def _polka(self, h: int, r: int, block_hash: bytes) -> bool:
        valset = self.world.valset_at(h)
        voters = self.prevoters.get((h, r, block_hash), ())
        return valset.has_quorum(sum(valset.by_address[a].power for a in voters if a in valset.by_address))

    def _check_lock(self, node, address, h, r, block_hash) -> None:
        """Having precommitted B in round r0, a validator prevotes B' != B in a later round only after a
        polka for B' in a round in [r0, r) (Algorithm 1, lines 28-29 with the lock of line 36)."""
        for r0, locked in self.precommits.get((address, h), ()):
            if r0 < r and locked != block_hash and not any(
                    self._polka(h, pr, block_hash) for pr in range(r0, r)):
                raise InvariantError("LOCK", f"{node.name} precommitted {locked.hex()[:8]} at h={h} r={r0} "
                                     f"but prevoted {block_hash.hex()[:8]} at r={r} with no polka for it since")


class RecordingPrivValidator(PrivValidator):
    """The real double-sign guard; every signature it returns is reported to the ledger."""

    def __init__(self, node: "SimNode", *args, **kw):
        super().__init__(*args, **kw)
        self.node = node

    def sign_vote(self, vote: Vote) -> Vote:
        signed = super().sign_vote(vote)
        self.node.world.ledger.record(self.node, self.address, signed.height, signed.round, STEP[signed.type],
                                      signed.block_hash)
        return signed

    def sign_proposal(self, proposal: Proposal) -> Proposal:
        signed = super().sign_proposal(proposal)
        self.node.world.ledger.record(self.node, self.address, signed.height, signed.round, STEP_PROPOSAL,
                                      signed.block_hash + bytes([signed.pol_round + 1]))
        return signed


# --- byzantine behaviours (around an honest driver) ------------------------------------------------------

class Withholding:
    """From `height` on, the node's first prevote for a block goes to one peer only; then it falls silent.
    With `junk` it also floods junk votes (random block hashes, validly signed) ahead of each vote."""

    def __init__(self, world: "World", height: int, junk: int = 0):
        self.world, self.height, self.junk = world, height, junk
        self.silent = False
        self.withheld = 0

    def outgoing(self, node, peer, obj):
        if self.silent:
            return []
        out = []
        if obj[0] == "vote" and self.junk:
            v = Vote.from_obj(obj[1])
            for i in range(self.junk):
                bh = sha256(b"junk %d %d %d %d" % (v.height, v.round, v.type, i))
                out.append((peer, ["vote", Vote(v.type, v.height, v.round, bh, v.timestamp_ms,
                                                v.validator_address).signed(node.key, CHAIN_ID).to_obj()]))
            self.world.faults["junk_votes"] += self.junk
        if obj[0] == "vote":
            v = Vote.from_obj(obj[1])
            if v.type == PREVOTE and v.height >= self.height and v.block_hash != NIL \
                    and v.validator_address == node.key.address:
                target = self.world.rng.choice([p for p in self.world.nodes if p is not node and p.validator])
                self.silent = True
                self.withheld += 1
                self.world.faults["withheld"] += 1
                return out + [(target, obj)] if peer is target else out
        return out + [(peer, obj)]


class JunkFlood:
    """Before each of its votes, the node sends `junk` validly signed votes for random blocks."""

    def __init__(self, world: "World", junk: int):
        self.world, self.junk = world, junk

    def outgoing(self, node, peer, obj):
        out = []
        if obj[0] == "vote":
            v = Vote.from_obj(obj[1])
            if v.validator_address == node.key.address:
                for i in range(self.junk):
                    bh = sha256(b"flood %d %d %d %d" % (v.height, v.round, v.type, i))
                    out.append((peer, ["vote", Vote(v.type, v.height, v.round, bh, v.timestamp_ms,
                                                    v.validator_address).signed(node.key, CHAIN_ID).to_obj()]))
                self.world.faults["junk_votes"] += self.junk
        return out + [(peer, obj)]


class DoubleVoter:
    """Each of its votes goes to half the peers; the other half get a conflicting vote (nil <-> a random
    block), so honest nodes see different votes from it and must still agree on polkas."""

    def __init__(self, world: "World"):
        self.world = world

    def outgoing(self, node, peer, obj):
        if obj[0] != "vote":
            return [(peer, obj)]
        v = Vote.from_obj(obj[1])
        if v.validator_address != node.key.address or peer.index % 2 == 0:
            return [(peer, obj)]
        other = sha256(b"other %d %d %d" % (v.height, v.round, v.type)) if v.block_hash == NIL else NIL
        self.world.faults["double_votes"] += 1
        return [(peer, ["vote", Vote(v.type, v.height, v.round, other, v.timestamp_ms,
                                     v.validator_address).signed(node.key, CHAIN_ID).to_obj()])]


# --- nodes -----------------------------------------------------------------------------------------------

class SimNode:
    def __init__(self, world: "World", index: int, name: str, key: PrivateKey, validator: bool, skew_ms: int):
        self.world, self.index, self.name, self.key = world, index, name, key
        self.validator = validator
        self.skew_ms = skew_ms
        self.disk = SimDisk()
        self.kv = MemoryKV()  # written with sync=True only: survives a power loss (see module doc)
        self.driver: Driver | None = None
        self.life = 0  # incremented at each crash: timers and deliveries of a dead incarnation are dropped
        self.behaviour = None
        self.byzantine = False
        self.amnesia = False
        self.honest_clock = True
        self.restarts = 0

    def boot(self) -> None:
        self.life += 1
        if self.amnesia:
            self.disk = SimDisk()  # a byzantine node forgets its WAL and its double-sign guard state
        # with validator updates in the scenario, the app keeps the set of each height (chain/valsets.py)
        app = NoteApp(self.kv, CHAIN_ID, PARAMS.max_tx_bytes,
                      self.world.genesis.validators if self.world.sc.valset_changes else None)
        mempool = Mempool(app, max_tx_bytes=PARAMS.max_tx_bytes)
        privval = (RecordingPrivValidator(self, self.key, PurePosixPath(f"/{self.name}/priv_validator_state"),
                                          CHAIN_ID, files=self.disk) if self.validator else None)
        wal = WAL(PurePosixPath(f"/{self.name}/cs.wal"), files=self.disk)
        handshake(BlockStore(self.kv), app, self.kv)  # as the node does before it makes its driver
        self.driver = Driver(self.world.genesis, self.kv, app, mempool, privval, wal, SimLink(self),
                             clock=SimClock(self))
        self.driver.block_listeners.append(self._committed)
        self.step(self.life, self.driver.start_sync, ())
        for peer in self.world.nodes:  # links (re)open both ways
            if peer is not self and peer.driver is not None:
                peer.step(peer.life, peer.driver.on_connect, (self.name,))
                self.step(self.life, self.driver.on_connect, (peer.name,))

    def crash(self, rng: random.Random) -> int:
        """Power loss: the process and everything not fsynced are gone."""
        self.driver = None
        self.life += 1
        return self.disk.power_loss(rng)

    def step(self, life: int, fn, args) -> None:
        """Run one input of this node (a delivered frame, a timer), drain its inbox, check invariants."""
        if life != self.life or self.driver is None:
            return
        world = self.world
        with world.acting(self):
            fn(*args)
            if self.driver is not None:
                self.driver.drain()
        if world.failure is not None:
            raise world.failure
        world.check_node(self)

    def submit(self, tx: bytes) -> None:
        if self.driver is not None:
            self.driver.mempool.add(tx)

    def _committed(self, block: Block) -> None:
        self.world.on_commit(self, block)


# --- scenarios -------------------------------------------------------------------------------------------

@dataclass
class Scenario:
    seed: int
    family: str = "random"
    n: int = 4
    observers: int = 0
    heights: int = 4
    min_delay: int = 5
    max_delay: int = 100
    drop: float = 0.0
    dup: float = 0.0
    late: float = 0.0
    fault_ms: int = 0  # faults happen in [0, fault_ms); GST is fault_ms
    partitions: int = 0  # random partitions switched during the fault window
    isolate_deciders: float = 0.0  # probability that a node that has just decided is cut off for a while
    isolate_ms: tuple = (2000, 8000)  # for how long
    slow: tuple = ()  # validators whose inbound frames are often very late
    slow_share: float = 0.5  # the share of their frames that is late
    slow_until_power_loss: bool = False  # the slow links heal at the first power loss
    power_loss_delay_ms: tuple = (0, 300)  # after the decision that triggers it
    restart_ms: tuple = (300, 4000)
    power_loss: int = 0  # power-loss events in the fault window
    rack: int = 2  # validators that lose power together
    power_loss_after_decide: float = 0.0  # probability of a rack power loss right after a decision
    twins: tuple = ()  # validator indexes that get a twin (same key, another process)
    withholding: tuple = ()  # validator indexes that withhold (then fall silent)
    junk_votes: int = 0  # junk votes per vote from withholding / flooding validators
    flooders: tuple = ()
    double_voters: tuple = ()
    amnesia: tuple = ()  # byzantine validators that restart with their state wiped
    outsider_junk: bool = False  # a non-validator process sends junk proposals and malformed frames
    spares: int = 0  # nodes with validator keys outside the genesis set (validator updates add them)
    valset_changes: int = 0  # validator updates (each adds a spare and removes a validator), one at a time
    skewed: tuple = ()  # validators whose clock is off by +-skew_ms
    skew_ms: int = 120_000
    time_limit_ms: int = 120_000  # after GST
    txs: int = 12
    check_errors: bool = True
    check_locks: bool = True  # off: see whether a lock violation goes on to a fork

    def replay_command(self) -> str:
        return f"PYTHONPATH=. python tests/sim/harness.py {self.family} {self.seed}"


def scenario(family: str, seed: int) -> Scenario:
    """The scenario a family draws from a seed: same (family, seed), same run."""
    r = random.Random(f"{family}:{seed}")
    net = dict(min_delay=r.choice([1, 5, 20]), max_delay=r.choice([50, 150, 400, 1200]),
               drop=r.choice([0.0, 0.0, 0.05, 0.15]), dup=r.choice([0.0, 0.05, 0.2]),
               late=r.choice([0.0, 0.0, 0.03]))
    sc = Scenario(seed=seed, family=family, **net)
    if family == "random":
        sc.n = r.choice([4, 4, 4, 7])
        sc.observers = r.choice([0, 1])
        sc.fault_ms = r.choice([0, 8000])
        sc.partitions = 3 if sc.fault_ms else 0
    elif family == "power_loss":
        # a rack of 2 of the 4 validators loses power together, often just after someone decided, while
        # the decider is cut off: the others must remember their locks
        sc.fault_ms, sc.power_loss = 15_000, r.randint(1, 3)
        sc.power_loss_after_decide = 0.5
        sc.isolate_deciders = 1.0
        sc.max_delay, sc.late = r.choice([100, 200, 400]), r.choice([0.0, 0.1])
        sc.slow = (r.randrange(4),)
        sc.isolate_ms = (5000, 15000)
        sc.fault_ms = 20_000
        sc.heights = 6
    elif family == "rack":
        # the schedule that turns a forgotten lock into a fork: one validator hears everything late (so
        # it does not lock) until the power loss, the first to decide is cut off, and the validators that
        # precommitted with it lose power at once and come back fast
        sc.fault_ms, sc.power_loss, sc.power_loss_after_decide = 20_000, 2, 1.0
        sc.isolate_deciders, sc.isolate_ms = 1.0, (8000, 20_000)
        sc.slow, sc.slow_share, sc.slow_until_power_loss = (r.randrange(4),), 1.0, True
        sc.power_loss_delay_ms, sc.restart_ms = (0, 50), (200, 1500)
        sc.drop, sc.dup, sc.late, sc.max_delay = 0.0, r.choice([0.0, 0.05]), 0.0, r.choice([50, 100, 200])
        sc.heights = 5
    elif family == "withholding":
        sc.withholding = (r.randrange(4),)
        sc.max_delay = r.choice([400, 800, 1200])
        sc.heights = 4
    elif family == "withholding_junk":
        sc.withholding = (r.randrange(4),)
        sc.junk_votes = 5
        sc.max_delay = r.choice([400, 800, 1200])
        sc.heights = 4
    elif family == "twins":
        sc.twins = (r.randrange(4),)
        sc.fault_ms, sc.partitions = 12_000, 4
        sc.isolate_deciders = 0.5
    elif family == "amnesia":
        sc.amnesia = (r.randrange(4),)
        sc.fault_ms, sc.power_loss, sc.rack = 12_000, r.randint(1, 3), 1
        sc.isolate_deciders = 1.0
        sc.heights = 6
    elif family == "junk":
        sc.flooders = (r.randrange(4),)
        sc.junk_votes = r.choice([5, 20])
        sc.outsider_junk = True
        sc.fault_ms = 10_000
    elif family == "double_vote":
        sc.double_voters = (r.randrange(4),)
        sc.heights = 4
    elif family == "valset":
        sc.spares, sc.valset_changes, sc.heights = 2, 2, 10
        sc.fault_ms, sc.power_loss, sc.rack = r.choice([0, 8_000]), 1, 1
    elif family == "skew":
        sc.skewed = (r.randrange(4),)
        sc.skew_ms = r.choice([-1, 1]) * r.choice([30_000, 120_000])
    else:
        raise ValueError(f"unknown family {family!r}")
    return sc


FAMILIES = ("random", "power_loss", "rack", "withholding", "withholding_junk", "twins", "amnesia", "junk", "skew",
            "double_vote", "valset")


# --- the world -------------------------------------------------------------------------------------------

class _Capture(logging.Handler):
    def __init__(self, world: "World"):
        super().__init__(logging.ERROR)
        self.world = world

    def emit(self, record: logging.LogRecord) -> None:
        node = self.world.current
        if node is not None and not node.byzantine:
            self.world.error_logs.append(f"{node.name}: {record.getMessage()}"
                                         + (f" ({record.exc_info[1]!r})" if record.exc_info else ""))


class World:
    def __init__(self, sc: Scenario):
        self.sc = sc
        self.rng = random.Random(f"world:{sc.family}:{sc.seed}")
        self.sched = Scheduler()
        self.net = SimNet(self, random.Random(f"net:{sc.family}:{sc.seed}"), sc)
        self.ledger = Ledger(self)
        ks = keys(sc.n)
        self.valset = ValidatorSet(tuple(Validator(k.pubkey, 1) for k in ks))
        self.genesis = Genesis(CHAIN_ID, GENESIS_TIME_MS, self.valset, PARAMS, "note")
        self.nodes: list[SimNode] = []
        for i, k in enumerate(ks):
            self._add(f"v{i}", k, True)
        for i in sc.twins:
            self._add(f"v{i}twin", ks[i], True)
        for i in range(sc.observers):
            self._add(f"obs{i}", keys(1, b"observer-%d" % i)[0], False)
        for i in range(sc.spares):
            self._add(f"s{i}", keys(1, b"spare-%d" % i)[0], True)
        self.key_of = {nd.key.address: nd.key for nd in self.nodes}
        self.set_changes: dict[int, ValidatorSet] = {}  # height -> the set from that height on (the model)
        self.updates_committed = 0
        self._update_pending: bytes | None = None  # the update tx sent and not committed yet
        self.by_name = {nd.name: nd for nd in self.nodes}
        self.byzantine_addresses = {ks[i].address for i in (*sc.twins, *sc.withholding, *sc.amnesia,
                                                            *sc.flooders, *sc.double_voters)}
        for nd in self.nodes:
            nd.byzantine = nd.key.address in self.byzantine_addresses
            if nd.index in sc.skewed and nd.validator:
                nd.skew_ms, nd.honest_clock = sc.skew_ms, False
        for i in sc.withholding:
            self.nodes[i].behaviour = Withholding(self, height=2, junk=sc.junk_votes)
        for i in sc.flooders:
            self.nodes[i].behaviour = JunkFlood(self, sc.junk_votes)
        for i in sc.amnesia:
            self.nodes[i].amnesia = True
        for i in sc.double_voters:
            self.nodes[i].behaviour = DoubleVoter(self)
        self.current: SimNode | None = None
        self.failure: InvariantError | None = None
        self.error_logs: list[str] = []
        self.decided: dict[int, Block] = {}
        self.commits = 0
        self.checks = 0
        self.faults = {"power_loss": 0, "bytes_lost": 0, "partitions": 0, "isolations": 0, "withheld": 0,
                       "junk_votes": 0, "junk_frames": 0, "restarts": 0, "double_votes": 0}
        self.gst = sc.fault_ms
        self.max_round = 0
        self._isolated: list[tuple[int, SimNode]] = []  # (until, node)
        self._groups: dict[str, int] | None = None
        self.net.blocked = self._blocked
        self._txs = self._make_txs(sc.txs)
        self.submitted = set(self._txs)

    def _add(self, name: str, key: PrivateKey, validator: bool) -> None:
        skew = self.rng.randint(-HONEST_SKEW_MS, HONEST_SKEW_MS)
        self.nodes.append(SimNode(self, len(self.nodes), name, key, validator, skew))

    def _make_txs(self, n: int) -> list[bytes]:
        senders = keys(3, b"client")
        return [SignedTx.create(senders[i % 3], CHAIN_ID, "note", i // 3, b"note %d seed %d" % (i, self.sc.seed)).encode()
                for i in range(n)]

    # -- plumbing ------------------------------------------------------------------------------------------

    @contextmanager
    def acting(self, node: SimNode):
        prev, self.current = self.current, node
        try:
            yield
        finally:
            self.current = prev

    def _blocked(self, src: SimNode, dst: SimNode) -> bool:
        now = self.sched.now
        if self._isolated and any(until > now and nd in (src, dst) for until, nd in self._isolated):
            return True
        g = self._groups
        return g is not None and g.get(src.name) != g.get(dst.name)

    def valset_at(self, h: int) -> ValidatorSet:
        """The model's validator set of height h: the genesis set, changed by each committed update."""
        changed = [k for k in self.set_changes if k <= h]
        return self.set_changes[max(changed)] if changed else self.valset

    def _follow_updates(self, block: Block) -> None:
        """On the first decision of a block: its validator updates change the model's set of h + 2."""
        h = block.header.height
        new = None
        for raw in block.txs:
            stx = SignedTx.decode(raw, PARAMS.max_tx_bytes)
            if stx.kind == valsets.KIND:
                upd = valsets.ValidatorUpdate.from_obj(stx.body)
                new = valsets.apply_changes(new or self.valset_at(h + 1), upd.changes)
                self.updates_committed += 1
                self._update_pending = None
        if new is not None:
            self.set_changes[h + valsets.DELAY] = new
        if self._update_pending is not None:
            # txs are not gossiped in the simulator: offer it again to every node (a node that was behind
            # refused it: it checks an update against the set of its own next height)
            for nd in self.nodes:
                nd.submit(self._update_pending)
        self._maybe_update(h)

    def _maybe_update(self, h: int) -> None:
        """Send the next update once the previous one took effect: add a spare, remove an honest
        validator; signed by every validator of the set that will include it."""
        sc = self.sc
        if self.updates_committed >= sc.valset_changes or self._update_pending is not None:
            return
        if self.set_changes and max(self.set_changes) > h + 1:
            return  # the last update is not in force for the next block yet
        current = self.valset_at(h + 1)
        spares = [nd for nd in self.nodes if nd.name.startswith("s") and nd.key.address not in current.by_address
                  and nd.key.address not in {a for vs in self.set_changes.values() for a in vs.by_address}]
        removable = [v for v in current.validators if v.address not in self.byzantine_addresses]
        if not spares or len(removable) < 2:
            return
        gone = removable[self.rng.randrange(len(removable))]
        upd = valsets.ValidatorUpdate.make(self.updates_committed, {spares[0].key.pubkey: 1, gone.pubkey: 0})
        upd = upd.signed_by([self.key_of[v.address] for v in current.validators], CHAIN_ID)
        tx = SignedTx.create(keys(1, b"valset-client")[0], CHAIN_ID, valsets.KIND, self.updates_committed,
                             upd.to_obj()).encode()
        self.submitted.add(tx)
        self._update_pending = tx
        for nd in self.nodes:
            nd.submit(tx)

    def honest_nodes(self) -> list[SimNode]:
        return [nd for nd in self.nodes if not nd.byzantine]

    # -- invariants ----------------------------------------------------------------------------------------

    def check_node(self, node: SimNode) -> None:
        """Bounds after every step of a node."""
        self.checks += 1
        d = node.driver
        if d is None:
            return
        wal = node.disk.size(f"/{node.name}/cs.wal")
        if wal > WAL_MAX_BYTES:
            raise InvariantError("BOUND", f"{node.name}: WAL holds {wal} bytes")
        if len(d.evidence_pool) > EVIDENCE_POOL_MAX:
            raise InvariantError("BOUND", f"{node.name}: evidence pool holds {len(d.evidence_pool)} items")
        if len(d._next_height_proposals) > NEXT_HEIGHT_MAX:
            raise InvariantError("BOUND", f"{node.name}: {len(d._next_height_proposals)} next-height proposals")
        if d.machine is not None:
            self.max_round = max(self.max_round, d.machine.round)

    def on_commit(self, node: SimNode, block: Block) -> None:
        """Agreement and validity of every block any node commits."""
        self.commits += 1
        h = block.header.height
        commit = node.driver.store.commit(h)
        try:
            commit.verify(CHAIN_ID, self.valset_at(h), h, block.hash)
        except InvalidError as exc:
            raise InvariantError("VALIDITY", f"{node.name}: commit for height {h} does not verify: {exc}")
        if block.header.validators_hash != self.valset_at(h).hash() or \
                block.header.next_validators_hash != self.valset_at(h + 1).hash():
            raise InvariantError("VALIDITY", f"{node.name}: block {h} names another validator set than the "
                                 f"updates committed so far give")
        if not node.byzantine:
            prev = self.decided.get(h)
            if prev is not None and prev.hash != block.hash:
                raise InvariantError("AGREEMENT", f"height {h}: {node.name} committed {block.hash.hex()[:12]}, "
                                     f"another node committed {prev.hash.hex()[:12]}")
        parent = self.decided.get(h - 1)
        if h > 1 and parent is not None:
            if block.header.last_block_hash != parent.hash:
                raise InvariantError("VALIDITY", f"{node.name}: block {h} does not extend block {h - 1}")
            if block.header.time_ms <= parent.header.time_ms:
                raise InvariantError("TIME", f"block {h} time {block.header.time_ms} is not after block {h - 1} "
                                     f"time {parent.header.time_ms}")
        fastest = max(GENESIS_TIME_MS + self.sched.now + nd.skew_ms for nd in self.nodes
                      if nd.honest_clock and not nd.byzantine)
        if block.header.time_ms > fastest:
            raise InvariantError("TIME", f"block {h} time is {block.header.time_ms - fastest} ms ahead of every "
                                 "honest clock")
        for tx in block.txs:
            if tx not in self.submitted:
                raise InvariantError("VALIDITY", f"block {h} carries a tx no client submitted")
        if not node.byzantine and h not in self.decided:
            self.decided[h] = block
            if self.sc.valset_changes:
                self._follow_updates(block)
        self._after_decide(node)

    # -- faults --------------------------------------------------------------------------------------------

    def _after_decide(self, node: SimNode) -> None:
        sc, now = self.sc, self.sched.now
        if now >= self.gst or node.byzantine:
            return
        if sc.isolate_deciders and self.rng.random() < sc.isolate_deciders:
            until = min(self.gst, now + self.rng.randint(*sc.isolate_ms))
            self._isolated.append((until, node))
            self.faults["isolations"] += 1
        if sc.power_loss_after_decide and self.faults["power_loss"] < sc.power_loss \
                and self.rng.random() < sc.power_loss_after_decide:
            # the worst rack: validators that precommitted the decided block (so hold a lock on it)
            h = node.driver.store.height()
            signers = {s.validator_address for s in node.driver.store.commit(h).signatures}
            others = [nd for nd in self.nodes if nd.validator and nd is not node and nd.driver is not None
                      and nd.key.address in signers]
            rack = self.rng.sample(others, min(sc.rack, len(others)))
            self.sched.after(self.rng.randint(*sc.power_loss_delay_ms), self._power_loss, rack)

    def _power_loss(self, rack: list[SimNode]) -> None:
        if self.sched.now >= self.gst:
            return
        self.faults["power_loss"] += 1
        for nd in rack:
            if nd.driver is not None:
                self.faults["bytes_lost"] += nd.crash(self.rng)
        back = min(self.gst, self.sched.now + self.rng.randint(*self.sc.restart_ms))
        for nd in rack:
            self.sched.after(back - self.sched.now, self._restart, nd)

    def _restart(self, nd: SimNode) -> None:
        if nd.driver is None:
            nd.restarts += 1
            self.faults["restarts"] += 1
            nd.boot()

    def _schedule_faults(self) -> None:
        sc, rng = self.sc, self.rng
        if sc.power_loss and not sc.power_loss_after_decide or sc.amnesia:
            pool = [self.nodes[i] for i in sc.amnesia] or [nd for nd in self.nodes if nd.validator]
            for _ in range(sc.power_loss):
                at = rng.randint(500, max(600, sc.fault_ms - 1000))
                rack = rng.sample(pool, min(sc.rack, len(pool)))
                self.sched.after(at, self._power_loss, rack)
        for i in range(sc.partitions):
            at = rng.randint(0, max(1, sc.fault_ms - 2000))
            self.sched.after(at, self._partition)
        if sc.partitions:
            self.sched.after(sc.fault_ms, self._heal)
        if sc.outsider_junk:
            self._outsider = keys(1, b"outsider")[0]
            for t in range(200, sc.fault_ms, 250):
                self.sched.after(t, self._junk_from_outsider)
        for i, tx in enumerate(self._txs):
            at = rng.randint(0, 3000)
            # each client's txs go to one node, in nonce order
            target = self.nodes[(i % 3) % len(self.nodes)]
            self.sched.after(at + i, target.submit, tx)

    def _partition(self) -> None:
        names = [nd.name for nd in self.nodes]
        self.rng.shuffle(names)
        cut = self.rng.randint(1, len(names) - 1)
        self._groups = {n: int(i >= cut) for i, n in enumerate(names)}
        self.faults["partitions"] += 1

    def _heal(self) -> None:
        self._groups = None

    def _junk_from_outsider(self) -> None:
        """Proposals from a non-validator and with bad signatures for this and the next heights, and
        malformed frames."""
        rng, key = self.rng, self._outsider
        h = max(self.decided, default=0) + 1
        junk_block = Block.make(dict(chain_id=CHAIN_ID, height=h + 1, time_ms=GENESIS_TIME_MS, last_block_hash=b"",
                                     validators_hash=self.valset.hash(), app_hash=b"", proposer_address=key.address),
                                [rng.randbytes(30)], (), None)
        frames = []
        for height in (h, h + 1):
            p = Proposal(height, rng.randint(0, 3), -1, junk_block.hash, key.address).signed(key, CHAIN_ID)
            frames.append(["proposal", p.to_obj(), junk_block.to_obj()])
            v = self.valset.validators[rng.randrange(len(self.valset.validators))]
            forged = Proposal(height, rng.randint(0, 3), -1, junk_block.hash, v.address, b"\x00" * 64)
            frames.append(["proposal", forged.to_obj(), junk_block.to_obj()])
        frames += [["vote", "x"], ["proposal"], ["status", "high"], ["get_block", -5], ["block", 1, 2],
                   ["evidence", [1, 2]], ["txs", [b"\x00" * 10]], ["nonsense", 1]]
        for nd in self.nodes:
            if nd.driver is not None:
                for f in frames:
                    self.faults["junk_frames"] += 1
                    self.sched.after(rng.randint(1, 50), self._deliver_junk, nd, f)

    def _deliver_junk(self, nd: SimNode, frame) -> None:
        if nd.driver is not None:
            nd.step(nd.life, nd.driver.on_message, ("outsider", decode(encode(frame))))

    # -- run -----------------------------------------------------------------------------------------------

    def done(self) -> bool:
        live = [nd for nd in self.honest_nodes() if nd.driver is not None]
        return all(nd.driver.store.height() >= self.sc.heights for nd in live) and \
            self.updates_committed >= self.sc.valset_changes

    def run(self) -> "World":
        sc = self.sc
        for nd in self.nodes:
            nd.boot()
        self._schedule_faults()
        self.sched.run(self.gst)
        for nd in self.nodes:  # GST: everyone who is down comes back
            if nd.driver is None:
                self._restart(nd)
        self._isolated = []
        self._groups = None
        self.sched.run(self.gst + sc.time_limit_ms, stop=self.done)
        if not self.done():
            heights = {nd.name: nd.driver.store.height() for nd in self.nodes if nd.driver}
            rounds = {nd.name: (nd.driver.machine.round, nd.driver.machine.step_name)
                      for nd in self.nodes if nd.driver}
            raise InvariantError("NO_PROGRESS", f"heights {heights} rounds {rounds} at {self.sched.now} ms, "
                                 f"{sc.time_limit_ms} ms after GST (target {sc.heights})")
        if sc.check_errors and self.error_logs:
            raise InvariantError("ERROR_LOG", f"{len(self.error_logs)} ERROR logs on honest nodes, first: "
                                 f"{self.error_logs[0]}")
        return self

    def summary(self) -> dict:
        return {"family": self.sc.family, "seed": self.sc.seed, "sim_ms": self.sched.now, "checks": self.checks,
                "commits": self.commits, "signatures": self.ledger.signatures, "frames": self.net.frames,
                "dropped": self.net.dropped, "duplicated": self.net.duplicated, "max_round": self.max_round,
                "validator_updates": self.updates_committed,
                **self.faults}


def run(family: str, seed: int, **overrides) -> World:
    sc = scenario(family, seed)
    for k, v in overrides.items():
        setattr(sc, k, v)
    return run_scenario(sc)


_quiet = False


def _memo_verify(real, capacity: int = 200_000):
    """Ed25519 verification checks each distinct (key, message, signature) once per process: the simulated
    nodes share one CPU, and every node checking every copy would make most of a run's time verification.
    The result is the real check's."""
    seen: dict = {}

    def verify(pubkey: bytes, message: bytes, signature: bytes) -> bool:
        key = (pubkey, message, signature)
        hit = seen.get(key)
        if hit is None:
            if len(seen) >= capacity:
                seen.clear()
            hit = seen[key] = real(pubkey, message, signature)
        return hit
    verify.real = real
    return verify


def run_scenario(sc: Scenario) -> World:
    global _quiet
    if not _quiet:  # the drivers' INFO lines would flood the output; ERRORs are captured per node
        logging.getLogger("provchain").setLevel(logging.WARNING)
        if not hasattr(crypto.verify, "real"):
            crypto.verify = _memo_verify(crypto.verify)
        _quiet = True
    world = World(sc)
    cap = _Capture(world)
    root = logging.getLogger("provchain")
    root.addHandler(cap)
    _ACTIVE.append(world)
    try:
        world.run()
        if world.failure is not None:
            raise world.failure
        return world
    except InvariantError as exc:
        exc = world.failure or exc  # the first violation, not a consequence of it
        exc.args = (f"{exc.args[0]}\n  replay: {sc.replay_command()}",)
        exc.world = world
        raise exc from None
    finally:
        _ACTIVE.remove(world)
        root.removeHandler(cap)


def main(argv: list[str]) -> int:
    family, seed = argv[0], int(argv[1])
    if "-v" in argv:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        world = run(family, seed)
    except InvariantError as exc:
        print(f"FAIL {exc}")
        return 1
    print("ok", world.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

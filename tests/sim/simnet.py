"""A seeded, deterministic simulated network for the consensus machine (after indy-plenum's SimNetwork).

Everything random comes from `random.Random(seed)`: message delay (which also reorders messages), drops,
duplicates, the transactions in blocks, the clock skew of each node. Time is simulated: a priority queue
of (deliver_time, seq, item) is drained in order, so a run of many seconds of consensus takes milliseconds
and the same seed always gives the same run.

Each `SimNode` is a small driver around one `Machine`, doing what the real driver does: real Ed25519
signatures (keys from fixed seeds), a double-sign guard, block building with `Block.make` (random txs, the
pending evidence, BFT time = the median of the last commit), proposal validation (`validate_basic`, the
last commit's signatures, the parent hash, the time, the app hash), timers, `StartHeight` after
timeout_commit, and gossip: every message is flooded to all peers on first receipt, each node re-sends its
own latest proposal and votes on a periodic tick (so drops cannot deadlock a round), and a node that hears
from a peer at an older height answers with the decided block and its commit (`CommitReceived`).

Byzantine behaviours live in the driver, around an honest machine: an equivocating proposer (two blocks
for one round, one to each half of its peers) and a double voter (two votes per step, one to each half).

`World` checks the invariants on every run: agreement (no two honest nodes decide different blocks at a
height), every decision carries a commit that verifies with > 2/3 of the power, decided blocks chain to
their parents, and non-validators never sign.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from provchain.chain.crypto import PrivateKey, VerifyCache
from provchain.chain.encoding import sha256
from provchain.chain.types import (NIL, Block, Commit, ConsensusParams,
                                   DuplicateVoteEvidence, InvalidError, Proposal, Validator, ValidatorSet, Vote)
from provchain.consensus.machine import (BlockBuilt, BuildBlock, CommitReceived, Decide, Evidence, Machine,
                                         ProposalReceived, RequestCatchUp, ScheduleTimeout, SignProposal,
                                         SignVote, StartHeight, TimeoutFired, VoteReceived)

CHAIN_ID = "sim-chain"
GENESIS_TIME_MS = 1_700_000_000_000
GOSSIP_MS = 600  # period of the re-send tick
REPLY_EVERY_MS = 250  # rate limit on commit replies to one peer for one height
PARAMS = ConsensusParams(timeout_propose_ms=1000, timeout_vote_ms=500, timeout_delta_ms=500,
                         timeout_commit_ms=300)

_VERIFY = VerifyCache(500_000)  # a signature is checked once per process, whichever node asks


def keys(n: int) -> list[PrivateKey]:
    return [PrivateKey.from_seed(sha256(b"provchain-sim-validator-%d" % i)) for i in range(n)]


def valset_of(ks, powers=None) -> ValidatorSet:
    powers = powers or [1] * len(ks)
    return ValidatorSet(tuple(Validator(k.pubkey, p) for k, p in zip(ks, powers)))


def sig_ok(valset: ValidatorSet, address: bytes, msg: bytes, sig: bytes) -> bool:
    v = valset.by_address.get(address)
    return v is not None and _VERIFY.verify(sha256(msg + sig + v.pubkey), v.pubkey, msg, sig)


def verify_commit(commit: Commit, valset: ValidatorSet, height: int, block_hash: bytes) -> None:
    commit.verify(CHAIN_ID, valset, height, block_hash, cache=_VERIFY)


class InvariantError(AssertionError):
    pass


# --- the network -----------------------------------------------------------------------------------------

class SimNetwork:
    def __init__(self, rng: random.Random, min_delay=5, max_delay=100, drop=0.0, dup=0.0, late=0.0,
                 late_delay=(2000, 6000)):
        self.rng = rng
        self.min_delay, self.max_delay, self.drop, self.dup = min_delay, max_delay, drop, dup
        self.late, self.late_delay = late, late_delay  # a fraction of messages arrives very late
        self.now = 0
        self._queue: list = []
        self._seq = 0
        self.blocked = lambda src, dst, now: False  # partitions
        self.delivered = 0

    def _push(self, at: int, item) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, self._seq, item))

    def send(self, src: "SimNode", dst: "SimNode", msg) -> None:
        if src is dst or self.blocked(src.index, dst.index, self.now):
            return
        if self.drop and self.rng.random() < self.drop:
            return
        copies = 2 if self.dup and self.rng.random() < self.dup else 1
        for _ in range(copies):
            if self.late and self.rng.random() < self.late:
                delay = self.rng.randint(*self.late_delay)
            else:
                delay = self.rng.randint(self.min_delay, self.max_delay)
            self._push(self.now + delay, ("msg", dst, src, msg))

    def timer(self, node: "SimNode", delay: int, payload) -> None:
        self._push(self.now + delay, ("timer", node, None, payload))

    def run(self, until: int, stop=None) -> None:
        q = self._queue
        while q and q[0][0] <= until:
            at, _, (kind, node, src, payload) = heapq.heappop(q)
            self.now = at
            if kind == "msg":
                if self.blocked(src.index, node.index, at):
                    continue  # in flight when the link went down
                self.delivered += 1
                node.receive(src, payload)
            else:
                node.on_timer(payload)
            if stop is not None and stop():
                return
        self.now = max(self.now, until)


# --- a node ------------------------------------------------------------------------------------------------

class SimNode:
    def __init__(self, world: "World", index: int, key: PrivateKey, validator: bool = True,
                 equivocate: bool = False, double_vote: bool = False, vote_everything: bool = False):
        self.world = world
        self.net = world.net
        self.index = index
        self.key = key
        self.address = key.address
        self.valset = world.valset
        self.is_validator = validator
        self.machine = Machine(CHAIN_ID, self.valset, key.address if validator else None, PARAMS)
        self.rng = random.Random(world.seed * 1009 + index)
        self.skew = self.rng.randint(-40, 40)
        self.equivocate = equivocate
        self.double_vote = double_vote
        self.vote_everything = vote_everything  # votes for every block proposed in a round, and nil
        self.byzantine = equivocate or double_vote or vote_everything
        self.alt_blocks: dict[tuple[int, int], bytes] = {}
        self.crashed = False
        self.chain: dict[int, tuple[Block, Commit]] = {}
        self.app_hashes: dict[int, bytes] = {0: b""}  # app hash after height h
        self.pending_evidence: dict[bytes, DuplicateVoteEvidence] = {}
        self.committed_evidence: dict[bytes, int] = {}
        self.seen: set[bytes] = set()
        self.future_proposals: dict[bytes, tuple[Proposal, Block]] = {}
        self.own: list = []  # this node's messages for the current height, re-sent on the gossip tick
        self.signed: dict[tuple, bytes] = {}  # double-sign guard: (height, round, kind) -> block hash
        self.replied: dict[tuple, int] = {}
        self.signatures_made = 0

    # -- plumbing -------------------------------------------------------------------------------------------

    @property
    def peers(self) -> list["SimNode"]:
        return [n for n in self.world.nodes if n is not self]

    def now_ms(self) -> int:
        return GENESIS_TIME_MS + self.net.now + self.skew

    def broadcast(self, msg, exclude: "SimNode | None" = None) -> None:
        for peer in self.peers:
            if peer is not exclude:
                self.net.send(self, peer, msg)

    def start(self) -> None:
        self.feed(StartHeight(1, None))
        self.net.timer(self, GOSSIP_MS + self.rng.randint(0, 100), ("gossip",))

    def feed(self, event) -> None:
        work = [event]
        while work:
            ev = work.pop(0)
            for eff in self.machine.step(ev):
                self.effect(eff, work)

    # -- effects --------------------------------------------------------------------------------------------

    def effect(self, eff, work: list) -> None:
        m = self.machine
        if isinstance(eff, (BuildBlock, SignProposal, SignVote)) and not self.is_validator:
            raise InvariantError(f"non-validator node {self.index} was asked to sign: {eff}")
        if isinstance(eff, BuildBlock):
            work.append(BlockBuilt(eff.height, eff.round, self.build_block(eff.height)))
        elif isinstance(eff, SignProposal):
            self.sign_proposal(eff.proposal, eff.block, work)
        elif isinstance(eff, SignVote):
            self.sign_vote(eff.vote, work)
        elif isinstance(eff, ScheduleTimeout):
            self.net.timer(self, eff.delay_ms, ("timeout", TimeoutFired(eff.height, eff.round, eff.step)))
        elif isinstance(eff, Decide):
            self.world.record_decision(self, eff)
            self.chain[eff.height] = (eff.block, eff.commit)
            self.app_hashes[eff.height] = sha256(self.app_hashes[eff.height - 1] + eff.block.header.data_hash)
            for ev in eff.block.evidence:
                self.committed_evidence[ev.hash()] = eff.height
                self.pending_evidence.pop(ev.hash(), None)
            self.net.timer(self, PARAMS.timeout_commit_ms, ("start", eff.height + 1, eff.commit))
        elif isinstance(eff, Evidence):
            ev = eff.evidence
            ev.verify(CHAIN_ID, self.valset)  # the machine only reports real equivocations
            self.world.evidence_seen.append((self.index, ev))
            if ev.hash() not in self.committed_evidence:
                self.pending_evidence[ev.hash()] = ev
        elif isinstance(eff, RequestCatchUp):
            self.world.catchups += 1
            target = self.world.by_address.get(eff.peer_hint)
            asked = [target] if target is not None and target is not self else []
            asked.append(self.rng.choice(self.peers))
            for peer in asked:
                self.net.send(self, peer, ("sync_req", m.height))
        else:
            raise InvariantError(f"unknown effect {eff!r}")

    def build_block(self, height: int) -> Block:
        if height == 1:
            last_hash, last_commit, time_ms = b"", None, GENESIS_TIME_MS
        else:
            prev, last_commit = self.chain[height - 1]
            last_hash, time_ms = prev.hash, last_commit.median_time(self.valset)
        txs = [self.rng.randbytes(self.rng.randint(8, 40)) for _ in range(self.rng.randint(0, 4))]
        evidence = [ev for h, ev in sorted(self.pending_evidence.items())
                    if ev.vote_a.height < height][:10]
        return Block.make(dict(chain_id=CHAIN_ID, height=height, time_ms=time_ms, last_block_hash=last_hash,
                               validators_hash=self.valset.hash(), app_hash=self.app_hashes[height - 1],
                               proposer_address=self.address), txs, evidence, last_commit)

    def guard(self, height: int, round: int, kind, block_hash: bytes) -> bool:
        """The double-sign guard: never sign two different things for one (height, round, kind)."""
        key = (height, round, kind)
        prev = self.signed.get(key)
        if prev is not None and prev != block_hash:
            raise InvariantError(f"node {self.index}: machine asked to sign a conflicting {kind} at {key}")
        self.signed[key] = block_hash
        return prev is None

    def sign_proposal(self, proposal: Proposal, block: Block, work: list) -> None:
        assert block is not None and block.hash == proposal.block_hash
        if not self.guard(proposal.height, proposal.round, "proposal", proposal.block_hash):
            return
        signed = proposal.signed(self.key, CHAIN_ID)
        self.signatures_made += 1
        msg = ("proposal", signed, block)
        if self.equivocate:
            alt = self.build_block(proposal.height)  # other random txs: another, fresh block
            self.alt_blocks[(proposal.height, proposal.round)] = alt.hash
            alt_p = Proposal(proposal.height, proposal.round, -1, alt.hash, self.address).signed(self.key, CHAIN_ID)
            alt_msg = ("proposal", alt_p, alt)
            self.world.equivocations += 1
            peers = self.peers
            for i, peer in enumerate(peers):
                self.net.send(self, peer, msg if i < len(peers) // 2 else alt_msg)
            self.own = [m for m in self.own if m[0] != "proposal"] + [msg]
        else:
            self.own = [m for m in self.own if m[0] != "proposal"] + [msg]
            self.broadcast(msg)
        self.seen.add(signed.signature)
        work.append(ProposalReceived(signed, block, True))

    def sign_vote(self, vote: Vote, work: list) -> None:
        assert vote.timestamp_ms == 0 and vote.validator_address == self.address
        if not self.guard(vote.height, vote.round, vote.type, vote.block_hash):
            return
        prev_time = GENESIS_TIME_MS if vote.height == 1 else self.chain[vote.height - 1][0].header.time_ms
        ts = max(self.now_ms(), prev_time + 1)
        signed = Vote(vote.type, vote.height, vote.round, vote.block_hash, ts, self.address).signed(self.key, CHAIN_ID)
        self.signatures_made += 1
        msg = ("vote", signed)
        self.own = (self.own + [msg])[-6:]
        self.seen.add(signed.signature)
        if self.vote_everything:
            hashes = [NIL, *sorted(self.machine._proposals.get(vote.round, {}))]
            alt = self.alt_blocks.get((vote.height, vote.round))
            if alt is not None:
                hashes.append(alt)
            self.broadcast(msg)
            for bh in hashes:
                if bh != vote.block_hash:
                    extra = Vote(vote.type, vote.height, vote.round, bh, ts, self.address).signed(self.key, CHAIN_ID)
                    self.world.double_votes += 1
                    self.broadcast(("vote", extra))
        elif self.double_vote:
            other = self.rng.randbytes(32) if vote.block_hash == NIL else NIL
            alt = Vote(vote.type, vote.height, vote.round, other, ts, self.address).signed(self.key, CHAIN_ID)
            self.world.double_votes += 1
            peers = self.peers
            for i, peer in enumerate(peers):
                self.net.send(self, peer, msg if i < len(peers) // 2 else ("vote", alt))
        else:
            self.broadcast(msg)
        work.append(VoteReceived(signed))

    # -- validation -----------------------------------------------------------------------------------------

    def validate(self, proposal: Proposal, block: Block) -> bool:
        """What the real driver computes for ProposalReceived.valid."""
        try:
            block.validate_basic()
            h = block.header
            if h.chain_id != CHAIN_ID or h.height != proposal.height:
                return False
            if h.validators_hash != self.valset.hash() or h.proposer_address not in self.valset.by_address:
                return False
            if h.app_hash != self.app_hashes.get(h.height - 1):
                return False
            if h.height == 1:
                if h.last_block_hash != b"" or h.time_ms != GENESIS_TIME_MS:
                    return False
            else:
                prev = self.chain.get(h.height - 1)
                if prev is None or h.last_block_hash != prev[0].hash:
                    return False
                verify_commit(block.last_commit, self.valset, h.height - 1, prev[0].hash)
                if h.time_ms != block.last_commit.median_time(self.valset) or h.time_ms <= prev[0].header.time_ms:
                    return False
            for ev in block.evidence:
                ev.verify(CHAIN_ID, self.valset)
                if ev.vote_a.height >= h.height or ev.hash() in self.committed_evidence:
                    return False
            return True
        except InvalidError:
            return False

    # -- receiving ------------------------------------------------------------------------------------------

    def receive(self, src: "SimNode", msg) -> None:
        if self.crashed:
            return
        kind = msg[0]
        m = self.machine
        if kind == "proposal":
            _, p, block = msg
            if not sig_ok(self.valset, p.proposer_address, p.sign_bytes(CHAIN_ID), p.signature):
                return
            if block.hash != p.block_hash:
                return
            self.flood(p.signature, msg, src)
            if p.height < m.height or (p.height == m.height and m.step_name == "commit"):
                self.reply_commit(src, p.height)
            elif p.height > m.height:
                if p.height <= m.height + 2 and len(self.future_proposals) < 32:
                    self.future_proposals[p.signature] = (p, block)
            else:
                self.feed(ProposalReceived(p, block, self.validate(p, block)))
        elif kind == "vote":
            v = msg[1]
            if not sig_ok(self.valset, v.validator_address, v.sign_bytes(CHAIN_ID), v.signature):
                return
            self.flood(v.signature, msg, src)
            if v.height < m.height or (v.height == m.height and m.step_name == "commit"):
                self.reply_commit(src, v.height)
            self.feed(VoteReceived(v))
        elif kind == "commit":
            _, block, commit = msg
            if commit.height != m.height or m.step_name == "commit" or block.hash != commit.block_hash:
                return
            try:
                verify_commit(commit, self.valset, commit.height, block.hash)
                block.validate_basic()
            except InvalidError:
                return
            self.world.commits_received += 1
            self.feed(CommitReceived(block, commit))
        elif kind == "sync_req":
            self.reply_commit(src, msg[1])

    def flood(self, msg_id: bytes, msg, src: "SimNode") -> None:
        if msg_id in self.seen:
            return
        self.seen.add(msg_id)
        self.broadcast(msg, exclude=src)

    def reply_commit(self, peer: "SimNode", height: int) -> None:
        entry = self.chain.get(height)
        if entry is None:
            return
        key = (peer.index, height)
        last = self.replied.get(key)
        if last is not None and self.net.now - last < REPLY_EVERY_MS:
            return
        self.replied[key] = self.net.now
        self.net.send(self, peer, ("commit", entry[0], entry[1]))

    # -- timers ---------------------------------------------------------------------------------------------

    def on_timer(self, payload) -> None:
        if self.crashed:
            return
        kind = payload[0]
        if kind == "timeout":
            self.feed(payload[1])
        elif kind == "start":
            _, height, commit = payload
            if height != self.machine.height + 1:
                return
            self.own = []
            self.seen = set()
            self.feed(StartHeight(height, commit))
            buffered = [pb for pb in self.future_proposals.values() if pb[0].height == height]
            self.future_proposals = {s: pb for s, pb in self.future_proposals.items() if pb[0].height > height}
            for p, block in buffered:
                self.feed(ProposalReceived(p, block, self.validate(p, block)))
        elif kind == "gossip":
            for msg in self.own:
                item = msg[1]
                if item.height == self.machine.height:
                    self.broadcast(msg)
            self.net.timer(self, GOSSIP_MS, ("gossip",))


# --- the world -------------------------------------------------------------------------------------------------

@dataclass
class Scenario:
    seed: int
    n: int = 4
    heights: int = 3  # progress target: every live honest node decides this many heights
    observers: int = 0  # non-validator full nodes
    drop: float | None = None  # None: drawn from the seed
    dup: float | None = None
    max_delay: int | None = None
    late: float | None = None  # fraction of messages delayed past the timeouts (2-6 s)
    crashed: tuple[int, ...] = ()  # validators that crash (at crash_at_ms)
    crash_at_ms: int = 0
    equivocators: tuple[int, ...] = ()
    double_voters: tuple[int, ...] = ()
    vote_everything: tuple[int, ...] = ()  # byzantine: votes for every proposed block and nil
    partition: tuple[tuple[int, ...], ...] | None = None  # groups that cannot talk to each other ...
    partition_until_ms: int = 0  # ... until then
    isolations: int = 0  # random windows (in the first isolate_within_ms) in which one node is cut off
    isolate_within_ms: int = 30_000
    isolate_deciders: float = 0.0  # chance that an honest node is cut off right after it decides
    time_limit_ms: int = 120_000  # after the network is good (partition healed)
    run_after_ms: int = 0  # keep running this long after the target (more heights for evidence)
    powers: tuple[int, ...] | None = None
    require_evidence: bool = False  # also wait until a decided block holds evidence against a double voter


@dataclass
class Result:
    scenario: Scenario
    decisions: dict[int, bytes] = field(default_factory=dict)  # height -> block hash (honest nodes)
    first_decision_ms: int | None = None
    heights: dict[int, int] = field(default_factory=dict)  # node -> decided heights
    delivered: int = 0
    sim_ms: int = 0
    max_round: int = 0


class World:
    def __init__(self, sc: Scenario):
        self.sc = sc
        self.seed = sc.seed
        rng = random.Random(sc.seed)
        drop = sc.drop if sc.drop is not None else rng.choice([0.0, 0.0, 0.02, 0.1, 0.2])
        dup = sc.dup if sc.dup is not None else rng.choice([0.0, 0.05, 0.2])
        max_delay = sc.max_delay if sc.max_delay is not None else rng.choice([20, 80, 200, 600, 1500])
        late = sc.late if sc.late is not None else rng.choice([0.0, 0.0, 0.0, 0.1, 0.3])
        self.net = SimNetwork(rng, min_delay=1, max_delay=max_delay, drop=drop, dup=dup, late=late)
        self.params_desc = dict(drop=drop, dup=dup, max_delay=max_delay, late=late)
        ks = keys(sc.n + sc.observers)
        self.valset = valset_of(ks[:sc.n], list(sc.powers) if sc.powers else None)
        self.nodes: list[SimNode] = []
        for i, k in enumerate(ks):
            self.nodes.append(SimNode(self, i, k, validator=i < sc.n,
                                      equivocate=i in sc.equivocators, double_vote=i in sc.double_voters,
                                      vote_everything=i in sc.vote_everything))
        self.by_address = {nd.address: nd for nd in self.nodes}
        self.decided: dict[int, tuple[bytes, int]] = {}  # height -> (block hash, node index)
        self.decision_log: list[tuple[int, int, int, int]] = []  # (time, node, height, round)
        self.evidence_seen: list = []
        self.equivocations = self.double_votes = self.catchups = self.commits_received = 0
        group: dict[int, int] = {}
        for gi, members in enumerate(sc.partition or ()):
            for i in members:
                group[i] = gi
        until = sc.partition_until_ms if sc.partition else 0
        self.windows = []  # (start, end, node): the node can neither send nor receive
        for _ in range(sc.isolations):
            start = rng.randint(0, sc.isolate_within_ms)
            self.windows.append((start, min(sc.isolate_within_ms, start + rng.randint(300, 6000)),
                                 rng.randrange(sc.n + sc.observers)))
        windows = self.windows

        def blocked(s: int, d: int, now: int) -> bool:
            if now < until and group.get(s, -1) != group.get(d, -2):
                return True
            return any(a <= now < b and (i == s or i == d) for a, b, i in windows)

        self._blocked = blocked
        if sc.partition or windows or sc.isolate_deciders:
            self.net.blocked = blocked
        self.rng = rng

    def honest(self, node: SimNode) -> bool:
        return not node.byzantine

    def live_honest(self) -> list[SimNode]:
        return [nd for nd in self.nodes if not nd.byzantine and nd.index not in self.sc.crashed]

    def record_decision(self, node: SimNode, d: Decide) -> None:
        if d.block.hash != d.commit.block_hash or d.commit.height != d.height or d.block.header.height != d.height:
            raise InvariantError(f"node {node.index}: decision at {d.height} with a mismatched commit")
        try:
            verify_commit(d.commit, self.valset, d.height, d.block.hash)
        except InvalidError as exc:
            raise InvariantError(f"node {node.index}: commit for height {d.height} does not verify: {exc}")
        if d.height > 1:
            prev = node.chain.get(d.height - 1)
            if prev is None or d.block.header.last_block_hash != prev[0].hash:
                raise InvariantError(f"node {node.index}: block {d.height} does not extend its chain")
        self.decision_log.append((self.net.now, node.index, d.height, d.round))
        if not self.honest(node):
            return
        sc = self.sc
        if sc.isolate_deciders and self.net.now < sc.isolate_within_ms and self.rng.random() < sc.isolate_deciders:
            # an adversarial network: the node that has just decided cannot tell anyone for a while, so
            # the others go on to later rounds knowing only what their locks tell them
            end = min(sc.isolate_within_ms, self.net.now + self.rng.randint(2000, 8000))
            self.windows.append((self.net.now, end, node.index))
            self.net.blocked = self._blocked
        prev = self.decided.get(d.height)
        if prev is not None and prev[0] != d.block.hash:
            raise InvariantError(f"AGREEMENT VIOLATED at height {d.height}: node {prev[1]} decided "
                                 f"{prev[0].hex()[:12]}, node {node.index} decided {d.block.hash.hex()[:12]}")
        self.decided.setdefault(d.height, (d.block.hash, node.index))

    def committed_evidence(self) -> list[tuple[int, DuplicateVoteEvidence]]:
        """Evidence against a double voter in blocks that honest nodes decided: (height, evidence)."""
        cheats = {self.nodes[i].address for i in self.sc.double_voters}
        out = []
        for h, (block_hash, idx) in sorted(self.decided.items()):
            block = self.nodes[idx].chain[h][0]
            out.extend((h, ev) for ev in block.evidence if ev.vote_a.validator_address in cheats)
        return out

    def run(self) -> Result:
        sc = self.sc
        for nd in self.nodes:
            nd.start()
        crash = [self.nodes[i] for i in sc.crashed]
        if crash:
            self.net.run(sc.crash_at_ms)
            for nd in crash:
                nd.crashed = True
        good_from = max(sc.partition_until_ms, sc.crash_at_ms,
                        sc.isolate_within_ms if sc.isolations or sc.isolate_deciders else 0)
        if sc.partition:
            self.net.run(sc.partition_until_ms)
        target = sc.heights
        live = self.live_honest()

        def done() -> bool:
            return all(len(nd.chain) >= target for nd in live) and (
                not sc.require_evidence or bool(self.committed_evidence()))

        self.net.run(good_from + sc.time_limit_ms, stop=done)
        if sc.run_after_ms:
            self.net.run(self.net.now + sc.run_after_ms)
        result = Result(sc, {h: v[0] for h, v in self.decided.items()},
                        self.decision_log[0][0] if self.decision_log else None,
                        {nd.index: len(nd.chain) for nd in self.nodes}, self.net.delivered, self.net.now,
                        max((x[3] for x in self.decision_log), default=0))
        if not done():
            raise InvariantError(
                f"NO PROGRESS: heights {result.heights} after {self.net.now} ms (target {target}, "
                f"network {self.params_desc}, rounds {[nd.machine.round for nd in self.nodes]}, "
                f"steps {[nd.machine.step_name for nd in self.nodes]}"
                f"{', no evidence committed' if sc.require_evidence else ''})")
        for nd in self.nodes:
            if not nd.is_validator and nd.signatures_made:
                raise InvariantError(f"non-validator {nd.index} signed {nd.signatures_made} messages")
        return result


def run(sc: Scenario) -> Result:
    return World(sc).run()

"""Runs the pure consensus machine inside a node: network and timers in, effects out.

One routine owns the machine: every input goes through `self.inbox` and `drain` logs it to the WAL (when
the machine admits it: duplicates and junk are not logged) and steps it. Effects are carried out here:
blocks are built from the mempool, signatures go through the double-sign guard, decisions are executed by
the app and written with the block and its commit in one atomic LevelDB batch. Catch-up and block sync
share one path: a peer that is ahead sends the block and commit for our height, we check the commit
against the validator set and feed it to the machine.

The rules this file keeps (docs/protocol.md has the why):
- WAL before the wire: our signed proposals and votes wait in `_outbox` until the WAL records that led to
  them are fsynced (one fsync per drained batch), so a power loss cannot make us forget a lock we voted on.
- Gossip: others' votes are relayed to every peer on first receipt; on timeouts we re-send our own
  messages, the proposal of the round and the prevotes of our valid block's polka.
- Time and clocks come from `clock`, the network from `p2p`, the disk from the WAL and guard: the
  simulator in tests/sim replaces all three.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque

from ..chain.app import Application
from ..chain.mempool import Mempool
from ..chain.store import KV, BlockStore
from ..chain.types import (NIL, PRECOMMIT, Block, Commit, DuplicateVoteEvidence, Genesis, InvalidError, Proposal,
                           Vote, tx_hash)
from . import machine as m
from .blocksync import BlockSync
from .clock import AsyncioClock
from .privval import DoubleSignError, PrivValidator, StaleSignRequest
from .proposer import proposer
from .wal import WAL

log = logging.getLogger("provchain.consensus")

EVIDENCE_MAX_AGE = 100  # heights: older evidence is neither pooled nor accepted in a block
EVIDENCE_POOL_MAX = 1000  # pending evidence items (one per validator and height is kept)
EVIDENCE_PER_BLOCK = 20
NEXT_HEIGHT_PROPOSALS = 8  # verified proposals for height + 1 held until our StartHeight
STATUS_EVERY_S = 1.0
DECIDE_RETRY_S = 1.0


def _height(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
        raise InvalidError(f"bad height {value!r}")
    return value


class Driver:
    def __init__(self, genesis: Genesis, kv: KV, app: Application, mempool: Mempool,
                 privval: PrivValidator | None, wal: WAL, p2p, clock=None):
        self.clock = clock or AsyncioClock()
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.params = genesis.params
        self.kv = kv
        self.store = BlockStore(kv)
        self.app = app
        self.mempool = mempool
        self.privval = privval
        self.wal = wal
        self.p2p = p2p
        self.machine: m.Machine | None = None
        self.inbox: deque = deque()
        self._wakeup: asyncio.Event | None = None
        self.evidence_pool: dict[bytes, DuplicateVoteEvidence] = {}
        self._offenders: set[tuple[bytes, int]] = set()  # (validator, height) with pooled evidence
        self.peer_heights: dict[str, int] = {}
        self.sync = BlockSync()  # which blocks we asked which peers for, and blocks fetched ahead
        self._served: dict[tuple[str, int], float] = {}
        self._own_msgs: list = []  # our signed proposal/votes at the current height, re-sent on timeouts
        self._outbox: list = []  # our newly signed messages, sent once the WAL is fsynced
        self._seen: set[bytes] = set()  # signatures of proposals and votes received at this height
        # votes the machine did not admit (above a cap, for a block it has not seen): skipped until a new
        # proposal or a timeout may have changed that, then a re-sent copy is looked at again
        self._rejected: set[bytes] = set()
        self._next_height_proposals: list = []
        self._built: dict[bytes, Block] = {}  # blocks we built at this height, by hash
        # the commit of our last decision, growing with the precommits that arrive after it (timeout_commit
        # waits for them): the next block we propose carries it, so a commit shows who signed, not only
        # the first 2/3 to arrive
        self._last_commit: Commit | None = None
        self.tx_waiters: dict[bytes, list[asyncio.Future]] = defaultdict(list)
        self.block_listeners: list = []  # callables(block) after each commit
        self._replaying = False
        self._tasks: list[asyncio.Task] = []
        self._timers: dict = {}  # TimeoutFired -> its timer handle (and "status" -> the status tick)
        self._status_last = None

    # ------------------------------------------------------------------ start-up
    async def start(self) -> None:
        """Start consuming inputs (messages that arrive earlier are dropped: peers re-send)."""
        self._wakeup = asyncio.Event()
        self.start_sync()
        self._tasks = [asyncio.create_task(self._run())]

    def start_sync(self) -> None:
        """WAL replay and the first steps; then inputs arrive through feed/on_message. The app must already
        be at the block store's height (node.handshake, run before the driver is made)."""
        height = self.store.height() + 1
        my_address = self.privval.address if self.privval else None
        self.machine = m.Machine(self.chain_id, self.valset_at, my_address, self.params)
        self.wal.start_height(height)
        logged = self.wal.replay(height)
        self._replaying = True
        pending_build = None
        if not logged or not isinstance(logged[0], m.StartHeight):
            logged.insert(0, m.StartHeight(height, self.store.commit(height - 1) if height > 1 else None))
            self.wal.append(logged[0])
        for ev in logged:
            if isinstance(ev, m.BlockBuilt):
                pending_build = None
            for eff in self.machine.step(ev):
                if isinstance(eff, m.BuildBlock):
                    pending_build = eff
                else:
                    self._execute(eff)
        self._replaying = False
        if logged[1:]:
            log.info("replayed %d WAL records at height %d", len(logged) - 1, height)
        self._resend_kept(height)
        if pending_build is not None:
            self._execute(pending_build)
        self._flush()
        self._schedule_status()

    def valset_at(self, height: int):
        """The validator set of `height` (chain/valsets.py: known up to the last committed height + 2), or
        None above that. An app that keeps no sets (some tests) runs on the genesis set."""
        at = getattr(self.app, "valset_at", None)
        if at is None or getattr(self.app, "genesis_validators", None) is None:
            return self.genesis.validators
        return at(height)

    @property
    def valset(self):
        """The validator set of the height consensus is working on."""
        return self.valset_at(self.machine.height if self.machine and self.machine.height else self.store.height() + 1)

    def _resend_kept(self, height: int) -> None:
        """After a restart: what the guard signed at this height goes out again (and back into the
        machine), whatever the WAL kept, so peers and the machine count this validator's votes."""
        if self.privval is None:
            return
        for signed in self.privval.signed_at(height):
            if isinstance(signed, Vote):
                msg = ["vote", signed.to_obj()]
                self.feed(m.VoteReceived(signed))
            else:
                block = self._find_block(signed.block_hash)
                if block is None:
                    continue
                msg = ["proposal", signed.to_obj(), block.to_obj()]
            if msg not in self._own_msgs:
                self._own_msgs.append(msg)
        for msg in self._own_msgs:
            self.p2p.broadcast(msg)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for t in self._timers.values():
            t.cancel()
        self.wal.close()

    # ------------------------------------------------------------------ the one routine that owns the machine
    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            self.drain()

    def drain(self) -> None:
        """Process every queued input (and the inputs that processing queues) in order, then fsync the
        WAL and send what we signed."""
        while self.inbox:
            ev = self.inbox.popleft()
            try:
                self._process(ev)
            except Exception:
                log.exception("consensus failed to process %s", type(ev).__name__)
        self._flush()

    def _flush(self) -> None:
        """WAL before the wire: the records behind our signatures are durable before anyone sees them."""
        if self._outbox:
            self.wal.sync()
            out, self._outbox = self._outbox, []
            for msg in out:
                self.p2p.broadcast(msg)

    def _process(self, ev) -> None:
        if isinstance(ev, m.StartHeight):
            if ev.height <= self.machine.height:
                return
            self.wal.start_height(ev.height)
            self._own_msgs = []
            self._built = {}
            self._seen = set()
            carried = self.machine.carried_votes(ev.height)
        if isinstance(ev, (m.StartHeight, m.ProposalReceived, m.TimeoutFired)):
            self._rejected = set()
        if self.machine.admits(ev):
            self.wal.append(ev)
        if isinstance(ev, m.StartHeight):
            # votes for this height that came while we were at the last one were logged in its WAL file,
            # which start_height just deleted: log them again, or a replay after a crash lacks them (a polka
            # we precommitted on could be missing: power_loss seed 3049)
            for vote in carried:
                self.wal.append(m.VoteReceived(vote))
        for eff in self.machine.step(ev):
            try:
                self._execute(eff)
            except Exception:  # one failed effect must not drop the others of this step
                log.exception("consensus failed to carry out %s", type(eff).__name__)
        if isinstance(ev, m.StartHeight):
            queued, self._next_height_proposals = self._next_height_proposals, []
            for peer, proposal, block in queued:
                if proposal.height == ev.height:
                    self._checked(self._on_proposal, peer, proposal, block)
            fetched = self.sync.take(ev.height)  # block sync: the next block may already be here
            if fetched is not None:
                self._checked(self._apply_synced, *fetched)
            self._sync_pump()

    def _checked(self, handler, peer: str, *args) -> None:
        """Run a message handler; a bad message is logged as the peer's fault, not raised."""
        try:
            handler(peer, *args)
        except InvalidError as exc:
            log.warning("rejected message from %s: %s", peer, exc)
            self._misbehaved(peer, str(exc))

    def feed(self, ev) -> None:
        self.inbox.append(ev)
        if self._wakeup is not None:
            self._wakeup.set()

    # ------------------------------------------------------------------ effects
    def _execute(self, eff) -> None:
        if isinstance(eff, m.ScheduleTimeout):
            ev = m.TimeoutFired(eff.height, eff.round, eff.step)
            handle = self.clock.call_later(eff.delay_ms / 1000, self._timeout, ev)
            self._timers[ev] = handle
        elif isinstance(eff, m.BuildBlock):
            self.feed(m.BlockBuilt(eff.height, eff.round, self.build_block(eff.height)))
        elif isinstance(eff, m.SignProposal):
            self._sign_proposal(eff.proposal, eff.block)
        elif isinstance(eff, m.SignVote):
            self._sign_vote(eff.vote)
        elif isinstance(eff, m.Decide):
            self._try_decide(eff.block, eff.commit)
        elif isinstance(eff, m.Evidence):
            self._add_evidence(eff.evidence, gossip=True)
        elif isinstance(eff, m.RequestCatchUp):
            self._sync_pump()
        else:
            log.warning("unknown effect %r", eff)

    def _timeout(self, ev) -> None:
        self._timers.pop(ev, None)
        self.feed(ev)
        # a round that timed out may have lost messages: re-gossip and ask a peer that is ahead
        self._regossip()
        self._sync_pump()

    def _regossip(self) -> None:
        """Re-send our messages of this height, the proposal of the current round and the prevotes of the
        polka behind our valid block: a peer that missed them (lost, or withheld by a faulty validator
        that sent its vote to us only) needs them to accept a re-proposal of that block."""
        for msg in self._own_msgs:
            self.p2p.broadcast(msg)
        mc = self.machine
        if mc is None:
            return
        first = mc.proposal()
        if first is not None and first[0].proposer_address != mc.address:
            self.p2p.broadcast(["proposal", first[0].to_obj(), first[1].to_obj()])
        if mc.valid_block is not None:
            for vote in mc.votes.prevotes(mc.valid_round).votes_for(mc.valid_block.hash):
                if vote.validator_address != mc.address:
                    self.p2p.broadcast(["vote", vote.to_obj()])

    def _sign_proposal(self, proposal: Proposal, block: Block | None) -> None:
        block = block or self._find_block(proposal.block_hash)
        if block is None:
            log.error("asked to propose a block we do not have")
            return
        try:
            signed = self.privval.sign_proposal(proposal)
        except StaleSignRequest as exc:
            log.info("not signing proposal (state lost in a restart, or catching up): %s", exc)
            return
        except DoubleSignError as exc:
            log.error("refused to sign proposal: %s", exc)
            return
        msg = ["proposal", signed.to_obj(), block.to_obj()]
        if msg not in self._own_msgs:
            self._own_msgs.append(msg)
        if not self._replaying:
            self._outbox.append(msg)
        self._seen.add(signed.signature)
        self.feed(m.ProposalReceived(signed, block, True))

    def _sign_vote(self, vote: Vote) -> None:
        # BFT time: a vote is later than the last block, and a vote for a block later than that block, so
        # the median of any commit's timestamps (the next block's time) is after the block it commits
        floor = self.store.chain_state()[3]
        block = self.machine.block(vote.block_hash) if vote.block_hash != NIL else None
        if block is not None:
            floor = max(floor, block.header.time_ms)
        ts = max(self.clock.now_ms(), floor + 1)
        vote = Vote(vote.type, vote.height, vote.round, vote.block_hash, ts, vote.validator_address)
        try:
            signed = self.privval.sign_vote(vote)
        except StaleSignRequest as exc:
            log.info("not signing vote (state lost in a restart, or catching up): %s", exc)
            return
        except DoubleSignError as exc:
            log.error("refused to sign vote: %s", exc)
            return
        msg = ["vote", signed.to_obj()]
        if msg not in self._own_msgs:
            self._own_msgs.append(msg)
        self._outbox.append(msg)
        self._seen.add(signed.signature)
        self.feed(m.VoteReceived(signed))

    # ------------------------------------------------------------------ blocks
    def build_block(self, height: int) -> Block:
        h, app_hash, last_hash, _ = self.store.chain_state()
        assert h == height - 1, (h, height)
        last_commit = self._last_commit if self._last_commit and self._last_commit.height == h else None
        if h and last_commit is None:
            last_commit = self.store.commit(h)  # decided before a restart
        time_ms = self.genesis.genesis_time_ms if height == 1 else last_commit.median_time(self.valset_at(h))
        overhead = 64 * 1024
        txs = self.mempool.reap(self.params.max_block_bytes - overhead, self.params.max_block_txs)
        # pooled evidence was verified when it entered the pool: only its height and novelty are rechecked
        evidence = [e for e in self.evidence_pool.values()
                    if self._evidence_window_problem(e, height) is None][:EVIDENCE_PER_BLOCK]
        block = Block.make(dict(chain_id=self.chain_id, height=height, time_ms=time_ms, last_block_hash=last_hash,
                                validators_hash=self.valset_at(height).hash(),
                                next_validators_hash=self.valset_at(height + 1).hash(), app_hash=app_hash,
                                proposer_address=self.privval.address), txs, evidence, last_commit)
        self._built[block.hash] = block
        return block

    def _find_block(self, block_hash: bytes) -> Block | None:
        """A block we built, or the machine's valid block when it re-proposes that."""
        if block_hash in self._built:
            return self._built[block_hash]
        valid = self.machine.valid_block
        return valid if valid is not None and valid.hash == block_hash else None

    def block_problem(self, block: Block) -> str | None:
        """Why this block cannot follow our last committed block, or None if it can."""
        hdr = block.header
        h, app_hash, last_hash, _ = self.store.chain_state()
        try:
            block.validate_basic()
        except InvalidError as exc:
            return str(exc)
        if hdr.chain_id != self.chain_id:
            return f"block for chain {hdr.chain_id!r}"
        if hdr.height != h + 1:
            return f"block height {hdr.height} does not follow {h}"
        if hdr.last_block_hash != last_hash:
            return "last_block_hash does not match our last block"
        if hdr.app_hash != app_hash:
            return "app_hash does not match our state"
        valset = self.valset_at(h + 1)
        if hdr.validators_hash != valset.hash():
            return "validators_hash does not match the validator set"
        if hdr.next_validators_hash != self.valset_at(h + 2).hash():
            return "next_validators_hash does not match the next validator set"
        if hdr.proposer_address not in valset.by_address:
            return "proposer is not a validator"
        if len(block.txs) > self.params.max_block_txs or len(block.encode()) > self.params.max_block_bytes:
            return "block exceeds the size limits"
        if len(block.evidence) > EVIDENCE_PER_BLOCK:
            return f"more than {EVIDENCE_PER_BLOCK} evidence items"
        if block.last_commit is not None:
            try:
                block.last_commit.verify(self.chain_id, self.valset_at(h), h, last_hash, cache=self.app.sig_cache)
            except InvalidError as exc:
                return f"last commit: {exc}"
        expected_time = (self.genesis.genesis_time_ms if hdr.height == 1
                         else block.last_commit.median_time(self.valset_at(h)))
        if hdr.time_ms != expected_time:
            return "block time is not the weighted median of the last commit's timestamps"
        if hdr.height > 1 and hdr.time_ms <= self.store.chain_state()[3]:
            return "block time is not after the previous block's time"
        for ev in block.evidence:
            problem = self._evidence_problem(ev, hdr.height)
            if problem:
                return f"evidence: {problem}"
        if len({e.hash() for e in block.evidence}) != len(block.evidence):
            return "duplicate evidence"
        return self.app.process_proposal(block)

    def _evidence_problem(self, ev: DuplicateVoteEvidence, height: int) -> str | None:
        problem = self._evidence_window_problem(ev, height)
        if problem or ev.hash() in self.evidence_pool:
            return problem  # pooled evidence was verified on admission
        try:
            ev.verify(self.chain_id, self._evidence_valset(ev))
        except InvalidError as exc:
            return str(exc)
        return None

    def _evidence_valset(self, ev: DuplicateVoteEvidence):
        valset = self.valset_at(ev.vote_a.height)
        if valset is None:
            raise InvalidError("evidence from a height whose validator set is not known yet")
        return valset

    def _evidence_window_problem(self, ev: DuplicateVoteEvidence, height: int) -> str | None:
        if ev.vote_a.height >= height or ev.vote_a.height < height - EVIDENCE_MAX_AGE:
            return "evidence height out of range"
        if self.store.has_evidence(ev.hash()):
            return "evidence already committed"
        return None

    def _add_evidence(self, ev: DuplicateVoteEvidence, gossip: bool) -> None:
        """Pool evidence after verifying it once: one item per (validator, height), EVIDENCE_MAX_AGE
        heights back at most, EVIDENCE_POOL_MAX items in all."""
        key = ev.hash()
        if key in self.evidence_pool or self.store.has_evidence(key):
            return
        offender = (ev.vote_a.validator_address, ev.vote_a.height)
        if offender in self._offenders or len(self.evidence_pool) >= EVIDENCE_POOL_MAX:
            return
        height = self.store.height() + 1  # evidence of this height is pooled for the blocks after it
        if not height - EVIDENCE_MAX_AGE <= ev.vote_a.height <= height:
            return
        try:
            ev.verify(self.chain_id, self._evidence_valset(ev))
        except InvalidError as exc:
            log.warning("dropped invalid evidence: %s", exc)
            return
        log.warning("double signing by validator %s at height %d", ev.vote_a.validator_address.hex(),
                    ev.vote_a.height)
        self.evidence_pool[key] = ev
        self._offenders.add(offender)
        if gossip:
            self.p2p.broadcast(["evidence", ev.to_obj()])

    def _prune_evidence(self, height: int) -> None:
        floor = height + 1 - EVIDENCE_MAX_AGE
        self.evidence_pool = {k: e for k, e in self.evidence_pool.items() if e.vote_a.height >= floor}
        self._offenders = {o for o in self._offenders if o[1] >= floor}

    def _try_decide(self, block: Block, commit: Commit) -> None:
        """Execute a decision; if that fails (disk full, an app error) try again later rather than sit in
        the commit step forever."""
        try:
            self._decide(block, commit)
        except Exception:
            log.exception("committing block %d failed; retrying in %.0f s", block.header.height, DECIDE_RETRY_S)
            self.clock.call_later(DECIDE_RETRY_S, self._try_decide, block, commit)

    def _decide(self, block: Block, commit: Commit) -> None:
        height = block.header.height
        if self.store.height() >= height:
            return  # already committed (WAL replay after a crash between write and new height)
        results, app_hash = self.app.finalize_block(block)
        batch = self.store.batch_for(block, commit, results, app_hash)
        batch.update(self.app.pending_writes())
        self.kv.write(batch, sync=True)
        self.app.commit()
        self._last_commit = commit
        self.mempool.update(list(block.txs))
        for ev in block.evidence:
            self.evidence_pool.pop(ev.hash(), None)
        self._prune_evidence(height)
        log.info("committed block %d (%d txs) %s", height, len(block.txs), block.hash.hex()[:12])
        for i, (tx, res) in enumerate(zip(block.txs, results)):
            for fut in self.tx_waiters.pop(tx_hash(tx), []):
                if not fut.done():
                    fut.set_result((height, i, res))
        for listener in list(self.block_listeners):
            try:
                listener(block)
            except Exception:
                log.exception("block listener failed")
        behind = any(ph > height for ph in self.peer_heights.values())
        delay = 0 if behind else self.params.timeout_commit_ms / 1000
        nxt = m.StartHeight(height + 1, commit)
        if delay:
            self.clock.call_later(delay, self.feed, nxt)
        else:
            self.feed(nxt)
        self.p2p.broadcast(["status", height])

    # ------------------------------------------------------------------ network in
    def on_message(self, peer: str, msg: list) -> None:
        """Handle one decoded frame from a peer; malformed content is logged and dropped."""
        if self.machine is None:
            return  # not started yet: peers re-send what matters for the height we will be at
        kind = msg[0]
        try:
            if kind == "proposal":
                proposal = Proposal.from_obj(msg[1])
                if proposal.signature not in self._seen:  # a copy: skip before parsing the block
                    self._on_proposal(peer, proposal, Block.from_obj(msg[2]))
            elif kind == "vote":
                self._on_vote(peer, Vote.from_obj(msg[1]))
            elif kind == "txs":
                for tx in msg[1][:10_000]:
                    if isinstance(tx, bytes):
                        self.mempool.add(tx)
            elif kind == "status":
                self._on_status(peer, _height(msg[1]))
            elif kind == "get_block":
                self._serve_block(peer, _height(msg[1]))
            elif kind == "block":
                self._on_block(peer, Block.from_obj(msg[1]), Commit.from_obj(msg[2]))
            elif kind == "evidence":
                self._add_evidence(DuplicateVoteEvidence.from_obj(msg[1]), gossip=False)
            else:
                log.warning("unknown message %r from %s", kind, peer)
        except (InvalidError, ValueError, TypeError, IndexError) as exc:
            reason = "too few fields" if isinstance(exc, IndexError) else exc
            log.warning("rejected %s from %s: %s", kind, peer, reason)
            self._misbehaved(peer, f"{kind}: {reason}")

    def _misbehaved(self, peer: str, reason: str) -> None:
        """Count an invalid message against its peer (enough of them get it banned: p2p.py)."""
        report = getattr(self.p2p, "misbehaved", None)
        if report is not None:
            report(peer, reason)

    def _on_proposal(self, peer: str, proposal: Proposal, block: Block) -> None:
        height = self.machine.height
        if proposal.height == height + 1:
            self._hold_next_height(peer, proposal, block)
            return
        if proposal.height != height or self.store.height() >= height:
            return  # another height, or one we already committed
        self._check_proposal(proposal, block)
        self._seen.add(proposal.signature)
        # a re-proposed block (valid round) keeps the header of the validator that built it
        problem = self.block_problem(block)
        if problem:
            log.warning("invalid block proposed at %d/%d: %s", proposal.height, proposal.round, problem)
        self.feed(m.ProposalReceived(proposal, block, problem is None))

    def _check_proposal(self, proposal: Proposal, block: Block) -> None:
        valset = self.valset_at(proposal.height)
        if valset is None:
            raise InvalidError(f"proposal for height {proposal.height}, whose validator set is not known yet")
        proposal.verify(self.chain_id, valset)
        if block.hash != proposal.block_hash:
            raise InvalidError("proposal's block does not match its hash")
        if proposal.proposer_address != proposer(valset, proposal.height, proposal.round):
            raise InvalidError("proposal from the wrong proposer for this round")

    def _hold_next_height(self, peer: str, proposal: Proposal, block: Block) -> None:
        """Hold a verified proposal for height + 1 until we start it (its validity needs our decision).
        At most NEXT_HEIGHT_PROPOSALS; when full, a lower round replaces the highest held."""
        held = self._next_height_proposals
        if any(p.signature == proposal.signature for _, p, _ in held):
            return
        worst = max(range(len(held)), key=lambda i: held[i][1].round, default=None)
        if len(held) >= NEXT_HEIGHT_PROPOSALS and held[worst][1].round <= proposal.round:
            return
        self._check_proposal(proposal, block)
        if len(held) >= NEXT_HEIGHT_PROPOSALS:
            del held[worst]
        held.append((peer, proposal, block))

    def _on_vote(self, peer: str, vote: Vote) -> None:
        height = self.machine.height
        if self._late_precommit(peer, vote) and vote.height == height:
            return
        if vote.height < height:
            self._serve_block(peer, vote.height)  # the peer is behind: help it
            return
        if vote.signature in self._seen or vote.signature in self._rejected:
            return
        if vote.height > height + 1:
            self._sync_pump()
        # a vote further ahead than our next height is checked against the newest set we know: it only
        # tells the machine that we are behind
        vote.verify(self.chain_id, self.valset_at(vote.height) or self.valset_at(height + 1))
        ev = m.VoteReceived(vote)
        if vote.height == height and not self.machine.admits(ev):
            self._rejected.add(vote.signature)
        else:
            self._seen.add(vote.signature)
            if vote.height == height:
                # gossip: a vote one peer got (maybe the only one its validator sent) reaches everyone
                self.p2p.broadcast(["vote", vote.to_obj()], exclude=peer)
        self.feed(ev)

    def _late_precommit(self, peer: str, vote: Vote) -> bool:
        """Add a precommit for our last decision to the commit the next block carries; False if the vote
        is not one."""
        c = self._last_commit
        if c is None or self.store.height() != c.height or vote.type != PRECOMMIT \
                or (vote.height, vote.round, vote.block_hash) != (c.height, c.round, c.block_hash):
            return False
        if any(s.validator_address == vote.validator_address for s in c.signatures):
            return True
        vote.verify(self.chain_id, self.valset_at(c.height))
        self._last_commit = Commit.from_votes([c.vote(s) for s in c.signatures] + [vote])
        self.p2p.broadcast(["vote", vote.to_obj()], exclude=peer)  # the next proposer may not have it
        return True

    def _on_status(self, peer: str, height: int) -> None:
        self.peer_heights[peer] = height
        if self.machine and height >= self.machine.height:
            self._sync_pump()

    def _sync_pump(self) -> None:
        """Ask the peers that are ahead for the blocks from our height on: one block when we are one behind
        (a peer decided first), the next 64 when far behind, spread over the peers, each request retried
        elsewhere when unanswered (blocksync.py). Called on every status from a peer that is ahead, on
        timeouts and at each new height, so retries need no timer of their own."""
        if self.machine is None or self.store.height() >= self.machine.height:
            return  # our height is decided: the next one starts after timeout_commit
        linked = getattr(self.p2p, "peers", None)  # only peers we are linked to can answer
        heights = {p: h for p, h in self.peer_heights.items() if linked is None or p in linked}
        for peer, height in self.sync.requests(self.machine.height, heights, self.clock.monotonic()):
            self.p2p.send(peer, ["get_block", height])

    def _serve_block(self, peer: str, height: int) -> None:
        now = self.clock.monotonic()
        if now - self._served.get((peer, height), 0) < 0.5:
            return
        self._served = {k: t for k, t in self._served.items() if now - t < 5}
        self._served[(peer, height)] = now
        block, commit = self.store.block(height), self.store.commit(height)
        if block is not None and commit is not None:
            self.p2p.send(peer, ["block", block.to_obj(), commit.to_obj()])

    def _on_block(self, peer: str, block: Block, commit: Commit) -> None:
        height = block.header.height
        if self.store.height() >= height or height < self.machine.height:
            return
        if height > self.machine.height:  # fetched ahead: checked when its height comes
            size = sum(len(tx) for tx in block.txs) + 4096
            self.sync.fetched_block(peer, height, block, commit, size, self.machine.height)
            return
        self._apply_synced(peer, block, commit)

    def _apply_synced(self, peer: str, block: Block, commit: Commit) -> None:
        """A block for our height with its commit: both checked, then decided like one we voted on."""
        if self.store.height() >= block.header.height:
            return
        commit.verify(self.chain_id, self.valset_at(block.header.height), block.header.height, block.hash,
                      cache=self.app.sig_cache)
        problem = self.block_problem(block)
        if problem:
            raise InvalidError(f"synced block {block.header.height} rejected: {problem}")
        self.sync.handed_over(peer, block.header.height, self.clock.monotonic())  # not asked for again
        self.feed(m.CommitReceived(block, commit))

    def on_connect(self, peer: str) -> None:
        """A link to a peer (re)opened: tell it where we are and re-send our messages for this height."""
        self.p2p.send(peer, ["status", self.store.height()])
        for msg in self._own_msgs:
            self.p2p.send(peer, msg)

    def _schedule_status(self) -> None:
        self._timers["status"] = self.clock.call_later(STATUS_EVERY_S, self._status_tick)

    def _status_tick(self) -> None:
        """Every second: tell peers our height; if consensus has not moved since last time, re-send our
        messages for this height (a lost precommit would otherwise stall the round: no timeout is
        scheduled until 2/3 of the precommits are seen)."""
        self._schedule_status()
        self.p2p.broadcast(["status", self.store.height()])
        now = (self.machine.height, self.machine.round, self.machine.step_name)
        if now == self._status_last:
            for msg in self._own_msgs:
                self.p2p.broadcast(msg)
        self._status_last = now

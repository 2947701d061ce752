"""Prometheus metrics of one node, served at http://<instrumentation.prometheus_listen_addr>/metrics.

Names follow CometBFT's (cometbft_consensus_height -> provchain_consensus_height, ...). Values that are
state (height, round, mempool size, peers) are read when scraped; values that are events (block interval,
txs, missed signatures, WAL fsync time) are counted as they happen, from the driver's block listeners and
a timer around the WAL's fsync. Each node has its own registry, so two nodes in one process (tests) do not
share counters. docs/operators.md lists every metric.
"""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

NS = "provchain"
INTERVAL_BUCKETS = (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60)
FSYNC_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1)


class Metrics:
    def __init__(self, node, wal):
        self.node = node
        r = self.registry = CollectorRegistry()
        driver = node.driver

        def machine_attr(name):
            return lambda: getattr(driver.machine, name, 0) if driver.machine else 0

        Gauge("consensus_height", "Height consensus is working on (the last committed height + 1).",
              namespace=NS, registry=r).set_function(machine_attr("height"))
        Gauge("consensus_rounds", "Round of the current height (0 when the first round decides).",
              namespace=NS, registry=r).set_function(machine_attr("round"))
        Gauge("consensus_latest_block_height", "Height of the last committed block.", namespace=NS,
              registry=r).set_function(lambda: driver.store.height())
        Gauge("consensus_validators", "Validators in the current validator set.", namespace=NS,
              registry=r).set_function(lambda: len(self._valset(driver.store.height() + 1).validators))
        Gauge("consensus_validators_power", "Total voting power of the current validator set.", namespace=NS,
              registry=r).set_function(lambda: self._valset(driver.store.height() + 1).total_power)
        Gauge("mempool_size", "Transactions waiting in the mempool.", namespace=NS,
              registry=r).set_function(lambda: len(node.mempool))
        Gauge("p2p_peers", "Peers with an open link (inbound or outbound).", namespace=NS,
              registry=r).set_function(lambda: sum(1 for p in node.p2p.info() if p["outbound"] or p["inbound"]))
        self.block_interval = Histogram(
            "consensus_block_interval_seconds", "Time between a block and the one before it (BFT time).",
            namespace=NS, registry=r, buckets=INTERVAL_BUCKETS)
        self.num_txs = Gauge("consensus_num_txs", "Transactions in the last committed block.", namespace=NS,
                             registry=r)
        self.total_txs = Counter("consensus_txs", "Transactions committed since this node started.",
                                 namespace=NS, registry=r)
        self.missing = Gauge("consensus_missing_validators",
                             "Validators whose precommit is missing from the last block's commit.",
                             namespace=NS, registry=r)
        self.missed = Counter("consensus_missed_signatures",
                              "Commits (seen since start) that lack this validator's precommit.",
                              ["validator"], namespace=NS, registry=r)
        self.fsync = Histogram("consensus_wal_fsync_seconds", "Time of one fsync of the consensus WAL.",
                               namespace=NS, registry=r, buckets=FSYNC_BUCKETS)
        self._last_time_ms = driver.store.chain_state()[3]
        driver.block_listeners.append(self.on_block)
        self._time_fsync(wal)

    def _valset(self, height: int):
        at = getattr(self.node.driver, "valset_at", None)
        return at(height) if at else self.node.driver.valset

    def _time_fsync(self, wal) -> None:
        """Time this WAL's fsyncs: its sync() (one per drained batch), or an append(..., sync=True)."""
        if hasattr(wal, "sync"):
            wal.sync = self._timed(wal.sync, lambda args, kwargs: True)
        else:
            wal.append = self._timed(wal.append, lambda args, kwargs: kwargs.get("sync", args[1:2] == (True,)))

    def _timed(self, fn, fsyncs):
        def timed(*args, **kwargs):
            if not fsyncs(args, kwargs):
                return fn(*args, **kwargs)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.fsync.observe(time.perf_counter() - t0)
        return timed

    def on_block(self, block) -> None:
        h = block.header
        if self._last_time_ms and h.time_ms > self._last_time_ms:
            self.block_interval.observe((h.time_ms - self._last_time_ms) / 1000)
        self._last_time_ms = h.time_ms
        self.num_txs.set(len(block.txs))
        self.total_txs.inc(len(block.txs))
        commit = block.last_commit
        if commit is not None:
            signed = {s.validator_address for s in commit.signatures}
            absent = [v for v in self._valset(commit.height).validators if v.address not in signed]
            self.missing.set(len(absent))
            for v in absent:
                self.missed.labels(v.address.hex().upper()).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def web_app(self) -> web.Application:
        async def metrics(request):
            return web.Response(body=self.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
        app = web.Application()
        app.router.add_get("/metrics", metrics)
        return app

"""Transactions waiting for a block: admission checks, dedupe, caps, recheck after each commit."""

from __future__ import annotations

from collections import OrderedDict

from .app import ERR_DUPLICATE, ERR_SIZE, Application, TxResult
from .types import tx_hash

ERR_FULL = 20


class Mempool:
    def __init__(self, app: Application, max_txs: int = 20_000, max_bytes: int = 128 * 1024 * 1024,
                 max_tx_bytes: int = 200 * 1024, committed_cache: int = 200_000):
        self.app = app
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.max_tx_bytes = max_tx_bytes
        self.txs: OrderedDict[bytes, bytes] = OrderedDict()  # tx hash -> tx, in arrival order
        self.size_bytes = 0
        self._committed: OrderedDict[bytes, None] = OrderedDict()  # recently committed hashes
        self._committed_cap = committed_cache

    def __len__(self) -> int:
        return len(self.txs)

    def add(self, tx: bytes) -> TxResult:
        if len(tx) > self.max_tx_bytes:
            return TxResult(ERR_SIZE, f"tx of {len(tx)} bytes exceeds the limit of {self.max_tx_bytes}")
        h = tx_hash(tx)
        if h in self.txs:
            return TxResult(ERR_DUPLICATE, "tx already in the mempool")
        if h in self._committed:
            return TxResult(ERR_DUPLICATE, "tx already committed")
        if len(self.txs) >= self.max_txs or self.size_bytes + len(tx) > self.max_bytes:
            return TxResult(ERR_FULL, "mempool is full, retry later")
        res = self.app.check_tx(tx)
        if res.ok:
            self.txs[h] = tx
            self.size_bytes += len(tx)
        return res

    def reap(self, max_bytes: int, max_txs: int) -> list[bytes]:
        out, size = [], 0
        for tx in self.txs.values():
            if len(out) >= max_txs or size + len(tx) > max_bytes:
                break
            out.append(tx)
            size += len(tx)
        return out

    def update(self, committed: list[bytes]) -> None:
        """After a block is committed: drop its txs, remember them, recheck the rest against new state."""
        for tx in committed:
            h = tx_hash(tx)
            if self.txs.pop(h, None) is not None:
                self.size_bytes -= len(tx)
            self._committed[h] = None
        while len(self._committed) > self._committed_cap:
            self._committed.popitem(last=False)
        self.app.reset_check_state()
        remaining = list(self.txs.items())
        self.txs.clear()
        self.size_bytes = 0
        for h, tx in remaining:
            if self.app.check_tx(tx).ok:
                self.txs[h] = tx
                self.size_bytes += len(tx)

"""The event index behind tx_search and block_search (CometBFT's kv indexer, on our LevelDB).

Each committed tx is indexed under tx.hash, tx.height and every attribute of the events the app gives
for it ("type.attribute"); each block under block.height and its block events. The index is derived
data: it is written after the block (not in the block's atomic batch) and rebuilt from the block store
for any height it is missing, so a crash between the two loses nothing.
"""

from __future__ import annotations

import logging

from . import schema
from .query import Condition, Query, QueryError
from .store import KV, BlockStore
from .types import Block, tx_hash

log = logging.getLogger("provchain.index")

MAX_SCAN = 200_000  # index entries one query may read; beyond it the query must be narrowed

Events = list[tuple[str, list[tuple[str, str]]]]  # [(type, [(attribute, value)])]


def tx_event_map(block: Block, index: int, app_events: Events) -> dict[str, list[str]]:
    """Composite key -> values for a committed tx, as CometBFT indexes and publishes them."""
    out: dict[str, list[str]] = {"tx.hash": [tx_hash(block.txs[index]).hex().upper()],
                                 "tx.height": [str(block.header.height)]}
    for etype, attrs in app_events:
        for k, v in attrs:
            out.setdefault(f"{etype}.{k}", []).append(v)
    return out


def block_event_map(height: int, app_events: Events) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"block.height": [str(height)]}
    for etype, attrs in app_events:
        for k, v in attrs:
            out.setdefault(f"{etype}.{k}", []).append(v)
    return out


class EventIndex:
    def __init__(self, kv: KV, app):
        self.kv = kv
        self.app = app  # gives tx_events(raw, code) and block_events(block, codes)
        self.store = BlockStore(kv)

    def indexed_height(self) -> int:
        raw = self.kv.get(schema.IX_HEIGHT)
        return schema.height_from(raw) if raw else 0

    def tx_events(self, block: Block, index: int, code: int) -> Events:
        return self.app.tx_events(block.txs[index], code) if hasattr(self.app, "tx_events") else []

    def block_events(self, block: Block, codes: list[int]) -> Events:
        return self.app.block_events(block, codes) if hasattr(self.app, "block_events") else []

    def codes(self, block: Block) -> list[int]:
        out = []
        for tx in block.txs:
            loc = self.store.tx_location(tx_hash(tx))
            out.append(loc[2] if loc else 0)
        return out

    def index_block(self, block: Block) -> None:
        h = block.header.height
        if h <= self.indexed_height():
            return
        codes = self.codes(block)
        batch: dict[bytes, bytes] = {}
        for i, tx in enumerate(block.txs):
            th = tx_hash(tx)
            for key, values in tx_event_map(block, i, self.tx_events(block, i, codes[i])).items():
                for v in values:
                    batch[schema.ix_tx_key(key, v, h, i)] = th
        for key, values in block_event_map(h, self.block_events(block, codes)).items():
            for v in values:
                batch[schema.ix_block_key(key, v, h)] = b""
        batch[schema.IX_HEIGHT] = schema.height_bytes(h)
        self.kv.write(batch, sync=False)

    def catch_up(self) -> int:
        """Index every stored block the index does not have yet; returns how many."""
        top, n = self.store.height(), 0
        if self.indexed_height() > top:  # the store was cut back (a repair): index it again from scratch
            self.drop()
        for h in range(self.indexed_height() + 1, top + 1):
            self.index_block(self.store.block(h))
            n += 1
        if n:
            log.info("event index: indexed %d blocks", n)
        return n

    def drop(self) -> None:
        for prefix in (schema.IX_TX, schema.IX_BLOCK):
            keys = [k for k, _ in self.kv.iterate(prefix)]
            for i in range(0, len(keys), 10_000):
                self.kv.write({k: None for k in keys[i:i + 10_000]}, sync=False)
        self.kv.write({schema.IX_HEIGHT: None})

    # --- search
    def _positions(self, prefix: bytes, plen: int, cond: Condition, scanned: list[int]) -> set[bytes]:
        """Positions (the key's last plen bytes) of entries under `prefix` whose value matches cond."""
        key_prefix = prefix + cond.key.encode() + b"\0"
        exact = None
        if cond.op == "=" and cond.is_string:
            exact = cond.operand
        elif cond.op == "=" and float(cond.operand).is_integer():
            exact = str(int(cond.operand))
        out = set()
        scan = key_prefix + exact.encode() + b"\0" if exact is not None else key_prefix
        for k, _ in self.kv.iterate(scan):
            scanned[0] += 1
            if scanned[0] > MAX_SCAN:
                raise QueryError(f"the query reads more than {MAX_SCAN} index entries; add a narrower condition")
            if exact is not None or cond.match_value(k[len(key_prefix):-plen - 1].decode(errors="replace")):
                out.add(k[-plen:])
        return out

    def _search(self, prefix: bytes, plen: int, query: Query, all_key: str) -> list[bytes]:
        conds = query.without("tm.event") or (Condition(all_key, "EXISTS", None),)
        scanned = [0]
        result: set[bytes] | None = None
        for c in conds:
            found = self._positions(prefix, plen, c, scanned)
            result = found if result is None else result & found
            if not result:
                break
        return sorted(result or ())

    def search_txs(self, query: Query) -> list[tuple[int, int]]:
        """(height, index) of matching txs, oldest first."""
        return [(schema.height_from(p[:8]), int.from_bytes(p[8:12], "big"))
                for p in self._search(schema.IX_TX, 12, query, "tx.height")]

    def search_blocks(self, query: Query) -> list[int]:
        return [schema.height_from(p) for p in self._search(schema.IX_BLOCK, 8, query, "block.height")]

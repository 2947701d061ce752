"""The event index behind tx_search and block_search (CometBFT's kv indexer, on our LevelDB).

Each committed tx is indexed under tx.height and every indexed attribute of the events the app gives
for it ("type.attribute"; tx.hash is answered from the block store's own tx index); each block under
block.height and its block events. The index is derived
data, built from the block store behind the chain's tip (the RPC server indexes in the background,
never on the commit path, and brings it up to date before a search), so a crash loses nothing.
"""

from __future__ import annotations

import logging
import time

from . import schema
from .query import Condition, Query, QueryError
from .store import KV, BlockStore
from .types import Block, tx_hash

log = logging.getLogger("provchain.index")

MAX_SCAN = 200_000  # index entries one query may read; beyond it the query must be narrowed

Events = list[tuple[str, list[tuple]]]  # [(type, [(attribute, value[, indexed=True])])]


def _add(out: dict[str, list[str]], app_events: Events, indexed_only: bool) -> dict[str, list[str]]:
    for etype, attrs in app_events:
        for a in attrs:
            if not indexed_only or len(a) < 3 or a[2]:
                out.setdefault(f"{etype}.{a[0]}", []).append(a[1])
    return out


def tx_event_map(th: bytes, height: int, app_events: Events) -> dict[str, list[str]]:
    """Composite key -> values of a committed tx, as CometBFT publishes them to subscribers."""
    return _add({"tx.hash": [th.hex().upper()], "tx.height": [str(height)]}, app_events, False)


def block_event_map(height: int, app_events: Events) -> dict[str, list[str]]:
    return _add({"block.height": [str(height)]}, app_events, False)


class EventIndex:
    def __init__(self, kv: KV, app):
        self.kv = kv
        self.app = app  # gives tx_events(raw, code) and block_events(block, tx_events)
        self.store = BlockStore(kv)

    def indexed_height(self) -> int:
        raw = self.kv.get(schema.IX_HEIGHT)
        return schema.height_from(raw) if raw else 0

    def tx_events(self, block: Block, index: int, code: int) -> Events:
        return self.app.tx_events(block.txs[index], code) if hasattr(self.app, "tx_events") else []

    def block_events(self, block: Block, tx_events: list[Events]) -> Events:
        return self.app.block_events(block, tx_events) if hasattr(self.app, "block_events") else []

    def codes(self, block: Block, hashes: list[bytes] | None = None) -> list[int]:
        out = []
        for th in hashes or [tx_hash(tx) for tx in block.txs]:
            loc = self.store.tx_location(th)
            out.append(loc[2] if loc else 0)
        return out

    def index_block(self, block: Block) -> None:
        h = block.header.height
        if h <= self.indexed_height():
            return
        hashes = [tx_hash(tx) for tx in block.txs]
        codes = self.codes(block, hashes)
        batch: dict[bytes, bytes] = {}
        all_events = []
        for i, th in enumerate(hashes):
            position = schema.ix_tx_position(h, i)
            events = self.tx_events(block, i, codes[i])
            all_events.append(events)
            for key, values in _add({"tx.height": [str(h)]}, events, True).items():
                for v in values:
                    batch[schema.ix_tx_key(key, v, position)] = b""
        for key, values in _add({"block.height": [str(h)]}, self.block_events(block, all_events), True).items():
            for v in values:
                batch[schema.ix_block_key(key, v, h)] = b""
        batch[schema.IX_HEIGHT] = schema.height_bytes(h)
        self.kv.write(batch, sync=False)

    def lag(self) -> int:
        """Stored blocks not indexed yet."""
        return max(0, self.store.height() - self.indexed_height())

    def catch_up(self, max_seconds: float | None = None) -> int:
        """Index stored blocks the index does not have yet (all, or for about max_seconds); returns how many."""
        top, n = self.store.height(), 0
        if self.indexed_height() > top:  # the store was cut back (a repair): index it again from scratch
            self.drop()
        start = time.monotonic()
        for h in range(self.indexed_height() + 1, top + 1):
            self.index_block(self.store.block(h))
            n += 1
            if n % 10_000 == 0:
                log.info("event index: indexed %d blocks, at height %d of %d", n, h, top)
            if max_seconds is not None and time.monotonic() - start > max_seconds:
                break
        if n >= 1000:
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
        hashes = [c for c in query.conditions if c.key == "tx.hash"]
        if any(not (c.op == "=" and c.is_string) for c in hashes):
            raise QueryError("tx.hash takes = 'HEX' only")
        rest = Query(query.text, query.without("tx.hash"))
        if not hashes:
            hits = self._search(schema.IX_TX, 12, rest, "tx.height")
        else:  # answered by the block store's tx index, then checked against the other conditions
            hits = None
            for c in hashes:
                try:
                    loc = self.store.tx_location(bytes.fromhex(c.operand))
                except ValueError:
                    loc = None
                found = {schema.ix_tx_position(loc[0], loc[1])} if loc else set()
                hits = found if hits is None else hits & found
            if hits and rest.without("tm.event"):
                hits &= set(self._search(schema.IX_TX, 12, rest, "tx.height"))
            hits = sorted(hits)
        return [(schema.height_from(p[:8]), int.from_bytes(p[8:12], "big")) for p in hits]

    def search_blocks(self, query: Query) -> list[int]:
        return [schema.height_from(p) for p in self._search(schema.IX_BLOCK, 8, query, "block.height")]

"""`provchain node --home DIR --repair-db`: bring a damaged LevelDB store back to a chain it can prove.

1. LevelDB's own repair keeps every record whose checksum holds and drops the rest: after damage in the
   middle of a log, some keys of some blocks can be gone while later ones survived.
2. Blocks and commits are the only primary data; everything else (app state, tx and block-hash indexes,
   evidence marks, chain state) is derived from them. Keep the longest prefix of blocks 1..h that are
   present, link by hash, match their header's body hashes and carry a commit from > 2/3 of the genesis
   validators; drop the blocks above it and every derived key.
3. Re-execute blocks 1..h through a fresh app, writing exactly what the node writes at each commit, and
   check each block's header app hash against the app's (as the start-up handshake does).
The node then block-syncs the heights above h from its peers. Keys, double-sign guard state and the
consensus WAL are not touched.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from ..chain import schema
from ..chain.store import BlockStore, LevelDBKV, repair_leveldb
from ..chain.types import Genesis, InvalidError
from .node import StateError

log = logging.getLogger("provchain.repair")


@dataclass
class RepairReport:
    kept: int              # blocks 1..kept are intact and were re-executed
    recorded_height: int   # the chain state's height after LevelDB's repair (0 if that record was lost)
    highest_block: int     # the highest block found on disk
    dropped_blocks: int    # blocks above `kept` deleted (gaps, broken links or commits)


def intact_prefix(store: BlockStore, genesis: Genesis) -> int:
    """The highest h such that blocks 1..h are all present, linked and committed by the genesis validators."""
    h, last_hash = 0, b""
    while True:
        try:
            block, commit = store.block(h + 1), store.commit(h + 1)
        except (InvalidError, ValueError, TypeError):  # a record that decodes to nonsense
            return h
        if block is None or commit is None or block.header.height != h + 1 or block.header.last_block_hash != last_hash:
            return h
        try:
            block.validate_basic()
            commit.verify(genesis.chain_id, genesis.validators, h + 1, block.hash)
        except InvalidError:
            return h
        h, last_hash = h + 1, block.hash


def repair_store(db_path: str | os.PathLike, genesis: Genesis, app_factory) -> RepairReport:
    repair_leveldb(db_path)
    kv = LevelDBKV(db_path)
    try:
        store = BlockStore(kv)
        try:
            recorded = store.height()
        except (ValueError, TypeError):
            recorded = 0
        block_heights = [schema.height_from(k[len(schema.BLOCK):]) for k, _ in kv.iterate(schema.BLOCK)]
        kept = intact_prefix(store, genesis)

        def keep(key: bytes) -> bool:
            return any(key.startswith(p) and schema.height_from(key[len(p):]) <= kept
                       for p in (schema.BLOCK, schema.COMMIT))

        drop = [k for k, _ in kv.iterate(b"") if not keep(k)]
        for i in range(0, len(drop), 10_000):
            kv.write({k: None for k in drop[i:i + 10_000]})
        app = app_factory(kv, genesis)
        for h in range(1, kept + 1):
            block, commit = store.block(h), store.commit(h)
            if block.header.app_hash != app.info()[1]:
                raise StateError(f"app hash mismatch at height {h - 1} while rebuilding {db_path}: this provchain "
                                 f"version computes another state than the one that made these blocks")
            results, app_hash = app.finalize_block(block)
            batch = store.batch_for(block, commit, results, app_hash)
            batch.update(app.pending_writes())
            kv.write(batch, sync=h == kept)  # one fsync at the end: a crash here just means repairing again
            app.commit()
            if h % 1000 == 0:
                log.info("re-executed %d of %d blocks", h, kept)
        return RepairReport(kept, recorded, max(block_heights, default=0),
                            sum(1 for b in block_heights if b > kept))
    finally:
        kv.close()

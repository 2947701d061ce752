"""`provchain node --home DIR --repair-db`: bring a damaged LevelDB store back to a chain it can prove.

1. LevelDB's own repair keeps every record whose checksum holds and drops the rest: after damage in the
   middle of a log, some keys of some blocks can be gone while later ones survived.
2. Blocks and commits are the only primary data; everything else (app state with the validator set of
   each height, tx and block-hash indexes, evidence marks, chain state) is derived from them: drop it.
3. Re-execute blocks 1, 2, ... through a fresh app, writing exactly what the node writes at each commit,
   while each block is present, links by hash, matches its header's body hashes, names the validator set
   the re-executed chain has for its height and carries a commit from > 2/3 of that set; check each
   header's app hash against the app's (as the start-up handshake does). Drop the blocks above the last
   one kept.
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


def _intact_next(store: BlockStore, h: int, last_hash: bytes, genesis: Genesis, valset):
    """Block and commit h + 1 if they follow blocks 1..h and `valset` (that height's set) committed it."""
    try:
        block, commit = store.block(h + 1), store.commit(h + 1)
    except (InvalidError, ValueError, TypeError):  # a record that decodes to nonsense
        return None
    if block is None or commit is None or block.header.height != h + 1 or block.header.last_block_hash != last_hash:
        return None
    try:
        block.validate_basic()
        if block.header.validators_hash != valset.hash():
            raise InvalidError("the block names another validator set")
        commit.verify(genesis.chain_id, valset, h + 1, block.hash)
    except InvalidError:
        return None
    return block, commit


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
        derived = [k for k, _ in kv.iterate(b"") if not k.startswith((schema.BLOCK, schema.COMMIT))]
        for i in range(0, len(derived), 10_000):
            kv.write({k: None for k in derived[i:i + 10_000]})
        app = app_factory(kv, genesis)
        def valset_at(height: int):  # an app that keeps no validator sets runs with the genesis set
            at = getattr(app, "valset_at", None)
            return (at(height) if at else None) or genesis.validators

        kept, last_hash = 0, b""
        while (found := _intact_next(store, kept, last_hash, genesis, valset_at(kept + 1))) is not None:
            block, commit = found
            h = kept + 1
            if block.header.app_hash != app.info()[1]:
                raise StateError(f"app hash mismatch at height {h - 1} while rebuilding {db_path}: this provchain "
                                 f"version computes another state than the one that made these blocks")
            results, app_hash = app.finalize_block(block)
            batch = store.batch_for(block, commit, results, app_hash)
            batch.update(app.pending_writes())
            kv.write(batch, sync=False)  # one fsync at the end: a crash here just means repairing again
            app.commit()
            kept, last_hash = h, block.hash
            if h % 1000 == 0:
                log.info("re-executed %d blocks", h)
        above = [k for k, _ in kv.iterate(b"")
                 if k.startswith((schema.BLOCK, schema.COMMIT)) and schema.height_from(k[2:]) > kept]
        kv.write({k: None for k in above}, sync=True)
        return RepairReport(kept, recorded, max(block_heights, default=0),
                            sum(1 for b in block_heights if b > kept))
    finally:
        kv.close()

"""Key-value storage (LevelDB on disk, a dict in memory for unit tests) and the block store on top."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator, Mapping, Protocol

from . import schema
from .encoding import decode, encode
from .types import Block, Commit, tx_hash

log = logging.getLogger("provchain.store")

Batch = Mapping[bytes, "bytes | None"]  # None deletes the key


class KV(Protocol):
    def get(self, key: bytes) -> bytes | None: ...
    def iterate(self, prefix: bytes, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]: ...
    def write(self, batch: Batch, sync: bool = True) -> None: ...
    def close(self) -> None: ...


class StoreError(Exception):
    """The LevelDB database cannot be opened or read: corrupted, or held by another process."""

    def __init__(self, path, detail: str, corrupted: bool):
        self.path, self.detail, self.corrupted = str(path), detail, corrupted
        super().__init__(f"LevelDB in {path}: {detail}")


def _detail(exc: Exception) -> str:
    msg = exc.args[0] if exc.args else exc
    return msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)


class LevelDBKV:
    """LevelDB through plyvel. `write` applies a batch atomically; sync=True fsyncs the log first.

    plyvel's CorruptionError (a checksum that does not match, at open or on any later read) becomes a
    StoreError; `on_corruption` is called first so the node can stop instead of running on a damaged store.
    """

    def __init__(self, path: str | os.PathLike, on_corruption=None):
        import plyvel
        self._plyvel = plyvel
        self.path = str(path)
        self.on_corruption = on_corruption
        os.makedirs(path, exist_ok=True)
        try:
            try:
                self.db = plyvel.DB(self.path, create_if_missing=True, paranoid_checks=True)
            except plyvel.CorruptionError:
                if not self._cut_torn_log_tail():
                    raise
                self.db = plyvel.DB(self.path, create_if_missing=True, paranoid_checks=True)
        except plyvel.CorruptionError as exc:
            raise StoreError(path, _detail(exc), corrupted=True) from None
        except plyvel.IOError as exc:
            detail = _detail(exc)
            if "lock" in detail:
                detail += " (is another node running with this home?)"
            raise StoreError(path, detail, corrupted=False) from None

    def _cut_torn_log_tail(self) -> bool:
        """After a power loss the newest log can end in garbage after its last (fsynced) record: cut it,
        as the WAL does, so the node starts. Damage anywhere else still stops the node."""
        from .leveldb_log import cut_torn_tail
        logs = sorted(Path(self.path).glob("*.log"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1)
        cut = cut_torn_tail(logs[-1]) if logs else 0
        if cut:
            log.warning("cut a torn tail of %d bytes off %s (a crash or power loss mid-write; every "
                        "committed block was written before it)", cut, logs[-1])
        return cut > 0

    def _corrupt(self, exc: Exception) -> StoreError:
        err = StoreError(self.path, _detail(exc), corrupted=True)
        if self.on_corruption is not None:
            self.on_corruption(err)
        return err

    def get(self, key: bytes) -> bytes | None:
        try:
            return self.db.get(key)
        except self._plyvel.CorruptionError as exc:
            raise self._corrupt(exc) from None

    def iterate(self, prefix: bytes, reverse: bool = False):
        try:
            if reverse:
                # plyvel 1.5's reverse iterator yields nothing when the only key in range equals the prefix
                # (found by tests/unit/test_store.py), so walk forward and reverse here
                return reversed(list(self.db.iterator(prefix=prefix)))
            return self._checked(self.db.iterator(prefix=prefix))
        except self._plyvel.CorruptionError as exc:
            raise self._corrupt(exc) from None

    def _checked(self, it):
        try:
            yield from it
        except self._plyvel.CorruptionError as exc:
            raise self._corrupt(exc) from None

    def write(self, batch: Batch, sync: bool = True) -> None:
        # transaction=True: if any put fails, nothing of the batch is written (plyvel's default would
        # write the puts made before the failure)
        try:
            with self.db.write_batch(sync=sync, transaction=True) as wb:
                for k, v in batch.items():
                    if v is None:
                        wb.delete(k)
                    else:
                        wb.put(k, v)
        except self._plyvel.CorruptionError as exc:
            raise self._corrupt(exc) from None

    def close(self) -> None:
        self.db.close()


def repair_leveldb(path: str | os.PathLike) -> None:
    """LevelDB's own repair: rebuilds the table index from every log and table file, keeping each record
    whose checksum holds and dropping the rest. What the chain lost is found by consensus/repair.py."""
    import plyvel
    plyvel.repair_db(str(path), paranoid_checks=True)


class MemoryKV:
    def __init__(self):
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def iterate(self, prefix: bytes, reverse: bool = False):
        keys = sorted(k for k in self.data if k.startswith(prefix))
        if reverse:
            keys.reverse()
        return iter([(k, self.data[k]) for k in keys])

    def write(self, batch: Batch, sync: bool = True) -> None:
        for k, v in batch.items():  # all or nothing, and only bytes, like LevelDBKV
            if not isinstance(k, bytes) or not (v is None or isinstance(v, bytes)):
                raise TypeError(f"keys and values must be bytes, got {type(k).__name__}: {type(v).__name__}")
        for k, v in batch.items():
            if v is None:
                self.data.pop(k, None)
            else:
                self.data[k] = v

    def close(self) -> None:
        pass


class BlockStore:
    """Reads committed blocks, commits and tx locations; `batch_for` gives the writes for one block."""

    def __init__(self, kv: KV):
        self.kv = kv

    def chain_state(self) -> tuple[int, bytes, bytes, int]:
        """(height, app_hash, last_block_hash, last_block_time_ms); height 0 before the first block."""
        raw = self.kv.get(schema.CHAIN_STATE)
        if raw is None:
            return 0, b"", b"", 0
        h, app_hash, last_hash, t = decode(raw)
        return h, app_hash, last_hash, t

    def height(self) -> int:
        return self.chain_state()[0]

    def batch_for(self, block: Block, commit: Commit, tx_results, app_hash: bytes) -> dict[bytes, bytes]:
        h = block.header.height
        batch = {
            schema.block_key(h): block.encode(),
            schema.block_hash_key(block.hash): schema.height_bytes(h),
            schema.commit_key(h): encode(commit.to_obj()),
            schema.CHAIN_STATE: encode([h, app_hash, block.hash, block.header.time_ms]),
        }
        if block.last_commit is not None:  # the commit all nodes agree on replaces the one we saw first
            batch[schema.commit_key(h - 1)] = encode(block.last_commit.to_obj())
        for i, (tx, res) in enumerate(zip(block.txs, tx_results)):
            batch[schema.tx_key(tx_hash(tx))] = encode([h, i, res.code, res.log])
        for ev in block.evidence:
            batch[schema.evidence_key(ev.hash())] = schema.height_bytes(h)
        return batch

    def block(self, height: int) -> Block | None:
        raw = self.kv.get(schema.block_key(height))
        return Block.decode(raw) if raw is not None else None

    def block_raw(self, height: int) -> bytes | None:
        """The block as stored (its canonical encoding): the one "part" of its part set in the RPC."""
        return self.kv.get(schema.block_key(height))

    def commit(self, height: int) -> Commit | None:
        raw = self.kv.get(schema.commit_key(height))
        return Commit.from_obj(decode(raw)) if raw is not None else None

    def height_of_block(self, block_hash: bytes) -> int | None:
        raw = self.kv.get(schema.block_hash_key(block_hash))
        return schema.height_from(raw) if raw is not None else None

    def tx_location(self, tx_hash: bytes) -> tuple[int, int, int, str] | None:
        """(height, index, code, log) of a committed tx."""
        raw = self.kv.get(schema.tx_key(tx_hash))
        if raw is None:
            return None
        h, i, code, log = decode(raw)
        return h, i, code, log

    def has_evidence(self, evidence_hash: bytes) -> bool:
        return self.kv.get(schema.evidence_key(evidence_hash)) is not None


"""The consensus write-ahead log: every input to the state machine is appended before it is processed.

On restart the node replays the current height's records through a fresh machine and ends up in the
state it crashed in. Records are length + CRC32 framed; a torn tail from a crash mid-write is cut off
(logged at INFO); a damaged record with data after it is corruption, cut off with an ERROR that says how
much was lost. One file per height; files of committed heights are deleted. An identical record is
appended once per height (a peer re-sending a message cannot grow the log).

Durability is the caller's: `append` writes through to the OS, `sync` fsyncs. The driver syncs before
any message it signed leaves the node (docs/protocol.md, "WAL before the wire").
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path

from ..chain.encoding import EncodingError, decode, encode, sha256
from ..chain.types import Block, Commit, InvalidError, Proposal, Vote
from . import machine as m
from .files import OSFiles

log = logging.getLogger("provchain.consensus.wal")

_HEADER = struct.Struct(">II")  # length, crc32


def event_to_obj(ev) -> list:
    if isinstance(ev, m.StartHeight):
        return ["start", ev.height, ev.last_commit.to_obj() if ev.last_commit else None]
    if isinstance(ev, m.ProposalReceived):
        return ["proposal", ev.proposal.to_obj(), ev.block.to_obj(), ev.valid]
    if isinstance(ev, m.VoteReceived):
        return ["vote", ev.vote.to_obj()]
    if isinstance(ev, m.TimeoutFired):
        return ["timeout", ev.height, ev.round, ev.step]
    if isinstance(ev, m.BlockBuilt):
        return ["built", ev.height, ev.round, ev.block.to_obj()]
    if isinstance(ev, m.CommitReceived):
        return ["commit", ev.block.to_obj(), ev.commit.to_obj()]
    raise TypeError(f"not a consensus event: {ev!r}")


def event_from_obj(obj):
    tag = obj[0]
    if tag == "start":
        return m.StartHeight(obj[1], Commit.from_obj(obj[2]) if obj[2] is not None else None)
    if tag == "proposal":
        return m.ProposalReceived(Proposal.from_obj(obj[1]), Block.from_obj(obj[2]), bool(obj[3]))
    if tag == "vote":
        return m.VoteReceived(Vote.from_obj(obj[1]))
    if tag == "timeout":
        return m.TimeoutFired(obj[1], obj[2], obj[3])
    if tag == "built":
        return m.BlockBuilt(obj[1], obj[2], Block.from_obj(obj[3]))
    if tag == "commit":
        return m.CommitReceived(Block.from_obj(obj[1]), Commit.from_obj(obj[2]))
    raise InvalidError(f"unknown WAL record {tag!r}")


class WAL:
    def __init__(self, directory: str | os.PathLike, files=None):
        self.files = files or OSFiles()
        self.dir = Path(directory)
        self.files.mkdir(self.dir)
        self._file = None
        self._height = None
        self._digests: set[bytes] = set()  # records of the open height

    def _path(self, height: int) -> Path:
        return self.dir / f"{height:012d}.wal"

    def start_height(self, height: int) -> None:
        """Open the log for `height` (appending if it exists) and delete logs of earlier heights."""
        if self._file:
            self._file.close()
        for name in self.files.list(self.dir):
            stem = name[:-4]
            if name.endswith(".wal") and stem.isdigit() and int(stem) < height:
                self.files.delete(self.dir / name)
        path = self._path(height)
        self._truncate_torn_tail(path)
        self._digests = {sha256(p) for p in _records(self.files.read(path))}
        self._file = self.files.open_append(path)
        self._height = height

    def append(self, event, sync: bool = False) -> bool:
        """Append a record (once: False when this height already has it)."""
        payload = encode(event_to_obj(event))
        digest = sha256(payload)
        if digest in self._digests:
            return False
        self._digests.add(digest)
        self._file.write(_HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        if sync:
            self._file.sync()
        return True

    def sync(self) -> None:
        if self._file:
            self._file.sync()

    def replay(self, height: int) -> list:
        """The events logged for `height`, in order, up to the first torn or corrupt record."""
        return [event_from_obj(decode(p)) for p in _records(self.files.read(self._path(height)))]

    def _truncate_torn_tail(self, path: Path) -> None:
        data = self.files.read(path)
        if data is None:
            return
        kept = list(_records(data))
        good = sum(_HEADER.size + len(p) for p in kept)
        if good == len(data):
            return
        rest = len(data) - good
        torn = rest < _HEADER.size or _HEADER.unpack_from(data, good)[0] > rest - _HEADER.size
        if torn:
            log.info("WAL %s: cut a torn last record (%d bytes) written during a crash", path.name, rest)
        else:
            log.error("WAL %s is corrupt at offset %d: the %d bytes from there on are dropped, %d records "
                      "before it are kept; this height's consensus state may be incomplete (the double-sign "
                      "guard still prevents conflicting signatures)", path.name, good, rest, len(kept))
        self.files.truncate(path, good)

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None


def _records(data: bytes | None):
    if data is None:
        return
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        payload = data[pos + _HEADER.size: pos + _HEADER.size + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            return
        try:
            decode(payload)
        except EncodingError:
            return
        yield payload
        pos += _HEADER.size + length

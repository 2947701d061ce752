"""LevelDB's log format, read just far enough to tell a torn tail from damage in the middle.

A power loss can leave garbage (zeros, stale bytes, half a record) after the last record LevelDB had
written; every batch the node relies on was fsynced before it, so cutting the log at the first bad record
loses nothing acknowledged. Damage followed by good records is something else (a bad disk or copy) and
is left for `provchain node --repair-db`. Format: 32 KiB blocks of records, each a 7-byte header
(masked CRC32C of type + payload, little-endian u32; payload length, u16; type: 1 full, 2 first,
3 middle, 4 last) and the payload; a block's last < 7 bytes are padding.
"""

from __future__ import annotations

import struct
from pathlib import Path

BLOCK = 32768
HEADER = 7
_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _good_at(data: bytes, pos: int) -> int | None:
    """The end of a well-formed record starting at pos, or None."""
    if pos % BLOCK + HEADER > BLOCK or pos + HEADER > len(data):
        return None
    crc, length, rtype = struct.unpack_from("<IHB", data, pos)
    end = pos + HEADER + length
    if not 1 <= rtype <= 4 or end > len(data) or pos % BLOCK + HEADER + length > BLOCK:
        return None
    return end if masked_crc(data[pos + HEADER - 1:end]) == crc else None


def records(data: bytes):
    """(offset, payload length) of each record from the start, up to the first one that is not
    well-formed (a damaged or torn record, or the end)."""
    pos = 0
    while pos + HEADER <= len(data):
        if pos % BLOCK + HEADER > BLOCK:  # block trailer: padding
            pos += BLOCK - pos % BLOCK
            continue
        end = _good_at(data, pos)
        if end is None:
            return
        yield pos, end - pos - HEADER
        pos = end


def cut_torn_tail(path: Path) -> int:
    """If a log's only bad bytes are at its end, cut them off. Returns the bytes cut (0: the log is
    sound, or a well-formed record follows its damage, which is then no torn tail)."""
    data = Path(path).read_bytes()
    pos = 0
    for start, length in records(data):
        pos = start + HEADER + length
    if pos % BLOCK + HEADER > BLOCK:
        pos += BLOCK - pos % BLOCK
    if pos >= len(data):
        return 0
    if any(_good_at(data, q) is not None for q in range(pos + 1, len(data) - HEADER + 1)):
        return 0  # damage in the middle: not ours to cut
    with open(path, "r+b") as f:
        f.truncate(pos)
    return len(data) - pos

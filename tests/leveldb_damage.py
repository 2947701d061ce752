"""Damaging a real LevelDB on purpose, for the tests of a node's recovery (unit and real-process)."""

import struct
from pathlib import Path


def log_records(path: Path) -> list[tuple[int, int]]:
    """(offset, payload length) of each record in a LevelDB log file (7-byte headers in 32 KiB blocks;
    one committed block is one batch, so one record while it fits in a block)."""
    data, pos, out = path.read_bytes(), 0, []
    while pos + 7 <= len(data):
        if (pos % 32768) + 7 > 32768:  # the rest of a block too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, _ = struct.unpack("<IHB", data[pos:pos + 7])
        out.append((pos, length))
        pos += 7 + length
    return out


def smash(path: Path, offset: int, n: int = 16) -> None:
    """Overwrite n bytes at offset: the record there no longer matches its checksum."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xde\xad" * (n // 2))


def largest_log(db_dir: Path) -> Path:
    return max(Path(db_dir).glob("*.log"), key=lambda p: p.stat().st_size)

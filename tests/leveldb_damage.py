"""Damaging a real LevelDB on purpose, for the tests of a node's recovery (unit and real-process)."""

from pathlib import Path

from provchain.chain.leveldb_log import records


def log_records(path: Path) -> list[tuple[int, int]]:
    """(offset, payload length) of each well-formed record of a LevelDB log (one committed block is one
    batch, so one record while it fits in a 32 KiB block)."""
    return list(records(Path(path).read_bytes()))


def smash(path: Path, offset: int, n: int = 16) -> None:
    """Overwrite n bytes at offset: the record there no longer matches its checksum."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xde\xad" * (n // 2))


def largest_log(db_dir: Path) -> Path:
    return max(Path(db_dir).glob("*.log"), key=lambda p: p.stat().st_size)

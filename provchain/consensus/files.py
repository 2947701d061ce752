"""The few file operations the WAL and the double-sign guard need, behind one interface.

`OSFiles` is the real disk. tests/sim replaces it with a simulated disk that loses, on a power loss,
whatever was written but not fsynced; so what each caller fsyncs, and when, is part of its contract.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..chain.durable import write_atomic


class OSFiles:
    def mkdir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)

    def list(self, directory: Path) -> list[str]:
        return sorted(p.name for p in directory.iterdir()) if directory.exists() else []

    def read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def truncate(self, path: Path, size: int) -> None:
        with open(path, "r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())

    def open_append(self, path: Path) -> "AppendFile":
        return AppendFile(open(path, "ab"))

    def write_atomic(self, path: Path, data: bytes) -> None:
        write_atomic(path, data)


class AppendFile:
    def __init__(self, f):
        self._f = f

    def write(self, data: bytes) -> None:
        self._f.write(data)
        self._f.flush()

    def sync(self) -> None:
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

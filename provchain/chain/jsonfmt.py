"""JSON renderings shared by the RPC, the explorer and the CLIs: CometBFT conventions."""

from __future__ import annotations

import base64
from datetime import datetime, timezone


def rfc3339(ms: int) -> str:
    """Milliseconds since the epoch as RFC 3339 UTC, e.g. 2026-11-24T23:00:00.123Z."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def hexu(b: bytes) -> str:
    return b.hex().upper()


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def parse_hex(text: str, size: int | None = None) -> bytes:
    """Parse hex (either case, optional 0x); raise ValueError with a clear message."""
    t = text.strip()
    if t[:2].lower() == "0x":
        t = t[2:]
    try:
        b = bytes.fromhex(t)
    except ValueError:
        raise ValueError(f"not a hex string: {text[:80]!r}") from None
    if size is not None and len(b) != size:
        raise ValueError(f"expected {size} bytes of hex, got {len(b)}")
    return b

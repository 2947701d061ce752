"""The fingerprint as a picture: one row per sampled frame, one pixel per bit of its 256-bit DCT hash.

A grayscale PNG written with zlib only (no imaging library in the server's dependencies). A set bit
is drawn light, a clear bit dark; the browser scales it up with `image-rendering: pixelated`.
"""

from __future__ import annotations

import base64
import struct
import zlib

from ..chain.encoding import decode
from ..provenance.fingerprint import DCT_BYTES, HASH_BITS, Fingerprint

ON, OFF = 235, 40


def fingerprint_from_b64(data: str) -> Fingerprint:
    """The record JSON's fingerprint.data (base64 of the msgpack fingerprint) -> Fingerprint."""
    return Fingerprint.from_obj(decode(base64.b64decode(data, validate=True)))


def bit_rows(fp: Fingerprint) -> list[bytes]:
    """One row of HASH_BITS pixel values per sample (bit i = coefficient (i // 16, i % 16), big-endian)."""
    rows = []
    for h in fp.hashes:
        dct = h[:DCT_BYTES]
        rows.append(bytes(ON if (dct[i >> 3] >> (7 - (i & 7))) & 1 else OFF for i in range(HASH_BITS)))
    return rows


def png_gray(rows: list[bytes]) -> bytes:
    width, height = len(rows[0]), len(rows)
    raw = b"".join(b"\x00" + r for r in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


CELL_W = 3  # pixels per bit


def row_height(samples: int) -> int:
    """Pixels per sample row: short clips get tall rows so the picture stays readable."""
    return max(1, min(12, round(240 / max(1, samples))))


def fingerprint_png(fp: Fingerprint) -> bytes:
    """HASH_BITS * CELL_W pixels wide, row_height(n) pixels per sample."""
    rh = row_height(len(fp.hashes))
    rows = []
    for r in bit_rows(fp):
        wide = bytes(v for v in r for _ in range(CELL_W))
        rows += [wide] * rh
    return png_gray(rows)


STRIP_TILES = 40  # at most this many sampled frames in the time strip
TILE = 16  # a 256-bit hash is a 16 x 16 tile (bit i at row i // 16, column i % 16)


def strip_png(fp: Fingerprint, max_tiles: int = STRIP_TILES, scale: int = 3) -> bytes:
    """The fingerprint as a time strip, left to right: one 16 x 16 tile per sampled frame (evenly
    picked when there are more than `max_tiles`), a dark gap between tiles. What the record page shows
    in place of the clip when the explorer has no copy of it."""
    rows = bit_rows(fp)
    if not rows:
        return png_gray([bytes([OFF])])
    n = min(len(rows), max_tiles)
    picked = [rows[round(i * (len(rows) - 1) / max(1, n - 1))] for i in range(n)]
    gap = bytes([0] * scale)
    lines = []
    for y in range(TILE):
        line = gap.join(bytes(v for v in r[y * TILE:(y + 1) * TILE] for _ in range(scale)) for r in picked)
        lines += [line] * scale
    return png_gray(lines)

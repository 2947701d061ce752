"""Canonical msgpack encoding.

Every structure is encoded as a msgpack array with a fixed field order; bytes stay bytes (never hex);
floats are refused because their encodings are not canonical across platforms. Decoding checks that the
input is exactly the canonical encoding of what it decodes to, so one value has one byte string and
`hash = sha256(encode(x))` is well defined.
"""

from __future__ import annotations

import hashlib

import msgpack

MAX_MESSAGE_BYTES = 8 * 1024 * 1024


class EncodingError(ValueError):
    """Bytes that are not a canonical provchain encoding."""


def _check(value, depth: int = 0) -> None:
    """Refuse what has no canonical encoding (floats, maps, other types). Hot path: keep it flat."""
    t = type(value)
    if t is bytes or t is str or t is bool or value is None:
        return
    if t is int:
        if not -(2**63) <= value < 2**64:
            raise EncodingError("integer out of 64-bit range")
        return
    if t is list or t is tuple:
        if depth > 32:
            raise EncodingError("nesting deeper than 32")
        for item in value:
            ti = type(item)
            if ti is bytes or ti is str or (ti is int and -(2**63) <= item < 2**64):
                continue
            _check(item, depth + 1)
        return
    if t is float:
        raise EncodingError("floats are not allowed in canonical encoding")
    raise EncodingError(f"type {t.__name__} cannot be encoded")


def encode(value) -> bytes:
    """Encode ints, bools, None, str, bytes and (nested) lists canonically. No maps, no floats."""
    _check(value)
    try:
        return msgpack.packb(value, use_bin_type=True)
    except UnicodeEncodeError:
        raise EncodingError("string is not valid Unicode (lone surrogate)") from None


def decode(data: bytes, max_bytes: int = MAX_MESSAGE_BYTES):
    """Decode canonical bytes to lists/ints/str/bytes; raise EncodingError on anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise EncodingError("expected bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise EncodingError(f"message of {len(data)} bytes exceeds {max_bytes}")
    try:
        value = msgpack.unpackb(
            data, raw=False, use_list=True, strict_map_key=True,
        )
    except Exception as exc:  # msgpack raises several unrelated types
        raise EncodingError(f"malformed msgpack: {exc.__class__.__name__}") from None
    try:
        canonical = encode(value)
    except EncodingError as exc:
        raise EncodingError(f"non-canonical value: {exc}") from None
    if canonical != data:
        raise EncodingError("non-canonical encoding")
    return value


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_value(value) -> bytes:
    return sha256(encode(value))

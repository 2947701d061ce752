"""Canonical msgpack encoding: exact bytes for known values, and rejection of everything non-canonical."""

from __future__ import annotations

import hashlib
import struct

import msgpack
import pytest

from provchain.chain.encoding import EncodingError, decode, encode, hash_value, sha256


def strict_equal(a, b) -> bool:
    """== that also tells True from 1 and a list from a tuple."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    return a == b


# --- exact canonical bytes ------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (None, b"\xc0"),
    (False, b"\xc2"),
    (True, b"\xc3"),
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\xcc\x80"),
    (255, b"\xcc\xff"),
    (256, b"\xcd\x01\x00"),
    (65536, b"\xce\x00\x01\x00\x00"),
    (2**32, b"\xcf\x00\x00\x00\x01\x00\x00\x00\x00"),
    (2**64 - 1, b"\xcf" + b"\xff" * 8),
    (-1, b"\xff"),
    (-32, b"\xe0"),
    (-33, b"\xd0\xdf"),
    (-129, b"\xd1\xff\x7f"),
    (-(2**63), b"\xd3\x80" + b"\x00" * 7),
    (b"", b"\xc4\x00"),
    (b"ab", b"\xc4\x02ab"),
    (b"x" * 256, b"\xc5\x01\x00" + b"x" * 256),
    ("", b"\xa0"),
    ("abc", b"\xa3abc"),
    ("é", b"\xa2\xc3\xa9"),
    ("s" * 32, b"\xd9\x20" + b"s" * 32),
    ([], b"\x90"),
    ([1, [b"a", None]], b"\x92\x01\x92\xc4\x01a\xc0"),
    (list(range(16)), b"\xdc\x00\x10" + bytes(range(16))),
])
def test_known_encodings(value, expected):
    assert encode(value) == expected
    assert strict_equal(decode(expected), value)


def test_bytes_stay_bytes_and_text_stays_text():
    assert type(decode(encode(b"\x00\xff"))) is bytes
    assert type(decode(encode("\x00\xff"))) is str
    assert encode(b"abc") != encode("abc")


def test_tuple_encodes_as_list():
    assert encode((1, (2, b"x"))) == encode([1, [2, b"x"]])
    assert decode(encode((1, 2))) == [1, 2]


def test_hash_is_sha256_of_encoding():
    value = ["vote", 3, b"\x01" * 32, None, True]
    assert hash_value(value) == hashlib.sha256(encode(value)).digest()
    assert sha256(b"abc") == hashlib.sha256(b"abc").digest()


def test_bool_and_int_have_different_bytes():
    assert encode(True) != encode(1)
    assert encode(False) != encode(0)
    assert decode(encode([True]))[0] is True


# --- values that cannot be encoded ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    1.5, 0.0, float("nan"), [1, [2.0]],
    {}, {"a": 1}, [1, {b"k": b"v"}],
    2**64, -(2**63) - 1, [2**70],
    bytearray(b"x"), memoryview(b"x"), {1, 2}, object(), [frozenset()],
])
def test_unencodable_values_rejected(value):
    with pytest.raises(EncodingError):
        encode(value)


def test_lone_surrogate_string_rejected_with_encoding_error():
    # json.loads('"\\ud800"') produces such strings; they have no UTF-8 form
    with pytest.raises(EncodingError):
        encode("\ud800")
    with pytest.raises(EncodingError):
        encode(["ok", "bad \udfff"])


def _nest(depth: int):
    value = 0
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_limit():
    ok = _nest(32)
    assert decode(encode(ok)) == ok
    with pytest.raises(EncodingError):
        encode(_nest(34))
    with pytest.raises(EncodingError):
        decode(b"\x91" * 34 + b"\x00")
    with pytest.raises(EncodingError):  # far past msgpack's own stack: still EncodingError
        decode(b"\x91" * 100_000 + b"\x00")


# --- bytes that are not canonical -----------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"\xcc\x01",                      # uint8 for a fixint
    b"\xcd\x00\x80",                  # uint16 for a uint8
    b"\xce\x00\x00\x01\x00",          # uint32 for a uint16
    b"\xcf\x00\x00\x00\x00\x00\x01\x00\x00",  # uint64 for a uint32
    b"\xd0\x05",                      # int8 for a positive fixint
    b"\xd0\xff",                      # int8 for a negative fixint
    b"\xd1\x00\x05",                  # int16
    b"\xd2\xff\xff\xff\xff",          # int32 -1
    b"\xd3\x00\x00\x00\x00\x00\x00\x00\x00",  # int64 0
    b"\xd9\x03abc",                   # str8 for a fixstr
    b"\xda\x00\x03abc",               # str16
    b"\xc5\x00\x02ab",                # bin16 for a bin8
    b"\xc6\x00\x00\x00\x02ab",        # bin32
    b"\xdc\x00\x01\x01",              # array16 for a fixarray
    b"\xdd\x00\x00\x00\x01\x01",      # array32
])
def test_non_minimal_forms_rejected(data):
    # each of these is valid msgpack for a value we can encode, just not in its shortest form
    assert msgpack.unpackb(data, raw=False) is not None
    with pytest.raises(EncodingError, match="non-canonical"):
        decode(data)


@pytest.mark.parametrize("data", [
    b"\xca\x3f\x80\x00\x00",          # float32 1.0
    b"\xcb" + struct.pack(">d", 2.5),  # float64
    b"\x91\xcb" + struct.pack(">d", 0.0),
    b"\x80",                          # empty map
    b"\x81\x01\x02",                  # {1: 2}
    b"\x91\x81\xa1k\xa1v",            # [{"k": "v"}]
    b"\xd4\x01\x00",                  # fixext1: an extension type
    b"\xc7\x02\x05ab",                # ext8
    b"\x92\x01\xd5\x07\x00\x00",      # [1, fixext2]
    b"\xd6\xff\x00\x00\x00\x01",      # timestamp extension
    b"\xa1\xff",                      # str with invalid UTF-8
    b"\xc1",                          # never-used byte
    b"",                              # nothing
    b"\x92\x01",                      # truncated array
    b"\xc4\x05ab",                    # truncated bytes
    b"\x01\x02",                      # trailing data
    b"\xc0\xc0",
])
def test_invalid_or_unsupported_bytes_rejected(data):
    with pytest.raises(EncodingError):
        decode(data)


def test_extension_types_never_decode():
    # an ext value must not slip through as a "list" of (code, data)
    for data in (msgpack.packb(msgpack.ExtType(1, b"x")), msgpack.packb([msgpack.ExtType(42, b"")])):
        with pytest.raises(EncodingError):
            decode(data)
    with pytest.raises(EncodingError):
        encode(msgpack.ExtType(1, b"x"))


def test_integer_range_is_int64_to_uint64():
    with pytest.raises(EncodingError):
        encode(2**64)
    assert decode(b"\xcf" + b"\xff" * 8) == 2**64 - 1
    assert decode(b"\xd3\x80" + b"\x00" * 7) == -(2**63)


def test_decode_input_types_and_size_limit():
    data = encode([1, b"x"])
    assert decode(bytearray(data)) == [1, b"x"]
    assert decode(memoryview(data)) == [1, b"x"]
    with pytest.raises(EncodingError):
        decode("not bytes")
    with pytest.raises(EncodingError):
        decode(None)
    big = encode(b"x" * 1000)
    assert decode(big, max_bytes=len(big)) == b"x" * 1000
    with pytest.raises(EncodingError, match="exceeds"):
        decode(big, max_bytes=len(big) - 1)


def test_encoding_error_is_a_value_error():
    assert issubclass(EncodingError, ValueError)

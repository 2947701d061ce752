"""Hypothesis: the canonical encoding round-trips, and every byte string has at most one meaning."""

from __future__ import annotations

import struct

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from provchain.chain.encoding import EncodingError, decode, encode

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1

leaves = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, UINT64_MAX)
    | st.integers(-300, 70_000)  # dense around the fixint/int8/uint8/uint16 boundaries
    | st.binary(max_size=300)    # past 255: bin16
    | st.text(max_size=40)       # multi-byte characters push some past 31 bytes: str8
)
values = st.recursive(leaves | st.lists(st.integers(0, 200), min_size=15, max_size=17),  # 16+ items: array16
                      lambda inner: st.lists(inner, max_size=5), max_leaves=20)


def strict_equal(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    return a == b


def only_canonical_types(v) -> bool:
    if isinstance(v, list):
        return all(only_canonical_types(x) for x in v)
    return v is None or type(v) in (bool, int, bytes, str)


@SETTINGS
@given(values)
def test_round_trip(value):
    data = encode(value)
    back = decode(data)
    assert strict_equal(back, value)
    assert encode(back) == data


@SETTINGS
@given(values, values)
def test_encoding_is_injective(a, b):
    if strict_equal(a, b):
        assert encode(a) == encode(b)
    else:
        assert encode(a) != encode(b)


@SETTINGS
@given(st.binary(max_size=64))
def test_arbitrary_bytes_fail_or_are_canonical(data):
    try:
        value = decode(data)
    except EncodingError:
        return
    assert only_canonical_types(value)
    assert encode(value) == data


@st.composite
def mutated_encodings(draw):
    data = bytearray(encode(draw(values)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        pos = draw(st.integers(0, len(data)))
        if op == "insert":
            data.insert(pos, draw(st.integers(0, 255)))
        elif data and pos < len(data):
            if op == "flip":
                data[pos] ^= 1 << draw(st.integers(0, 7))
            elif op == "set":
                data[pos] = draw(st.integers(0, 255))
            else:
                del data[pos]
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_encodings())
def test_mutated_encodings_fail_or_are_canonical(data):
    try:
        value = decode(data)
    except EncodingError:
        return
    assert only_canonical_types(value)
    assert encode(value) == data


# --- floats and maps anywhere are refused ---------------------------------------------------------------

@st.composite
def with_forbidden(draw, forbidden):
    """A nested list with one forbidden value (float or map) planted at a random depth."""
    bad = draw(forbidden)
    inner = bad
    for _ in range(draw(st.integers(0, 4))):
        siblings = draw(st.lists(leaves, max_size=3))
        pos = draw(st.integers(0, len(siblings)))
        inner = siblings[:pos] + [inner] + siblings[pos:]
    return inner


floats = st.floats(allow_nan=True, allow_infinity=True, width=32)  # packable as float32 and float64
maps = st.dictionaries(st.text(max_size=4) | st.integers(0, 9), leaves, max_size=3)


@SETTINGS
@given(with_forbidden(floats))
def test_floats_rejected_anywhere(value):
    with pytest.raises(EncodingError):
        encode(value)
    for single in (True, False):
        with pytest.raises(EncodingError):
            decode(msgpack.packb(value, use_bin_type=True, use_single_float=single))


@SETTINGS
@given(with_forbidden(maps))
def test_maps_rejected_anywhere(value):
    with pytest.raises(EncodingError):
        encode(value)
    with pytest.raises(EncodingError):
        decode(msgpack.packb(value, use_bin_type=True))


# --- non-minimal forms ----------------------------------------------------------------------------------

INT_FORMS = [  # (type byte, struct format, lo, hi)
    (0xCC, ">B", 0, 2**8 - 1), (0xCD, ">H", 0, 2**16 - 1), (0xCE, ">I", 0, 2**32 - 1),
    (0xCF, ">Q", 0, 2**64 - 1), (0xD0, ">b", -(2**7), 2**7 - 1), (0xD1, ">h", -(2**15), 2**15 - 1),
    (0xD2, ">i", -(2**31), 2**31 - 1), (0xD3, ">q", -(2**63), 2**63 - 1),
]


def all_int_forms(x: int) -> list[bytes]:
    forms = []
    if 0 <= x <= 0x7F or -32 <= x < 0:
        forms.append(struct.pack(">b", x) if x < 0 else bytes([x]))
    for tag, fmt, lo, hi in INT_FORMS:
        if lo <= x <= hi:
            forms.append(bytes([tag]) + struct.pack(fmt, x))
    return forms


@SETTINGS
@given(st.integers(INT64_MIN, UINT64_MAX) | st.integers(-40, 300), st.booleans())
def test_exactly_one_int_form_is_accepted(x, wrapped):
    canonical = encode(x)
    forms = all_int_forms(x)
    assert forms.count(canonical) == 1
    for form in forms:
        data = b"\x91" + form if wrapped else form  # also inside a one-element list
        if form == canonical:
            assert decode(data) == ([x] if wrapped else x)
        else:
            # valid msgpack for the same number, but not the shortest form
            assert msgpack.unpackb(data) == ([x] if wrapped else x)
            with pytest.raises(EncodingError):
                decode(data)


def _length_forms(kind: str, n: int) -> list[bytes]:
    """Every msgpack header that can carry a str/bin/array of length n."""
    if kind == "str":
        small, tags = (bytes([0xA0 | n]) if n < 32 else None), [(0xD9, ">B"), (0xDA, ">H"), (0xDB, ">I")]
    elif kind == "bin":
        small, tags = None, [(0xC4, ">B"), (0xC5, ">H"), (0xC6, ">I")]
    else:
        small, tags = (bytes([0x90 | n]) if n < 16 else None), [(0xDC, ">H"), (0xDD, ">I")]
    out = [small] if small is not None else []
    for tag, fmt in tags:
        if n < 2 ** (8 * struct.calcsize(fmt)):
            out.append(bytes([tag]) + struct.pack(fmt, n))
    return out


@SETTINGS
@given(st.one_of(st.text(max_size=40).map(lambda s: ("str", s)),
                 st.binary(max_size=300).map(lambda b: ("bin", b)),
                 st.lists(st.integers(0, 127), max_size=20).map(lambda xs: ("array", xs))))
def test_exactly_one_length_header_is_accepted(kind_value):
    kind, value = kind_value
    if kind == "str":
        body, n = value.encode(), len(value.encode())
    elif kind == "bin":
        body, n = value, len(value)
    else:
        body, n = bytes(value), len(value)  # items are positive fixints: one byte each
    canonical = encode(value)
    accepted = []
    for header in _length_forms(kind, n):
        try:
            got = decode(header + body)
        except EncodingError:
            continue
        accepted.append(header + body)
        assert strict_equal(got, value)
    assert accepted == [canonical]


@SETTINGS
@given(values, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_rejected(value, tail):
    with pytest.raises(EncodingError):
        decode(encode(value) + tail)


@SETTINGS
@given(values)
def test_every_strict_prefix_rejected(value):
    data = encode(value)
    assume(len(data) <= 200)
    for cut in range(len(data)):
        with pytest.raises(EncodingError):
            decode(data[:cut])

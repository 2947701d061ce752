"""Properties of match() on synthetic fingerprints (random 256-bit sample hashes, noise added)."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from provchain.provenance.fingerprint import ALG, Fingerprint
from provchain.provenance.match import match

P = 200
SET = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fp(codes: np.ndarray, t0: int = 0) -> Fingerprint:
    return Fingerprint(ALG, tuple(t0 + P * i for i in range(len(codes))),
                       tuple(c.tobytes() + bytes([128, 200]) for c in codes))


def noisy(rng: np.random.Generator, codes: np.ndarray, max_bits: int) -> np.ndarray:
    bits = np.unpackbits(codes.view(np.uint8).reshape(len(codes), -1), axis=1)
    for row in bits:
        k = int(rng.integers(0, max_bits + 1))
        row[rng.choice(256, k, replace=False)] ^= 1
    return np.packbits(bits, axis=1).view(np.uint64)


def rand_codes(rng, n):
    return rng.integers(0, 2**64, (n, 4), dtype=np.uint64)


@SET
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(15, 60), start=st.integers(0, 40),
       length=st.integers(5, 40), noise=st.integers(0, 24))
def test_excerpt_matches_at_its_offset(seed, n, start, length, noise):
    rng = np.random.default_rng(seed)
    rec = rand_codes(rng, n)
    start = min(start, n - 5)
    length = min(length, n - start)
    q = fp(noisy(rng, rec[start : start + length], noise))
    others = {f"o{i}": fp(rand_codes(rng, n)) for i in range(3)}
    r = match(q, {"rec": fp(rec), **others})
    assert r.verdict == "match"
    assert [m.record_id for m in r.matches] == ["rec"]
    for s in r.matches[0].segments:
        assert s.record_start_ms - s.query_start_ms == start * P


@SET
@given(seed=st.integers(0, 2**32 - 1), na=st.integers(10, 30), nb=st.integers(15, 30),
       noise=st.integers(0, 20))
@example(seed=18, na=17, nb=28, noise=5)  # the window across the cut tilts b's line to 0.96x
def test_concatenation_of_two_records_is_altered_with_both(seed, na, nb, noise):
    # a record is named when it explains MIN_WINDOWS whole 5-sample windows; the tail part b starts
    # anywhere on the window grid, so it needs 15 samples to always cover two whole windows (with 10,
    # seed=1 na=27 nb=10 noise=15 leaves b one window and b unnamed: by design, not a bug)
    rng = np.random.default_rng(seed)
    a, b = rand_codes(rng, 40), rand_codes(rng, 40)
    q = fp(noisy(rng, np.concatenate([a[:na], b[40 - nb :]]), noise))
    r = match(q, {"a": fp(a), "b": fp(b)})
    assert r.verdict == "altered"
    assert {m.record_id for m in r.matches} == {"a", "b"}
    ma = next(m for m in r.matches if m.record_id == "a")
    mb = next(m for m in r.matches if m.record_id == "b")
    assert ma.segments[0].query_start_ms == 0 and ma.segments[0].record_start_ms == 0
    # b's part starts within a window of the cut and is aligned to b's timeline.  The window that
    # straddles the cut can tilt b's best line by a few per cent (speed lines are searched from
    # 0.74x to 1.35x); a segment whose close pairs agree on slope 1 is reported on it (exact in
    # 299 of 300 random cases, the pinned example among them), else within one sample period
    sb = mb.segments[0]
    shift = (40 - nb - na) * P
    assert abs(sb.record_start_ms - (sb.query_start_ms + shift)) <= P
    assert abs(sb.record_end_ms - (sb.query_end_ms + shift)) <= P
    assert abs(sb.query_start_ms - na * P) <= 5 * P  # segments have window (1 s) resolution
    assert 0.0 <= ma.similarity <= 1.0 and 0.0 <= mb.similarity <= 1.0


@SET
@given(seed=st.integers(0, 2**32 - 1), shift=st.integers(0, 10_000), qshift=st.integers(0, 10_000),
       start=st.integers(0, 20))
def test_shifting_timestamps_shifts_segments(seed, shift, qshift, start):
    rng = np.random.default_rng(seed)
    rec = rand_codes(rng, 40)
    q = noisy(rng, rec[start : start + 15], 10)
    base = match(fp(q), {"r": fp(rec)})
    moved = match(fp(q, qshift), {"r": fp(rec, shift)})
    assert base.verdict == moved.verdict == "match"
    for s0, s1 in zip(base.matches[0].segments, moved.matches[0].segments):
        assert s1.query_start_ms - s0.query_start_ms == qshift
        assert s1.query_end_ms - s0.query_end_ms == qshift
        assert s1.record_start_ms - s0.record_start_ms == shift
    assert base.matches[0].similarity == moved.matches[0].similarity


@SET
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 50), k=st.integers(1, 8))
def test_random_query_is_unregistered(seed, n, k):
    rng = np.random.default_rng(seed)
    recs = {f"r{i}": fp(rand_codes(rng, 40)) for i in range(k)}
    assert match(fp(rand_codes(rng, n)), recs).verdict == "unregistered"


@SET
@given(seed=st.integers(0, 2**32 - 1), cut=st.integers(10, 30), ins=st.integers(5, 15))
def test_inserted_foreign_footage_is_altered(seed, cut, ins):
    rng = np.random.default_rng(seed)
    a = rand_codes(rng, 40)
    q = np.concatenate([a[:cut], rand_codes(rng, ins), a[cut:]])
    r = match(fp(q), {"a": fp(a)})
    assert r.verdict == "altered"
    m = r.matches[0]
    assert m.record_id == "a" and m.altered_segments
    # the unexplained range covers the inserted part's middle
    mid = (cut + ins / 2) * P
    assert any(a.query_start_ms <= mid <= a.query_end_ms and a.region is None for a in m.altered_segments)

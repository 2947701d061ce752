"""Fingerprint: API shape, canonical form, bad input, remux invariance.  Small clips only."""
from __future__ import annotations

import os

import numpy as np
import pytest

from provchain.provenance.fingerprint import (
    ALG,
    HASH_BYTES,
    MAX_SAMPLES,
    QUERY_PERIOD_MS,
    SAMPLE_PERIOD_MS,
    THUMB_BYTES,
    VARIANT_ENTRY,
    ClipAnalysis,
    Fingerprint,
    FingerprintError,
    analyze_file,
    analyze_frames,
)
from tests.corpus import Scene, make_source, remux, transform, write_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("fpclips"))
    src = make_source(d, "a", "natural", 11, width=160, height=96, seconds=3.0)
    return d, src


def test_analyze_file_shape(clips):
    d, src = clips
    a = analyze_file(src)
    assert isinstance(a, ClipAnalysis)
    assert len(a.file_sha256) == 32 and len(a.frames_sha256) == 32
    f = a.facts
    assert (f.width, f.height, f.fps_milli, f.codec) == (160, 96, 30000, "h264")
    assert 2900 <= f.duration_ms <= 3100
    fp = a.fingerprint
    assert fp.alg == ALG
    assert fp.times_ms == tuple(range(0, 3000, QUERY_PERIOD_MS))  # analysis: the dense grid
    assert fp.record_form().times_ms == tuple(range(0, 3000, SAMPLE_PERIOD_MS))  # record: the 200 ms grid
    assert all(len(h) == HASH_BYTES for h in fp.hashes)
    n = len(fp.times_ms)
    assert fp.thumb_step == 1 and all(len(t) == THUMB_BYTES for t in fp.thumbs) and len(fp.thumbs) == n
    # mirror + 3 centred crops at least; every variant: one hash entry and one thumbnail per sample
    assert len(fp.variants) >= 4 and fp.variants[0].mirror and fp.variants[0].rect == (0.0, 0.0, 1.0, 1.0)
    assert all(len(v.hashes) == n * VARIANT_ENTRY and len(v.thumbs) == n * THUMB_BYTES for v in fp.variants)


def test_remux_same_frames_hash_and_fingerprint(clips):
    d, src = clips
    a = analyze_file(src)
    b = analyze_file(remux(src, os.path.join(d, "a.mkv")))
    assert a.file_sha256 != b.file_sha256
    assert a.frames_sha256 == b.frames_sha256
    assert a.fingerprint == b.fingerprint
    assert b.facts.container == "matroska"


def test_reencode_changes_frames_hash(clips):
    d, src = clips
    b = analyze_file(transform(src, os.path.join(d, "re.mp4"), "reencode", crf=35))
    assert analyze_file(src).frames_sha256 != b.frames_sha256


def test_to_obj_roundtrip_and_types(clips):
    _, src = clips
    fp = analyze_file(src).fingerprint
    obj = fp.to_obj()

    def check(x):
        assert not isinstance(x, (float, dict))
        if isinstance(x, list):
            for y in x:
                check(y)
        else:
            assert isinstance(x, (int, str, bytes))

    check(obj)
    back = Fingerprint.from_obj(obj)  # variants travel without their thumbnails
    assert back.hashes == fp.hashes and back.thumbs == fp.thumbs
    assert [(v.rect, v.mirror, v.crop, v.hashes) for v in back.variants] == \
        [(v.rect, v.mirror, v.crop, v.hashes) for v in fp.variants]
    rec = fp.record_form()
    assert len(rec.to_obj()) == 5 and rec.variants == () and rec.thumb_step == 2
    assert rec.thumbs == fp.thumbs[::10]  # every 2nd sample of the 200 ms grid = every 10th at 40 ms
    assert rec.record_form() is rec
    wire = fp.wire_form()
    assert wire.thumbs == () and len(wire.variants) == len(fp.variants)
    assert Fingerprint.from_obj(wire.to_obj()) == wire
    assert Fingerprint.from_obj(rec.to_obj()) == rec


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda o: "x", "must be a list"),
        (lambda o: ["pcv0", *o[1:]], "unsupported"),
        (lambda o: [o[0], [], b"", 2, b""], "no samples"),
        (lambda o: [o[0], o[1], o[2][:-1], *o[3:]], "bytes, expected"),
        (lambda o: [o[0], list(reversed(o[1])), *o[2:]], "strictly increasing"),
        (lambda o: [o[0], [o[1][0]] + [1.5] + o[1][2:], *o[2:]], "ints"),
        (lambda o: [o[0], [True] + o[1][1:], *o[2:]], "ints"),
        (lambda o: [o[0], [-1] + o[1][1:], *o[2:]], "out of range"),
        (lambda o: [o[0], o[1], "str", *o[3:]], "must be bytes"),
        (lambda o: [*o[:4], o[4][:-1]], "thumbnails are"),
        (lambda o: [*o[:3], -1, o[4]], "thumb_step"),
        (lambda o: [*o[:3], 0, o[4]], "thumbnails are"),
        (lambda o: [*o, [[[0, 0, 10000, 10000], 1, 10000, b"\0"]]], "variants are"),
        (lambda o: [*o, [[[0, 0, 10001, 10000], 1, 10000, b""]]], "rect"),
        (lambda o: [*o, [[[0, 0, 10000, 10000], 2, 10000, b""]]], "mirror"),
        (lambda o: [*o, [[[0, 0, 10000, 10000], 0, 10000, b""]] * 25], "at most"),
        (lambda o: [o[0], list(range(MAX_SAMPLES + 1)), b"\0" * HASH_BYTES * (MAX_SAMPLES + 1), 2, b""], "maximum"),
    ],
)
def test_from_obj_rejects(clips, mutate, reason):
    _, src = clips
    obj = analyze_file(src).fingerprint.record_form().to_obj()
    with pytest.raises(ValueError, match=reason):
        Fingerprint.from_obj(mutate(obj))


def test_analyze_frames_agrees_with_file(tmp_path):
    sc = Scene("striped", 5, 160, 96)
    frames = list(sc.frames(2.0, 30))
    path = write_video(str(tmp_path / "s.mp4"), frames, fps=30, crf=12)
    a = analyze_frames(frames, 30.0)
    b = analyze_file(path).fingerprint
    assert a.times_ms == b.times_ms
    da = a.dct_array()
    db = b.dct_array()
    dist = np.bitwise_count(da ^ db).sum(-1)
    assert np.median(dist) <= 12, dist


def _bad(tmp_path, name, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def _assert_one_line(e: pytest.ExceptionInfo, *words):
    msg = str(e.value)
    assert "\n" not in msg and msg
    assert any(w in msg for w in words), msg


def test_bad_inputs(tmp_path, clips):
    d, src = clips
    with pytest.raises(FingerprintError) as e:
        analyze_file(str(tmp_path / "missing.mp4"))
    _assert_one_line(e, "no such file")
    with pytest.raises(FingerprintError) as e:
        analyze_file(str(tmp_path))
    _assert_one_line(e, "directory")
    with pytest.raises(FingerprintError) as e:
        analyze_file(_bad(tmp_path, "zero.mp4", b""))
    _assert_one_line(e, "empty")
    with pytest.raises(FingerprintError) as e:
        analyze_file(_bad(tmp_path, "rand.mp4", os.urandom(50_000)))
    _assert_one_line(e, "not a video", "cannot decode", "not a readable")
    data = open(src, "rb").read()
    with pytest.raises(FingerprintError) as e:
        analyze_file(_bad(tmp_path, "half.mp4", data[: len(data) // 2]))
    _assert_one_line(e, "truncated", "not a video", "cannot decode", "corrupt")


def test_truncated_faststart_mkv(tmp_path, clips):
    # mkv has its index up front: cutting it leaves decodable frames -> a clear "truncated" error
    d, src = clips
    mkv = remux(src, str(tmp_path / "t.mkv"))
    data = open(mkv, "rb").read()
    with pytest.raises(FingerprintError) as e:
        analyze_file(_bad(tmp_path, "cut.mkv", data[: len(data) // 2]))
    _assert_one_line(e, "truncated", "corrupt", "cannot decode")


def test_audio_only(tmp_path):
    import av

    p = str(tmp_path / "a.m4a")
    with av.open(p, "w") as c:
        st = c.add_stream("aac", rate=44100)
        samples = np.zeros((1, 1024), np.float32)
        for i in range(50):
            f = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            f.sample_rate = 44100
            f.pts = i * 1024
            for pk in st.encode(f):
                c.mux(pk)
        for pk in st.encode():
            c.mux(pk)
    with pytest.raises(FingerprintError) as e:
        analyze_file(p)
    _assert_one_line(e, "audio-only")


def test_too_long_checked_before_decoding(clips):
    _, src = clips
    with pytest.raises(FingerprintError) as e:
        analyze_file(src, max_duration_s=1)
    _assert_one_line(e, "longer than")


def test_frame_rate_change_keeps_grid(clips, tmp_path):
    _, src = clips
    b = analyze_file(transform(src, str(tmp_path / "f24.mp4"), "fps24")).fingerprint
    assert b.times_ms == tuple(range(0, 3000, QUERY_PERIOD_MS))


def test_longest_record_fits_a_default_tx():
    """A 900 s clip's record form (hashes every 200 ms + thinned thumbnails) stays under the 200 kB
    default max_tx_bytes, with room for the rest of the record."""
    from provchain.chain.encoding import encode
    from provchain.provenance.fingerprint import THUMB_BYTES, thumb_every

    n = 900 * 1000 // SAMPLE_PERIOD_MS + 1
    k = thumb_every(n)
    fp = Fingerprint(ALG, tuple(range(0, n * SAMPLE_PERIOD_MS, SAMPLE_PERIOD_MS)), (b"\x01" * HASH_BYTES,) * n,
                     k, (b"\x02" * THUMB_BYTES,) * ((n + k - 1) // k))
    assert Fingerprint.from_obj(fp.to_obj()) == fp
    assert len(encode(fp.to_obj())) < 195_000
    assert thumb_every(40) == 2  # an 8 s clip keeps a thumbnail every 400 ms


def test_edge_rects_finds_a_framed_window_behind_larger_unframed_candidates():
    """The largest candidate rectangle (two long-ish lines elsewhere) is not framed on all four
    sides; the window framed on all four must still be found (a `break` on the first unframed
    candidate once returned nothing: a real screen recording over a moving desktop)."""
    from provchain.provenance.fingerprint import _edge_rects

    H, W = 144, 256
    ex = np.zeros((H, W - 1), bool)  # edge between columns x and x+1
    ey = np.zeros((H - 1, W), bool)  # edge between rows y and y+1
    ex[20:110, 49] = ex[20:110, 199] = True  # the window: x in [50, 200), y in [20, 110)
    ey[19, 50:200] = ey[109, 50:200] = True
    ex[0:40, 9] = ex[0:40, 239] = True  # short lines far out: larger candidates, not framed
    ey[4, 0:60] = ey[130, 200:256] = True
    assert (50, 20, 200, 110) in _edge_rects(ex, ey)

"""Pure pieces of the explorer and its helpers: late vs absent validators, container names, mono hashes."""
from __future__ import annotations

import av
import numpy as np
import pytest

from provchain.explorer import html as H
from provchain.explorer.chain import missed_kinds
from provchain.provenance.media import container_name


def test_late_votes_are_told_from_absent_validators():
    heights = range(1, 11)
    signers = {h: {"A", "B", "C"} for h in heights}
    for h in (3, 6):
        signers[h] = {"A", "B"}  # C's vote missed the quorum twice but C kept voting: late
    for h in range(1, 11):
        signers[h] = signers[h] - {"D"}  # D never signed: absent
    signers[8] = signers[8] | {"D"}  # ... except once, so heights 6..10 around 8 are late for D
    assert missed_kinds(heights, signers, "A") == (0, 0)
    assert missed_kinds(heights, signers, "C") == (2, 0)
    late, absent = missed_kinds(heights, signers, "D")
    assert late + absent == 9 and late == 4 and absent == 5  # 6, 7, 9, 10 are within 2 of height 8
    del signers[5]  # a commit the node could not serve counts as neither
    assert sum(missed_kinds(heights, signers, "D")) == 8


@pytest.mark.parametrize("fmt, want", [("mp4", "mp4"), ("mov", "mov"), ("matroska", "matroska")])
def test_container_names(tmp_path, fmt, want):
    path = tmp_path / f"clip.{'mkv' if fmt == 'matroska' else fmt}"
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("libx264", rate=8)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 * i, np.uint8), format="rgb24")
            for pkt in s.encode(frame):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    with av.open(str(path)) as c:
        names = c.format.name
    assert container_name(names, str(path)) == want


def test_long_hashes_carry_an_abbreviation_for_phones():
    h = "AB" * 32
    out = H.mono(h)
    assert 'class="hash long"' in out and f'title="{h}"' in out and H.short(h, 10) in out
    assert H.mono("ABCDEF") == '<code class="hash">ABCDEF</code>'

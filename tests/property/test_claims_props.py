"""Properties of verify.judge over proven candidates (synthetic fingerprints): whatever order the node
lists them in and however the copies were registered, the earliest registration is the origin."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provchain.provenance.verify import judge
from tests.unit.test_verify_claims import noisy, proven, query, rid

SET = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SET
@given(seed=st.integers(0, 2**32 - 1), slots=st.lists(st.tuples(st.integers(1, 50), st.integers(0, 3)),
                                                      min_size=1, max_size=5, unique=True),
       order=st.randoms(use_true_random=False))
def test_the_earliest_registration_of_the_same_content_is_the_origin(seed, slots, order):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**64, (30, 4), dtype=np.uint64)
    recs = [proven(i + 1, noisy(rng, base, 8), height=h, index=x, creator=i + 1) for i, (h, x) in enumerate(slots)]
    unrelated = proven(99, rng.integers(0, 2**64, (30, 4), dtype=np.uint64), height=1)
    offered = recs + [unrelated]
    order.shuffle(offered)
    j = judge(query(noisy(rng, base, 8)), offered)
    first = min(range(len(slots)), key=lambda i: slots[i])
    assert j["verdict"] == "match"
    assert j["verdict_record_id"] == j["origin_record_id"] == rid(first + 1)
    got = [m["record_id"] for m in j["matches"]]
    assert got == [rid(i + 1) for i in sorted(range(len(slots)), key=lambda i: slots[i])]  # earliest first
    assert [m["claim"] for m in j["matches"]] == ["origin"] + ["later"] * (len(slots) - 1)
    assert all(m["origin_record_id"] == rid(first + 1) for m in j["matches"])


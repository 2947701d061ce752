"""verify's judgement over proven candidates: who is the origin, who a later claim, what an unproven
candidate may show, and the minimum evidence before `match` (synthetic fingerprints, no node)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from provchain.chain.light import Check
from provchain.provenance.fingerprint import ALG, Fingerprint
from provchain.provenance.lightclient import ProvenRecord
from provchain.provenance.match import MIN_EVIDENCE_SAMPLES, evidence_shortfall, match
from provchain.provenance.record import MediaInfo, RegisterClip
from provchain.provenance.verify import human_line, judge

P = 200


def fp(codes: np.ndarray) -> Fingerprint:
    return Fingerprint(ALG, tuple(P * i for i in range(len(codes))), tuple(c.tobytes() + bytes([128, 200]) for c in codes))


def noisy(rng, codes, bits=12):
    b = np.unpackbits(codes.view(np.uint8).reshape(len(codes), -1), axis=1)
    for row in b:
        row[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(b, axis=1).view(np.uint64)


def proven(n: int, codes, height: int, index: int = 0, creator: int = 1, ok=True, parents=()) -> ProvenRecord:
    rec = RegisterClip(bytes([n]) * 32, bytes([n + 100]) * 32, fp(codes), MediaInfo(P * len(codes), 5000, 64, 64,
                       "h264", "mp4"), 0, None, tuple(parents))
    return ProvenRecord(bytes([n]) * 32, [Check("merkle_inclusion", ok, "")], rec, bytes([creator]) * 32, height,
                        index, 1_700_000_000_000 + 1000 * height)


def query(codes, sha=b"\xee" * 32):
    return SimpleNamespace(file_sha256=sha, fingerprint=fp(codes))


def rid(n):
    return (bytes([n]) * 32).hex().upper()


rng = np.random.default_rng(5)
A = rng.integers(0, 2**64, (40, 4), dtype=np.uint64)
B = rng.integers(0, 2**64, (40, 4), dtype=np.uint64)


def test_a_re_registered_copy_is_a_later_claim_of_the_first_registrant():
    first = proven(1, A, height=5, creator=1)
    again = proven(2, noisy(rng, A), height=9, creator=2)  # someone re-registered a re-encode
    j = judge(query(noisy(rng, A)), [again, first])  # the node's order does not matter
    assert j["verdict"] == "match"
    assert [m["record_id"] for m in j["matches"]] == [rid(1), rid(2)]  # earliest first
    assert [m["claim"] for m in j["matches"]] == ["origin", "later"]
    assert [m["origin_record_id"] for m in j["matches"]] == [rid(1), rid(1)]
    assert j["verdict_record_id"] == rid(1) == j["origin_record_id"]


def test_the_byte_identical_later_record_is_verified_but_names_the_origin():
    first = proven(1, A, height=5, creator=1)
    again = proven(2, noisy(rng, A), height=9, creator=2)
    j = judge(query(again.record.fingerprint.dct_array(), sha=again.record.file_sha256), [first, again])
    assert j["verdict"] == "verified" and j["verdict_record_id"] == rid(2) and j["origin_record_id"] == rid(1)
    res = {"file": "x.mp4", **j}
    line = human_line(res)
    assert "a later claim: first registered at height 5 by creator 0101" in line, line


def test_same_block_order_is_the_tx_index():
    a = proven(1, A, height=5, index=3)
    b = proven(2, noisy(rng, A), height=5, index=1)
    j = judge(query(noisy(rng, A)), [a, b])
    assert [(m["record_id"], m["claim"]) for m in j["matches"]] == [(rid(2), "origin"), (rid(1), "later")]


def test_a_derivative_with_new_footage_is_its_own_origin_and_names_its_parent():
    first = proven(1, A, height=5)
    deriv_codes = np.concatenate([A[:20], B[:20]])  # half of A, then new footage
    deriv = proven(2, deriv_codes, height=9, creator=2, parents=[bytes([1]) * 32])
    j = judge(query(noisy(rng, deriv_codes)), [first, deriv])
    assert j["verdict"] == "match" and j["verdict_record_id"] == rid(2) == j["origin_record_id"]
    by = {m["record_id"]: m for m in j["matches"]}
    assert by[rid(1)]["claim"] == by[rid(2)]["claim"] == "origin"
    assert by[rid(2)]["parents"] == [rid(1)]


def test_a_splice_of_two_origins_with_a_later_claim_is_altered():
    a, b = proven(1, A, height=5), proven(2, B, height=6)
    a2 = proven(3, noisy(rng, A), height=7, creator=3)
    j = judge(query(noisy(rng, np.concatenate([A[:20], B[20:]]))), [a, b, a2])
    assert j["verdict"] == "altered" and j["verdict_record_id"] is None
    assert [(m["record_id"], m["claim"]) for m in j["matches"]] == [(rid(1), "origin"), (rid(2), "origin"),
                                                                    (rid(3), "later")]


def test_an_unproven_candidate_shows_its_facts_only_as_unproven_claims():
    liar = proven(1, A, height=5, ok=False)
    j = judge(query(noisy(rng, A)), [liar])
    assert j["verdict"] == "invalid"
    m = j["matches"][0]
    assert m["creator"] is m["height"] is m["block_time"] is m["content_sha256"] is None
    assert m["unproven"]["height"] == 5 and m["unproven"]["creator"] == (bytes([1]) * 32).hex().upper()
    line = human_line({"file": "x.mp4", **j})
    assert "not proven" in line and "INVALID" in line


def test_too_little_video_is_never_a_match():
    one = fp(A[:1])
    assert evidence_shortfall(one) and "1 sample" in evidence_shortfall(one)
    assert match(one, {"a": fp(A)}).verdict == "unregistered"
    j = judge(query(A[:MIN_EVIDENCE_SAMPLES - 1]), [proven(1, A, height=5)])
    assert j["verdict"] == "unregistered"
    assert evidence_shortfall(fp(A[:MIN_EVIDENCE_SAMPLES])) is None
    assert judge(query(A[10:10 + MIN_EVIDENCE_SAMPLES]), [proven(1, A, height=5)])["verdict"] == "match"


def test_register_asks_for_a_parent_or_force_only_when_someone_else_registered_first():
    from provchain.provenance.register import PriorClaim, check_claims
    me, other = "AA" * 32, "BB" * 32
    theirs = PriorClaim("01" * 32, other, 5, "t", "match", 0.9)
    mine_later = PriorClaim("02" * 32, me, 9, "t", "match", 0.9)
    assert check_claims([], me, [], False) is None
    why = check_claims([theirs, mine_later], me, [], False)
    assert why and f"--parent {'01' * 32}" in why and "first registered at height 5" in why
    assert check_claims([theirs], me, ["01" * 32], False) is None  # a declared derivative
    assert check_claims([theirs], me, [], True) is None  # forced: a later claim
    assert check_claims([PriorClaim("02" * 32, me, 3, "t", "match", 0.9), theirs], me, [], False) is None
    same = PriorClaim("01" * 32, other, 5, "t", "same content", 1.0)
    assert "one record per content" in check_claims([same], me, ["01" * 32], True)
    assert check_claims([PriorClaim("01" * 32, me, 5, "t", "same content", 1.0)], me, [], False) is None


def test_one_origin_with_foreign_footage_is_altered_and_its_later_claim_listed():
    a, a2 = proven(1, A, height=5), proven(3, noisy(rng, A), height=7, creator=3)
    foreign = rng.integers(0, 2**64, (20, 4), dtype=np.uint64)
    j = judge(query(noisy(rng, np.concatenate([A[:20], foreign]))), [a2, a])
    assert j["verdict"] == "altered" and j["verdict_record_id"] is None
    assert [(m["record_id"], m["claim"]) for m in j["matches"]] == [(rid(1), "origin"), (rid(3), "later")]
    assert j["matches"][0]["altered_segments"] and j["matches"][0]["segments"]


def test_the_human_line_says_where_a_local_edit_is():
    res = {"file": "x.mp4", "verdict": "altered", "verdict_record_id": None, "origin_record_id": None,
           "matches": [{"record_id": rid(1), "creator": rid(2), "height": 5, "block_time": "t", "claim": "origin",
                        "origin_record_id": rid(1), "similarity": 0.6, "parents": [],
                        "segments": [{"query_start_s": 0.0, "query_end_s": 4.0, "record_start_s": 0.0,
                                      "record_end_s": 4.0}],
                        "altered_segments": [{"query_start_s": 1.0, "query_end_s": 2.5,
                                              "region": {"x": 0.55, "y": 0.2, "w": 0.25, "h": 0.3}}]}]}
    line = human_line(res)
    assert "ALTERED" in line and "1.0-2.5s in the region at 55%, 20% of the frame (25% x 30% of it)" in line, line

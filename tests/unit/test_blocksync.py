"""Block sync bookkeeping: pipelined requests spread over the peers that have the blocks, bounded per peer
and in a window, retried elsewhere, fetched blocks handed out in height order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from provchain.consensus.blocksync import BlockSync


def test_requests_fill_the_window_spread_over_peers_within_their_heights():
    bs = BlockSync(window=10, per_peer=4)
    heights = {"a": 100, "b": 100, "c": 100}
    reqs = bs.requests(5, heights, now=0.0)
    assert sorted(h for _, h in reqs) == list(range(5, 15))
    assert all(sum(1 for q, _ in reqs if q == p) <= 4 for p in heights)  # spread: no peer gets them all
    assert bs.requests(5, heights, now=0.5) == []  # all outstanding
    bs2 = BlockSync(window=10, per_peer=4)
    reqs = bs2.requests(5, {"a": 100, "c": 7}, now=0.0)
    assert all(h <= 7 for p, h in reqs if p == "c")  # c only has blocks up to 7


def test_nothing_is_asked_beyond_what_peers_have():
    bs = BlockSync(window=50)
    assert [h for _, h in bs.requests(10, {"a": 12}, 0.0)] == [10, 11, 12]
    assert bs.requests(13, {"a": 12}, 0.0) == []


def test_unanswered_requests_go_to_another_peer_after_the_retry_time():
    bs = BlockSync(window=1, retry_s=1.0)
    ((p1, h),) = bs.requests(1, {"a": 5, "b": 5}, 0.0)
    assert bs.requests(1, {"a": 5, "b": 5}, 0.9) == []
    ((p2, h2),) = bs.requests(1, {"a": 5, "b": 5}, 1.0)
    assert h2 == h == 1 and p2 != p1


def test_one_block_behind_is_one_request_retried_elsewhere_until_answered():
    """The common case (a peer decided our height first) takes the same path: one request, no duplicate
    while it is outstanding, another peer after the retry time, nothing once the block came."""
    bs = BlockSync(retry_s=1.0)
    peers = {"a": 7, "b": 7, "c": 6}  # c has not decided 7 either
    ((p1, h1),) = bs.requests(7, peers, 0.0)
    assert h1 == 7 and p1 in ("a", "b")
    assert bs.requests(7, peers, 0.5) == []
    ((p2, h2),) = bs.requests(7, peers, 1.0)
    assert h2 == 7 and p2 in ("a", "b") and p2 != p1
    bs.handed_over(p2, 7, 1.1)  # the block came and goes to consensus
    assert bs.requests(7, peers, 1.5) == []  # not asked again while it is being committed
    assert bs.requests(8, {**peers, "a": 8}, 1.6) == [("a", 8)]


def test_a_block_handed_to_consensus_is_not_asked_for_again_while_it_is_committed():
    """A fetched block taken at its height and checked must not look unasked (it was asked for again at
    every new height, so every block was downloaded twice); one that failed the checks is asked again."""
    bs = BlockSync(window=4, retry_s=1.0)
    peers = {"a": 20, "b": 20}
    for p, h in bs.requests(1, peers, 0.0):
        if h > 1:
            assert bs.fetched_block(p, h, f"B{h}", f"C{h}", 10, next_height=1)
    sender = bs.take(2)[0]
    bs.handed_over(sender, 2, 0.5)
    assert [h for _, h in bs.requests(2, peers, 0.5)] == [5]  # only the height that entered the window
    assert bs.take(6) is None and 5 in bs.asked  # not fetched yet: still outstanding
    bs.take(3)  # and failed the checks: not handed over
    assert [h for _, h in bs.requests(3, peers, 0.6)] == [3, 6]


def test_a_request_that_timed_out_goes_to_another_peer():
    bs = BlockSync(window=30, per_peer=30, retry_s=1.0)
    peers = {"a": 100, "b": 100, "c": 100}
    first = dict((h, p) for p, h in bs.requests(1, peers, 0.0))
    again = dict((h, p) for p, h in bs.requests(1, peers, 1.0))
    assert set(again) == set(first) and all(again[h] != first[h] for h in first)


def test_fetched_blocks_wait_for_their_height_and_only_asked_ones_are_kept():
    bs = BlockSync(window=10)
    asked = dict((h, p) for p, h in bs.requests(1, {"a": 20}, 0.0))
    assert not bs.fetched_block("a", 15, "B15", "C15", 10, next_height=1)  # outside the window
    assert not bs.fetched_block("a", 1, "B1", "C1", 10, next_height=1)  # the current height goes straight in
    assert bs.fetched_block("a", 3, "B3", "C3", 10, next_height=1)
    assert not bs.fetched_block("a", 3, "B3", "C3", 10, next_height=1)  # a copy
    assert bs.take(2) is None
    assert bs.take(3) == ("a", "B3", "C3")
    assert 3 in asked


def test_buffered_bytes_are_bounded():
    bs = BlockSync(window=100, per_peer=100, max_bytes=1000, retry_s=1.0)
    asked = [h for _, h in bs.requests(1, {"a": 200}, 0.0)]
    for h in (2, 3, 4):
        assert bs.fetched_block("a", h, "B", "C", 400, next_height=1)
    assert [h for _, h in bs.requests(1, {"a": 200}, 5.0)] == []  # 1200 bytes held: no new requests
    bs.take(2)
    bs.take(3)
    assert bs.requests(4, {"a": 200}, 5.0)  # room again
    assert len(asked) == 100


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 300), max_size=6), st.integers(1, 200),
       st.integers(1, 64), st.integers(1, 16))
def test_requests_never_exceed_the_bounds(peer_heights, next_height, window, per_peer):
    bs = BlockSync(window=window, per_peer=per_peer)
    reqs = bs.requests(next_height, peer_heights, 0.0)
    heights = [h for _, h in reqs]
    assert len(set(heights)) == len(heights)
    assert all(next_height <= h < next_height + window and h <= peer_heights[p] for p, h in reqs)
    for p in peer_heights:
        assert sum(1 for q, _ in reqs if q == p) <= per_peer

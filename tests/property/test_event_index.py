"""The event index (tx_search / block_search) finds exactly the txs and blocks whose events a query
matches, as the subscription matcher judges them; and the query parser refuses malformed queries."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain.chain.eventindex import EventIndex, _add
from provchain.chain.query import Query, QueryError, parse
from provchain.chain.store import MemoryKV
from provchain.chain.types import Block, tx_hash


class EventsApp:
    """Events derived from the tx bytes: a small value space so that queries hit."""

    @staticmethod
    def tx_events(raw: bytes, code: int):
        return [("t", [("a", str(raw[0] % 5)), ("b", "xy"[: raw[1] % 3]), ("hidden", "1", False)])]

    @staticmethod
    def block_events(block, tx_events):
        return [("blk", [("n", str(len(tx_events)))])] if tx_events else []


def make_block(height: int, txs) -> Block:
    return Block.make(dict(chain_id="c", height=height, time_ms=1000 * height, last_block_hash=b"",
                           validators_hash=b"\0" * 32, app_hash=b"", proposer_address=b"\0" * 20), txs)


conditions = st.one_of(
    st.tuples(st.sampled_from(["t.a", "tx.height", "t.hidden"]), st.sampled_from(["=", "<", "<=", ">", ">="]),
              st.integers(0, 6)).map(lambda c: f"{c[0]}{c[1]}{c[2]}"),
    st.tuples(st.sampled_from(["t.a", "t.b", "t.hidden"]), st.sampled_from(["", "x", "xy", "1", "3"])).map(
        lambda c: f"{c[0]}='{c[1]}'"),
    st.sampled_from(["t.b EXISTS", "t.b CONTAINS 'y'", "t.a CONTAINS '2'", "tm.event='Tx'"]),
)


@settings(max_examples=60, deadline=None)
@given(blocks=st.lists(st.lists(st.binary(min_size=2, max_size=4), max_size=4, unique=True), min_size=1, max_size=6),
       conds=st.lists(conditions, min_size=1, max_size=3))
def test_tx_search_agrees_with_the_subscription_matcher(blocks, conds):
    kv, app = MemoryKV(), EventsApp()
    index = EventIndex(kv, app)
    expected, block_expected = [], []
    seen = set()
    query = parse(" AND ".join(conds))
    block_query = parse(" AND ".join(c.replace("tx.height", "block.height").replace("t.", "blk.") for c in conds))
    # searches ignore tm.event (every indexed tx is a Tx event, every block a NewBlock)
    matcher, block_matcher = (Query(q.text, q.without("tm.event")) for q in (query, block_query))
    for h, txs in enumerate(blocks, start=1):
        txs = [t for t in txs if t not in seen]  # a tx is committed once
        seen.update(txs)
        block = make_block(h, txs)
        index.index_block(block)
        for i, tx in enumerate(txs):
            indexed = _add({"tx.height": [str(h)]}, app.tx_events(tx, 0), True)
            if query.matches({**indexed, "tm.event": ["Tx"]}):
                expected.append((h, i))
        indexed = _add({"block.height": [str(h)]}, app.block_events(block, [app.tx_events(t, 0) for t in txs]), True)
        if block_matcher.matches(indexed):
            block_expected.append(h)
    assert index.search_txs(query) == expected
    assert index.search_blocks(block_query) == block_expected


def test_tx_hash_is_answered_from_the_block_store(tmp_path):
    from provchain.chain.store import BlockStore
    from provchain.chain.types import Commit
    kv = MemoryKV()
    index = EventIndex(kv, EventsApp())
    txs = [b"\x01\x02", b"\x03\x04"]
    block = make_block(1, txs)
    kv.write(BlockStore(kv).batch_for(block, Commit(1, 0, block.hash, ()), [type("R", (), {"code": 0, "log": ""})()] * 2,
                                      b""))
    index.index_block(block)
    th = tx_hash(txs[1]).hex().upper()
    assert index.search_txs(parse(f"tx.hash='{th}'")) == [(1, 1)]
    assert index.search_txs(parse(f"tx.hash='{th}' AND t.a='{txs[1][0] % 5}'")) == [(1, 1)]
    assert index.search_txs(parse(f"tx.hash='{th}' AND tx.height>1")) == []
    assert index.search_txs(parse("tx.hash='00'")) == []
    with pytest.raises(QueryError):
        index.search_txs(parse("tx.hash CONTAINS 'AB'"))


@pytest.mark.parametrize("text", ["", "   ", "tx.height", "tx.height >", "tx.height = 'a' OR x = 1", "a = 1 AND",
                                  "a < 'x'", "a CONTAINS 5", "= 5", "a = 'unterminated", "a = 1 b = 2",
                                  "a > TIME 2026-13-45T99:00:00Z", "x" * 600])
def test_malformed_queries_are_refused_with_a_reason(text):
    with pytest.raises(QueryError) as exc:
        parse(text)
    assert str(exc.value)


def test_query_matching_by_type():
    q = parse("tm.event='Tx' AND h >= 5 AND h < 7.5 AND d > DATE 2026-01-01 AND t < TIME 2026-01-01T00:00:01.5Z")
    ok = {"tm.event": ["Tx"], "h": ["6"], "d": ["2026-01-02"], "t": ["2026-01-01T00:00:01.2Z"]}
    assert q.matches(ok)
    assert not q.matches({**ok, "h": ["8"]}) and not q.matches({**ok, "h": ["x"]})
    assert not q.matches({**ok, "d": ["2025-12-31"]}) and not q.matches({k: v for k, v in ok.items() if k != "h"})
    assert q.matches({**ok, "h": ["1", "6"]})  # any value of a key may satisfy a condition

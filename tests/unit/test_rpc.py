"""The RPC's JSON-RPC envelope, batches, errors, hostile input, event search, websocket subscriptions and
the bound on broadcast waiters: against one real node (LevelDB on disk, real sockets) in this process."""

import asyncio
import base64
import json
import threading
import urllib.error
import urllib.request

import aiohttp
import pytest

from provchain.chain import crypto
from provchain.chain.tx import SignedTx
from provchain.chain.types import tx_hash
from provchain.cli import app_factory
from provchain.consensus.node import Node
from provchain.consensus.rpc import routes as rpc_routes
from provchain.devnet.cluster import free_base_port, http_json
from provchain.devnet.testnet import write_testnet
from tests.unit.test_provenance_app import record

CHAIN = "provchain-devnet"


class Running:
    def __init__(self, home):
        self.loop = asyncio.new_event_loop()
        self.node = None
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.node = Node(home, app_factory)
            self.loop.run_until_complete(self.node.start())
            ready.set()
            self.loop.run_forever()
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(60), "node did not start"
        self.url = "http://" + self.node.config.rpc_laddr

    def on_loop(self, fn):
        """Run fn() on the node's loop (its state is only touched there) and return the result."""
        async def call():
            return fn()
        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.node.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    home = write_testnet(tmp_path_factory.mktemp("rpc"), 1, base_port=free_base_port(1), app_name="provenance")[0]
    r = Running(home)
    yield r
    r.stop()


def post(net, payload, raw: bytes | None = None):
    return http_json(net.url + "/", raw if raw is not None else json.dumps(payload).encode(),
                     content_type="application/json")


def wait_height(net, h, timeout=30.0):
    import time
    end = time.time() + timeout
    while time.time() < end:
        if int(http_json(net.url + "/status")[1]["result"]["sync_info"]["latest_block_height"]) >= h:
            return
        time.sleep(0.1)
    raise AssertionError(f"height {h} not reached")


def register(net, key, seed, nonce=0):
    tx = record(seed).sign(key, CHAIN, nonce).encode()
    st, body = http_json(net.url + "/broadcast_tx?wait=commit&timeout=30", tx, content_type="application/octet-stream")
    assert st == 200 and body["result"]["code"] == 0, body
    return tx, int(body["result"]["height"])


def test_single_call_echoes_the_callers_id(net):
    wait_height(net, 1)
    for rid in (7, "abc", 0):
        st, body = post(net, {"jsonrpc": "2.0", "id": rid, "method": "status"})
        assert st == 200 and body["id"] == rid and body["result"]["node_info"]["network"] == CHAIN
    st, body = post(net, {"jsonrpc": "2.0", "id": 1, "method": "block", "params": ["1"]})  # positional
    assert st == 200 and body["result"]["block"]["header"]["height"] == "1"


def test_errors_have_cometbfts_codes_and_shapes(net):
    cases = [({"jsonrpc": "2.0", "id": 1, "method": "no_such"}, -32601),
             ({"jsonrpc": "2.0", "id": 2, "method": "block", "params": {"height": "abc"}}, -32602),
             ({"jsonrpc": "2.0", "id": 3, "method": "block", "params": {"height": "99999999"}}, -32603),
             ({"jsonrpc": "2.0", "id": 4, "method": "tx", "params": {"hash": base64.b64encode(b"\0" * 32).decode()}}, -32603),
             ({"jsonrpc": "2.0", "id": 5, "method": "tx", "params": {"hash": "%%%"}}, -32602),
             ({"jsonrpc": "2.0", "id": 6, "method": "subscribe", "params": {"query": "tm.event='NewBlock'"}}, -32601),
             ({"jsonrpc": "1.0", "id": 7, "method": "status"}, -32600),
             ({"jsonrpc": "2.0", "id": 8, "method": "tx_search", "params": {"query": "tx.height >"}}, -32602),
             ({"jsonrpc": "2.0", "id": 9, "method": "validators", "params": {"page": "9"}}, -32603)]
    for req, code in cases:
        st, body = post(net, req)
        assert st == 200 and body["error"]["code"] == code and body["id"] == req["id"], (req, body)
        assert set(body["error"]) == {"code", "message", "data"}
    st, body = post(net, {"jsonrpc": "2.0", "id": 3, "method": "block", "params": {"height": "99999999"}})
    assert "must be less than or equal to the current blockchain height" in body["error"]["data"]


def test_batch_answers_each_request_in_order_and_skips_notifications(net):
    batch = [{"jsonrpc": "2.0", "id": "a", "method": "health"},
             {"jsonrpc": "2.0", "method": "status"},  # a notification: no answer
             {"jsonrpc": "2.0", "id": "b", "method": "nope"},
             {"jsonrpc": "2.0", "id": "c", "method": "abci_info"}]
    st, body = post(net, batch)
    assert st == 200 and [r["id"] for r in body] == ["a", "b", "c"]
    assert body[0]["result"] == {} and body[1]["error"]["code"] == -32601
    assert body[2]["result"]["response"]["data"] == "provenance"
    st, body = post(net, [])
    assert st == 400 and body["error"]["code"] == -32600
    st, body = post(net, [{"jsonrpc": "2.0", "id": i, "method": "health"} for i in range(101)])
    assert st == 400 and body["error"]["code"] == -32600


def test_malformed_and_deeply_nested_json_is_a_parse_error_not_a_crash(net, caplog):
    for raw in (b"{", b"\xff\xfe", b"[" * 200_000, b'{"jsonrpc": "2.0", "id": 1, "params": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"):
        st, body = post(net, None, raw)
        assert st == 400 and body["error"]["code"] == -32700, body
    nested = b'{"fingerprint": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for path in ("/match", "/broadcast_tx"):
        st, body = http_json(net.url + path, nested, content_type="application/json")
        assert st == 400 and "error" in body, (path, body)
    async def ws_nested():
        async with aiohttp.ClientSession() as s, s.ws_connect(net.url + "/websocket") as ws:
            await ws.send_str("[" * 200_000)
            msg = await ws.receive_json(timeout=10)
            assert msg["error"]["code"] == -32700
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 5, "method": "health"}))
            assert (await ws.receive_json(timeout=10)) == {"jsonrpc": "2.0", "id": 5, "result": {}}
    asyncio.run(ws_nested())
    assert http_json(net.url + "/health")[0] == 200
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_uri_form_takes_quoted_strings_and_0x_hex_and_sends_cors(net):
    wait_height(net, 2)
    st, blk = http_json(net.url + "/block?height=2")
    h = blk["result"]["block_id"]["hash"]
    for q in (f"hash=0x{h}", f"hash={h.lower()}"):
        st, body = http_json(net.url + "/block_by_hash?" + q)
        assert st == 200 and body["id"] == -1 and body["result"]["block_id"]["hash"] == h
    st, body = http_json(net.url + "/header_by_hash?hash=0x" + h)
    assert body["result"]["header"] == blk["result"]["block"]["header"]
    with urllib.request.urlopen(net.url + "/health") as r:
        assert r.headers["Access-Control-Allow-Origin"] == "*"
    req = urllib.request.Request(net.url + "/", method="OPTIONS", headers={"Origin": "http://x",
                                 "Access-Control-Request-Method": "POST"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 204 and "POST" in r.headers["Access-Control-Allow-Methods"]
    st, body = http_json(net.url + "/block?height=abc")
    assert st == 400 and body["error"]["code"] == -32602
    st, body = http_json(net.url + "/tx?hash=0x" + "00" * 32)
    assert st == 404 and body["error"]["code"] == -32603 and "not found" in body["error"]["data"]


def test_a_rejected_tx_is_a_result_with_a_code_not_an_http_error(net):
    key = crypto.PrivateKey.generate()
    bad = SignedTx.create(key, "another-chain", "register_clip", 0, record(50).to_obj()).encode()
    for method in ("broadcast_tx_sync", "broadcast_tx_async", "check_tx"):
        st, body = post(net, {"jsonrpc": "2.0", "id": 1, "method": method,
                              "params": {"tx": base64.b64encode(bad).decode()}})
        assert st == 200 and body["result"]["code"] != 0 and "signature" in body["result"]["log"], body
    st, body = post(net, {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_commit",
                          "params": {"tx": base64.b64encode(bad).decode()}})
    assert st == 200 and body["result"]["check_tx"]["code"] != 0 and body["result"]["height"] == "0"


def test_check_tx_is_a_dry_run(net):
    key = crypto.PrivateKey.generate()
    tx = record(60).sign(key, CHAIN, 0).encode()
    for _ in range(2):  # twice: the first must not have reserved the nonce or the content
        st, body = post(net, {"jsonrpc": "2.0", "id": 1, "method": "check_tx", "params": {"tx": base64.b64encode(tx).decode()}})
        assert body["result"]["code"] == 0, body
    assert http_json(net.url + "/num_unconfirmed_txs")[1]["result"]["total"] == "0"


def test_broadcast_commit_search_and_abci_query(net):
    key = crypto.PrivateKey.generate()
    tx = record(70).sign(key, CHAIN, 0).encode()
    st, body = post(net, {"jsonrpc": "2.0", "id": 9, "method": "broadcast_tx_commit",
                          "params": {"tx": base64.b64encode(tx).decode()}})
    res = body["result"]
    assert res["check_tx"]["code"] == 0 and res["tx_result"]["code"] == 0 and res["hash"] == tx_hash(tx).hex().upper()
    height = int(res["height"])
    events = {e["type"]: {a["key"]: a["value"] for a in e["attributes"]} for e in res["tx_result"]["events"]}
    assert events["register_clip"]["creator"] == key.pubkey.hex().upper()
    assert events["message"] == {"action": "register_clip", "sender": key.pubkey.hex().upper(), "nonce": "0"}
    creator = key.pubkey.hex().upper()
    for q in (f"register_clip.creator='{creator}'", f"tx.height={height} AND message.sender='{creator}'",
              f"tm.event='Tx' AND register_clip.record_id='{res['hash']}'", f"tx.hash='{res['hash']}'",
              f"register_clip.creator CONTAINS '{creator[:10]}' AND tx.height>={height} AND tx.height<{height + 1}"):
        st, body = post(net, {"jsonrpc": "2.0", "id": 1, "method": "tx_search", "params": {"query": q, "prove": True}})
        assert body["result"]["total_count"] == "1", (q, body)
        assert body["result"]["txs"][0]["hash"] == res["hash"] and body["result"]["txs"][0]["proof"]["root_hash"]
    st, body = post(net, {"jsonrpc": "2.0", "id": 1, "method": "tx_search", "params": {"query": "register_clip.creator='00'"}})
    assert body["result"] == {"txs": [], "total_count": "0"}
    st, body = http_json(net.url + f'/block_search?query="block.height={height}"')
    assert body["result"]["total_count"] == "1" and body["result"]["blocks"][0]["block"]["header"]["height"] == str(height)
    st, body = http_json(net.url + '/block_search?query="provenance.new_records>0"&order_by="desc"&per_page=1')
    assert int(body["result"]["total_count"]) >= 1 and len(body["result"]["blocks"]) == 1
    st, body = http_json(net.url + f"/block_results?height={height}")
    assert body["result"]["txs_results"][0]["events"] == res["tx_result"]["events"]
    assert {"type": "provenance", "attributes": [{"key": "new_records", "value": "1", "index": True}]} in \
        body["result"]["finalize_block_events"]
    # abci_query: the record by id, by content, with the tx's Merkle proof; unknown paths and bad data
    st, body = post(net, {"jsonrpc": "2.0", "id": 1, "method": "abci_query",
                          "params": {"path": "/record", "data": res["hash"], "prove": True}})
    r = body["result"]["response"]
    assert r["code"] == 0 and json.loads(base64.b64decode(r["value"]))["creator"] == creator
    op = r["proof_ops"]["ops"][0]
    proof = json.loads(base64.b64decode(op["data"]))
    from provchain.chain import jsonfmt as jf
    _, cm = http_json(net.url + f"/commit?height={proof['height']}")
    data_hash = bytes.fromhex(cm["result"]["signed_header"]["header"]["data_hash"])
    assert jf.proof_from_json(proof["proof"]).verify(data_hash, tx)
    sha = record(70).file_sha256.hex()
    st, body = http_json(net.url + f'/abci_query?path="/record/by_content"&data=0x{sha}')
    assert body["result"]["response"]["code"] == 0
    for path, data, code in (("/nope", "", 1), ("/record", "00", 2), ("/record", "00" * 32, 3)):
        st, body = post(net, {"jsonrpc": "2.0", "id": 1, "method": "abci_query", "params": {"path": path, "data": data}})
        assert st == 200 and body["result"]["response"]["code"] == code and body["result"]["response"]["log"]


def test_broadcast_waiters_are_bounded_and_released(net, monkeypatch):
    key = crypto.PrivateKey.generate()
    for t in ("0", "-1", "1e9", "nan", "inf", "x"):
        st, body = http_json(net.url + f"/broadcast_tx?wait=commit&timeout={t}",
                             record(80).sign(key, CHAIN, 0).encode(), content_type="application/octet-stream")
        assert st == 400 and "timeout" in body["error"]["message"], (t, body)
    # a wait that times out (0.001 s: before any block) leaves no waiter behind
    st, body = http_json(net.url + "/broadcast_tx?wait=commit&timeout=0.001", record(81).sign(key, CHAIN, 0).encode(),
                         content_type="application/octet-stream")
    assert st == 504 and body["error"]["code"] == -32011
    assert net.on_loop(lambda: sum(len(v) for v in net.node.driver.tx_waiters.values())) == 0
    # at most MAX_TX_WAITERS callers wait at once
    monkeypatch.setattr(rpc_routes, "MAX_TX_WAITERS", 0)
    st, body = http_json(net.url + "/broadcast_tx?wait=commit&timeout=5", record(82).sign(key, CHAIN, 1).encode(),
                         content_type="application/octet-stream")
    assert st == 503 and "too many" in body["error"]["data"]
    st, body = post(net, {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_commit",
                          "params": {"tx": base64.b64encode(record(83).sign(key, CHAIN, 1).encode()).decode()}})
    assert st == 200 and body["error"]["code"] == -32603 and "too many" in body["error"]["data"]
    assert net.on_loop(lambda: sum(len(v) for v in net.node.driver.tx_waiters.values())) == 0


def test_websocket_subscriptions_deliver_new_blocks_and_queried_txs(net):
    key = crypto.PrivateKey.generate()
    creator = key.pubkey.hex().upper()

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(net.url + "/websocket") as ws:
            async def call(rid, method, **params):
                await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))

            await call(1, "subscribe", query="tm.event='NewBlock'")
            await call(2, "subscribe", query=f"tm.event='Tx' AND register_clip.creator='{creator}'")
            await call(3, "subscribe", query="tm.event='Tx' AND register_clip.creator='00'")  # never matches
            await call(4, "subscribe", query="tm.event=")
            await call(5, "status")
            got = {}
            while len(got) < 5:
                m = await ws.receive_json(timeout=10)
                got[m["id"]] = m
            assert got[1]["result"] == {} and got[2]["result"] == {} and got[3]["result"] == {}
            assert got[4]["error"]["code"] == -32602 and got[5]["result"]["node_info"]["network"] == CHAIN
            tx = record(90).sign(key, CHAIN, 0).encode()
            await asyncio.get_running_loop().run_in_executor(None, lambda: http_json(
                net.url + "/broadcast_tx", tx, content_type="application/octet-stream"))
            blocks, txs = [], []
            for _ in range(200):
                m = await ws.receive_json(timeout=15)
                assert m["id"] in (1, 2), m
                (blocks if m["id"] == 1 else txs).append(m["result"])
                if txs and len(blocks) >= 2:
                    break
            b = blocks[0]
            assert b["query"] == "tm.event='NewBlock'" and b["data"]["type"] == "tendermint/event/NewBlock"
            assert b["events"]["tm.event"] == ["NewBlock"] and b["data"]["value"]["block"]["header"]["height"]
            t = txs[0]
            assert t["data"]["type"] == "tendermint/event/Tx"
            assert base64.b64decode(t["data"]["value"]["TxResult"]["tx"]) == tx
            assert t["events"]["register_clip.creator"] == [creator] and t["events"]["tx.hash"] == [tx_hash(tx).hex().upper()]
            await call(6, "unsubscribe", query="tm.event='NewBlock'")
            await call(7, "unsubscribe", query="tm.event='NewBlock'")
            answers = {}
            while len(answers) < 2:
                m = await ws.receive_json(timeout=10)
                if m["id"] in (6, 7):
                    answers[m["id"]] = m
            assert answers[6]["result"] == {} and answers[7]["error"]["code"] == -32603
    asyncio.run(scenario())


def test_event_index_is_rebuilt_when_lost(net):
    key = crypto.PrivateKey.generate()
    tx, height = register(net, key, 95)
    from provchain.chain import schema
    from provchain.chain.eventindex import EventIndex

    def wipe_and_rebuild():
        index = EventIndex(net.node.kv, net.node.app)
        index.drop()
        assert not list(net.node.kv.iterate(schema.IX_TX))
        return index.catch_up()
    assert net.on_loop(wipe_and_rebuild) >= height
    st, body = http_json(net.url + f"/tx_search?query=\"tx.hash='{tx_hash(tx).hex().upper()}'\"")
    assert body["result"]["total_count"] == "1"


def test_every_route_answers_over_both_transports_with_the_same_result(net):
    key = crypto.PrivateKey.generate()
    tx, height = register(net, key, 99)
    th = tx_hash(tx)
    _, blk = http_json(net.url + f"/block?height={height}")
    bh = bytes.fromhex(blk["result"]["block_id"]["hash"])
    other = record(98).sign(key, CHAIN, 1).encode()
    json_params = {"block": {"height": str(height)}, "block_by_hash": {"hash": base64.b64encode(bh).decode()},
                   "block_results": {"height": str(height)}, "commit": {"height": str(height)},
                   "header": {"height": str(height)}, "header_by_hash": {"hash": base64.b64encode(bh).decode()},
                   "tx": {"hash": base64.b64encode(th).decode(), "prove": True},
                   "tx_search": {"query": f"tx.height={height}"}, "block_search": {"query": f"block.height={height}"},
                   "check_tx": {"tx": base64.b64encode(other).decode()},
                   "abci_query": {"path": "/records/count"}, "blockchain": {"minHeight": "1", "maxHeight": str(height)},
                   "validators": {"height": str(height)}, "consensus_params": {"height": str(height)}}
    uri_params = {"block": f"height={height}", "block_by_hash": f"hash=0x{bh.hex()}", "block_results": f"height={height}",
                  "commit": f"height={height}", "header": f"height={height}", "header_by_hash": f"hash=0x{bh.hex()}",
                  "tx": f"hash=0x{th.hex()}&prove=true", "tx_search": f'query="tx.height={height}"',
                  "block_search": f'query="block.height={height}"', "check_tx": f"tx=0x{other.hex()}",
                  "abci_query": 'path="/records/count"', "blockchain": f"minHeight=1&maxHeight={height}",
                  "validators": f"height={height}", "consensus_params": f"height={height}"}
    volatile = {"status", "net_info", "consensus_state", "dump_consensus_state", "abci_info", "abci_query",
                "unconfirmed_txs", "num_unconfirmed_txs", "validators"}  # change between the two calls
    for route in rpc_routes.ROUTES:
        if route.startswith("broadcast_tx"):
            continue  # covered above: they change the chain
        st, by_post = post(net, {"jsonrpc": "2.0", "id": route, "method": route, "params": json_params.get(route, {})})
        assert st == 200 and "result" in by_post, (route, by_post)
        st, by_get = http_json(net.url + f"/{route}?" + uri_params.get(route, ""))
        assert st == 200 and "result" in by_get and by_get["id"] == -1, (route, by_get)
        if route not in volatile:
            assert by_post["result"] == by_get["result"], route


def test_a_client_that_does_not_read_loses_its_subscriptions_not_the_nodes_memory():
    from provchain.consensus.rpc import events

    bus = events.EventBus(node=None, index=None)
    c = bus.connect()
    bus.subscribe(c, "tm.event='NewBlock'", 1)
    for i in range(events.QUEUE_SIZE + 50):
        bus._send(c, {"n": i})
    assert c.outbox.qsize() == events.QUEUE_SIZE and not c.subscriptions
    last = [c.outbox.get_nowait() for _ in range(events.QUEUE_SIZE)][-1]
    assert last["id"] == 1 and "not pulling messages fast enough" in last["error"]["data"]


def test_the_index_follows_the_chain_in_the_background_and_a_lagging_one_says_so(net, monkeypatch):
    import time
    key = crypto.PrivateKey.generate()
    _, height = register(net, key, 96)
    end = time.time() + 20
    while net.on_loop(lambda: net.node.rpc.index.indexed_height()) < height:  # no search asked for it
        assert time.time() < end, "the background indexer did not index the new block"
        time.sleep(0.1)
    # far behind: a search indexes for SEARCH_CATCH_UP_S at most, then says so
    monkeypatch.setattr(net.node.rpc.index, "lag", lambda: 1234)
    st, body = http_json(net.url + '/tx_search?query="tx.height>0"')
    assert st == 503 and "catching up (1234 blocks behind" in body["error"]["data"]


def test_a_block_search_page_too_big_to_answer_is_refused_with_the_way_out(net, monkeypatch):
    wait_height(net, 3)
    monkeypatch.setattr(rpc_routes, "MAX_PAGE_BLOCK_BYTES", 1)
    st, body = http_json(net.url + '/block_search?query="block.height<=3"&per_page=3')
    assert st == 400 and "smaller per_page" in body["error"]["data"]
    st, body = http_json(net.url + '/block_search?query="block.height<=3"&per_page=1')
    assert st == 200 and len(body["result"]["blocks"]) == 1 and body["result"]["total_count"] == "3"


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                           | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
requests = st.fixed_dictionaries({"jsonrpc": st.sampled_from(["2.0", "1.0", 2]),
                                  "method": st.sampled_from(sorted(set(rpc_routes.ROUTES) - {"broadcast_tx_commit"})  # waits for blocks
                                                            + ["subscribe", "x", ""]) | json_values},
                                 optional={"id": json_values, "params": json_values})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(requests, st.lists(requests, max_size=5), json_values))
def test_any_json_gets_a_json_rpc_answer_never_a_crash(net, payload):
    req = urllib.request.Request(net.url + "/", json.dumps(payload).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            st_, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        st_, raw = e.code, e.read()
    assert st_ in (200, 400), (payload, st_, raw)
    body = json.loads(raw) if raw else None  # no body: only notifications (requests without an id)
    if body is None:
        reqs = payload if isinstance(payload, list) else [payload]
        assert payload != [] and all(isinstance(r, dict) and r.get("id") is None for r in reqs), payload
    answers = body if isinstance(body, list) else [body] if body is not None else []
    for a in answers:
        assert a["jsonrpc"] == "2.0" and ("result" in a) != ("error" in a), a
        if "error" in a:
            assert a["error"]["code"] in (-32700, -32600, -32601, -32602, -32603), a

"""Websocket event subscriptions (`subscribe` / `unsubscribe` / `unsubscribe_all` on /websocket).

After each commit the node publishes, as CometBFT does, one NewBlock and one NewBlockHeader event and
one Tx event per tx, each with an `events` map (composite key -> values) that subscription queries
match against. Each subscriber has a bounded queue: a client that does not read is cancelled (as
CometBFT does), never buffered without limit.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from ...chain import jsonfmt as jf
from ...chain.eventindex import EventIndex, block_event_map, tx_event_map
from ...chain.query import Query, QueryError, parse
from ...chain.types import Block, tx_hash
from .jsonrpc import RPCError, SERVER_ERROR, failed, invalid_params, response

log = logging.getLogger("provchain.rpc.events")

MAX_CLIENTS = 100
MAX_SUBSCRIPTIONS_PER_CLIENT = 5
QUEUE_SIZE = 100  # events waiting for one slow client before its subscriptions are cancelled


@dataclass(eq=False)  # identity-hashed: clients live in a set
class Client:
    """One websocket connection: its subscriptions (query text -> (Query, request id)) and outbox."""
    outbox: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    subscriptions: dict[str, tuple[Query, object]] = field(default_factory=dict)


class EventBus:
    def __init__(self, node, index: EventIndex):
        self.node = node
        self.index = index
        self.clients: set[Client] = set()

    def connect(self) -> Client:
        if len(self.clients) >= MAX_CLIENTS:
            raise failed(f"too many websocket clients (at most {MAX_CLIENTS})", 503)
        c = Client()
        self.clients.add(c)
        return c

    def disconnect(self, c: Client) -> None:
        self.clients.discard(c)

    def subscribe(self, c: Client, query_text, req_id) -> dict:
        try:
            q = parse(query_text)
        except QueryError as exc:
            raise invalid_params(f"failed to parse query: {exc}") from None
        if q.text in c.subscriptions:
            raise failed("already subscribed", 400)
        if len(c.subscriptions) >= MAX_SUBSCRIPTIONS_PER_CLIENT:
            raise failed(f"max_subscriptions_per_client {MAX_SUBSCRIPTIONS_PER_CLIENT} reached", 400)
        c.subscriptions[q.text] = (q, req_id)
        return {}

    def unsubscribe(self, c: Client, query_text) -> dict:
        if not isinstance(query_text, str) or c.subscriptions.pop(query_text, None) is None:
            raise failed("subscription not found", 404)
        return {}

    def unsubscribe_all(self, c: Client) -> dict:
        if not c.subscriptions:
            raise failed("subscription not found", 404)
        c.subscriptions.clear()
        return {}

    # --- publishing (a driver block listener: called right after each commit)
    def on_block(self, block: Block) -> None:
        """Publish soon after, not inside, the commit: building the events is not consensus's time."""
        if any(c.subscriptions for c in self.clients):
            asyncio.get_running_loop().call_soon(self._publish, block)

    def _publish(self, block: Block) -> None:
        if not any(c.subscriptions for c in self.clients):
            return
        try:
            for event_map, data in self._events(block):
                for c in list(self.clients):
                    for q, req_id in list(c.subscriptions.values()):
                        if q.matches(event_map):
                            self._send(c, response(req_id, {"query": q.text, "data": data, "events": event_map}))
        except Exception:
            log.exception("publishing the events of block %d failed", block.header.height)

    def _send(self, c: Client, msg: dict) -> None:
        try:
            c.outbox.put_nowait(msg)
        except asyncio.QueueFull:
            log.warning("websocket client is not reading: its %d subscriptions are cancelled", len(c.subscriptions))
            err = RPCError(SERVER_ERROR, "subscription was cancelled (reason: client is not pulling messages "
                                         "fast enough)")
            for _, req_id in list(c.subscriptions.values())[:1]:
                c.outbox.get_nowait()  # the oldest event makes room for the reason
                c.outbox.put_nowait(response(req_id, error=err))
            c.subscriptions.clear()

    def _events(self, block: Block):
        """(events map, data) for NewBlock, NewBlockHeader and each Tx, built once per block."""
        store = self.node.driver.store
        h = block.header.height
        raw, prev_raw = store.block_raw(h), store.block_raw(h - 1) if h > 1 else None
        tx_results, tx_maps, all_events = [], [], []
        for i, tx in enumerate(block.txs):
            th = tx_hash(tx)
            loc = store.tx_location(th)
            code = loc[2] if loc else 0
            events = self.index.tx_events(block, i, code)
            all_events.append(events)
            tx_results.append(jf.exec_tx_result_json(code, loc[3] if loc else "", events))
            tx_maps.append(tx_event_map(th, h, events))
        block_events = self.index.block_events(block, all_events)
        bmap = block_event_map(h, block_events)
        finalize = {"events": [jf.event_json(t, a) for t, a in block_events], "tx_results": tx_results,
                    "validator_updates": None, "consensus_param_updates": None,
                    "app_hash": jf.b64(store.chain_state()[1])}
        valset = self.node.app.valset_at(max(h - 1, 1)) or self.node.genesis.validators
        yield ({**bmap, "tm.event": ["NewBlock"]},
               {"type": "tendermint/event/NewBlock",
                "value": {"block": jf.block_body_json(block, prev_raw, valset), "block_id": jf.block_id_json(block.hash, raw),
                          "result_finalize_block": finalize}})
        yield ({**bmap, "tm.event": ["NewBlockHeader"]},
               {"type": "tendermint/event/NewBlockHeader", "value": {"header": jf.header_json(block.header, prev_raw)}})
        for i, tx in enumerate(block.txs):
            yield ({**tx_maps[i], "tm.event": ["Tx"]},
                   {"type": "tendermint/event/Tx",
                    "value": {"TxResult": {"height": str(h), "index": i, "tx": jf.b64(tx), "result": tx_results[i]}}})

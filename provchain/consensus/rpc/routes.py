"""CometBFT 0.38's RPC routes over this node, in CometBFT's JSON shapes (docs/api.md has the table).

Each route is `async def name(self, p: Params) -> result`; ROUTES names its parameters in CometBFT's
order (for positional JSON-RPC params). Errors are raised as jsonrpc.RPCError.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time

from ...chain import jsonfmt as jf
from ...chain import merkle
from ...chain.crypto import address_of
from ...chain.eventindex import EventIndex
from ...chain.query import QueryError, parse
from ...chain.types import tx_hash
from .jsonrpc import Params, failed, invalid_params, not_found

VERSION = "0.1.0"
# node_info.version: clients pick their decoders by it (cosmjs: "0.38." -> Comet38Client); this node
# speaks CometBFT 0.38's RPC, so it says so, and names itself after the "+"
NODE_VERSION = f"0.38.0+provchain.{VERSION}"
P2P_PROTOCOL = "8"
BROADCAST_COMMIT_TIMEOUT_S = 10.0  # CometBFT's timeout_broadcast_tx_commit
MAX_TX_WAITERS = 10_000            # broadcasts waiting for their commit, all callers together
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100
MAX_PAGE_BLOCK_BYTES = 32 * 1024 * 1024  # blocks in one block_search answer (a block may hold 4 MiB)
SEARCH_CATCH_UP_S = 0.3  # indexing a search may do before answering (it holds the event loop); then 503

# query codes of abci_query (the app's own, as ABCI apps define theirs)
QUERY_OK, QUERY_UNKNOWN_PATH, QUERY_BAD_DATA, QUERY_NOT_FOUND, QUERY_NO_HISTORY = 0, 1, 2, 3, 4


def paginate(total: int, page: int | None, per_page: int | None) -> tuple[int, int]:
    """(skip, per_page) as CometBFT validates them: page in [1, pages], per_page clamped to [1, 100]."""
    per = DEFAULT_PER_PAGE if not per_page else min(max(per_page, 1), MAX_PER_PAGE)
    pages = max(1, (total + per - 1) // per)
    page = 1 if page is None else page
    if page < 1 or page > pages:
        raise failed(f"page should be within [1, {pages}] range, given {page}", 400)
    return (page - 1) * per, per


class TxWaiters:
    """Futures of callers waiting for a tx to commit (driver.tx_waiters), each removed when its caller
    stops waiting, for whatever reason, so a timed-out wait leaves nothing behind."""

    def __init__(self, driver):
        self.driver = driver

    def count(self) -> int:
        return sum(len(v) for v in self.driver.tx_waiters.values())

    def register(self, th: bytes) -> asyncio.Future:
        if self.count() >= MAX_TX_WAITERS:
            raise failed(f"too many txs waiting for their commit (at most {MAX_TX_WAITERS}); retry later", 503)
        fut = asyncio.get_running_loop().create_future()
        self.driver.tx_waiters[th].append(fut)
        return fut

    def release(self, th: bytes, fut: asyncio.Future) -> None:
        waiters = self.driver.tx_waiters.get(th)
        if waiters is not None:
            if fut in waiters:
                waiters.remove(fut)
            if not waiters:
                del self.driver.tx_waiters[th]

    async def wait(self, th: bytes, fut: asyncio.Future, timeout: float):
        """(height, index, result) once committed; asyncio.TimeoutError after `timeout` seconds."""
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.release(th, fut)


class CometRoutes:
    def __init__(self, node, index: EventIndex):
        self.node = node
        self.index = index
        self.waiters = TxWaiters(node.driver)
        self._first = None

    @property
    def store(self):
        return self.node.driver.store

    def valset(self, height: int):
        """The validator set of `height` (known up to the last committed height + 2)."""
        return self.node.app.valset_at(max(height, 1)) or self.node.genesis.validators

    # --- helpers
    def _height(self, p: Params, name: str = "height", allow_next: bool = False) -> int:
        tip = self.store.height()
        h = p.int(name, 0, minimum=0)
        if h == 0:  # absent (or 0): the latest
            h = tip
        top = tip + 1 if allow_next else tip
        if h > top:
            raise failed(f"height {h} must be less than or equal to the current blockchain height {tip}", 404)
        if h < 1:
            raise failed("no blocks yet", 404)
        return h

    def _first_block(self):
        """Block 1, read once (status shows it on every call)."""
        if self._first is None:
            self._first = self.store.block(1)
        return self._first

    def _raw(self, height: int) -> bytes | None:
        return self.store.block_raw(height) if height >= 1 else None

    def _block_result(self, height: int) -> dict:
        block = self.store.block(height)
        return jf.block_json(block, self._raw(height), self._raw(height - 1), self.valset(height - 1))

    def _tx_result(self, block, i: int, code: int, logline: str) -> dict:
        return jf.exec_tx_result_json(code, logline, self.index.tx_events(block, i, code))

    # --- info
    async def health(self, p: Params):
        return {}

    async def status(self, p: Params):
        n = self.node
        h, app_hash, last_hash, t = self.store.chain_state()
        key = n.privval.key if n.privval else None
        val = self.valset(h + 1).by_address.get(key.address) if key else None
        pubkey = key.pubkey if key else n.node_key.pubkey
        first = self._first_block() if h else None
        return {
            "node_info": self._node_info(),
            "sync_info": {
                "latest_block_hash": jf.hexu(last_hash), "latest_app_hash": jf.hexu(app_hash),
                "latest_block_height": str(h),
                "latest_block_time": jf.rfc3339(t if h else n.genesis.genesis_time_ms),
                "earliest_block_hash": jf.hexu(first.hash) if first else "",
                "earliest_app_hash": jf.hexu(first.header.app_hash) if first else "",
                "earliest_block_height": "1" if h else "0",
                "earliest_block_time": jf.rfc3339(first.header.time_ms) if first else jf.ZERO_TIME,
                "catching_up": any(ph > h + 1 for ph in n.driver.peer_heights.values())},
            "validator_info": {"address": jf.hexu(key.address if key else address_of(pubkey)),
                               "pub_key": jf.pub_key_json(pubkey), "voting_power": str(val.power if val else 0)},
        }

    def _node_info(self, node_id: str | None = None, listen_addr: str | None = None,
                   moniker: str | None = None) -> dict:
        n = self.node
        return {"protocol_version": {"p2p": P2P_PROTOCOL, "block": jf.BLOCK_PROTOCOL, "app": jf.APP_PROTOCOL},
                "id": node_id if node_id is not None else n.node_id,
                "listen_addr": listen_addr or n.p2p_addr, "network": n.genesis.chain_id,
                "version": NODE_VERSION, "channels": "", "moniker": moniker or n.moniker,
                "other": {"tx_index": "on", "rpc_address": "tcp://" + n.config.rpc_laddr}}

    async def net_info(self, p: Params):
        peers = [pe for pe in self.node.p2p.info() if pe["outbound"] or pe["inbound"]]
        now = time.time()
        return {"listening": True, "listeners": [self.node.p2p_addr], "n_peers": str(len(peers)),
                "peers": [{"node_info": self._node_info(pe["node_id"], pe["addr"], pe["moniker"] or pe["addr"]),
                           "is_outbound": bool(pe["outbound"]),
                           "connection_status": {"Duration": str(int(max(0, now - (pe["since"] or now)) * 1e9)),
                                                 "SendMonitor": {}, "RecvMonitor": {}, "Channels": []},
                           "remote_ip": pe["addr"].rsplit(":", 1)[0]} for pe in peers]}

    async def genesis(self, p: Params):
        return {"genesis": jf.genesis_json(self.node.genesis)}

    async def genesis_chunked(self, p: Params):
        data = base64.b64encode(json.dumps(jf.genesis_json(self.node.genesis)).encode()).decode()
        chunk = p.int("chunk", 0)
        if chunk != 0:
            raise failed(f"there are 1 chunks, {chunk} is invalid", 400)
        return {"chunk": "0", "total": "1", "data": data}

    async def consensus_params(self, p: Params):
        h = self._height(p, allow_next=True)
        return {"block_height": str(h), "consensus_params": jf.genesis_json(self.node.genesis)["consensus_params"]}

    async def consensus_state(self, p: Params):
        m = self.node.driver.machine
        return {"round_state": {"height/round/step": f"{m.height}/{m.round}/{m.step_name}",
                                "height": str(m.height), "round": m.round, "step": m.step_name}}

    async def dump_consensus_state(self, p: Params):
        """The round state as consensus_state, and each connected peer with the height it reported."""
        heights = self.node.driver.peer_heights
        peers = [{"node_address": f"{pe['node_id']}@{pe['addr']}",
                  "peer_state": {"round_state": {"height": str(heights.get(pe["node_id"], 0))}}}
                 for pe in self.node.p2p.info() if pe["outbound"] or pe["inbound"]]
        return {**await self.consensus_state(p), "peers": peers}

    # --- blocks
    async def blockchain(self, p: Params):
        """Block metas from maxHeight down to minHeight, at most 20, newest first."""
        tip = self.store.height()
        lo, hi = p.int("minHeight", 0), p.int("maxHeight", 0)
        hi = min(hi or tip, tip)
        lo = max(lo or 1, 1)
        if lo > hi and tip:
            raise failed(f"min height {lo} can't be greater than max height {hi}", 400)
        lo = max(lo, hi - 19)
        metas = []
        for h in range(hi, lo - 1, -1):
            raw = self._raw(h)
            metas.append(jf.block_meta_json(self.store.block(h), raw, self._raw(h - 1)))
        return {"last_height": str(tip), "block_metas": metas}

    async def block(self, p: Params):
        return self._block_result(self._height(p))

    def _height_by_hash(self, p: Params) -> int:
        bh = p.bytes("hash")
        h = self.store.height_of_block(bh)
        if h is None:
            raise not_found(f"block with hash {bh.hex().upper()} not found")
        return h

    async def block_by_hash(self, p: Params):
        return self._block_result(self._height_by_hash(p))

    async def header(self, p: Params):
        h = self._height(p)
        return {"header": jf.header_json(self.store.block(h).header, self._raw(h - 1))}

    async def header_by_hash(self, p: Params):
        h = self._height_by_hash(p)
        return {"header": jf.header_json(self.store.block(h).header, self._raw(h - 1))}

    async def commit(self, p: Params):
        h = self._height(p)
        block, commit = self.store.block(h), self.store.commit(h)
        return {"signed_header": {"header": jf.header_json(block.header, self._raw(h - 1)),
                                  "commit": jf.commit_json(commit, self._raw(h), self.valset(h))},
                "canonical": h < self.store.height()}  # the latest commit is our seen one (docs/protocol.md)

    async def block_results(self, p: Params):
        h = self._height(p)
        block = self.store.block(h)
        results, tx_events, updates = [], [], []
        for i, tx in enumerate(block.txs):
            _, _, code, logline = self.store.tx_location(tx_hash(tx))
            tx_events.append(self.index.tx_events(block, i, code))
            results.append(jf.exec_tx_result_json(code, logline, tx_events[-1]))
            if code == 0:
                updates += self._validator_updates(tx)
        nxt = self.store.block(h + 1)
        app_hash = nxt.header.app_hash if nxt else self.store.chain_state()[1]
        return {"height": str(h), "txs_results": results or None,
                "finalize_block_events": [jf.event_json(t, a) for t, a in self.index.block_events(block, tx_events)],
                "validator_updates": updates or None, "consensus_param_updates": None, "app_hash": jf.b64(app_hash)}

    def _validator_updates(self, tx: bytes) -> list[dict]:
        """A committed validator_update tx's changes, as CometBFT's ValidatorUpdate (they apply at H + 2)."""
        from ...chain import valsets
        from ...chain.tx import SignedTx
        from ...chain.types import InvalidError
        try:
            stx = SignedTx.decode(tx, len(tx))
            if stx.kind != valsets.KIND:
                return []
            upd = valsets.ValidatorUpdate.from_obj(stx.body)
        except InvalidError:
            return []
        return [{"pub_key": jf.pub_key_json(pk), "power": str(power)} for pk, power in upd.changes]

    async def validators(self, p: Params):
        h = self._height(p, allow_next=True) if self.store.height() else 0
        vals = self.valset(h).validators
        skip, per = paginate(len(vals), p.int("page"), p.int("per_page"))
        page = vals[skip:skip + per]
        return {"block_height": str(h), "validators": [jf.validator_json(v) for v in page],
                "count": str(len(page)), "total": str(len(vals))}

    # --- txs
    def _tx_json(self, th: bytes, height: int, index: int, code: int, logline: str, prove: bool,
                 block=None) -> dict:
        block = block or self.store.block(height)
        tx = block.txs[index]
        out = {"hash": jf.hexu(th), "height": str(height), "index": index,
               "tx_result": self._tx_result(block, index, code, logline), "tx": jf.b64(tx)}
        if prove:
            root, proofs = merkle.proofs(list(block.txs))
            out["proof"] = jf.proof_json(proofs[index], tx, root)
        return out

    async def tx(self, p: Params):
        th = p.bytes("hash")
        loc = self.store.tx_location(th)
        if loc is None:
            raise not_found(f"tx ({th.hex().upper()}) not found")
        height, index, code, logline = loc
        return self._tx_json(th, height, index, code, logline, p.bool("prove"))

    def _query(self, p: Params):
        try:
            return parse(p.str("query", ""))
        except QueryError as exc:
            raise invalid_params(f"bad query: {exc}") from None

    def _order(self, p: Params) -> bool:
        order = (p.str("order_by") or "asc").lower()
        if order not in ("asc", "desc"):
            raise failed("expected order_by to be either `asc` or `desc` or empty", 400)
        return order == "desc"

    def _search(self, p: Params, search) -> tuple[list, int]:
        """One page of an index search (query, page, per_page, order_by) and the total count."""
        q, desc = self._query(p), self._order(p)
        self.index.catch_up(max_seconds=SEARCH_CATCH_UP_S)  # blocks committed since the indexer last ran
        lag = self.index.lag()
        if lag:
            raise failed(f"the event index is catching up ({lag} blocks behind the tip); retry shortly", 503)
        try:
            hits = search(q)
        except QueryError as exc:
            raise failed(str(exc), 400) from None
        if desc:
            hits.reverse()
        skip, per = paginate(len(hits), p.int("page"), p.int("per_page"))
        return hits[skip:skip + per], len(hits)

    async def tx_search(self, p: Params):
        prove = p.bool("prove")
        hits, total = self._search(p, self.index.search_txs)
        out = []
        for height, index in hits:
            block = self.store.block(height)
            th = tx_hash(block.txs[index])
            _, _, code, logline = self.store.tx_location(th)
            out.append(self._tx_json(th, height, index, code, logline, prove, block))
        return {"txs": out, "total_count": str(total)}

    async def block_search(self, p: Params):
        hits, total = self._search(p, self.index.search_blocks)
        size = sum(len(self._raw(h) or b"") for h in hits)
        if size > MAX_PAGE_BLOCK_BYTES and len(hits) > 1:
            raise failed(f"the {len(hits)} blocks of this page hold {size} bytes (at most {MAX_PAGE_BLOCK_BYTES} "
                         f"in one answer): ask for a smaller per_page", 400)
        return {"blocks": [self._block_result(h) for h in hits], "total_count": str(total)}

    # --- mempool
    async def unconfirmed_txs(self, p: Params):
        mp = self.node.mempool
        limit = min(max(p.int("limit", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
        txs = list(itertools.islice(mp.txs.values(), limit))
        return {"n_txs": str(len(txs)), "total": str(len(mp)), "total_bytes": str(mp.size_bytes),
                "txs": [jf.b64(t) for t in txs]}

    async def num_unconfirmed_txs(self, p: Params):
        mp = self.node.mempool
        return {"n_txs": str(len(mp)), "total": str(len(mp)), "total_bytes": str(mp.size_bytes), "txs": None}

    def _check(self, tx: bytes) -> dict:
        loc = self.store.tx_location(tx_hash(tx))
        if loc is not None:
            return jf.exec_tx_result_json(7, f"tx already committed at height {loc[0]}")
        res = self.node.submit_tx(tx)
        return jf.exec_tx_result_json(res.code, res.log)

    async def check_tx(self, p: Params):
        res = self.node.app.check_tx_dry_run(p.bytes("tx"))
        return jf.exec_tx_result_json(res.code, res.log)

    async def broadcast_tx_sync(self, p: Params):
        tx = p.bytes("tx")
        r = self._check(tx)
        return {"code": r["code"], "data": "", "log": r["log"], "codespace": "", "hash": jf.hexu(tx_hash(tx))}

    # this node checks a tx in-process before answering, so async answers like sync (docs/api.md)
    broadcast_tx_async = broadcast_tx_sync

    async def broadcast_tx_commit(self, p: Params):
        tx = p.bytes("tx")
        th = tx_hash(tx)
        fut = self.waiters.register(th)
        try:
            check = self._check(tx)
            if check["code"] != 0:
                return {"check_tx": check, "tx_result": {}, "hash": jf.hexu(th), "height": "0"}
            try:
                height, index, result = await self.waiters.wait(th, fut, BROADCAST_COMMIT_TIMEOUT_S)
            except asyncio.TimeoutError:
                raise failed("timed out waiting for tx to be included in a block", 504) from None
        finally:
            self.waiters.release(th, fut)
        block = self.store.block(height)
        return {"check_tx": check, "tx_result": self._tx_result(block, index, result.code, result.log),
                "hash": jf.hexu(th), "height": str(height)}

    # --- ABCI
    async def abci_info(self, p: Params):
        h, app_hash = self.node.app.info()
        return {"response": {"data": self.node.genesis.app_name, "version": VERSION, "app_version": jf.APP_PROTOCOL,
                             "last_block_height": str(h), "last_block_app_hash": jf.b64(app_hash)}}

    async def abci_query(self, p: Params):
        path = p.str("path", "") or ""
        data = p.hexbytes("data")
        height = p.int("height", 0)
        tip = self.store.height()
        resp = {"code": QUERY_OK, "log": "", "info": "", "index": "0", "key": jf.b64(data), "value": None,
                "proof_ops": None, "height": str(tip), "codespace": ""}
        if height not in (0, tip):
            resp.update(code=QUERY_NO_HISTORY, log=f"only the latest state (height {tip}) can be queried")
            return {"response": resp}
        query = getattr(self.node.app, "query", None)
        if query is None:
            resp.update(code=QUERY_UNKNOWN_PATH, log="this app answers no queries")
            return {"response": resp}
        ans = query(path, data)
        resp.update(code=ans.code, log=ans.log)
        if ans.value is not None:
            resp["value"] = jf.b64(ans.value)
        if p.bool("prove") and ans.code == QUERY_OK and ans.prove_tx:
            resp["proof_ops"] = self._tx_proof_ops(ans.prove_tx)
        return {"response": resp}

    def _tx_proof_ops(self, th: bytes) -> dict | None:
        """The proof this app has for a record: its tx's Merkle path to the data_hash of the header at
        `height` (check the header with /commit). One ProofOp, data = JSON {height, proof (as /tx)}."""
        loc = self.store.tx_location(th)
        if loc is None:
            return None
        height, index = loc[0], loc[1]
        block = self.store.block(height)
        root, proofs = merkle.proofs(list(block.txs))
        data = {"height": str(height), "proof": jf.proof_json(proofs[index], block.txs[index], root)}
        return {"ops": [{"type": "provchain:tx_merkle", "key": jf.b64(th),
                         "data": jf.b64(json.dumps(data).encode())}]}


# name -> parameter names, in CometBFT's order (routes.go)
ROUTES: dict[str, list[str]] = {
    "health": [], "status": [], "net_info": [], "blockchain": ["minHeight", "maxHeight"], "genesis": [],
    "genesis_chunked": ["chunk"], "block": ["height"], "block_by_hash": ["hash"], "block_results": ["height"],
    "commit": ["height"], "header": ["height"], "header_by_hash": ["hash"], "check_tx": ["tx"],
    "tx": ["hash", "prove"], "tx_search": ["query", "prove", "page", "per_page", "order_by"],
    "block_search": ["query", "page", "per_page", "order_by"], "validators": ["height", "page", "per_page"],
    "consensus_state": [], "dump_consensus_state": [], "consensus_params": ["height"], "unconfirmed_txs": ["limit"],
    "num_unconfirmed_txs": [], "broadcast_tx_commit": ["tx"], "broadcast_tx_sync": ["tx"],
    "broadcast_tx_async": ["tx"], "abci_query": ["path", "data", "height", "prove"], "abci_info": [],
}

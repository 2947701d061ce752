"""The node's RPC server: CometBFT-shaped JSON over aiohttp.

Every answer is a JSON-RPC 2.0 envelope; every error is a JSON-RPC error object with a code and a
message and a fitting HTTP status, never a stack trace. Apps add their own routes through `app.routes()`.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from ..chain import jsonfmt as jf
from ..chain import merkle
from ..chain.encoding import EncodingError, decode
from ..chain.types import tx_hash

log = logging.getLogger("provchain.rpc")

INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL = -32603
NOT_FOUND = -32004
TX_REJECTED = -32010
TIMEOUT = -32011
MAX_BODY = 8 * 1024 * 1024
MAX_BATCH = 5000
VERSION = "0.1.0"


class RPCError(Exception):
    def __init__(self, status: int, code: int, message: str, data=None):
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data


def bad_params(message: str) -> RPCError:
    return RPCError(400, INVALID_PARAMS, message)


def not_found(message: str) -> RPCError:
    return RPCError(404, NOT_FOUND, message)


def envelope(result) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": -1, "result": result})


def error_response(err: RPCError) -> web.Response:
    body = {"jsonrpc": "2.0", "id": -1, "error": {"code": err.code, "message": err.message,
                                                   "data": err.data if err.data is not None else err.message}}
    return web.json_response(body, status=err.status)


@web.middleware
async def errors_middleware(request, handler):
    try:
        return await handler(request)
    except RPCError as err:
        return error_response(err)
    except web.HTTPException as exc:
        return error_response(RPCError(exc.status, INVALID_REQUEST, exc.reason or "bad request"))
    except Exception:
        log.exception("RPC %s failed", request.path)
        return error_response(RPCError(500, INTERNAL, "internal error"))


def int_param(request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise bad_params(f"missing parameter {name!r}")
        return default
    try:
        value = int(raw.strip('"'))
    except ValueError:
        raise bad_params(f"parameter {name!r} must be an integer") from None
    if value < 0:
        raise bad_params(f"parameter {name!r} must not be negative")
    return value


def hex_param(request, name: str, size: int | None = 32) -> bytes:
    raw = request.query.get(name)
    if not raw:
        raise bad_params(f"missing parameter {name!r}")
    try:
        return jf.parse_hex(raw, size)
    except ValueError as exc:
        raise bad_params(f"parameter {name!r}: {exc}") from None


class RPCServer:
    def __init__(self, node):
        self.node = node
        app = web.Application(middlewares=[errors_middleware], client_max_size=MAX_BODY)
        r = app.router
        for path, handler in [("/status", self.status), ("/health", self.health), ("/block", self.block),
                              ("/block_by_hash", self.block_by_hash), ("/commit", self.commit),
                              ("/validators", self.validators), ("/tx", self.tx), ("/genesis", self.genesis),
                              ("/net_info", self.net_info), ("/blockchain", self.blockchain),
                              ("/num_unconfirmed_txs", self.num_unconfirmed)]:
            r.add_get(path, handler)
        r.add_post("/broadcast_tx", self.broadcast_tx)
        r.add_post("/broadcast_tx_batch", self.broadcast_tx_batch)
        for method, path, handler in getattr(node.app, "routes", lambda: [])():
            r.add_route(method, path, self._wrap(handler))
        app.router.add_route("*", "/{tail:.*}", self.unknown)
        self.web_app = app

    @staticmethod
    def _wrap(handler):
        async def wrapped(request):
            try:
                return envelope(await handler(request))
            except ValueError as exc:
                raise bad_params(str(exc)) from None
            except LookupError as exc:
                raise not_found(str(exc.args[0]) if exc.args else "not found") from None
        return wrapped

    async def unknown(self, request):
        raise RPCError(404, -32601, f"no route {request.method} {request.path}")

    @property
    def store(self):
        return self.node.driver.store

    def _height(self, request) -> int:
        tip = self.store.height()
        h = int_param(request, "height", tip)
        if h == 0:
            h = tip
        if h > tip or h < 1:
            raise not_found(f"height {h} is not available (latest is {tip})")
        return h

    async def status(self, request):
        n = self.node
        h, app_hash, last_hash, t = self.store.chain_state()
        me = n.privval.key if n.privval else None
        val = n.genesis.validators.by_address.get(me.address) if me else None
        return envelope({
            "node_info": {"id": jf.hexu(n.node_id), "listen_addr": n.p2p_addr, "network": n.genesis.chain_id,
                          "version": VERSION, "moniker": n.moniker},
            "sync_info": {"latest_block_hash": jf.hexu(last_hash), "latest_app_hash": jf.hexu(app_hash),
                          "latest_block_height": str(h), "latest_block_time": jf.rfc3339(t) if h else "",
                          "earliest_block_height": "1" if h else "0",
                          "catching_up": any(ph > h + 1 for ph in n.driver.peer_heights.values())},
            "validator_info": {"address": jf.hexu(me.address) if me else "",
                               "pub_key": {"type": "tendermint/PubKeyEd25519", "value": jf.b64(me.pubkey)} if me else None,
                               "voting_power": str(val.power if val else 0)},
            "consensus": {"height": str(n.driver.machine.height), "round": n.driver.machine.round,
                          "step": n.driver.machine.step_name},
        })

    async def health(self, request):
        return envelope({})

    async def block(self, request):
        return envelope(jf.block_json(self.store.block(self._height(request))))

    async def block_by_hash(self, request):
        h = self.store.height_of_block(hex_param(request, "hash"))
        if h is None:
            raise not_found("no block with that hash")
        return envelope(jf.block_json(self.store.block(h)))

    async def commit(self, request):
        h = self._height(request)
        block, commit = self.store.block(h), self.store.commit(h)
        return envelope({"signed_header": {"header": jf.header_json(block.header), "commit": jf.commit_json(commit)},
                         "canonical": True})

    async def validators(self, request):
        h = self._height(request) if self.store.height() else 0
        vals = self.node.genesis.validators.validators
        return envelope({"block_height": str(h), "validators": [jf.validator_json(v) for v in vals],
                         "count": str(len(vals)), "total": str(len(vals))})

    async def blockchain(self, request):
        """Headers of up to 20 blocks, newest first (as CometBFT's /blockchain)."""
        tip = self.store.height()
        hi = min(int_param(request, "maxHeight", tip) or tip, tip)
        lo = max(int_param(request, "minHeight", 1), hi - 19, 1)
        metas = []
        for h in range(hi, lo - 1, -1):
            b = self.store.block(h)
            metas.append({"block_id": {"hash": jf.hexu(b.hash)}, "header": jf.header_json(b.header),
                          "num_txs": str(len(b.txs))})
        return envelope({"last_height": str(tip), "block_metas": metas})

    async def tx(self, request):
        th = hex_param(request, "hash")
        loc = self.store.tx_location(th)
        if loc is None:
            raise not_found("tx not found (not committed, or unknown)")
        height, index, code, logline = loc
        block = self.store.block(height)
        tx = block.txs[index]
        result = {"hash": jf.hexu(th), "height": str(height), "index": index,
                  "tx_result": {"code": code, "log": logline}, "tx": jf.b64(tx)}
        if request.query.get("prove", "false").lower() in ("true", "1"):
            root, proofs = merkle.proofs(list(block.txs))
            result["proof"] = jf.proof_json(proofs[index], tx, root)
        return envelope(result)

    async def genesis(self, request):
        return envelope({"genesis": json.loads(self.node.genesis.to_json())})

    async def net_info(self, request):
        peers = self.node.p2p.info()
        return envelope({"listening": True, "listeners": [self.node.p2p_addr],
                         "n_peers": str(sum(1 for p in peers if p["outbound"] or p["inbound"])),
                         "peers": [{"node_info": {"id": p["node_id"], "listen_addr": p["addr"]},
                                    "is_outbound": p["outbound"], "connected_inbound": p["inbound"],
                                    "remote_ip": p["addr"].rsplit(":", 1)[0]} for p in peers]})

    async def num_unconfirmed(self, request):
        mp = self.node.mempool
        return envelope({"n_txs": str(len(mp)), "total": str(len(mp)), "total_bytes": str(mp.size_bytes)})

    async def broadcast_tx(self, request):
        """Body: raw tx bytes (application/octet-stream) or JSON {"tx": base64}. ?wait=commit waits for it."""
        if request.content_type == "application/json":
            try:
                body = await request.json()
                tx = jf.unb64(body["tx"])
            except (ValueError, KeyError, TypeError):
                raise bad_params('body must be JSON {"tx": "<base64>"}') from None
        else:
            tx = await request.read()
        if not tx:
            raise bad_params("empty tx")
        wait = request.query.get("wait", "") == "commit"
        th = tx_hash(tx)
        driver = self.node.driver
        loc = self.store.tx_location(th)
        if loc is not None:  # already committed: answer with where it is, not an error
            h, i, code, logline = loc
            return envelope({"code": code, "log": logline, "hash": jf.hexu(th), "height": str(h), "index": i})
        fut = None
        if wait:
            fut = asyncio.get_event_loop().create_future()
            driver.tx_waiters[th].append(fut)
        res = self.node.submit_tx(tx)
        if not res.ok and not (wait and res.code == 7 and th in self.node.mempool.txs):
            if fut:
                driver.tx_waiters[th].remove(fut)
            raise RPCError(400, TX_REJECTED, res.log, {"code": res.code, "log": res.log, "hash": jf.hexu(th)})
        if not wait:
            return envelope({"code": 0, "log": "", "hash": jf.hexu(th)})
        try:
            height, index, result = await asyncio.wait_for(fut, timeout=float(request.query.get("timeout", 30)))
        except asyncio.TimeoutError:
            raise RPCError(504, TIMEOUT, "tx accepted but not committed in time", {"hash": jf.hexu(th)}) from None
        return envelope({"code": result.code, "log": result.log, "hash": jf.hexu(th), "height": str(height),
                         "index": index, "data": getattr(self.node.app, "result_json", lambda r: None)(result)})

    async def broadcast_tx_batch(self, request):
        """Body: msgpack array of raw txs (at most MAX_BATCH). For bulk submitters: one request, one answer
        per tx ({code, log, hash}), no waiting for commit."""
        try:
            txs = decode(await request.read())
        except EncodingError as exc:
            raise bad_params(f"body must be a msgpack array of txs: {exc}") from None
        if not isinstance(txs, list) or len(txs) > MAX_BATCH or not all(isinstance(t, bytes) and t for t in txs):
            raise bad_params(f"body must be a msgpack array of at most {MAX_BATCH} non-empty byte strings")
        out = []
        for tx in txs:
            res = self.node.submit_tx(tx)
            out.append({"code": res.code, "log": res.log, "hash": jf.hexu(tx_hash(tx))})
        return envelope({"results": out})

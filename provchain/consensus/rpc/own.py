"""This chain's own routes, beside CometBFT's: tx submission for its CLIs and benches, and the app's.

POST /broadcast_tx (raw bytes or {"tx": base64}; ?wait=commit&timeout=S waits for the block) and
POST /broadcast_tx_batch (msgpack array). Unlike CometBFT's broadcast_tx_*, a rejected tx here is an
HTTP 400 with code -32010 (the CLIs rely on it). The app's routes (/record, /records, /match, /nonce)
answer 400 for bad input and 404 / -32004 for what does not exist.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ...chain import jsonfmt as jf
from ...chain.encoding import EncodingError, decode
from ...chain.types import tx_hash
from .jsonrpc import RPCError, parse_json, response

NOT_FOUND = -32004
TX_REJECTED = -32010
TIMEOUT = -32011
BAD_PARAMS = -32602
MAX_BATCH_TXS = 5000
MAX_WAIT_S = 120.0  # the longest ?wait=commit&timeout= a caller may ask for


def bad(message: str) -> RPCError:
    return RPCError(BAD_PARAMS, message, 400, message=message)


def envelope(result) -> web.Response:
    return web.json_response(response(-1, result))


class OwnRoutes:
    def __init__(self, node, waiters):
        self.node = node
        self.waiters = waiters  # routes.TxWaiters, shared with broadcast_tx_commit

    def routes(self):
        out = [("POST", "/broadcast_tx", self.broadcast_tx), ("POST", "/broadcast_tx_batch", self.broadcast_tx_batch)]
        for method, path, handler in getattr(self.node.app, "routes", lambda: [])():
            out.append((method, path, self._wrap(handler)))
        return out

    @staticmethod
    def _wrap(handler):
        async def wrapped(request):
            try:
                return envelope(await handler(request))
            except ValueError as exc:
                raise bad(str(exc)) from None
            except LookupError as exc:
                msg = str(exc.args[0]) if exc.args else "not found"
                raise RPCError(NOT_FOUND, msg, 404, message=msg) from None
        return wrapped

    @staticmethod
    def _timeout(request) -> float:
        raw = request.query.get("timeout", "30")
        try:
            t = float(raw)
        except ValueError:
            raise bad(f"timeout must be a number of seconds, got {raw[:20]!r}") from None
        if not 0 < t <= MAX_WAIT_S:  # also refuses nan and inf
            raise bad(f"timeout must be in (0, {MAX_WAIT_S:g}] seconds")
        return t

    async def broadcast_tx(self, request):
        """Body: raw tx bytes (application/octet-stream) or JSON {"tx": base64}. ?wait=commit waits for it."""
        if request.content_type == "application/json":
            try:
                body = parse_json(await request.read())
                tx = jf.unb64(body["tx"])
            except (RPCError, ValueError, KeyError, TypeError):
                raise bad('body must be JSON {"tx": "<base64>"}') from None
        else:
            tx = await request.read()
        if not tx:
            raise bad("empty tx")
        wait = request.query.get("wait", "") == "commit"
        timeout = self._timeout(request) if wait else 0.0
        th = tx_hash(tx)
        store = self.node.driver.store
        loc = store.tx_location(th)
        if loc is not None:  # already committed: answer with where it is, not an error
            h, i, code, logline = loc
            return envelope({"code": code, "log": logline, "hash": jf.hexu(th), "height": str(h), "index": i})
        fut = self.waiters.register(th) if wait else None
        try:
            res = self.node.submit_tx(tx)
            if not res.ok and not (wait and res.code == 7 and th in self.node.mempool.txs):
                raise RPCError(TX_REJECTED, {"code": res.code, "log": res.log, "hash": jf.hexu(th)}, 400,
                               message=res.log)
            if not wait:
                return envelope({"code": 0, "log": "", "hash": jf.hexu(th)})
            try:
                height, index, result = await self.waiters.wait(th, fut, timeout)
            except asyncio.TimeoutError:
                raise RPCError(TIMEOUT, {"hash": jf.hexu(th)}, 504,
                               message="tx accepted but not committed in time") from None
        finally:
            if fut is not None:
                self.waiters.release(th, fut)
        return envelope({"code": result.code, "log": result.log, "hash": jf.hexu(th), "height": str(height),
                         "index": index, "data": getattr(self.node.app, "result_json", lambda r: None)(result)})

    async def broadcast_tx_batch(self, request):
        """Body: msgpack array of raw txs (at most MAX_BATCH_TXS). For bulk submitters: one request, one
        answer per tx ({code, log, hash}), no waiting for commit."""
        try:
            txs = decode(await request.read())
        except EncodingError as exc:
            raise bad(f"body must be a msgpack array of txs: {exc}") from None
        if not isinstance(txs, list) or len(txs) > MAX_BATCH_TXS or not all(isinstance(t, bytes) and t for t in txs):
            raise bad(f"body must be a msgpack array of at most {MAX_BATCH_TXS} non-empty byte strings")
        out = []
        for tx in txs:
            res = self.node.submit_tx(tx)
            out.append({"code": res.code, "log": res.log, "hash": jf.hexu(tx_hash(tx))})
        return envelope({"results": out})

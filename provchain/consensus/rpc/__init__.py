"""The node's RPC server (aiohttp): CometBFT 0.38's RPC plus this chain's own routes.

Transports, as CometBFT: JSON-RPC 2.0 over HTTP POST `/` (single or batch; the caller's id echoed),
the URI form GET `/<method>?param=value`, and JSON-RPC over the `/websocket` with event subscriptions.
The CometBFT routes are in routes.py, the envelope in jsonrpc.py, subscriptions in events.py, this
chain's own routes (/broadcast_tx, /broadcast_tx_batch and the app's) in own.py. docs/api.md lists
every route. No request, however malformed, gets a stack trace: errors are JSON-RPC error objects.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web

from ...chain.eventindex import EventIndex
from .events import EventBus
from .jsonrpc import (INVALID_REQUEST, MAX_BATCH, METHOD_NOT_FOUND, PARSE_ERROR, Params, RPCError, parse_json,
                      response)
from .own import OwnRoutes
from .routes import ROUTES, CometRoutes

log = logging.getLogger("provchain.rpc")

MAX_BODY = 8 * 1024 * 1024
INDEX_EVERY_S = 0.25
INDEX_SLICE_S = 0.05
BUSY_MEMPOOL = 1000
MAX_LAG = 100
WS_METHODS = ("subscribe", "unsubscribe", "unsubscribe_all")
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "HEAD, GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": "Origin, Accept, Content-Type, X-Requested-With, X-Server-Time",
                "Access-Control-Max-Age": "600"}


def error_response(err: RPCError, req_id=-1, status: int | None = None) -> web.Response:
    return web.json_response(response(req_id, error=err), status=err.status if status is None else status)


@web.middleware
async def errors_middleware(request, handler):
    try:
        resp = await handler(request)
    except RPCError as err:
        resp = error_response(err)
    except web.HTTPException as exc:
        resp = error_response(RPCError(INVALID_REQUEST, exc.reason or "bad request", exc.status))
    except RecursionError:
        resp = error_response(RPCError(PARSE_ERROR, "JSON nested too deeply", 400))
    except Exception:
        log.exception("RPC %s %s failed", request.method, request.path)
        resp = error_response(RPCError(-32603, "internal error", 500))
    if not isinstance(resp, web.WebSocketResponse):  # CORS on for every answer (browser explorers)
        resp.headers.update(CORS_HEADERS)
    return resp


class RPCServer:
    def __init__(self, node):
        self.node = node
        self.index = EventIndex(node.kv, node.app)
        self.routes = CometRoutes(node, self.index)
        self.bus = EventBus(node, self.index)
        node.driver.block_listeners.append(self.bus.on_block)
        self._indexer: asyncio.Task | None = None
        self.own = OwnRoutes(node, self.routes.waiters)
        self._sockets: set[web.WebSocketResponse] = set()
        app = web.Application(middlewares=[errors_middleware], client_max_size=MAX_BODY)
        r = app.router
        r.add_post("/", self.jsonrpc_post)
        r.add_get("/", self.list_routes)
        r.add_get("/websocket", self.websocket)
        for name in ROUTES:
            r.add_get("/" + name, self._uri_handler(name))
        for method, path, handler in self.own.routes():
            r.add_route(method, path, handler)
        r.add_route("OPTIONS", "/{tail:.*}", self.preflight)
        r.add_route("*", "/{tail:.*}", self.unknown)
        app.on_startup.append(self._start_indexer)
        app.on_shutdown.append(self._close_sockets)
        app.on_cleanup.append(self._stop_indexer)
        self.web_app = app

    # --- dispatch
    async def call(self, method, params, client=None, req_id=None):
        """Run one JSON-RPC call; returns its result or raises RPCError."""
        if not isinstance(method, str):
            raise RPCError(INVALID_REQUEST, "method must be a string", 400)
        if method in WS_METHODS:
            if client is None:
                raise RPCError(METHOD_NOT_FOUND, "", 404)
            p = Params.from_json(params, ["query"])
            if method == "subscribe":
                return self.bus.subscribe(client, p.raw("query"), req_id)
            if method == "unsubscribe":
                return self.bus.unsubscribe(client, p.raw("query"))
            return self.bus.unsubscribe_all(client)
        names = ROUTES.get(method)
        if names is None:
            raise RPCError(METHOD_NOT_FOUND, "", 404)
        return await getattr(self.routes, method)(Params.from_json(params, names))

    async def _one(self, req, client=None):
        """The response object for one request, or None for a notification (no id)."""
        if not isinstance(req, dict) or req.get("jsonrpc") != "2.0":
            return response(req.get("id") if isinstance(req, dict) else None,
                            error=RPCError(INVALID_REQUEST, 'a request is an object with "jsonrpc": "2.0"', 400))
        if "id" not in req or req["id"] is None:
            return None  # a notification: CometBFT runs nothing and answers nothing
        req_id = req["id"]
        if not isinstance(req_id, (str, int, float)) or isinstance(req_id, bool):
            return response(None, error=RPCError(INVALID_REQUEST, "id must be a string or a number", 400))
        try:
            return response(req_id, await self.call(req.get("method"), req.get("params"), client, req_id))
        except RPCError as err:
            return response(req_id, error=err)

    async def jsonrpc_post(self, request):
        body = await request.read()
        if not body.strip():
            return await self.list_routes(request)
        try:
            payload = parse_json(body)
        except RPCError as err:
            return error_response(err, None)
        if isinstance(payload, list):
            if not payload:
                return error_response(RPCError(INVALID_REQUEST, "empty batch", 400), None)
            if len(payload) > MAX_BATCH:
                return error_response(RPCError(INVALID_REQUEST, f"more than {MAX_BATCH} requests in a batch", 400), None)
            answers = [a for a in [await self._one(r) for r in payload] if a is not None]
            return web.json_response(answers) if answers else web.Response(status=200)
        answer = await self._one(payload)
        return web.json_response(answer) if answer is not None else web.Response(status=200)

    def _uri_handler(self, name: str):
        async def handler(request):
            return web.json_response(response(-1, await getattr(self.routes, name)(Params(dict(request.query), uri=True))))
        handler.__name__ = name
        return handler

    async def list_routes(self, request):
        items = "".join(f'<li><a href="/{n}">/{n}</a>{"?" + "&".join(f"{a}=_" for a in p) if p else ""}</li>'
                        for n, p in sorted(ROUTES.items()))
        return web.Response(text=f"<html><body><p>Available endpoints:</p><ul>{items}</ul>"
                                 "<p>JSON-RPC 2.0: POST / ; events: /websocket</p></body></html>",
                            content_type="text/html")

    async def preflight(self, request):
        return web.Response(status=204)

    async def unknown(self, request):
        raise RPCError(METHOD_NOT_FOUND, f"no route {request.method} {request.path}", 404)

    # --- the event index, kept up to date off the commit path
    async def _start_indexer(self, app):
        self._indexer = asyncio.create_task(self._index_loop())

    async def _stop_indexer(self, app):
        if self._indexer is not None:
            self._indexer.cancel()
            await asyncio.gather(self._indexer, return_exceptions=True)

    async def _index_loop(self):
        """Every INDEX_EVERY_S, index new blocks for at most INDEX_SLICE_S. While the node is saturated
        (BUSY_MEMPOOL txs waiting) the index may fall MAX_LAG blocks behind, so that indexing never
        takes time from consensus when it is short of it; searches bring it up to date first."""
        while True:
            await asyncio.sleep(INDEX_EVERY_S)
            try:
                lag = self.index.lag()
                if lag and (len(self.node.mempool) < BUSY_MEMPOOL or lag >= MAX_LAG):
                    self.index.catch_up(max_seconds=INDEX_SLICE_S)
            except Exception:
                log.exception("event index: indexing failed; retrying")
                await asyncio.sleep(5)

    # --- websocket
    async def websocket(self, request):
        client = self.bus.connect()
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_BODY)
        try:
            await ws.prepare(request)
        except Exception:
            self.bus.disconnect(client)
            raise
        self._sockets.add(ws)
        writer = asyncio.create_task(self._ws_writer(ws, client))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        await client.outbox.put(response(None, error=RPCError(INVALID_REQUEST, "send text frames", 400)))
                    continue
                try:
                    req = parse_json(msg.data)
                except RPCError as err:
                    await client.outbox.put(response(None, error=err))
                    continue
                answer = await self._one(req, client)
                if answer is not None:
                    await client.outbox.put(answer)
        finally:
            self.bus.disconnect(client)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            self._sockets.discard(ws)
        return ws

    @staticmethod
    async def _ws_writer(ws, client):
        while True:
            msg = await client.outbox.get()
            await ws.send_json(msg)

    async def _close_sockets(self, app):
        for ws in list(self._sockets):
            await ws.close()

"""The explorer's asynchronous client for a node's RPC (aiohttp), with clear errors.

`NodeDown`: the node can't be reached or answers with something that is not JSON-RPC (the explorer
shows a 503). `NodeAnswer`: the node answered with a JSON-RPC error; it carries the node's HTTP status
and message (404 for an unknown hash or a height beyond the tip, 400 for a malformed query).
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

NOT_FOUND = -32004


def signed_only(result):
    """Drop the commit entries of validators that did not sign (CometBFT lists every validator, absent
    ones with block_id_flag 1): the explorer's pages count and show signers only."""
    if isinstance(result, dict):
        for commit in (result.get("signed_header", {}).get("commit"), result.get("block", {}).get("last_commit")):
            if isinstance(commit, dict) and isinstance(commit.get("signatures"), list):
                commit["signatures"] = [s for s in commit["signatures"] if s.get("block_id_flag", 2) == 2]
    return result


class NodeDown(Exception):
    pass


class NodeAnswer(Exception):
    def __init__(self, status: int, code: int | None, message: str, data=None):
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data


class AsyncNode:
    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=3)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout,
                                                  connector=aiohttp.TCPConnector(limit=16, force_close=False))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str, **params):
        """GET path?params and return the JSON-RPC result."""
        q = {k: str(v) for k, v in params.items() if v is not None}
        if path == "/validators" and "page" not in q:
            return await self._all_validators(q)
        return await self._call("GET", path, q, None)

    async def _all_validators(self, q: dict) -> dict:
        """/validators is paginated (at most 100 a page, as CometBFT): fetch every page."""
        res = await self._call("GET", "/validators", {**q, "page": "1", "per_page": "100"}, None)
        page = 1
        while len(res["validators"]) < int(res["total"]) and page < 100:
            page += 1
            more = await self._call("GET", "/validators", {**q, "page": str(page), "per_page": "100"}, None)
            if not more["validators"]:
                break
            res["validators"] += more["validators"]
        res["count"] = str(len(res["validators"]))
        return res

    async def post(self, path: str, body: dict):
        """POST a JSON body to path and return the JSON-RPC result."""
        return await self._call("POST", path, None, body)

    async def _call(self, method: str, path: str, params: dict | None, body: dict | None):
        await self.start()
        try:
            async with self._session.request(method, self.url + path, params=params, json=body) as r:
                raw = await r.read()
                status = r.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise NodeDown(f"the node at {self.url} is not answering ({type(exc).__name__})") from None
        try:
            reply = json.loads(raw)
        except ValueError:
            raise NodeDown(f"the node at {self.url} answered {path} with something that is not JSON") from None
        if not isinstance(reply, dict):
            raise NodeDown(f"the node at {self.url} answered {path} with malformed JSON-RPC")
        err = reply.get("error")
        if err:
            if not isinstance(err, dict):
                raise NodeDown(f"the node at {self.url} answered {path} with malformed JSON-RPC")
            st = status if 400 <= status < 600 else 502
            # CometBFT routes say "Internal error" and give the reason in data: show the reason
            data = err.get("data")
            message = data if isinstance(data, str) and data else str(err.get("message", "error"))
            raise NodeAnswer(st, err.get("code"), message, data)
        if "result" not in reply:
            raise NodeDown(f"the node at {self.url} answered {path} without a result")
        return signed_only(reply["result"]) if path in ("/commit", "/block", "/block_by_hash") else reply["result"]

    async def get_or_none(self, path: str, **params):
        """Like get, but None for a 'not found' answer."""
        try:
            return await self.get(path, **params)
        except NodeAnswer as exc:
            if exc.status == 404 or exc.code == NOT_FOUND:
                return None
            raise

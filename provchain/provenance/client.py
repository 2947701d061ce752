"""A small synchronous RPC client for a provchain node (urllib: no event loop needed in CLIs)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

from ..chain import jsonfmt as jf
from ..chain.encoding import encode
from ..chain.types import Genesis, InvalidError


class NodeError(Exception):
    """The node could not be reached, or answered with an error or with something that isn't JSON-RPC."""

    def __init__(self, message: str, code: int | None = None, data=None):
        super().__init__(message)
        self.code, self.data = code, data


class NodeClient:
    def __init__(self, url: str, timeout: float = 15.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, path: str, params: dict | None = None, body: bytes | None = None,
              content_type: str = "application/json", timeout: float | None = None):
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
        if body is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise NodeError(f"node {self.url} is unreachable: {reason}") from None
        try:
            reply = json.loads(raw)
        except ValueError:
            raise NodeError(f"node {self.url} answered {path} with something that is not JSON") from None
        if not isinstance(reply, dict):
            raise NodeError(f"node {self.url} answered {path} with malformed JSON-RPC")
        if "error" in reply and reply["error"]:
            err = reply["error"]
            if not isinstance(err, dict):
                raise NodeError(f"node {self.url} answered {path} with malformed JSON-RPC")
            # CometBFT routes say "Internal error" and give the reason in data: show the reason
            data = err.get("data")
            message = data if isinstance(data, str) and data else str(err.get("message", "error"))
            raise NodeError(message, err.get("code"), data)
        if "result" not in reply:
            raise NodeError(f"node {self.url} answered {path} without a result")
        return reply["result"]

    def get(self, path: str, **params):
        return self._call(path, {k: v for k, v in params.items() if v is not None})

    def genesis(self) -> Genesis:
        try:
            return jf.genesis_from_json(self.get("/genesis")["genesis"])
        except (InvalidError, KeyError, TypeError) as exc:
            raise NodeError(f"node {self.url} sent a malformed genesis: {exc}") from None

    def status(self) -> dict:
        return self.get("/status")

    def next_nonce(self, pubkey: bytes) -> int:
        return int(self.get("/nonce", sender=pubkey.hex())["next_nonce"])

    def broadcast(self, tx: bytes, wait: bool = True, timeout: float = 60.0) -> dict:
        params = {"wait": "commit", "timeout": str(int(timeout))} if wait else None
        return self._call("/broadcast_tx", params, body=tx, content_type="application/octet-stream",
                          timeout=timeout + 5)

    def record_by_content(self, sha: bytes) -> dict | None:
        try:
            return self.get("/record", content_sha256=sha.hex(), fingerprint="false")
        except NodeError as exc:
            if exc.code == -32004:
                return None
            raise

    def match(self, fingerprint_obj) -> list[dict]:
        body = json.dumps({"fingerprint": base64.b64encode(encode(fingerprint_obj)).decode()}).encode()
        result = self._call("/match", body=body)
        cands = result.get("candidates") if isinstance(result, dict) else None
        if not isinstance(cands, list):
            raise NodeError(f"node {self.url} answered /match with malformed candidates")
        return cands

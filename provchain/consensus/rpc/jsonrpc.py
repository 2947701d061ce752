"""The JSON-RPC 2.0 envelope as CometBFT speaks it: requests, errors, and parameters from both transports.

CometBFT takes the same call as a JSON-RPC POST to `/` (params by name or position, bytes in base64) or
as a URI GET `/<method>?name=value` (strings quoted, bytes as 0x-hex). `Params` reads either form.
Errors are JSON-RPC error objects with CometBFT's codes; a failure of the call itself is -32603
"Internal error" with the reason in `data`, as CometBFT answers.
"""

from __future__ import annotations

import base64
import json

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000

MAX_BATCH = 100  # requests in one JSON-RPC batch

_MESSAGES = {PARSE_ERROR: "Parse error. Invalid JSON", INVALID_REQUEST: "Invalid Request",
             METHOD_NOT_FOUND: "Method not found", INVALID_PARAMS: "Invalid params",
             INTERNAL_ERROR: "Internal error", SERVER_ERROR: "Server error"}


class RPCError(Exception):
    """A JSON-RPC error. `status` is the HTTP status used on the URI (GET) transport; JSON-RPC over POST
    answers 200 with the error in the body, as CometBFT does."""

    def __init__(self, code: int, data: str = "", status: int = 500, message: str | None = None):
        super().__init__(data or message or _MESSAGES.get(code, "error"))
        self.code, self.data, self.status = code, data, status
        self.message = message or _MESSAGES.get(code, "error")

    def to_json(self) -> dict:
        return {"code": self.code, "message": self.message, "data": self.data}


def invalid_params(reason: str) -> RPCError:
    return RPCError(INVALID_PARAMS, reason, 400)


def failed(reason: str, status: int = 500) -> RPCError:
    """The call ran and failed (CometBFT: -32603 Internal error, reason in data)."""
    return RPCError(INTERNAL_ERROR, reason, status)


def not_found(reason: str) -> RPCError:
    return failed(reason, 404)


def response(req_id, result=None, error: RPCError | None = None) -> dict:
    out = {"jsonrpc": "2.0", "id": req_id}
    if error is not None:
        out["error"] = error.to_json()
    else:
        out["result"] = result
    return out


def parse_json(raw: bytes | str):
    """json.loads that turns every malformed input (also nesting deep enough to exhaust the recursion
    limit) into a -32700 parse error instead of an exception."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise RPCError(PARSE_ERROR, "JSON nested too deeply", 400) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RPCError(PARSE_ERROR, f"error unmarshaling request: {exc}", 400) from None


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


class Params:
    """Typed access to a call's parameters. `uri=True`: they came from a GET query string."""

    def __init__(self, values: dict, uri: bool = False):
        self.values, self.uri = values, uri

    @classmethod
    def from_json(cls, params, names: list[str]) -> "Params":
        if params is None:
            return cls({})
        if isinstance(params, list):
            if len(params) > len(names):
                raise invalid_params(f"expected at most {len(names)} params, got {len(params)}")
            return cls(dict(zip(names, params)))
        if isinstance(params, dict):
            return cls(params)
        raise invalid_params("params must be an object or an array")

    def raw(self, name: str):
        v = self.values.get(name)
        return None if v is None or (self.uri and v == "") else v

    def int(self, name: str, default: int | None = None, minimum: int = 0) -> int | None:
        v = self.raw(name)
        if v is None:
            return default
        if isinstance(v, bool):
            raise invalid_params(f"{name} must be an integer")
        try:
            n = v if isinstance(v, int) else int(_unquote(str(v)).strip())
        except ValueError:
            raise invalid_params(f"{name} must be an integer, got {str(v)[:40]!r}") from None
        if n < minimum:
            raise invalid_params(f"{name} must be at least {minimum}, got {n}")
        return n

    def str(self, name: str, default: str | None = None) -> str | None:
        v = self.raw(name)
        if v is None:
            return default
        if not isinstance(v, str):
            raise invalid_params(f"{name} must be a string")
        return _unquote(v) if self.uri else v

    def bool(self, name: str, default: bool = False) -> bool:
        v = self.raw(name)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        s = _unquote(str(v)).lower()
        if s in ("true", "1"):
            return True
        if s in ("false", "0"):
            return False
        raise invalid_params(f"{name} must be true or false")

    def bytes(self, name: str, required: bool = True) -> bytes | None:
        """[]byte: base64 in JSON; in a URI 0x-hex or a "quoted string" (plain hex is taken too)."""
        v = self.raw(name)
        if v is None:
            if required:
                raise invalid_params(f"missing parameter {name!r}")
            return None
        if not isinstance(v, str):
            raise invalid_params(f"{name} must be a string")
        if self.uri:
            if v.startswith('"'):
                return _unquote(v).encode()
            return self._hex(name, v)
        try:
            return base64.b64decode(v, validate=True)
        except ValueError:
            raise invalid_params(f"{name} must be base64") from None

    def hexbytes(self, name: str) -> bytes:
        """HexBytes (abci_query's data): hex in both transports, empty when absent."""
        v = self.raw(name)
        if v is None:
            return b""
        if not isinstance(v, str):
            raise invalid_params(f"{name} must be a hex string")
        return self._hex(name, _unquote(v))

    @staticmethod
    def _hex(name: str, text: str) -> bytes:
        t = text[2:] if text[:2].lower() == "0x" else text
        try:
            return bytes.fromhex(t)
        except ValueError:
            raise invalid_params(f"{name} must be hex (0x...), got {text[:40]!r}") from None

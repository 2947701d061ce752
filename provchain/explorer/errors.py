"""What the explorer answers when something goes wrong: `ExplorerError` (an HTTP status and a plain
message), the request parsers that raise it, and the middleware that turns every failure into a JSON
error (under /api/) or an HTML error page, never a stack trace.

Unknown hashes and heights beyond the tip are 404, malformed queries 400, empty or non-video uploads
400/422, uploads over the cap 413, a node that is down 503.
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiohttp import web

from . import html as H
from .html import Markup
from .node import NodeAnswer, NodeDown

log = logging.getLogger("provchain.explorer")

HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
HEX40 = re.compile(r"^(0x)?[0-9a-fA-F]{40}$")
PER_PAGE = 20
DEFAULT_WINDOW = 100
MAX_WINDOW = 500


class ExplorerError(Exception):
    def __init__(self, status: int, message: str, title: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra or {}
        self.title = title or {400: "Bad request", 404: "Not found", 405: "Method not allowed",
                               409: "Conflict", 413: "File too large", 422: "Not a readable video",
                               502: "Bad answer from the node", 503: "Node unavailable"}.get(status, "Error")


def bad(message: str) -> ExplorerError:
    return ExplorerError(400, message)


def not_found(message: str) -> ExplorerError:
    return ExplorerError(404, message)


# --- request parsing --------------------------------------------------------------------------------

def parse_hex64(text: str, what: str) -> str:
    t = (text or "").strip()
    if not HEX64.match(t):
        raise bad(f"{what} must be 64 hexadecimal digits (32 bytes), got {t[:80]!r}")
    return t[-64:].upper()


def parse_height(text: str) -> int:
    t = (text or "").strip()
    if not t.isdigit() or len(t) > 18:
        raise bad(f"a block height is a positive whole number, got {t[:40]!r}")
    h = int(t)
    if h < 1:
        raise bad("block heights start at 1")
    return h


def parse_page(request) -> int | None:
    raw = request.query.get("page")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
        raise bad(f"page must be a whole number from 1, got {raw[:40]!r}")
    return int(raw)


def parse_per_page(request) -> int:
    raw = request.query.get("per_page")
    if raw is None or raw == "":
        return PER_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise bad(f"per_page must be a whole number from 1 to 100, got {raw[:40]!r}")
    return int(raw)


def parse_window(request) -> int:
    raw = request.query.get("window", str(DEFAULT_WINDOW))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WINDOW:
        raise bad(f"window must be a whole number of blocks from 1 to {MAX_WINDOW}")
    return int(raw)


# --- turning failures into answers ------------------------------------------------------------------

def error_middleware(node_url: str):
    """aiohttp middleware: every exception becomes an `ExplorerError` answer (logged if unexpected)."""

    @web.middleware
    async def errors(request, handler):
        try:
            return await handler(request)
        except ExplorerError as exc:
            return error_response(request, exc, node_url)
        except NodeDown as exc:
            return error_response(request, ExplorerError(503, f"{exc}. The explorer will show the chain again "
                                                              "as soon as the node answers."), node_url)
        except NodeAnswer as exc:
            status = exc.status if exc.status in (400, 404) else 502
            return error_response(request, ExplorerError(status, exc.message), node_url)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            msg = {404: f"There is no page at {request.path}.", 405: f"{request.method} is not allowed here."}
            return error_response(request, ExplorerError(exc.status, msg.get(exc.status, exc.reason or "error")),
                                  node_url)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:  # noqa: BLE001 - logged; the user gets a plain 500 without a trace
            log.exception("explorer %s %s failed", request.method, request.path)
            return error_response(request, ExplorerError(500, "The explorer hit an internal error; "
                                                              "the details are in its log.", "Internal error"), node_url)
    return errors


def error_response(request, exc: ExplorerError, node_url: str) -> web.Response:
    if request.path == "/api" or request.path.startswith("/api/"):
        body = {"error": {"status": exc.status, "title": exc.title, "message": exc.message}, **exc.extra}
        return web.json_response(body, status=exc.status)
    query = request.query.get("q", "") if request.path == "/search" else ""
    body = H.render("error.html", status=exc.status, title=exc.title, message=exc.message, node=node_url)
    return web.Response(text=H.page(f"{exc.status} {exc.title}", Markup(body), query=query),
                        status=exc.status, content_type="text/html")

"""The block explorer's web server: wires the pieces together and runs them.

Where things live (each module one concern, all sharing one RPC client, node.py's `AsyncNode`):
  chain.py    what the explorer knows about the chain (status, blocks, txs, records, validators)
  pages.py    the HTML pages                      api.py      the JSON API under /api/
  uploads.py  the Verify page's clip uploads and record proofs (reuses provenance.verify)
  previews.py poster frames and short previews of uploaded clips, for record pages
  events.py   live updates over server-sent events (/api/events)
  search.py   where a search term leads           errors.py   error answers and request parsing
  html.py     templates and formatting            fpimage.py  the fingerprint as a PNG
It reads a node's RPC only, never its LevelDB. Bad input never reaches a stack trace (errors.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

from ..chain.types import Genesis, InvalidError
from .api import Api
from .chain import Chain
from .errors import error_middleware
from .events import Events
from .node import AsyncNode
from .pages import Pages
from .previews import PreviewStore
from .uploads import Uploads

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


async def security_headers(request, response) -> None:
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("Cache-Control", "no-store")


def make_app(node_url: str = "http://127.0.0.1:26657", genesis_path: str | None = None,
             upload_cap_mb: float = 200, poll_interval: float = 1.0, c2pa_trust: str | None = None) -> web.Application:
    node = AsyncNode(node_url)
    chain = Chain(node)
    cap = int(upload_cap_mb * 1024 * 1024)
    events = Events(chain, poll_interval)
    previews = PreviewStore()
    uploads = Uploads(chain, genesis_path, cap, c2pa_trust, previews)
    parts = [Pages(chain, genesis_path, cap, previews), Api(chain, events, genesis_path, cap, previews), uploads, events]

    app = web.Application(middlewares=[error_middleware(chain.node_url)], client_max_size=1024 * 1024)
    for part in parts:
        for method, path, handler in part.routes():
            if method == "GET":
                app.router.add_get(path, handler, allow_head=True)
            else:
                app.router.add_route(method, path, handler)
    app.router.add_static("/static", HERE / "static", append_version=False)

    async def on_startup(app) -> None:
        await uploads.start()
        await node.start()
        await events.start()

    async def on_shutdown(app) -> None:
        await events.disconnect_all()

    async def on_cleanup(app) -> None:
        await events.stop()
        await node.close()
        uploads.stop()
        previews.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    app.on_response_prepare.append(security_headers)
    return app


def run(node_url: str, host: str = "127.0.0.1", port: int = 8080, genesis_path: str | None = None,
        upload_cap_mb: float = 200, c2pa_trust_path: str | None = None) -> int:
    c2pa_trust = None
    if c2pa_trust_path:
        try:
            c2pa_trust = Path(c2pa_trust_path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"error: cannot read C2PA trust anchors {c2pa_trust_path}: {exc}", file=sys.stderr)
            return 2
    if genesis_path:
        try:
            Genesis.from_json(Path(genesis_path).read_text())
        except (OSError, InvalidError) as exc:
            print(f"error: cannot use genesis {genesis_path}: {exc}", file=sys.stderr)
            return 2
    if upload_cap_mb <= 0:
        print("error: --upload-cap-mb must be positive", file=sys.stderr)
        return 2
    app = make_app(node_url, genesis_path, upload_cap_mb, c2pa_trust=c2pa_trust)
    print(f"explorer: http://{host}:{port} reading node {node_url}", file=sys.stderr, flush=True)
    try:
        web.run_app(app, host=host, port=port, print=None, access_log=None, shutdown_timeout=5)
    except OSError as exc:
        print(f"error: cannot serve on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0

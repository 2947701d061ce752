"""The server-rendered HTML pages: home, block, transaction, record, records and creator listings,
validators, verify, and the search redirect. Each handler asks `Chain` for the facts and fills a
template in templates/ (see html.py: values are escaped unless built as Markup)."""

from __future__ import annotations

import asyncio
import hashlib
import json

from aiohttp import web

from ..chain import crypto
from . import html as H
from .chain import HOME_ROWS, Chain
from .errors import PER_PAGE, parse_height, parse_hex64, parse_page, parse_per_page, parse_window
from .fpimage import CELL_W, row_height
from .html import Markup, esc
from .previews import PreviewStore
from .search import search


def html_response(title: str, body, active: str = "", scripts=(), status: int = 200, query: str = "") -> web.Response:
    return web.Response(text=H.page(title, Markup(body), active=active, scripts=scripts, query=query),
                        status=status, content_type="text/html")


def block_rows(blocks: list[dict], vals: list[dict]) -> list:
    idx = {v["address"]: v["index"] for v in vals}
    return [[H.link(f"/block/{b['height']}", b["height"]), H.time_tag(b["time"]), b["num_txs"],
             H.tag("span", f"validator {idx[b['proposer']]}" if b["proposer"] in idx else H.short(b["proposer"]),
                   title=b["proposer"]),
             H.hash_link(f"/block/{b['height']}", b["hash"], 6)] for b in blocks]


def related_html(rel: dict) -> H.Markup:
    """Earlier and later records of the same content (Chain.related), as two short tables."""
    def rows(items):
        return [[H.hash_link(f"/record/{x['record_id']}", x["record_id"], 8),
                 H.hash_link(f"/creator/{x['creator']}", x["creator"], 6),
                 H.link(f"/block/{x['height']}", x["height"]), H.time_tag(x["block_time"]),
                 f"{x['how']} ({x['similarity']:.0%})" + (" · declared derivative" if x["parents"] else "")]
                for x in items]
    head = ["Record", "Creator", "Height", "Registered", "How"]
    parts = []
    if rel["earlier"]:
        parts.append(H.tag("p", "Registered earlier: the first of these is the origin of this content; this record is "
                                "a later claim unless it was declared a derivative (Parents).", id="claims-earlier-note"))
        parts.append(H.table(head, rows(rel["earlier"]), tbody_id="claims-earlier"))
    else:
        parts.append(H.tag("p", "No earlier record shows this content: this record is its first registration.",
                           class_="muted", id="claims-earlier-note"))
    if rel["later"]:
        parts.append(H.tag("p", "Registered later with the same content (later claims or derivatives):"))
        parts.append(H.table(head, rows(rel["later"]), tbody_id="claims-later"))
    if rel["error"]:
        parts.append(H.tag("p", rel["error"], class_="bad"))
    parts.append(H.tag("p", "Compared by this explorer from the fingerprints its node serves; the chain itself "
                            "only orders registrations in time.", class_="muted small"))
    return H.join(parts)


RECORD_HEAD = ["#", "Record", "Creator", "Registered", "Media"]


def record_rows(recs: list[dict], with_creator: bool = True) -> list:
    """One row per record: its number (1 = the first ever registered), id, creator, when (and in which
    block), and media. Short cells with a second line, so the table fits half of a 1280 px screen."""
    rows = []
    for r in recs:
        m = r.get("media") or {}
        row = [r.get("number", ""), H.hash_link(f"/record/{r['record_id']}", r["record_id"], 6)]
        if with_creator:
            row.append(H.hash_link(f"/creator/{r['creator']}", r["creator"], 6))
        model = (r.get("generator") or {}).get("model")
        media = f"{H.duration(m.get('duration_ms'))} · {m.get('width')}×{m.get('height')}" if m else ""
        row += [H.Markup(H.time_tag(r["block_time"]) + H.tag("span", H.link(f"/block/{r['height']}", f"block {r['height']}"),
                                                              class_="sub")),
                H.Markup(esc(media) + (H.tag("span", model, class_="sub") if model else ""))]
        rows.append(row)
    return rows


def prompt_html(text, prompt_sha256: str) -> H.Markup:
    """The prompt as text when the record carries it (generate --public-prompt puts it in the settings),
    checked against the prompt hash every generator record has."""
    if not isinstance(text, str):
        return H.tag("span", "not published: the record carries only its SHA-256 (below)", class_="muted")
    same = hashlib.sha256(text.encode()).hexdigest().upper() == str(prompt_sha256).upper()
    return H.Markup(H.tag("q", text, id="prompt-text") + " " + (
        H.tag("span", "matches the prompt SHA-256", class_="badge ok") if same else
        H.tag("span", "does not match the prompt SHA-256", class_="badge bad")))


def numbered(recs: list[dict], total: int) -> list[dict]:
    """The newest `len(recs)` records (newest first) with their registration numbers."""
    return [{**r, "number": total - i} for i, r in enumerate(recs)]


class Pages:
    def __init__(self, chain: Chain, genesis_path: str | None, upload_cap: int, previews: PreviewStore | None = None):
        self.chain = chain
        self.previews = previews or PreviewStore()
        self.genesis_path = genesis_path
        self.upload_cap = upload_cap

    def routes(self):
        return [("GET", path, handler) for path, handler in [
            ("/", self.home), ("/search", self.search), ("/block/{height}", self.block),
            ("/block/hash/{hash}", self.block_by_hash), ("/tx/{hash}", self.tx),
            ("/record/{id}", self.record), ("/records", self.records),
            ("/creator/{pubkey}", self.creator), ("/validators", self.validators),
            ("/verify", self.verify),
        ]]

    async def home(self, request):
        chain = self.chain
        st = await chain.status()
        summary, vals = await asyncio.gather(chain.summary(st), chain.validators())
        tip = summary["latest_height"]
        blocks = await chain.latest_blocks(HOME_ROWS, tip)
        recs = []
        if summary["records"]:
            recs = (await chain.node.get("/records", page=1, per_page=HOME_ROWS))["records"]
        v = summary["validators"]
        body = H.render(
            "home.html", chain_id=summary["chain_id"], height=tip,
            height_link=H.link(f"/block/{tip}", tip, id="latest-height") if tip else H.tag("span", "0", id="latest-height"),
            block_time=H.time_tag(summary["latest_block_time"]) if tip else "—",
            block_time_abs=H.utc(summary["latest_block_time"]),
            online=f"{v['online']} / {v['total']}", online_power=f"{v['online_power']} of {v['total_power']} voting power",
            records="—" if summary["records"] is None else summary["records"],
            records_count=summary["records"] if summary["records"] is not None else "",
            blocks=H.table(["Height", "Time", "Txs", "Proposer", "Hash"], block_rows(blocks, vals),
                           tbody_id="blocks-body", empty="No blocks yet."),
            recs=H.table(RECORD_HEAD, record_rows(numbered(recs, summary["records"] or 0)),
                         tbody_id="records-body", empty="No records registered yet."),
            validators_json=json.dumps({x["address"]: x["index"] for x in vals}))
        return html_response("Home", body, "home", scripts=("home.js",))

    async def search(self, request):
        res = await search(self.chain, request.query.get("q", ""))
        raise web.HTTPFound(res["url"])

    async def block_by_hash(self, request):
        v = await self.chain.block_view(bhash=parse_hex64(request.match_info["hash"], "a block hash"))
        raise web.HTTPFound(f"/block/{v['height']}")

    async def block(self, request):
        b = await self.chain.block_view(height=parse_height(request.match_info["height"]))
        hd = b["header"]
        vals = await self.chain.validators(b["height"])  # the set that signed this block's commit
        idx = {v["address"]: v["index"] for v in vals}
        prop = b["proposer"]
        header_rows = [
            ("Height", H.Markup(f"{b['height']} {H.tag('span', 'final', class_='badge ok', title='BFT blocks are final once committed: no confirmations to wait for')}")),
            ("Block hash", H.mono(b["hash"])), ("Chain id", hd["chain_id"]),
            ("Time", H.time_tag(hd["time"], with_abs=True)),
            ("Proposer", H.Markup(f"{esc('validator ' + str(prop['validator_index']) if prop['validator_index'] is not None else 'unknown')} "
                                  f"{H.mono(prop['address'])}")),
            ("Transactions", len(b["txs"])),
            ("Previous block", H.hash_link(f"/block/{b['height'] - 1}", hd["last_block_id"]["hash"]) if b["prev"] else "— (first block)"),
            ("Last commit hash", H.mono(hd["last_commit_hash"])), ("Data hash", H.mono(hd["data_hash"])),
            ("Validators hash", H.mono(hd["validators_hash"])), ("App hash", H.mono(hd["app_hash"])),
            ("Evidence hash", H.mono(hd["evidence_hash"])),
        ]
        c = b["commit"]
        sig_rows = [[H.tag("span", f"validator {s['validator_index']}" if s["validator_index"] is not None else "unknown"),
                     H.mono(s["validator_address"]), s["voting_power"], H.time_tag(s["timestamp"])]
                    for s in c["signatures"]]
        sig_rows += [[H.tag("span", f"validator {idx.get(a, '?')}"), H.mono(a), H.tag("span", "did not sign", class_="muted"), "—"]
                     for a in c["not_signed"]]
        tx_rows = [[i, H.hash_link(f"/record/{t['hash']}" if t.get("record_id") else f"/tx/{t['hash']}", t["hash"], 8),
                    t["kind"] or H.tag("span", "undecodable", class_="bad"),
                    H.hash_link(f"/creator/{t['sender']}", t["sender"], 6) if t["sender"] else "—", t["nonce"], f"{t['size']} B"]
                   for i, t in enumerate(b["txs"])]
        ev_rows = [[H.mono(e["validator_address"]), e["height"], H.mono(e["vote_a"]["block_id"]["hash"][:16] + "…"),
                    H.mono(e["vote_b"]["block_id"]["hash"][:16] + "…")] for e in b["evidence"]]
        nav = H.Markup(
            (H.link(f"/block/{b['prev']}", f"‹ Block {b['prev']}", rel="prev") if b["prev"] else H.tag("span", "‹ first block", class_="disabled"))
            + H.tag("span", f"latest is {b['latest_height']}", class_="current")
            + (H.link(f"/block/{b['next']}", f"Block {b['next']} ›", rel="next") if b["next"] else H.tag("span", "latest block ›", class_="disabled")))
        body = H.render(
            "block.html", height=b["height"], nav=nav, header=H.kv_table(header_rows),
            commit_summary=f"{len(c['signatures'])} of {len(vals)} validators signed in round {c['round']}: "
                           f"{c['signed_power']} of {c['total_power']} voting power "
                           f"({100 * c['signed_power'] / max(1, c['total_power']):.0f}%, more than ⅔ needed).",
            commit=H.table(["Validator", "Address", "Voting power", "Signed"], sig_rows),
            txs=H.table(["#", "Hash", "Kind", "Sender", "Nonce", "Size"], tx_rows, empty="No transactions in this block."),
            evidence=H.table(["Validator", "Height", "Vote A for", "Vote B for"], ev_rows, empty="None.") if ev_rows else "",
            evidence_title="Evidence of double signing" if ev_rows else "")
        return html_response(f"Block {b['height']}", body)

    async def tx(self, request):
        t = await self.chain.tx_view(request.match_info["hash"])
        if t.get("record_id") and await self.chain.record_or_none(id=t["hash"]):
            raise web.HTTPFound(f"/record/{t['hash']}")
        rows = [("Hash", H.mono(t["hash"])),
                ("Status", H.Markup(H.tag("span", "final", class_="badge ok") + " " + esc(f"code {t['code']}" + (f": {t['log']}" if t["log"] else "")))),
                ("Block", H.link(f"/block/{t['height']}", t["height"])), ("Index in block", t["index"]),
                ("Kind", t["kind"] or "undecodable"), ("Sender", H.mono(t["sender"]) if t["sender"] else "—"),
                ("Nonce", t["nonce"]), ("Size", f"{t['size']} bytes")]
        body = H.render("tx.html", hash=H.short(t["hash"], 10), table=H.kv_table(rows),
                        raw=json.dumps(t, indent=2))
        return html_response("Transaction", body)

    async def record(self, request):
        r = await self.chain.record(request.match_info["id"])
        m, g = r["media"], r.get("generator")
        rid = r["record_id"]
        fp_rows = r["fingerprint"].get("samples", 0)
        rows = [
            ("Record id", H.mono(rid)),
            ("Status", H.Markup(H.tag("span", "final", class_="badge ok") + " committed in "
                                + H.link(f"/block/{r['height']}", f"block {r['height']}") + esc(f" (tx #{r['index']})"))),
            ("Creator", H.Markup(H.link(f"/creator/{r['creator']}", H.mono(r["creator"])))),
            ("Block time", H.time_tag(r["block_time"], with_abs=True)),
            ("Claimed creation time", H.utc(r["claimed_time"])),
            ("File SHA-256", H.mono(r["content_sha256"])), ("Frames SHA-256", H.mono(r["frames_sha256"])),
        ]
        media = [("Duration", H.duration(m["duration_ms"])), ("Frame size", f"{m['width']} × {m['height']}"),
                 ("Frame rate", f"{m['fps']:g} fps"), ("Codec", m["codec"]), ("Container", m["container"])]
        if g:
            settings = dict(g.get("settings", {}))
            gen = [("Model", g["model"]), ("Weights SHA-256", H.mono(g["weights_sha256"])),
                   ("Prompt", prompt_html(settings.pop("prompt", None), g["prompt_sha256"])),
                   ("Prompt SHA-256", H.mono(g["prompt_sha256"])), ("Seed", g["seed"])]
            gen += [(f"Setting: {k}", v) for k, v in sorted(settings.items())]
            gen_html = H.kv_table(gen)
        else:
            gen_html = H.tag("p", "No generator facts: the creator did not say which model made this clip.", class_="muted")
        parents = (H.Markup("<ul class=\"plain\">" + "".join(f"<li>{H.hash_link('/record/' + p, p, 10)}</li>" for p in r["parents"]) + "</ul>")
                   if r["parents"] else H.tag("p", "None: this clip was not declared as an edit of another record.", class_="muted"))
        body = H.render(
            "record.html", rid=rid, short_id=H.short(rid, 8), table=H.kv_table(rows), media=H.kv_table(media),
            picture=self.picture_html(rid, r["fingerprint"].get("samples", 0)),
            generator=gen_html, parents=parents, related=related_html(await self.chain.related(r)), samples=fp_rows, alg=r["fingerprint"].get("alg", ""),
            fp_src=f"/api/record/{rid}/fingerprint.png",
            fp_width=256 * CELL_W, fp_height=max(1, fp_rows) * row_height(fp_rows), raw=json.dumps(dict(r), indent=2))
        return html_response(f"Record {H.short(rid, 6)}", body, scripts=("record.js",))

    def picture_html(self, rid: str, samples: int) -> H.Markup:
        """A short preview of the clip when the explorer has it (a Verify upload), else its fingerprint
        as a time strip."""
        if self.previews.get(rid, "preview.mp4") is not None:
            return H.Markup(
                f'<figure class="clip" id="clip-picture"><video src="/api/record/{esc(rid)}/preview.mp4" '
                f'poster="/api/record/{esc(rid)}/poster.png" autoplay muted loop playsinline '
                f'aria-label="the first seconds of the clip"></video>'
                "<figcaption>The clip's first seconds, from a copy uploaded on this explorer's Verify page.</figcaption>"
                "</figure>")
        return H.Markup(
            f'<figure class="clip" id="clip-picture"><img class="strip" src="/api/record/{esc(rid)}/strip.png" '
            f'alt="the fingerprint over time">'
            f"<figcaption>No copy of the clip here (the chain keeps fingerprints, not video; a clip verified on "
            f"the Verify page is shown here afterwards). Its fingerprint over time instead: one tile per sampled "
            f"frame, left to right, from {samples} samples.</figcaption></figure>")

    async def _records_listing(self, request, creator: str | None):
        page, per = parse_page(request), parse_per_page(request)
        res = await self.chain.records_page(page, creator=creator, per=per)
        keep = {"per_page": per} if per != PER_PAGE else {}
        base = f"/creator/{creator}" if creator else "/records"
        first = (res["page"] - 1) * res["per_page"] + 1
        last = first + len(res["records"]) - 1
        span = (f"Newest first: records {last} to {first} of {res['total']} (page {res['page']} of {res['pages']}). "
                "Records are numbered in the order they were registered and page 1 holds the first ones, so a "
                "page link always shows the same records.") if res["records"] else "No records yet."
        who = ""
        if creator:
            address = crypto.address_of(bytes.fromhex(creator)).hex().upper()
            who = H.Markup(f"<p class=\"wrap\">Public key {H.mono(creator)}<br>Address {H.mono(address)}</p>")
        body = H.render("records.html",
                        heading="Creator" if creator else "All records", who=who,
                        span=span, pager=H.pager(base, res["page"], res["pages"], keep),
                        table=H.table(RECORD_HEAD if not creator else [h for h in RECORD_HEAD if h != "Creator"],
                                      record_rows(res["records"], with_creator=not creator),
                                      empty="This creator has no records." if creator else "No records yet."),
                        api=f"/api{'/creator/' + creator if creator else '/records'}?page={res['page']}"
                            + (f"&per_page={per}" if keep else ""))
        return html_response(f"Creator {H.short(creator, 6)}" if creator else "Records", body,
                             "" if creator else "records")

    async def records(self, request):
        return await self._records_listing(request, None)

    async def creator(self, request):
        return await self._records_listing(request, parse_hex64(request.match_info["pubkey"], "a creator public key"))

    async def validators(self, request):
        window = parse_window(request)
        v = await self.chain.validators_view(window)
        rows = []
        for x in v["validators"]:
            state = (H.tag("span", "online", class_="badge ok") if x["online"] else H.tag("span", "offline", class_="badge bad"))
            ds = (H.tag("span", f"double-signed at {', '.join(map(str, x['double_sign_evidence_heights']))}", class_="badge bad")
                  if x["double_sign_evidence_heights"] else H.tag("span", "none", class_="muted"))
            rows.append([H.Markup(f'<span id="v-{esc(x["address"])}">validator {x["index"]}</span>'
                                  + (" " + H.tag("span", "queried node", class_="badge") if x["address"] == v["queried_node"] else "")),
                         H.tag("code", H.short(x["address"], 6), class_="hash", title=x["address"]), x["voting_power"],
                         H.link(f"/block/{x['last_signed_height']}", x["last_signed_height"]) if x["last_signed_height"] else "—",
                         H.Markup(f"{x['signed']} <span class=\"muted\">of {v['window']['blocks']}</span>"),
                         H.tag("span", x["late"], class_="muted" if not x["late"] else None),
                         H.tag("span", x["absent"], class_="bad" if x["absent"] else "muted"),
                         f"{100 * x['voting']:.1f}%" if x["voting"] is not None else "—", state, ds])
        ev_rows = [[H.mono(e["validator_address"]), e["height"], e["round"], H.link(f"/block/{e['included_at']}", e["included_at"]),
                    H.mono(H.short(e["block_a"], 6)), H.mono(H.short(e["block_b"], 6))] for e in v["evidence"]]
        w = v["window"]
        body = H.render(
            "validators.html", count=len(v["validators"]), online=v["online"], total_power=v["total_power"],
            window=f"blocks {w['from']}–{w['to']} ({w['blocks']} commits)",
            table=H.table(["Validator", "Address", "Power", "Last signed", "In commits", "Late", "Absent", "Voting",
                           "Status", "Double signing"], rows),
            evidence=H.table(["Validator", "Height", "Round", "Included in", "Vote A for", "Vote B for"], ev_rows,
                             empty="No evidence of double signing in these blocks."),
            windows=H.join([H.link(f"/validators?window={n}", f"last {n}", "active" if n == window else None)
                            for n in (20, 100, 500)], " · "))
        return html_response("Validators", body, "validators")

    async def verify(self, request):
        mb = self.upload_cap / (1024 * 1024)
        trust = ("Proofs are checked against the genesis file given to this explorer."
                 if self.genesis_path else
                 "Trust note: this explorer took the validator set from the node it reads; run it with "
                 "--genesis PATH (or use the verify command with --genesis) to check against a genesis file you trust.")
        body = H.render("verify.html", cap=f"{mb:g} MB", cap_bytes=self.upload_cap, trust=trust,
                        trust_cls="" if self.genesis_path else "warn")
        return html_response("Verify a clip", body, "verify", scripts=("verify.js",))

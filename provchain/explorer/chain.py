"""What the explorer knows about the chain, read through the node's RPC (never its LevelDB) and shaped
for both the pages and the JSON API: status and summary, blocks with their commits, transactions,
records in stable pages, validators with their signing record. One `Chain` per explorer; it caches
what a final chain never changes (the static validator set, commits of committed blocks).
"""

from __future__ import annotations

import asyncio
import base64
import math
from collections import OrderedDict

from ..chain import crypto, merkle
from ..chain.tx import SignedTx
from ..chain.types import InvalidError, tx_hash
from .errors import DEFAULT_WINDOW, PER_PAGE, ExplorerError, not_found, parse_hex64
from .node import AsyncNode, NodeAnswer

HOME_ROWS = 10
ONLINE_WINDOW = 3  # a validator that signed one of the last 3 commits (or is connected) is online
EMPTY_EVIDENCE_HASH = merkle.root([]).hex().upper()
RECORD_KIND = "register_clip"
COMMIT_FLAG = 2  # block_id_flag of a vote for the committed block


def address_of_pubkey_hex(h: str) -> str | None:
    try:
        pk = bytes.fromhex(h)
    except ValueError:
        return None
    return crypto.address_of(pk).hex().upper() if len(pk) == crypto.PUBKEY_SIZE else None


def decode_tx(b64tx: str) -> dict:
    raw = base64.b64decode(b64tx)
    out = {"hash": tx_hash(raw).hex().upper(), "size": len(raw), "kind": None, "sender": None, "nonce": None}
    try:
        stx = SignedTx.decode(raw, 1 << 30)
        out.update(kind=stx.kind, sender=stx.sender.hex().upper(), nonce=stx.nonce)
        if stx.kind == RECORD_KIND:
            out["record_id"] = out["hash"]
    except (InvalidError, ValueError, TypeError) as exc:
        out["decode_error"] = str(exc)
    return out


def block_summary(meta: dict) -> dict:
    """From a /blockchain block meta (or a /block answer): what a row of 'latest blocks' shows."""
    header = meta["header"] if "header" in meta else meta["block"]["header"]
    ntx = int(meta["num_txs"]) if "num_txs" in meta else len(meta["block"]["data"]["txs"])
    return {"height": int(header["height"]), "hash": meta["block_id"]["hash"], "time": header["time"],
            "num_txs": ntx, "proposer": header["proposer_address"]}


def record_view(r: dict) -> dict:
    """A node's record in the explorer API's number convention: heights are JSON numbers here (the node's
    RPC quotes them as strings, like CometBFT); 64-bit values such as the generator seed stay strings."""
    return {**r, "height": int(r["height"])}


def record_summary(r: dict) -> dict:
    return {"record_id": r["record_id"], "creator": r["creator"], "height": int(r["height"]),
            "block_time": r["block_time"], "content_sha256": r["content_sha256"],
            "duration_ms": r.get("media", {}).get("duration_ms"),
            "width": r.get("media", {}).get("width"), "height_px": r.get("media", {}).get("height"),
            "model": (r.get("generator") or {}).get("model")}


LATE_SPAN = 2  # a validator absent from one commit but in one of the LATE_SPAN commits around it was late


def missed_kinds(heights, signers: dict[int, set], address: str) -> tuple[int, int]:
    """(late, absent) among the heights whose commit lacks `address`'s signature. A commit holds the
    precommits that reached the next proposer before timeout_commit ended, so a slow validator is
    sometimes left out although it voted: it is *late* when it signed a commit within LATE_SPAN heights of the one it
    misses (it was voting then), *absent* when it signed none of them (down or cut off). Heights whose
    commit the node could not serve count as neither."""
    late = absent = 0
    for h in heights:
        if h not in signers or address in signers[h]:
            continue
        near = (signers.get(k, ()) for k in range(h - LATE_SPAN, h + LATE_SPAN + 1) if k != h)
        if any(address in s for s in near):
            late += 1
        else:
            absent += 1
    return late, absent


class Chain:
    def __init__(self, node: AsyncNode):
        self.node = node
        self.node_url = node.url
        self._commits: OrderedDict[int, dict] = OrderedDict()
        self._valsets: OrderedDict[int, list[dict]] = OrderedDict()

    async def status(self) -> dict:
        return await self.node.get("/status")

    async def tip(self) -> int:
        return int((await self.status())["sync_info"]["latest_block_height"])

    async def validators(self, height: int | None = None) -> list[dict]:
        """The validator set of `height` (default: the latest; the set changes by validator updates):
        address, pubkey (hex), power, index. A past height's set is final and cached."""
        if height is not None and height in self._valsets:
            return self._valsets[height]
        res = await self.node.get("/validators", **({"height": height} if height else {}))
        vals = []
        for i, v in enumerate(res["validators"]):
            pk = base64.b64decode(v["pub_key"]["value"]).hex().upper()
            vals.append({"index": i, "address": v["address"], "pub_key": pk, "voting_power": int(v["voting_power"])})
        if height is not None:
            if len(self._valsets) > 256:
                self._valsets.popitem(last=False)
            self._valsets[height] = vals
        return vals

    async def commit(self, height: int) -> dict:
        """The commit for `height` (cached: a committed block is final and its commit never changes)."""
        c = self._commits.get(height)
        if c is None:
            res = await self.node.get("/commit", height=height)
            c = res["signed_header"]["commit"]
            self._commits[height] = c
            while len(self._commits) > 5000:
                self._commits.popitem(last=False)
        return c

    async def commits(self, heights) -> dict[int, dict]:
        sem = asyncio.Semaphore(8)

        async def one(h):
            async with sem:
                try:
                    return h, await self.commit(h)
                except NodeAnswer:
                    return h, None
        return {h: c for h, c in await asyncio.gather(*(one(h) for h in heights)) if c is not None}

    async def record_count(self) -> int | None:
        try:
            return int((await self.node.get("/provenance_status"))["records"])
        except NodeAnswer:
            return None  # not a provenance chain

    async def online(self, st: dict | None = None) -> dict:
        st = st or await self.status()
        tip = int(st["sync_info"]["latest_block_height"])
        vals = await self.validators()
        try:
            net = await self.node.get("/net_info")
            connected = {address_of_pubkey_hex(p["node_info"]["id"]) for p in net.get("peers", [])
                         if p.get("is_outbound") or p.get("connected_inbound")}
        except NodeAnswer:
            connected = set()
        me = (st.get("validator_info") or {}).get("address")
        if me:
            connected.add(me)
        recent: set[str] = set()
        if tip:
            for c in (await self.commits(range(max(1, tip - ONLINE_WINDOW + 1), tip + 1))).values():
                recent |= {s["validator_address"] for s in c["signatures"] if s.get("block_id_flag", 2) == COMMIT_FLAG}
        per = {v["address"]: {"connected": v["address"] in connected, "signed_recently": v["address"] in recent,
                              "online": v["address"] in connected or v["address"] in recent} for v in vals}
        total_power = sum(v["voting_power"] for v in vals)
        online_power = sum(v["voting_power"] for v in vals if per[v["address"]]["online"])
        return {"total": len(vals), "online": sum(1 for p in per.values() if p["online"]),
                "total_power": total_power, "online_power": online_power, "by_address": per,
                "queried_node": me or None}

    async def summary(self, st: dict | None = None) -> dict:
        st = st or await self.status()
        si = st["sync_info"]
        online = await self.online(st)
        records = await self.record_count()
        return {"chain_id": st["node_info"]["network"], "latest_height": int(si["latest_block_height"]),
                "latest_block_time": si["latest_block_time"], "latest_block_hash": si["latest_block_hash"],
                "catching_up": si.get("catching_up", False), "records": records,
                "validators": {k: online[k] for k in ("total", "online", "total_power", "online_power")},
                "node": {"url": self.node_url, "moniker": st["node_info"].get("moniker")}}

    # --- blocks and transactions -------------------------------------------------------------------
    async def latest_blocks(self, n: int = HOME_ROWS, max_height: int | None = None) -> list[dict]:
        tip = max_height if max_height is not None else await self.tip()
        if tip < 1:
            return []
        res = await self.node.get("/blockchain", minHeight=max(1, tip - n + 1), maxHeight=tip)
        return [block_summary(m) for m in res["block_metas"]][:n]

    async def blocks_after(self, since: int, tip: int) -> list[dict]:
        """Block summaries for heights (since, tip], oldest first, at most 20."""
        if tip <= since:
            return []
        res = await self.node.get("/blockchain", minHeight=max(since + 1, tip - 19), maxHeight=tip)
        return [block_summary(m) for m in reversed(res["block_metas"])]

    async def block_view(self, height: int | None = None, bhash: str | None = None) -> dict:
        if bhash is not None:
            b = await self.node.get("/block_by_hash", hash=bhash)
        else:
            b = await self.node.get("/block", height=height)
        header = b["block"]["header"]
        h = int(header["height"])
        st, commit, vals = await asyncio.gather(self.status(), self.commit(h), self.validators(h))
        tip = int(st["sync_info"]["latest_block_height"])
        by_addr = {v["address"]: v for v in vals}
        total = sum(v["voting_power"] for v in vals)
        sigs = []
        for s in commit["signatures"]:
            v = by_addr.get(s["validator_address"])
            sigs.append({"validator_address": s["validator_address"], "validator_index": v["index"] if v else None,
                         "voting_power": v["voting_power"] if v else 0, "timestamp": s["timestamp"],
                         "signature": s["signature"]})
        signed_power = sum(s["voting_power"] for s in sigs)
        signed = {s["validator_address"] for s in sigs}
        prop = by_addr.get(header["proposer_address"])
        evidence = [{"type": e.get("type"), "height": int(e["value"]["height"]), "hash": e["value"]["hash"],
                     "validator_address": e["value"]["vote_a"]["validator_address"],
                     "vote_a": e["value"]["vote_a"], "vote_b": e["value"]["vote_b"]}
                    for e in (b["block"].get("evidence") or {}).get("evidence") or []]
        return {
            "height": h, "hash": b["block_id"]["hash"], "final": True, "chain_id": header["chain_id"],
            "time": header["time"], "header": header,
            "proposer": {"address": header["proposer_address"], "validator_index": prop["index"] if prop else None,
                         "voting_power": prop["voting_power"] if prop else None},
            "commit": {"height": int(commit["height"]), "round": commit["round"], "signatures": sigs,
                       "signed_power": signed_power, "total_power": total,
                       "not_signed": [v["address"] for v in vals if v["address"] not in signed]},
            "txs": [decode_tx(t) for t in b["block"]["data"]["txs"]],
            "evidence": evidence,
            "prev": h - 1 if h > 1 else None, "next": h + 1 if h < tip else None, "latest_height": tip,
        }

    async def tx_view(self, th: str) -> dict:
        th = parse_hex64(th, "a transaction hash")
        try:
            res = await self.node.get("/tx", hash=th)
        except NodeAnswer as exc:
            if exc.status == 404:
                raise not_found(f"No committed transaction with hash {th}.") from None
            raise
        info = decode_tx(res["tx"])
        info.update(height=int(res["height"]), index=res["index"], code=res["tx_result"]["code"],
                    log=res["tx_result"]["log"], final=True)
        return info

    # --- records -----------------------------------------------------------------------------------
    async def record(self, rid: str, with_fingerprint: bool = True) -> dict:
        rid = parse_hex64(rid, "a record id")
        params = {"id": rid} if with_fingerprint else {"id": rid, "fingerprint": "false"}
        try:
            rec = await self.node.get("/record", **params)
        except NodeAnswer as exc:
            if exc.status == 404:
                raise not_found(f"No record with id {rid}.") from None
            raise
        return {**record_view(rec), "final": True}

    async def related(self, rec: dict) -> dict:
        """The records the node offers for this record's fingerprint that match it on their own, split
        into those registered before it (it repeats their content: a later claim, or a declared
        derivative) and after it.  Judged here (provenance.claims), from the node's fingerprints."""
        from ..provenance.claims import candidate_fingerprint, related_records
        out = {"earlier": [], "later": [], "error": None}
        try:
            fp = candidate_fingerprint(rec)
            cands = (await self.node.post("/match", {"fingerprint": rec["fingerprint"]["data"]}))["candidates"]
            cands = [c for c in cands if c["record"]["record_id"] != rec["record_id"]]
            found = await asyncio.get_running_loop().run_in_executor(None, related_records, fp, cands)
        except (KeyError, TypeError, ValueError) as exc:
            out["error"] = f"could not compare with other records: {exc}"
            return out
        except NodeAnswer as exc:
            out["error"] = f"the node could not be asked for matching records: {exc.message}"
            return out
        me = (int(rec["height"]), int(rec["index"]))
        for r in found:
            item = {"record_id": r.record["record_id"], "creator": r.record["creator"],
                    "height": int(r.record["height"]), "block_time": r.record["block_time"],
                    "how": "copy" if r.verdict == "match" else "shares parts",
                    "similarity": r.match.similarity,
                    "parents": r.record.get("parents", [])}
            out["earlier" if r.order[:2] < me else "later"].append(item)
        return out

    async def record_or_none(self, **params) -> dict | None:
        try:
            return await self.node.get_or_none("/record", fingerprint="false", **params)
        except NodeAnswer as exc:
            if exc.status == 400 and "no route" not in exc.message:
                raise
            return None

    async def records_page(self, page: int | None, creator: str | None = None, per: int = PER_PAGE) -> dict:
        """Stable pages: page 1 holds the oldest `per` records, page N always the same records; the
        default is the newest page. Records within a page are listed newest first."""
        extra = {"creator": creator} if creator else {}
        for _ in range(3):
            first = await self.node.get("/records", page=1, per_page=1, **extra)
            total = int(first["total"])
            pages = max(1, math.ceil(total / per))
            p = pages if page is None else page
            if p > pages:
                raise not_found(f"page {p} does not exist: there {'is' if pages == 1 else 'are'} {pages} "
                                f"page{'s' if pages != 1 else ''} of records")
            a, b = (p - 1) * per, min(total, p * per)  # oldest-first indices [a, b)
            lo, hi = total - b, total - a  # newest-first positions [lo, hi)
            recs, consistent = [], True
            if hi > lo:
                for q in range(lo // per + 1, (hi - 1) // per + 2):
                    res = await self.node.get("/records", page=q, per_page=per, **extra)
                    if int(res["total"]) != total:
                        consistent = False
                        break
                    base = (q - 1) * per
                    recs += [{**record_view(r), "number": total - (base + i)} for i, r in enumerate(res["records"])
                             if lo <= base + i < hi]
            if consistent:
                return {"total": total, "page": p, "pages": pages, "per_page": per,
                        "order": "newest first; page 1 holds the oldest records; number 1 is the first registered",
                        "creator": creator,
                        "records": recs}
        raise ExplorerError(503, "records are arriving too fast to page through; try again")

    async def records_after(self, seen: int, total: int) -> list[dict]:
        """Summaries of the records registered after the first `seen`, oldest first, at most 20."""
        if total <= seen:
            return []
        res = await self.node.get("/records", page=1, per_page=min(20, total - seen))
        return [{**record_summary(r), "number": total - i} for i, r in reversed(list(enumerate(res["records"])))]

    # --- validators --------------------------------------------------------------------------------
    async def validators_view(self, window: int = DEFAULT_WINDOW) -> dict:
        st = await self.status()
        tip = int(st["sync_info"]["latest_block_height"])
        vals = await self.validators()
        lo = max(1, tip - window + 1)
        heights = range(lo, tip + 1) if tip else range(0)
        # the commits just before the window too: a validator missing from block `lo` may have been late
        commits, online = await asyncio.gather(self.commits(range(max(1, lo - LATE_SPAN), tip + 1) if tip else ()),
                                               self.online(st))
        signers = {h: {s["validator_address"] for s in c["signatures"] if s.get("block_id_flag", 2) == COMMIT_FLAG}
                   for h, c in commits.items()}
        evidence = await self.recent_evidence(lo, tip) if tip else []
        double = {}
        for e in evidence:
            double.setdefault(e["validator_address"], []).append(e["height"])
        n = sum(1 for h in heights if h in commits)
        out = []
        for v in vals:
            a = v["address"]
            signed = [h for h in heights if a in signers.get(h, ())]
            late, absent = missed_kinds(heights, signers, a)
            out.append({**v, "last_signed_height": max(signed) if signed else None,
                        "signed": len(signed), "missed": late + absent, "late": late, "absent": absent,
                        "uptime": round(len(signed) / n, 4) if n else None,
                        "voting": round((len(signed) + late) / n, 4) if n else None,
                        **online["by_address"][a], "double_sign_evidence_heights": double.get(a, [])})
        return {"latest_height": tip, "window": {"from": lo if tip else 0, "to": tip, "blocks": n},
                "total_power": sum(v["voting_power"] for v in vals), "online": online["online"],
                "queried_node": online["queried_node"], "validators": out, "evidence": evidence}

    async def recent_evidence(self, lo: int, hi: int) -> list[dict]:
        found, h = [], hi
        while h >= lo:
            res = await self.node.get("/blockchain", minHeight=max(lo, h - 19), maxHeight=h)
            for m in res["block_metas"]:
                if m["header"]["evidence_hash"] not in (EMPTY_EVIDENCE_HASH, ""):
                    b = await self.node.get("/block", height=m["header"]["height"])
                    for e in (b["block"].get("evidence") or {}).get("evidence") or []:
                        va, vb = e["value"]["vote_a"], e["value"]["vote_b"]
                        found.append({"included_at": int(m["header"]["height"]), "height": int(e["value"]["height"]),
                                      "hash": e["value"]["hash"], "validator_address": va["validator_address"],
                                      "round": va["round"], "block_a": va["block_id"]["hash"],
                                      "block_b": vb["block_id"]["hash"]})
            h -= 20
        return found

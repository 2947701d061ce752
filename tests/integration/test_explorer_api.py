"""The explorer's JSON API and pages against a real 4-validator devnet, including every bad-input status.

One devnet and two explorer processes for the module: one reading a live node (trusting the genesis
file, an upload cap of 1 MB, its temp dir watched for leftover uploads), one reading a node that is down.
"""

import http.client
import json
import os
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import corpus  # noqa: E402

from provchain.chain import crypto  # noqa: E402
from provchain.devnet.cluster import Cluster  # noqa: E402
from provchain.devnet.launcher import wait_healthy  # noqa: E402
from provchain.provenance.client import NodeClient  # noqa: E402
from provchain.provenance.fingerprint import analyze_file  # noqa: E402
from provchain.provenance.record import GeneratorInfo  # noqa: E402
from provchain.provenance.register import build_record, submit_record  # noqa: E402

pytestmark = pytest.mark.slow


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_explorer(node_url: str, log: Path, *extra, env=None):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "provchain", "explorer", "--node", node_url, "--port", str(port),
                             *extra], stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            env=dict(os.environ, **(env or {})), start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    if wait_healthy(base + "/api", 30, proc):  # exactly what `provchain devnet` waits for
        return proc, base
    proc.kill()
    raise RuntimeError(f"explorer did not start:\n{log.read_text()[-3000:]}")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


_opener = urllib.request.build_opener(NoRedirect)


def fetch(url, data=None, headers=None, method=None):
    """(status, headers, body bytes) for any status; redirects are not followed."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with _opener.open(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def getj(url, **kw):
    status, _, body = fetch(url, **kw)
    return status, json.loads(body)


def html(url):
    status, headers, body = fetch(url)
    text = body.decode()
    assert "Traceback" not in text and "Exception" not in text
    return status, headers, text


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer")
    c = Cluster(root / "net", n=4, app="provenance")
    procs = []
    try:
        c.start_all()
        clips = root / "clips"
        clips.mkdir()
        reg = corpus.make_source(str(clips), "registered", "natural", 21, width=192, height=128, seconds=3, fps=15)
        unreg = corpus.make_source(str(clips), "unregistered", "striped", 22, width=192, height=128, seconds=3, fps=15)
        key = crypto.PrivateKey.generate()
        analysis = analyze_file(reg)
        client = NodeClient(c.url(1))
        r = submit_record(client, key, build_record(analysis))
        # two more records by the same creator: one generated, declared as an edit of the first
        gen = GeneratorInfo("tinyvid-0.1", bytes(range(32)), bytes(32), 1234, (("steps", 8), ("temperature", "0.9")))
        more = [corpus.make_source(str(clips), f"more{i}", kind, 23 + i, width=128, height=128, seconds=2, fps=10)
                for i, kind in enumerate(("gradient", "flat"))]
        r2 = submit_record(client, key, build_record(analyze_file(more[0]), generator=gen,
                                                     parents=[bytes.fromhex(r.record_id)]))
        r3 = submit_record(client, key, build_record(analyze_file(more[1])))
        uploads = root / "uploads"
        uploads.mkdir()
        genesis = c.homes[0] / "config" / "genesis.json"
        ex, base = start_explorer(c.url(0), root / "explorer.log", "--genesis", str(genesis), "--upload-cap-mb", "1",
                                  env={"TMPDIR": str(uploads)})
        procs.append(ex)
        down, down_base = start_explorer(f"http://127.0.0.1:{free_port()}", root / "explorer-down.log")
        procs.append(down)
        yield {"cluster": c, "base": base, "down": down_base, "reg": reg, "unreg": unreg, "uploads": uploads,
               "record_id": r.record_id, "height": r.height, "more": [r2.record_id, r3.record_id], "creator": key.pubkey.hex().upper(),
               "sha": analysis.file_sha256.hex().upper(), "log": root / "explorer.log"}
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        c.stop_all()


def test_index_status_and_latest_blocks(net):
    st, idx = getj(net["base"] + "/api")
    assert st == 200 and idx["trust"] == "genesis_file" and "GET /api/status" in idx["routes"]
    st, s = getj(net["base"] + "/api/status")
    assert st == 200
    assert s["chain_id"] == "provchain-devnet" and s["latest_height"] >= net["height"] and s["records"] == 3
    assert s["validators"]["total"] == 4 and s["validators"]["online"] >= 3
    st, b = getj(net["base"] + "/api/blocks?limit=5")
    assert st == 200 and len(b["blocks"]) == 5
    assert [x["height"] for x in b["blocks"]] == sorted((x["height"] for x in b["blocks"]), reverse=True)
    st, _, page = html(net["base"] + "/")
    assert st == 200 and 'id="latest-height"' in page and net["record_id"][:6] in page
    assert "text/html" in _["Content-Type"] and "default-src 'self'" in _["Content-Security-Policy"]


def test_block_page_and_api(net):
    h, rid = net["height"], net["record_id"]
    st, b = getj(f"{net['base']}/api/block/{h}")
    assert st == 200 and b["final"] is True and b["height"] == h
    assert b["commit"]["signed_power"] * 3 > b["commit"]["total_power"] * 2
    assert all(s["voting_power"] == 10 for s in b["commit"]["signatures"])
    assert [t["record_id"] for t in b["txs"]] == [rid] and b["txs"][0]["kind"] == "register_clip"
    assert b["prev"] == h - 1 and b["proposer"]["validator_index"] is not None
    st, b2 = getj(f"{net['base']}/api/block_by_hash/{b['hash'].lower()}")
    assert st == 200 and b2["height"] == h
    st, hd, _ = fetch(f"{net['base']}/block/hash/{b['hash']}")
    assert st == 302 and hd["Location"] == f"/block/{h}"
    st, _, page = html(f"{net['base']}/block/{h}")
    assert st == 200 and ">final<" in page and f"/record/{rid}" in page and f'href="/block/{h - 1}"' in page
    st, t = getj(f"{net['base']}/api/tx/{rid}")
    assert st == 200 and t["record_id"] == rid and t["height"] == h and t["code"] == 0
    st, hd, _ = fetch(f"{net['base']}/tx/{rid}")
    assert st == 302 and hd["Location"] == f"/record/{rid}"


def test_record_page_api_and_fingerprint_picture(net):
    rid = net["record_id"]
    st, r = getj(f"{net['base']}/api/record/{rid}")
    assert st == 200 and r["creator"] == net["creator"] and r["content_sha256"] == net["sha"] and r["final"]
    assert r["fingerprint"]["data"] and r["media"]["width"] == 192
    st, r2 = getj(f"{net['base']}/api/record?content_sha256={net['sha'].lower()}&fingerprint=false")
    assert st == 200 and r2["record_id"] == rid and "data" not in r2["fingerprint"]
    st, hd, png = fetch(f"{net['base']}/api/record/{rid}/fingerprint.png")
    assert st == 200 and hd["Content-Type"] == "image/png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    assert w == 768 and h % r["fingerprint"]["samples"] == 0
    st, _, page = html(f"{net['base']}/record/{rid}")
    assert st == 200
    for text in (net["creator"], net["sha"], r["frames_sha256"], "192 × 128", f"/creator/{net['creator']}",
                 "fingerprint.png", "Raw JSON", "UTC"):
        assert text in page, text


def test_creator_and_records_pages_have_stable_deep_links(net):
    b, cr = net["base"], net["creator"]
    first, second, third = net["record_id"], *net["more"]
    st, c = getj(f"{b}/api/creator/{cr}")
    assert st == 200 and c["total"] == 3 and c["page"] == 1 and c["pages"] == 1
    assert [x["record_id"] for x in c["records"]] == [third, second, first]  # newest first
    # page 1 holds the oldest records, so ?page=N always shows the same ones; the default is the newest page
    st, p1 = getj(f"{b}/api/creator/{cr}?page=1&per_page=2")
    assert st == 200 and p1["pages"] == 2 and [x["record_id"] for x in p1["records"]] == [second, first]
    st, p2 = getj(f"{b}/api/creator/{cr}?per_page=2")
    assert p2["page"] == 2 and [x["record_id"] for x in p2["records"]] == [third]
    st, _, page = html(f"{b}/creator/{cr}?page=1&per_page=2")
    assert st == 200 and first[:6] in page and third[:6] not in page
    assert 'href="/creator/' + cr + '?per_page=2&amp;page=2"' in page  # the pager keeps per_page
    assert getj(f"{b}/api/creator/{cr}?page=3&per_page=2")[0] == 404
    assert getj(f"{b}/api/creator/{cr}?page=x")[0] == 400
    assert getj(f"{b}/api/creator/{cr}?per_page=1000")[0] == 400
    assert getj(f"{b}/api/creator/nothex")[0] == 400
    st, other = getj(f"{b}/api/creator/{'AB' * 32}")
    assert st == 200 and other["total"] == 0 and other["records"] == []
    st, allr = getj(f"{b}/api/records?page=1")
    assert st == 200 and allr["total"] == 3
    assert html(f"{b}/records")[0] == 200


def test_record_page_shows_generator_facts_and_parents(net):
    second = net["more"][0]
    st, r = getj(f"{net['base']}/api/record/{second}")
    assert st == 200 and r["generator"]["model"] == "tinyvid-0.1" and r["parents"] == [net["record_id"]]
    st, _, page = html(f"{net['base']}/record/{second}")
    assert st == 200
    for text in ("tinyvid-0.1", "1234", "Setting: steps", "0.9", f"/record/{net['record_id']}",
                 bytes(range(32)).hex().upper()):
        assert text in page, text


def test_validators_page_and_api(net):
    st, v = getj(f"{net['base']}/api/validators?window=20")
    assert st == 200 and len(v["validators"]) == 4 and v["total_power"] == 40
    assert v["window"]["blocks"] == min(20, v["latest_height"])
    for x in v["validators"]:
        assert x["voting_power"] == 10 and x["signed"] + x["missed"] == v["window"]["blocks"]
        assert x["late"] + x["absent"] == x["missed"] and x["voting"] >= x["uptime"]
        assert x["double_sign_evidence_heights"] == []
    assert max(x["last_signed_height"] or 0 for x in v["validators"]) >= v["latest_height"] - 1
    assert v["evidence"] == []
    st, _, page = html(f"{net['base']}/validators")
    assert st == 200 and "Late" in page and "Absent" in page and "double signing" in page
    assert getj(f"{net['base']}/api/validators?window=0")[0] == 400


def test_search_goes_to_the_right_page(net):
    b, rid, h = net["base"], net["record_id"], net["height"]
    _, blk = getj(f"{b}/api/block/{h}")
    cases = {str(h): f"/block/{h}", rid: f"/record/{rid}", net["sha"].lower(): f"/record/{rid}",
             net["creator"]: f"/creator/{net['creator']}", blk["hash"]: f"/block/{h}",
             "0x" + rid.lower(): f"/record/{rid}"}
    for q, where in cases.items():
        st, hd, _ = fetch(f"{b}/search?q={q}")
        assert st == 302 and hd["Location"] == where, (q, st)
        st, res = getj(f"{b}/api/search?q={q}")
        assert st == 200 and res["url"] == where
    unknown = uuid.uuid4().hex * 2
    st, _, page = html(f"{b}/search?q={unknown}")
    assert st == 404 and "Nothing on this chain" in page and 'id="error-message"' in page
    assert html(f"{b}/search?q=not-a-hash")[0] == 400
    assert html(f"{b}/search?q=")[0] == 400
    st, res = getj(f"{b}/api/search?q=99999999")
    assert st == 404 and "beyond the tip" in res["error"]["message"]


def test_bad_input_gets_clear_errors(net):
    b = net["base"]
    for path, status in [("/api/block/99999999", 404), ("/api/block/abc", 400), ("/api/block/0", 400),
                         ("/api/tx/zz", 400), (f"/api/tx/{'00' * 32}", 404), (f"/api/record/{'00' * 32}", 404),
                         (f"/api/record?content_sha256={'00' * 32}", 404), ("/api/record?content_sha256=12", 400),
                         ("/api/record", 400), (f"/api/block_by_hash/{'AB' * 32}", 404), ("/api/nope", 404),
                         ("/api/blocks?limit=500", 400), (f"/api/verify/record/{'00' * 32}", 404)]:
        st, body = getj(b + path)
        assert st == status and body["error"]["message"], (path, st, body)
    for path, status in [("/block/99999999", 404), ("/block/-1", 400), ("/record/xyz", 400),
                         (f"/record/{'00' * 32}", 404), ("/nope", 404), ("/creator/12", 400)]:
        st, _, page = html(b + path)
        assert st == status and "error-message" in page, (path, st)
    assert fetch(b + "/", data=b"x", method="POST")[0] == 405
    assert "Traceback" not in net["log"].read_text()


def test_node_down_is_503_and_api_index_still_answers(net):
    d = net["down"]
    assert getj(d + "/api")[0] == 200
    st, body = getj(d + "/api/status")
    assert st == 503 and "not answering" in body["error"]["message"]
    for path in ("/", "/block/1", f"/record/{'00' * 32}", "/validators", f"/search?q={'00' * 32}"):
        st, _, page = html(d + path)
        assert st == 503 and "Node unavailable" in page, path
    assert html(d + "/verify")[0] == 200  # the page itself needs no node
    st, body = getj(d + "/api/verify", data=Path(net["reg"]).read_bytes(),
                    headers={"Content-Type": "application/octet-stream"})
    assert st == 503


def test_verify_exact_hash_and_uploads(net):
    b, rid, up = net["base"], net["record_id"], net["uploads"]
    # exact hit (what the page does after hashing in the browser): proven by record id, nothing uploaded
    st, res = getj(f"{b}/api/verify/record/{rid}?content_sha256={net['sha']}&file=clip.mp4")
    assert st == 200 and res["method"] == "exact_hash" and res["uploaded"] is False
    v = res["verify"]
    assert v["verdict"] == "verified" and v["trust"]["source"] == "genesis_file" and v["file"] == "clip.mp4"
    checks = v["matches"][0]["proof"]["checks"]
    assert {"merkle_inclusion", "commit_signatures", "creator_signature"} <= {c["name"] for c in checks}
    assert all(c["ok"] for c in checks)
    assert getj(f"{b}/api/verify/record/{rid}?content_sha256={'11' * 32}")[0] == 409
    # uploads: the registered file, raw body -> verified through verify_file
    st, res = getj(f"{b}/api/verify", data=Path(net["reg"]).read_bytes(),
                   headers={"Content-Type": "application/octet-stream", "X-Filename": "my%20clip.mp4"})
    assert st == 200 and res["method"] == "upload" and res["verify"]["verdict"] == "verified"
    assert res["verify"]["file"] == "my clip.mp4" and res["clip"]["duration_s"] == pytest.approx(3.0, abs=0.2)
    assert res["verify"]["matches"][0]["record_id"] == rid
    # an unregistered clip, as a multipart form
    boundary = "----provchaintest"
    data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"other.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode() + Path(net["unreg"]).read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    st, res = getj(f"{b}/api/verify", data=data, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert st == 200 and res["verify"]["verdict"] == "unregistered" and res["verify"]["file"] == "other.mp4"
    # 0 bytes, not a video, over the cap (declared, and streamed without a length)
    st, res = getj(f"{b}/api/verify", data=b"", headers={"Content-Type": "application/octet-stream"})
    assert st == 400 and "empty" in res["error"]["message"]
    st, res = getj(f"{b}/api/verify", data=b"hello, not a video" * 100, headers={"X-Filename": "notes.txt"})
    assert st == 422 and "notes.txt" in res["error"]["message"] and str(up) not in json.dumps(res)
    st, res = getj(f"{b}/api/verify", data=os.urandom(1_300_000), headers={"Content-Type": "application/octet-stream"})
    assert st == 413 and "cap" in res["error"]["message"]
    conn = http.client.HTTPConnection(b.removeprefix("http://"), timeout=30)
    conn.putrequest("POST", "/api/verify")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for _ in range(24):  # 24 x 64 KiB = 1.5 MiB > 1 MB cap
            chunk = os.urandom(65536)
            conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server may answer 413 and close before the whole body is sent
    r = conn.getresponse()
    assert r.status == 413 and "cap" in json.loads(r.read())["error"]["message"]
    conn.close()
    time.sleep(0.3)
    # the upload itself is never kept; a verified clip leaves only a small preview for its record page
    kept = [p for p in up.rglob("*") if p.is_file()]
    assert {p.name for p in kept} <= {"poster.png", "preview.mp4"}, f"uploaded files must never be kept: {kept}"
    assert all(p.parent.parent.name.startswith("provchain-explorer-previews-") for p in kept)
    # the verify page itself
    st, _, page = html(f"{b}/verify")
    assert st == 200 and "verify.js" in page and 'data-cap="1048576"' in page


def test_live_events_push_new_blocks(net):
    b = net["base"]
    _, s = getj(b + "/api/status")
    since = s["latest_height"] - 2
    conn = http.client.HTTPConnection(b.removeprefix("http://"), timeout=15)
    conn.request("GET", f"/api/events?since={since}&records=0")
    r = conn.getresponse()
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    events, heights, deadline = [], [], time.monotonic() + 12
    ev = None
    while time.monotonic() < deadline:
        line = r.fp.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            ev = line[7:]
        elif line.startswith("data: ") and ev:
            events.append(ev)
            d = json.loads(line[6:])
            if ev == "block":
                heights.append(d["height"])
            if ev == "record":
                assert d["record_id"] in [net["record_id"], *net["more"]]
            if heights and max(heights) > s["latest_height"]:
                break
    conn.close()
    assert "status" in events and "record" in events  # the catch-up: records since 0
    assert heights[:2] == [since + 1, since + 2], heights  # the catch-up: blocks since `since`
    assert max(heights) > s["latest_height"], "no new block was pushed live"

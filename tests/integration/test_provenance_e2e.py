"""End to end on a real 4-validator devnet: register clips with the CLI, then `verify` copies of them."""

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading

import pytest
from aiohttp import ClientSession, web

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import corpus  # noqa: E402

from provchain.devnet.cluster import Cluster  # noqa: E402

pytestmark = pytest.mark.slow


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, **(env or {})))


def verify(path, node, genesis=None, extra=()):
    args = ["provchain.provenance.verify", "--json", "--node", node, *extra]
    if genesis:
        args += ["--genesis", str(genesis)]
    p = run(*args, str(path))
    try:
        return p.returncode, json.loads(p.stdout), p.stderr
    except ValueError:
        raise AssertionError(f"verify printed no JSON (rc {p.returncode}):\n{p.stdout}\n{p.stderr}")


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    root = tmp_path_factory.mktemp("prov")
    c = Cluster(root / "net", n=4, app="provenance")
    c.start_all()
    clips = root / "clips"
    clips.mkdir()
    a = corpus.make_source(str(clips), "a", "natural", 11, width=256, height=144, seconds=6)
    b = corpus.make_source(str(clips), "b", "striped", 12, width=256, height=144, seconds=6)
    key = root / "creator.pem"
    p = run("provchain", "register", "--node", c.url(0), "--key", str(key), "--json", a, b)
    assert p.returncode == 0, p.stderr
    regs = json.loads(p.stdout)
    for i in range(4):  # registered through node0; the tests ask every node
        c.wait_height(i, max(r["height"] for r in regs))
    yield c, clips, {"a": a, "b": b}, regs, key
    c.stop_all()


def test_register_is_idempotent(net):
    c, clips, src, regs, key = net
    assert [r["existing"] for r in regs] == [False, False]
    p = run("provchain", "register", "--node", c.url(1), "--key", str(key), "--json", src["a"])
    again = json.loads(p.stdout)[0]
    assert again["existing"] and again["record_id"] == regs[0]["record_id"]


def test_exact_file_is_verified_against_the_genesis_file(net):
    c, clips, src, regs, key = net
    rc, out, err = verify(src["a"], c.url(2), c.homes[0] / "config/genesis.json")
    assert rc == 0 and out["verdict"] == "verified", out
    m = out["matches"][0]
    assert m["record_id"] == regs[0]["record_id"] and m["proof"]["verified"]
    assert {ch["name"] for ch in m["proof"]["checks"]} >= {"merkle_inclusion", "commit_signatures",
                                                           "creator_signature", "record_id"}
    assert out["trust"]["source"] == "genesis_file"


@pytest.mark.parametrize("op,verdict,code", [("half", "match", 0), ("trim2", "match", 0),
                                             ("reencode", "match", 0)])
def test_transformed_copies_match(net, op, verdict, code):
    c, clips, src, regs, key = net
    q = corpus.transform(src["a"], str(clips / f"a_{op}.mp4"), op, crf=30)
    rc, out, err = verify(q, c.url(1))
    assert (rc, out["verdict"]) == (code, verdict), out
    assert out["matches"][0]["record_id"] == regs[0]["record_id"]
    assert "warning" in out["trust"]  # trust came from the node


def test_webm_copy_matches(net):
    c, clips, src, regs, key = net
    q = corpus.transform(src["b"], str(clips / "b.webm"), "reencode", codec="libvpx-vp9")
    rc, out, err = verify(q, c.url(3))
    assert (rc, out["verdict"]) == (0, "match"), out
    assert out["matches"][0]["record_id"] == regs[1]["record_id"]


def test_splice_of_two_records_is_altered(net):
    c, clips, src, regs, key = net
    q = corpus.transform(src["a"], str(clips / "splice.mp4"), "splice", other=src["b"])
    rc, out, err = verify(q, c.url(0))
    assert (rc, out["verdict"]) == (1, "altered"), out
    assert {m["record_id"] for m in out["matches"]} == {r["record_id"] for r in regs}


def test_unrelated_clip_is_unregistered(net):
    c, clips, src, regs, key = net
    q = corpus.make_source(str(clips), "other", "gradient", 99, width=256, height=144, seconds=4)
    rc, out, err = verify(q, c.url(0))
    assert (rc, out["verdict"], out["matches"]) == (3, "unregistered", []), out


def test_bad_files_and_a_down_node_exit_4(net, tmp_path):
    c, clips, src, regs, key = net
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(5000))
    for path in (empty, junk, tmp_path / "missing.mp4"):
        rc, out, err = verify(path, c.url(0))
        assert rc == 4 and out["verdict"] == "error" and out["errors"], out
        assert "Traceback" not in err
    rc, out, err = verify(src["a"], "http://127.0.0.1:9")
    assert rc == 4 and "unreachable" in out["errors"][0]
    p = run("provchain.provenance.verify", "--bogus-flag", src["a"])
    assert p.returncode == 2


class TamperingProxy:
    """A node that lies: forwards to a real node but flips a byte of every Merkle proof it serves."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.port = None

    async def handle(self, request):
        async with ClientSession() as s:
            async with s.request(request.method, self.upstream + request.path_qs, data=await request.read(),
                                 headers={"Content-Type": request.content_type}) as r:
                body = await r.read()
                status = r.status
        if request.path == "/tx" and status == 200:
            d = json.loads(body)
            aunts = d["result"]["proof"]["proof"]["aunts"]
            raw = bytearray(base64.b64decode(aunts[0]) if aunts else b"\0" * 32)
            raw[0] ^= 1
            if aunts:
                aunts[0] = base64.b64encode(bytes(raw)).decode()
            else:
                d["result"]["proof"]["proof"]["leaf_hash"] = base64.b64encode(bytes(raw)).decode()
            body = json.dumps(d).encode()
        return web.Response(body=body, status=status, content_type="application/json")

    def start(self):
        ready = threading.Event()

        def serve():
            loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self.handle)
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)
        return f"http://127.0.0.1:{self.port}"


def test_a_node_that_tampers_with_proofs_yields_invalid(net):
    c, clips, src, regs, key = net
    url = TamperingProxy(c.url(0)).start()
    rc, out, err = verify(src["a"], url, c.homes[0] / "config/genesis.json")
    assert (rc, out["verdict"]) == (1, "invalid"), out
    failed = {ch["name"] for m in out["matches"] for ch in m["proof"]["checks"] if not ch["ok"]}
    assert "merkle_inclusion" in failed

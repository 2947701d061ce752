"""First registrant = origin, end to end: two creators, the real `provchain register` and `verify` CLIs,
a real 4-validator devnet (separate processes, LevelDB, free ports) and the explorer reading it."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import corpus  # noqa: E402

from provchain.devnet.cluster import Cluster  # noqa: E402
from tests.integration.test_explorer_api import fetch, getj, start_explorer  # noqa: E402
from tests.unit.test_verify_schema import validate  # noqa: E402

pytestmark = pytest.mark.slow


def cli(*args):
    p = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=180)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def register(node, key, *files, extra=()):
    p = cli("provchain", "register", "--node", node, "--key", str(key), "--json", *extra, *map(str, files))
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr


def verify(node, path, human=False):
    p = cli("provchain.provenance.verify", "-q", "--node", node, *([] if human else ["--json"]), str(path))
    if human:
        return p.returncode, p.stdout
    out = json.loads(p.stdout)
    validate(out)  # docs/verify-output.schema.json
    return p.returncode, out


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    root = tmp_path_factory.mktemp("claims")
    c = Cluster(root / "net", n=4, app="provenance")
    c.start_all()
    explorer = None
    try:
        clips = root / "clips"
        clips.mkdir()
        src = corpus.make_source(str(clips), "orig", "natural", 31, width=256, height=144, seconds=6)
        alice, bob = root / "alice.pem", root / "bob.pem"
        rc, regs, err = register(c.url(0), alice, src)
        assert rc == 0 and regs[0]["registered"] and not regs[0]["existing"], err
        explorer, base = start_explorer(c.url(3), root / "explorer.log", "--genesis",
                                        str(c.homes[0] / "config/genesis.json"))
        c.explorer = base
        yield c, clips, src, alice, bob, regs[0]
    finally:
        if explorer is not None:
            explorer.terminate()
            explorer.wait(10)
        c.stop_all()


def test_someone_elses_reencode_is_refused_then_forced_and_verify_names_the_first_registrant(net):
    c, clips, src, alice, bob, first = net
    copy = corpus.transform(src, str(clips / "bob_copy.mp4"), "reencode", crf=30)
    # bob registers a re-encode of alice's clip: refused, with who registered it first
    rc, out, err = register(c.url(1), bob, copy)
    assert rc == 1 and out[0]["registered"] is False, (out, err)
    assert out[0]["prior_claims"][0]["record_id"] == first["record_id"]
    assert out[0]["prior_claims"][0]["creator"] == first["creator"]
    assert f"first registered at height {first['height']}" in err and "--parent" in err and "--force" in err
    # with --force it goes on chain, as a later claim
    rc, out, err = register(c.url(1), bob, copy, extra=["--force"])
    assert rc == 0 and out[0]["registered"] and not out[0]["existing"], (out, err)
    later = out[0]
    assert later["creator"] != first["creator"] and int(later["height"]) > int(first["height"])
    c.wait_height(2, int(later["height"]))
    # verify of bob's byte-identical file: verified against bob's record, but alice is the origin
    rc, res = verify(c.url(2), copy)
    assert (rc, res["verdict"]) == (0, "verified"), res
    assert res["verdict_record_id"] == later["record_id"] and res["origin_record_id"] == first["record_id"]
    assert [(m["record_id"], m["claim"], m["origin_record_id"]) for m in res["matches"]] == [
        (first["record_id"], "origin", first["record_id"]), (later["record_id"], "later", first["record_id"])]
    assert [m["height"] for m in res["matches"]] == sorted(m["height"] for m in res["matches"])
    rc, line = verify(c.url(2), copy, human=True)
    assert f"a later claim: first registered at height {first['height']} by creator {first['creator'][:16]}" in line
    # any other copy matches alice's record, with bob's listed as a later claim
    other = corpus.transform(src, str(clips / "other_copy.mp4"), "half", crf=26)
    rc, res = verify(c.url(3), other)
    assert (rc, res["verdict"]) == (0, "match"), res
    assert res["verdict_record_id"] == res["origin_record_id"] == first["record_id"]
    assert [m["claim"] for m in res["matches"]] == ["origin", "later"]
    # the explorer: bob's record page lists alice's as registered earlier, hers lists bob's as later
    st, rel = getj(f"{c.explorer}/api/record/{later['record_id']}/related")
    assert st == 200 and [x["record_id"] for x in rel["earlier"]] == [first["record_id"]] and rel["later"] == []
    st, rel = getj(f"{c.explorer}/api/record/{first['record_id']}/related")
    assert [x["record_id"] for x in rel["later"]] == [later["record_id"]] and rel["earlier"] == []
    st, rec = getj(f"{c.explorer}/api/record/{later['record_id']}")  # explorer API: heights are JSON numbers
    assert rec["height"] == later["height"] and isinstance(rec["height"], int) and rec["parents"] == []
    st, _, page = fetch(f"{c.explorer}/record/{later['record_id']}")
    assert st == 200 and 'id="claims-earlier"' in page.decode() and first["record_id"] in page.decode()
    # the explorer's exact-hash verify path (the browser found bob's file by its SHA-256) names alice too
    st, ans = getj(f"{c.explorer}/api/verify/record/{later['record_id']}")
    v = ans["verify"]
    assert st == 200 and v["verdict"] == "verified" and v["verdict_record_id"] == later["record_id"], ans
    assert v["origin_record_id"] == first["record_id"]


def test_identical_content_of_someone_else_is_refused_even_with_force(net):
    c, clips, src, alice, bob, first = net
    rc, out, err = register(c.url(0), bob, src, extra=["--force"])
    assert rc == 1 and out[0]["registered"] is False
    assert out[0]["prior_claims"][0]["how"] == "same content" and "one record per content" in err
    # for its own creator the same file is simply the existing record
    rc, out, err = register(c.url(0), alice, src)
    assert rc == 0 and out[0]["existing"] and out[0]["record_id"] == first["record_id"]


def test_a_declared_derivative_carries_its_parent(net):
    c, clips, src, alice, bob, first = net
    deriv = corpus.transform(src, str(clips / "bob_excerpt.mp4"), "excerpt")
    rc, out, err = register(c.url(0), bob, deriv, extra=["--parent", first["record_id"]])
    assert rc == 0 and out[0]["registered"], (out, err)
    c.wait_height(1, int(out[0]["height"]))
    rc, res = verify(c.url(1), deriv)
    assert res["verdict"] == "verified" and res["origin_record_id"] == first["record_id"], res
    mine = next(m for m in res["matches"] if m["record_id"] == out[0]["record_id"])
    assert mine["parents"] == [first["record_id"]] and mine["claim"] == "later"
    # a parent that is not on chain: a clear refusal from the chain
    ghost = "AB" * 32
    other = corpus.transform(src, str(clips / "bob_bright.mp4"), "bright")
    rc, out, err = register(c.url(0), bob, other, extra=["--parent", ghost, "--force"])
    assert rc == 4 and f"parent record {ghost} does not exist" in err, err


def test_too_little_video_is_undecided_not_a_match(net):
    """3 frames (0.125 s) cut from a registered clip fingerprint as one sample: too little to call a copy."""
    c, clips, src, alice, bob, first = net
    frames, fps = corpus.read_frames(src)
    short = corpus.write_video(str(clips / "three_frames.mp4"), frames[30:33], fps=24)
    rc, res = verify(c.url(0), short)
    assert (rc, res["verdict"], res["matches"]) == (4, "error", []), res
    assert "too little video" in res["errors"][0] and "1 sample" in res["errors"][0]

"""C2PA on a real devnet: the hook embeds a manifest trusted against the devnet CA that names the clip's
chain record; `verify --json` reports it, a remux loses it but still verifies through the chain, a third
party's manifest is shown, and manifests that contradict the chain are conflicts. Every output is
checked against docs/verify-output.schema.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from provchain.chain.crypto import PrivateKey
from provchain.devnet import ca
from provchain.devnet.cluster import Cluster
from provchain.generator.hooks import Hook, Outbox, registered
from provchain.provenance import c2pa_sign
from provchain.provenance.client import NodeClient
from provchain.provenance.fingerprint import analyze_file
from tests.integration.test_hooks import frames
from tests.corpus import remux, transform
from tests.unit.test_c2pa import write_clip
from tests.unit.test_verify_schema import validate

c2pa = pytest.importorskip("c2pa")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("c2pa") / "net", n=1, app="provenance")
    c.start_all()
    yield c
    c.stop_all()


@pytest.fixture(scope="module")
def creator(net, tmp_path_factory):
    """A creator key file with a certificate issued by the devnet CA through the CLI."""
    keyfile = tmp_path_factory.mktemp("creator") / "creator.pem"
    PrivateKey.generate().save(keyfile)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    out = subprocess.run([sys.executable, "-m", "provchain", "keys", "cert", "--keystore", str(keyfile),
                          "--ca", str(net.root / "ca"), "--name", "Test Creator"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (keyfile.parent / "creator.cert.pem").exists()
    return keyfile


@pytest.fixture(scope="module")
def registered_clip(net, creator, tmp_path_factory):
    outbox = tmp_path_factory.mktemp("outbox")

    @registered(node=net.url(0), key=str(creator), model="frames-pipeline", outbox=str(outbox), fps=12)
    def pipeline(prompt: str, seed: int = 0):
        return frames(seed, n=18)

    path, reg = pipeline("a red square", seed=3)
    assert reg is not None and not reg.existing
    return path, reg


def devnet_anchor(net) -> str:
    return (net.root / "ca" / ca.CA_CERT).read_text()


def run_verify(net, anchors: str, *files) -> dict:
    """The `verify` console command, as a user runs it."""
    pem = net.root / "anchors.pem"
    pem.write_text(anchors)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    out = subprocess.run([sys.executable, "-m", "provchain.provenance.verify", "--json", "-q", "--node", net.url(0),
                          "--genesis", str(net.homes[0] / "config/genesis.json"), "--c2pa-trust", str(pem), *files],
                         capture_output=True, text=True, env=env, timeout=300)
    res = json.loads(out.stdout)
    validate(res)
    return res


def test_hook_clip_carries_a_trusted_manifest_naming_its_record(net, registered_clip):
    path, reg = registered_clip
    ctx = c2pa.Context.from_dict({"trust": {"user_anchors": devnet_anchor(net)},
                                  "verify": {"remote_manifest_fetch": False}})
    with open(path, "rb") as f, c2pa.Reader("video/mp4", f, context=ctx) as reader:
        assert reader.get_validation_state() == "Trusted"
        m = reader.get_active_manifest()
    claim = next(a["data"] for a in m["assertions"] if a["label"] == c2pa_sign.CHAIN_LABEL)
    genesis = NodeClient(net.url(0)).genesis()
    assert claim["chain_id"] == genesis.chain_id and claim["genesis_hash"] == genesis.hash().hex().upper()
    # the lookup the manifest names finds the record that registered these final bytes
    with urllib.request.urlopen(net.url(0) + claim["lookup"]["rpc"], timeout=10) as r:
        rec = json.loads(r.read())["result"]
    assert rec["record_id"] == reg.record_id
    assert rec["content_sha256"] == analyze_file(path).file_sha256.hex().upper()
    assert rec["generator"]["settings"][c2pa_sign.SETTING] == 1


def test_verify_reports_the_manifest_and_the_chain_agrees(net, registered_clip):
    path, reg = registered_clip
    res = run_verify(net, devnet_anchor(net), path)
    assert res["verdict"] == "verified" and res["matches"][0]["record_id"] == reg.record_id
    c = res["c2pa"]
    assert c["present"] and c["validation_state"] == "Trusted" and c["failures"] == []
    assert c["signer"]["common_name"] == "Test Creator" and c["signer"]["alg"] == "Ed25519"
    assert c["actions"][0]["action"] == "c2pa.created" and c["actions"][0]["software_agent"] == "frames-pipeline"
    assert c["actions"][0]["digital_source_type"] == c2pa_sign.TRAINED
    assert c["soft_binding"]["alg"] == c2pa_sign.SOFT_BINDING_ALG
    assert c["chain_check"] == "consistent" and c["record_id"] == reg.record_id and c["conflicts"] == []


def test_remuxed_copy_loses_the_manifest_but_verifies_through_the_chain(net, registered_clip, tmp_path):
    path, reg = registered_clip
    copy = remux(path, str(tmp_path / "remux.mp4"))
    res = run_verify(net, devnet_anchor(net), copy)
    assert res["verdict"] in ("verified", "match") and res["matches"][0]["record_id"] == reg.record_id
    assert res["c2pa"]["present"] is False and res["c2pa"]["manifest_lost"] is True
    human = subprocess.run([sys.executable, "-m", "provchain.provenance.verify", "-q", "--node", net.url(0), copy],
                           capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=os.getcwd()), timeout=300)
    assert "LOST" in human.stdout


def test_third_party_manifest_shows_in_verify_json(net, tmp_path):
    their_ca = tmp_path / "their-ca"
    ca.create_ca(their_ca, "Throwaway Newsroom CA")
    key = PrivateKey.generate()
    chain = ca.issue(their_ca, key.pubkey, "Newsroom Cam 7", organization="Example News")
    clip = write_clip(tmp_path / "news.mp4", seed=21)
    c2pa_sign.sign_in_place(clip, key, chain, {
        "claim_generator_info": [{"name": "NewsCam", "version": "3.1"}], "title": "news.mp4",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
            {"action": "c2pa.created",
             "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}]})
    res = run_verify(net, devnet_anchor(net) + (their_ca / ca.CA_CERT).read_text(), clip)
    assert res["verdict"] == "unregistered"
    c = res["c2pa"]
    assert c["present"] and c["validation_state"] == "Trusted" and c["claim_generator"] == "NewsCam/3.1"
    assert c["signer"]["organization"] == "Example News" and c["actions"][0]["action"] == "c2pa.created"
    assert c["chain_check"] == "no_claim"
    # without their CA it is still shown, signed but untrusted
    res = run_verify(net, devnet_anchor(net), clip)
    assert res["c2pa"]["validation_state"] == "Valid"
    assert [f["code"] for f in res["c2pa"]["failures"]] == ["signingCredential.untrusted"]


def test_manifests_contradicting_the_chain_are_conflicts(net, registered_clip, tmp_path):
    path, reg = registered_clip
    genesis = NodeClient(net.url(0)).genesis()
    here = c2pa_sign.ChainRef(genesis.chain_id, genesis.hash(), net.url(0))
    impostor = PrivateKey.generate()
    chain = ca.issue(net.root / "ca", impostor.pubkey, "Impostor")
    # a registered clip, stripped and re-signed by someone else who claims its chain record as theirs
    stolen = remux(path, str(tmp_path / "stolen.mp4"))
    c2pa_sign.sign_clip(stolen, analyze_file(stolen), impostor, chain, "not-the-model", here)
    # a clip that names this chain but was never registered on it
    unregistered = write_clip(tmp_path / "never.mp4", seed=33)
    c2pa_sign.sign_clip(unregistered, analyze_file(unregistered), impostor, chain, "m", here)
    res = run_verify(net, devnet_anchor(net), stolen, unregistered)
    by_file = {r["file"]: r for r in res}
    s = by_file[stolen]
    assert s["matches"][0]["record_id"] == reg.record_id
    assert s["c2pa"]["validation_state"] == "Trusted"  # validly signed: only the chain shows the lie
    assert s["c2pa"]["chain_check"] == "conflict" and "registered by" in s["c2pa"]["conflicts"][0]
    u = by_file[unregistered]
    assert u["verdict"] == "unregistered"
    assert u["c2pa"]["chain_check"] == "conflict" and "does not have" in u["c2pa"]["conflicts"][0]


def test_generated_clip_carries_a_trusted_manifest_and_verifies(net, creator, tmp_path):
    """`provchain generate` (the built-in model, a 1 s clip) signs before it registers."""
    pytest.importorskip("torch")
    out = tmp_path / "gen.mp4"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    run = subprocess.run([sys.executable, "-m", "provchain", "generate", "a red ball bouncing", "-o", str(out),
                          "--seconds", "1", "--seed", "4", "--key", str(creator), "--node", net.url(0),
                          "--outbox", str(tmp_path / "outbox"), "--json"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    reg = json.loads(run.stdout)
    res = run_verify(net, devnet_anchor(net), str(out))
    assert res["verdict"] == "verified" and res["verdict_record_id"] == reg["record_id"]
    c = res["c2pa"]
    assert c["validation_state"] == "Trusted" and c["chain_check"] == "consistent" and c["record_id"] == reg["record_id"]
    assert c["actions"][0]["software_agent"] == reg["model"]
    assert c["actions"][0]["digital_source_type"] == c2pa_sign.TRAINED


REAL = Path(__file__).resolve().parents[1] / "data" / "realfootage"  # camera excerpts, see ATTRIBUTION.md


@pytest.mark.parametrize("name", ["box.mp4", "cockatoo.mp4"])
def test_real_camera_clip_signed_registered_then_remuxed_and_reencoded(net, creator, name, tmp_path):
    """Real footage through the hook: the manifest is Trusted and names its record; a remux and a
    half-size re-encode (what an upload service does) lose it and still find the record."""
    clip = str(tmp_path / name)
    shutil.copy(REAL / name, clip)
    hook = Hook(net.url(0), PrivateKey.load(creator), Outbox(tmp_path / "outbox"), "camera-pipeline",
                key_path=str(creator))
    reg = hook.register(clip, prompt="", seed=0)
    assert reg is not None and not reg.existing
    res = run_verify(net, devnet_anchor(net), clip, remux(clip, str(tmp_path / "remux.mp4")),
                     transform(clip, str(tmp_path / "half.mp4"), "half"))
    signed, remuxed, half = res
    assert signed["verdict"] == "verified" and signed["c2pa"]["validation_state"] == "Trusted"
    assert signed["c2pa"]["chain_check"] == "consistent" and signed["c2pa"]["record_id"] == reg.record_id
    for copy in (remuxed, half):
        assert copy["verdict"] == "match" and copy["verdict_record_id"] == reg.record_id, copy["file"]
        assert copy["c2pa"]["present"] is False and copy["c2pa"]["manifest_lost"] is True

"""C2PA manifests with the real c2pa-python: signing with a creator key, reading ours and a third
party's, the devnet CA as trust anchor, the manifest lost in a remux, conflicts with the chain."""

from __future__ import annotations

import json

import av
import jsonschema
import numpy as np
import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain.chain.crypto import PrivateKey
from provchain.chain.light import Check
from provchain.chain.types import Genesis, Validator, ValidatorSet
from provchain.devnet import ca
from provchain.provenance import c2pa_read, c2pa_sign
from provchain.provenance.c2pa_sign import CHAIN_LABEL, ChainRef, CredentialError
from provchain.provenance.creator_cert import cert_path_for, check_chain, creator_certificate, signing_request
from provchain.provenance.fingerprint import analyze_file
from provchain.provenance.lightclient import ProvenRecord
from provchain.provenance.record import GeneratorInfo
from provchain.provenance.register import build_record
from tests.unit.test_verify_schema import SCHEMA
from tests.corpus import remux  # a re-upload tool's remux: the video packets into a new MP4, no manifest box

c2pa = pytest.importorskip("c2pa")  # the `c2pa` extra; CI installs it


def write_clip(path, seed: int = 1, n: int = 18, size: int = 96, fps: int = 12) -> str:
    """A short textured clip with a moving block (H.264 in MP4, made with PyAV)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        for t in range(n):
            f = base.copy()
            f[30:60, 4 + 3 * t: 34 + 3 * t] = (250, 30, 30)
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return str(path)


def genesis() -> Genesis:
    return Genesis("c2pa-test", 1_700_000_000_000, ValidatorSet((Validator(PrivateKey.generate().pubkey, 10),)))


@pytest.fixture(scope="module")
def devnet_ca(tmp_path_factory):
    d = tmp_path_factory.mktemp("ca")
    ca.create_ca(d, "test devnet CA")
    return d


def reader_store(path: str, anchors: str | None) -> dict:
    settings = {"verify": {"remote_manifest_fetch": False}}
    if anchors:
        settings["trust"] = {"user_anchors": anchors}
    with open(path, "rb") as f, c2pa.Reader("video/mp4", f, context=c2pa.Context.from_dict(settings)) as r:
        return json.loads(r.json())


def signed_clip(tmp_path, devnet_ca, g: Genesis, key: PrivateKey | None = None, seed: int = 1):
    key = key or PrivateKey.generate()
    path = write_clip(tmp_path / f"clip{seed}.mp4", seed)
    before = analyze_file(path)
    chain = ca.issue(devnet_ca, key.pubkey, "creator")
    after = c2pa_sign.sign_clip(path, before, key, chain, "tinyvid-3", ChainRef(g.chain_id, g.hash(), "http://n"),
                                b"\x11" * 32, 7)
    return path, key, before, after


def test_signed_clip_is_trusted_against_the_devnet_ca_and_names_its_chain_record(tmp_path, devnet_ca):
    g = genesis()
    path, key, before, after = signed_clip(tmp_path, devnet_ca, g)
    final = analyze_file(path)
    # embedding changes no decoded frame: the fingerprint taken before signing is the final file's
    assert final.file_sha256 == after.file_sha256 != before.file_sha256
    assert final.frames_sha256 == before.frames_sha256
    assert final.fingerprint == before.fingerprint and final.facts == before.facts

    anchors = (devnet_ca / ca.CA_CERT).read_text()
    store = reader_store(path, anchors)
    assert store["validation_state"] == "Trusted"
    m = store["manifests"][store["active_manifest"]]
    assertions = {a["label"]: a["data"] for a in m["assertions"]}
    act = assertions["c2pa.actions.v2"]["actions"][0]
    assert act["action"] == "c2pa.created" and act["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    assert act["softwareAgent"]["name"] == "tinyvid-3"
    assert assertions["c2pa.soft-binding"]["alg"] == c2pa_sign.SOFT_BINDING_ALG
    claim = assertions[CHAIN_LABEL]
    assert claim["chain_id"] == g.chain_id and claim["genesis_hash"] == g.hash().hex().upper()
    assert claim["creator"] == key.pubkey.hex().upper()
    assert claim["lookup"]["rpc"] == f"/record?content_sha256={before.frames_sha256.hex().upper()}"
    assert m["signature_info"]["alg"] == "Ed25519"

    # without the devnet CA as anchor the signature is valid but the signer untrusted
    untrusted = reader_store(path, None)
    assert untrusted["validation_state"] == "Valid"
    codes = [f["code"] for f in untrusted["validation_results"]["activeManifest"]["failure"]]
    assert codes == ["signingCredential.untrusted"]

    rep = c2pa_read.read_manifest(path, anchors)
    assert rep["present"] and rep["validation_state"] == "Trusted" and rep["failures"] == []
    assert rep["claim_generator"].startswith("provchain/")
    assert rep["signer"]["common_name"] == "creator" and rep["signer"]["alg"] == "Ed25519"
    assert rep["actions"] == [{"action": "c2pa.created", "digital_source_type": c2pa_sign.TRAINED,
                               "software_agent": "tinyvid-3"}]
    assert rep["chain_claim"]["frames_sha256"] == before.frames_sha256.hex().upper()


def test_tampered_pixels_invalidate_the_manifest(tmp_path, devnet_ca):
    path, *_ = signed_clip(tmp_path, devnet_ca, genesis())
    data = bytearray(open(path, "rb").read())
    i = data.find(b"mdat") + 200
    data[i] ^= 0xFF
    open(path, "wb").write(bytes(data))
    rep = c2pa_read.read_manifest(path, (devnet_ca / ca.CA_CERT).read_text())
    assert rep["present"] and rep["validation_state"] == "Invalid"
    assert any(f["code"].startswith("assertion.bmffHash") for f in rep["failures"])


def test_remux_drops_the_manifest_but_keeps_the_frames(tmp_path, devnet_ca):
    path, _, before, _ = signed_clip(tmp_path, devnet_ca, genesis())
    copy = remux(path, str(tmp_path / "remux.mp4"))
    assert c2pa_read.read_manifest(copy)["present"] is False
    assert analyze_file(copy).frames_sha256 == before.frames_sha256


def test_third_party_manifest_is_read(tmp_path):
    """A clip signed by someone else's tool (c2pa-python, a throwaway CA, their own assertions)."""
    their_ca = tmp_path / "their-ca"
    ca.create_ca(their_ca, "Throwaway Camera CA")
    their_key = PrivateKey.generate()
    chain = ca.issue(their_ca, their_key.pubkey, "Camera 42", organization="Example Camera Co")
    src = write_clip(tmp_path / "cam.mp4", 9)
    manifest = {"claim_generator_info": [{"name": "ExampleCam", "version": "2.0"}], "title": "cam.mp4",
                "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
                    {"action": "c2pa.created",
                     "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}]}
    c2pa_sign.sign_in_place(src, their_key, chain, manifest)
    rep = c2pa_read.read_manifest(src, (their_ca / ca.CA_CERT).read_text())
    assert rep["validation_state"] == "Trusted" and rep["claim_generator"] == "ExampleCam/2.0"
    assert rep["signer"]["organization"] == "Example Camera Co" and rep["signer"]["common_name"] == "Camera 42"
    assert rep["actions"][0]["digital_source_type"].endswith("/digitalCapture")
    assert rep["chain_claim"] is None and rep["chain_check"] == "no_claim"
    c2pa_read.check_against_chain(rep, genesis(), "unregistered", [], lambda f: None)
    assert rep["chain_check"] == "no_claim" and rep["conflicts"] == []


def test_signing_a_clip_that_has_a_manifest_keeps_it_as_the_parent(tmp_path, devnet_ca):
    """A generator that signs its own output: the hook's manifest opens theirs, which stays in the store."""
    their_ca = tmp_path / "gen-ca"
    ca.create_ca(their_ca, "Some Generator CA")
    their_key = PrivateKey.generate()
    clip = write_clip(tmp_path / "gen.mp4", 12)
    c2pa_sign.sign_in_place(clip, their_key, ca.issue(their_ca, their_key.pubkey, "SomeGen service"), {
        "claim_generator_info": [{"name": "SomeGen", "version": "5"}], "title": "gen.mp4",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": c2pa_sign.TRAINED}]}}]})
    g = genesis()
    key = PrivateKey.generate()
    before = analyze_file(clip)
    c2pa_sign.sign_clip(clip, before, key, ca.issue(devnet_ca, key.pubkey, "creator"), "SomeGen-5",
                        ChainRef(g.chain_id, g.hash()))
    anchors = (devnet_ca / ca.CA_CERT).read_text() + (their_ca / ca.CA_CERT).read_text()
    store = reader_store(clip, anchors)
    assert store["validation_state"] == "Trusted" and len(store["manifests"]) == 2
    rep = c2pa_read.read_manifest(clip, anchors)
    assert rep["claim_generator"].startswith("provchain/") and rep["actions"][0]["action"] == "c2pa.opened"
    assert rep["ingredients"] == [{"title": "gen.mp4", "relationship": "parentOf", "claim_generator": "SomeGen/5"}]
    assert rep["chain_claim"]["creator"] == key.pubkey.hex().upper()
    assert "from gen.mp4 (SomeGen/5)" in c2pa_read.human_line(rep)
    assert analyze_file(clip).frames_sha256 == before.frames_sha256


def test_unreadable_inputs_never_raise(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0\0\0\x18ftypisom" + b"x" * 100)
    rep = c2pa_read.read_manifest(str(junk))
    assert rep["present"] is False and "could not be read" in rep["error"]
    assert "could not be read" in c2pa_read.read_manifest(str(tmp_path / "missing.mp4"))["error"]
    webm = tmp_path / "a.webm"
    webm.write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 64)
    assert c2pa_read.read_manifest(str(webm))["present"] is False


def proven(analysis, creator: PrivateKey, settings=()) -> ProvenRecord:
    rec = build_record(analysis, GeneratorInfo("m", b"\0" * 32, b"\0" * 32, 0, tuple(settings)))
    return ProvenRecord(bytes([len(settings) + 1]) * 32, [Check("all", True, "")], rec, creator.pubkey, 5, 1)


def test_chain_check_consistent_conflict_other_chain(tmp_path, devnet_ca):
    g = genesis()
    path, key, before, after = signed_clip(tmp_path, devnet_ca, g)
    p = proven(after, key, [(c2pa_sign.SETTING, 1)])
    rep = c2pa_read.read_manifest(path)
    c2pa_read.check_against_chain(rep, g, "verified", [p], lambda f: None)
    assert rep["chain_check"] == "consistent" and rep["record_id"] == p.record_id.hex().upper()

    # the chain holds the frames, but registered by someone else
    rep = c2pa_read.read_manifest(path)
    other = proven(after, PrivateKey.generate())
    c2pa_read.check_against_chain(rep, g, "verified", [other], lambda f: None)
    assert rep["chain_check"] == "conflict" and "registered by" in rep["conflicts"][0]

    # the manifest names a record this chain does not have
    rep = c2pa_read.read_manifest(path)
    c2pa_read.check_against_chain(rep, g, "unregistered", [], lambda f: None)
    assert rep["chain_check"] == "conflict" and "does not have" in rep["conflicts"][0]

    # the record found by lookup (not among the matches) is used
    rep = c2pa_read.read_manifest(path)
    c2pa_read.check_against_chain(rep, g, "unregistered", [], lambda f: p if f == after.frames_sha256 else None)
    assert rep["chain_check"] == "consistent"

    # another chain's claim is reported, not judged
    rep = c2pa_read.read_manifest(path)
    c2pa_read.check_against_chain(rep, genesis(), "unregistered", [], lambda f: None)
    assert rep["chain_check"] == "other_chain" and rep["conflicts"] == []

    # no manifest: lost if the record says the registered file carried one
    copy = remux(path, str(tmp_path / "lost.mp4"))
    rep = c2pa_read.read_manifest(copy)
    c2pa_read.check_against_chain(rep, g, "match", [p], lambda f: None)
    assert rep["manifest_lost"] is True
    rep = c2pa_read.read_manifest(copy)
    c2pa_read.check_against_chain(rep, g, "match", [proven(after, key)], lambda f: None)
    assert rep["manifest_lost"] is False


def test_creator_certificate(tmp_path, devnet_ca):
    key = PrivateKey.generate()
    keyfile = tmp_path / "creator.pem"
    key.save(keyfile)
    # no certificate: one from the personal CA, saved beside the key and reused
    pem = creator_certificate(key, keyfile, personal_ca=tmp_path / "personal")
    assert cert_path_for(keyfile) == tmp_path / "creator.cert.pem" and cert_path_for(keyfile).read_text() == pem
    assert creator_certificate(key, keyfile, personal_ca=tmp_path / "personal") == pem
    leaf, root = check_chain(pem.encode(), key.pubkey)
    assert leaf.issuer == root.subject
    # a certificate for another key is refused
    other = ca.issue(devnet_ca, PrivateKey.generate().pubkey, "someone else")
    (tmp_path / "other.pem").write_text(other)
    with pytest.raises(CredentialError, match="not the creator key"):
        creator_certificate(key, keyfile, cert_path=tmp_path / "other.pem")
    # a request for a real CA, signed by the creator key
    csr = x509.load_pem_x509_csr(signing_request(key, "Jane Creator", "jane@example.org"))
    assert csr.is_signature_valid
    assert csr.public_key().public_bytes_raw() == key.pubkey


def test_without_c2pa_python_verify_and_the_hook_degrade(tmp_path, monkeypatch):
    """Without the `c2pa` extra: read_manifest says so, the hook registers the clip unsigned."""
    import sys

    from provchain.generator.hooks import Hook, Outbox
    monkeypatch.setitem(sys.modules, "c2pa", None)  # `import c2pa` now raises ImportError
    monkeypatch.setattr(c2pa_sign, "available", lambda: False)
    clip = write_clip(tmp_path / "plain.mp4", 5)
    rep = c2pa_read.read_manifest(clip)
    assert rep["available"] is False and rep["present"] is False and "not installed" in rep["error"]
    before = open(clip, "rb").read()
    hook = Hook("http://127.0.0.1:9", PrivateKey.generate(), Outbox(tmp_path / "outbox"), "m")
    record = hook.enqueue(clip, prompt="p", seed=1)
    assert open(clip, "rb").read() == before  # untouched
    assert c2pa_sign.SETTING not in dict(record.generator.settings)
    assert len(Outbox(tmp_path / "outbox").pending()) == 1


def test_hook_signs_before_it_records(tmp_path, devnet_ca):
    """The record the hook writes to the outbox is of the final, signed bytes (node down: no network)."""
    from provchain.generator.hooks import Hook, Outbox
    from provchain.provenance.fingerprint import _file_sha256
    key = PrivateKey.generate()
    cert = tmp_path / "c.pem"
    cert.write_text(ca.issue(devnet_ca, key.pubkey, "hook"))
    clip = write_clip(tmp_path / "hooked.mp4", 6)
    hook = Hook("http://127.0.0.1:9", key, Outbox(tmp_path / "outbox"), "m", cert=str(cert))
    record = hook.enqueue(clip, prompt="p", seed=1)
    assert record.file_sha256 == _file_sha256(clip)
    assert dict(record.generator.settings)[c2pa_sign.SETTING] == 1
    rep = c2pa_read.read_manifest(clip, (devnet_ca / ca.CA_CERT).read_text())
    assert rep["validation_state"] == "Trusted"
    assert rep["chain_claim"] is None  # the node was never reached: the manifest cannot name the chain


def test_chain_named_from_the_outbox_cache_when_the_node_is_down(tmp_path):
    from provchain.generator.hooks import Hook, Outbox
    from provchain.provenance.client import NodeError
    g = genesis()
    up = Hook("http://node:1", PrivateKey.generate(), Outbox(tmp_path / "outbox"), "m")
    up.client.genesis = lambda: g
    assert up.chain_ref() == ChainRef(g.chain_id, g.hash(), "http://node:1")

    def down():
        raise NodeError("unreachable")
    later = Hook("http://node:1", PrivateKey.generate(), Outbox(tmp_path / "outbox"), "m")
    later.client.genesis = down
    assert later.chain_ref() == up.chain_ref()
    other = Hook("http://other:1", PrivateKey.generate(), Outbox(tmp_path / "outbox"), "m")
    other.client.genesis = down
    assert other.chain_ref() is None



json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                      max_size=3), max_leaves=12)
GENESIS = genesis()
hex64 = st.text(alphabet="0123456789ABCDEF", min_size=64, max_size=64)
claim_values = {"chain_id": st.just(GENESIS.chain_id), "genesis_hash": st.just(GENESIS.hash().hex().upper()),
                "creator": hex64, "frames_sha256": hex64 | st.text(max_size=70)}
assertion_data = st.fixed_dictionaries({}, optional={
    "actions": json_values, "alg": json_values, "lookup": json_values,
    **{k: v | json_values for k, v in claim_values.items()}})
assertion = st.fixed_dictionaries({"label": st.sampled_from(["c2pa.actions.v2", "c2pa.soft-binding", CHAIN_LABEL])
                                   | json_values, "data": assertion_data | json_values})
manifest = st.fixed_dictionaries({}, optional={"assertions": st.lists(assertion, max_size=4) | json_values,
                                               "claim_generator_info": json_values, "signature_info": json_values,
                                               "title": json_values, "claim_generator": json_values,
                                               "ingredients": st.lists(st.fixed_dictionaries(
                                                   {"title": json_values, "active_manifest": st.just("m") | json_values}),
                                                   max_size=2) | json_values})
manifest_store = st.fixed_dictionaries({}, optional={
    "active_manifest": st.just("m") | json_values, "manifests": st.fixed_dictionaries({"m": manifest}) | json_values,
    "validation_state": st.sampled_from(["Invalid", "Valid", "Trusted"]) | json_values,
    "validation_results": json_values})
C2PA_REPORT = jsonschema.Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": "#/$defs/c2pa"})


@settings(max_examples=200, deadline=None)
@given(manifest_store)
def test_any_manifest_store_gives_a_report_that_follows_the_schema(store):
    """Whatever a (hostile) manifest holds, the report keeps the schema's shape and the chain check never raises."""
    rep = c2pa_read.summarize(store)
    c2pa_read.check_against_chain(rep, GENESIS, "match", [], lambda f: None)
    C2PA_REPORT.validate(rep)
    assert rep["present"] and rep["chain_check"] in ("no_claim", "other_chain", "conflict")


def test_ca_creation_is_atomic_and_keeps_the_first(tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    d = tmp_path / "ca"
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda i: ca.ensure_ca(d, f"CA {i}"), range(8)))
    cert, key = ca.load_ca(d)
    assert cert.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca"]  # no temporary folders left
    assert oct(d.stat().st_mode & 0o777) == "0o700" and oct((d / ca.CA_KEY).stat().st_mode & 0o777) == "0o600"
    first = (d / ca.CA_CERT).read_bytes()
    ca.ensure_ca(d, "again")
    assert (d / ca.CA_CERT).read_bytes() == first

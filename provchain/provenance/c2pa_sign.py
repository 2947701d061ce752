"""Content Credentials written: a C2PA manifest embedded in a clip before it is registered.

The manifest (signed with the creator's Ed25519 key by c2pa-python, optional extra `c2pa`) holds:

* `c2pa.actions.v2`: one `c2pa.created` action, digitalSourceType trainedAlgorithmicMedia, the model as
  softwareAgent and its weights hash / seed as parameters -- or, when the clip already carries a manifest
  (a generator that signs its own output), `c2pa.opened` of that manifest, kept as the parent ingredient;
* `c2pa.soft-binding`: this chain's fingerprint (algorithm `org.provchain.<fingerprint ALG>`, the value is
  the base64 of the msgpack record-form fingerprint, what `POST /match` takes);
* `org.provchain.record`: the chain (chain id, genesis hash), the creator's public key, the clip's
  frames_sha256 and how to look the record up (`GET /record?content_sha256=<frames_sha256>`).

The record id cannot be in the manifest: it hashes the record, which holds the SHA-256 of the final file,
which holds the manifest. frames_sha256 (decoded luma) does not change when the manifest is embedded and
the chain indexes it, so it is the lookup key. Embedding changes no decoded frame, so the fingerprint
taken before signing is the final file's (tests/unit/test_c2pa.py checks it).
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..chain.encoding import encode
from .fingerprint import ALG, ClipAnalysis, _file_sha256

log = logging.getLogger("provchain.c2pa")

CHAIN_LABEL = "org.provchain.record"
SOFT_BINDING_ALG = f"org.provchain.{ALG}"
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MIME = {".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime", ".avi": "video/x-msvideo"}
PARENT = "parent"  # the ingredient label of a manifest the clip already carried
SETTING = "c2pa_manifest"  # generator setting recorded on chain: the registered bytes carried our manifest


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("provchain")
    except PackageNotFoundError:
        return "unknown"


class CredentialError(Exception):
    """A signing certificate that is missing, malformed or for another key, or a failed signing."""


def available() -> bool:
    import importlib.util
    return importlib.util.find_spec("c2pa") is not None


def mime_type(path: str | os.PathLike) -> str | None:
    return MIME.get(Path(path).suffix.lower())


@dataclass(frozen=True)
class ChainRef:
    """Which chain the clip is registered on, as the manifest names it."""
    chain_id: str
    genesis_hash: bytes
    node: str = ""  # a node URL the creator used (a hint: any node of the chain answers the same)


def _context():
    import c2pa
    return c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}},
                                   "verify": {"verify_after_sign": False, "remote_manifest_fetch": False}})


def has_manifest(path: str | os.PathLike) -> bool:
    """Whether the file already carries a C2PA manifest (which signing must keep, as an ingredient)."""
    import c2pa
    try:
        with open(path, "rb") as f:
            reader = c2pa.Reader.try_create(mime_type(path), f, context=_context())
            if reader is None:
                return False
            reader.close()
            return True
    except (c2pa.C2paError, OSError):
        return False


def manifest_definition(analysis: ClipAnalysis, creator: bytes, model: str, chain: ChainRef | None,
                        title: str, weights_sha256: bytes | None = None, seed: int | None = None,
                        opens_parent: bool = False) -> dict:
    """Our manifest; `opens_parent`: the clip's own manifest becomes the parent ingredient (sign_in_place)."""
    params = {k: v for k, v in (("org.provchain.weights_sha256", weights_sha256.hex() if weights_sha256 else None),
                                ("org.provchain.seed", seed)) if v is not None}
    action = {"action": "c2pa.created", "digitalSourceType": TRAINED, "softwareAgent": {"name": model}}
    if params:
        action["parameters"] = params
    if opens_parent:  # the parent's manifest says how the clip was made; ours registers it
        action = {"action": "c2pa.opened", "parameters": {"ingredientIds": [PARENT]}}
    fp = base64.b64encode(encode(analysis.fingerprint.record_form().to_obj())).decode()
    assertions = [{"label": "c2pa.actions.v2", "data": {"actions": [action]}},
                  {"label": "c2pa.soft-binding", "data": {"alg": SOFT_BINDING_ALG,
                                                          "blocks": [{"scope": {}, "value": fp}]}}]
    if chain is not None:
        frames = analysis.frames_sha256.hex().upper()
        assertions.append({"label": CHAIN_LABEL, "data": {
            "chain_id": chain.chain_id, "genesis_hash": chain.genesis_hash.hex().upper(),
            "creator": creator.hex().upper(), "frames_sha256": frames, "fingerprint_alg": ALG,
            "lookup": {"rpc": f"/record?content_sha256={frames}", "match": "/match", "node": chain.node}}})
    return {"claim_generator_info": [{"name": "provchain", "version": _version()}], "title": title,
            "assertions": assertions}


def sign_in_place(path: str | os.PathLike, key, cert_chain_pem: str, manifest: dict, parent: bool = False) -> bytes:
    """Embed the signed manifest into the file at `path` (written beside it, then renamed over it).
    `key` is a chain.crypto.PrivateKey; `parent`: keep the file's manifest as the parent ingredient.
    Returns the SHA-256 of the final file."""
    import c2pa
    path = Path(path)
    fmt = mime_type(path)
    if fmt is None:
        raise CredentialError(f"C2PA cannot be embedded in {path.suffix or 'extension-less'} files")
    tmp = path.with_name(f".{path.name}.c2pa-tmp")
    try:
        signer = c2pa.Signer.from_callback(key.sign, c2pa.C2paSigningAlg.ED25519, cert_chain_pem, None)
        with c2pa.Builder(manifest, context=_context()) as builder, open(path, "rb") as src, open(tmp, "w+b") as dst:
            if parent:
                builder.add_ingredient({"title": path.name, "relationship": "parentOf", "label": PARENT}, fmt, src)
                src.seek(0)
            builder.sign(signer, fmt, src, dst)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, path)
    except c2pa.C2paError as exc:
        raise CredentialError(f"C2PA signing of {path} failed: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return _file_sha256(str(path))


def sign_clip(path: str | os.PathLike, analysis: ClipAnalysis, key, cert_chain_pem: str, model: str,
              chain: ChainRef | None, weights_sha256: bytes | None = None, seed: int | None = None) -> ClipAnalysis:
    """Sign the clip analysed as `analysis` in place (keeping a manifest it already has as the parent
    ingredient); returns the analysis of the final bytes."""
    parent = has_manifest(path)
    manifest = manifest_definition(analysis, key.pubkey, model, chain, Path(path).name, weights_sha256, seed, parent)
    return replace(analysis, file_sha256=sign_in_place(path, key, cert_chain_pem, manifest, parent))

"""Sign and register every output of a generator — this one or any other — through a durable outbox.

    from provchain.generator.hooks import registered

    @registered(node="http://127.0.0.1:26657", key="~/.provchain/keys/creator.pem", model="my-model")
    def my_pipeline(prompt: str, seed: int) -> str:      # returns a video path, or frames (T, H, W, 3)
        ...

Each output is fingerprinted and its record is written to the outbox (one file per clip, fsynced)
*before* anything is sent. Delivery then submits it and deletes the file once the chain has it. If the
node is down or the process dies, the next delivery (any later call, or `provchain outbox flush`) sends
what is left. Delivery is exactly-once: the chain answers a repeat of registered content with the
existing record. This module does not import torch.

Before the clip is fingerprinted for its record, an MP4/MOV gets a C2PA manifest signed with the creator
key (provenance/c2pa_sign.py; needs the `c2pa` extra): the bytes registered are the final bytes. The
signing certificate is `cert`, else the one beside the key file, else one from a personal CA
(provenance/creator_cert.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..chain.crypto import PrivateKey
from ..chain.durable import write_atomic
from ..chain.encoding import EncodingError, decode, encode
from ..provenance import c2pa_sign
from ..provenance.client import NodeClient, NodeError
from ..provenance.creator_cert import creator_certificate
from ..provenance.fingerprint import ClipAnalysis, analyze_file
from ..provenance.record import GeneratorInfo, RegisterClip
from ..provenance.register import Registration, build_record, submit_record

log = logging.getLogger("provchain.hooks")

DEFAULT_OUTBOX = "~/.provchain/outbox"


class Outbox:
    """Pending registrations on disk, one file per clip, named by the clip's content hash."""

    def __init__(self, directory: str | os.PathLike = DEFAULT_OUTBOX):
        self.dir = Path(os.path.expanduser(directory))
        self.dir.mkdir(parents=True, exist_ok=True)

    def put(self, record: RegisterClip, source: str) -> Path:
        path = self.dir / f"{record.file_sha256.hex()}.rec"
        write_atomic(path, encode([record.to_obj(), source]))
        return path

    def pending(self) -> list[Path]:
        return sorted(self.dir.glob("*.rec"), key=lambda p: p.stat().st_mtime)

    def deliver(self, client: NodeClient, key: PrivateKey) -> tuple[list[tuple[str, Registration]], list[str]]:
        """Submit every pending record. Returns (delivered (source, registration)), errors)."""
        done, errors = [], []
        for path in self.pending():
            try:
                obj, source = decode(path.read_bytes())
                record = RegisterClip.from_obj(obj)
            except (OSError, EncodingError, ValueError) as exc:
                errors.append(f"{path.name}: unreadable outbox entry ({exc}); moved aside")
                path.rename(path.with_suffix(".bad"))
                continue
            try:
                reg = submit_record(client, key, record)
            except NodeError as exc:
                errors.append(f"{source}: not delivered yet ({exc}); it stays in {self.dir}")
                break  # the node is down or refusing: keep order, try again later
            path.unlink()
            done.append((source, reg))
        return done, errors


@dataclass
class Hook:
    """Registers clips for one creator key and node. Use `register(path)` or the `registered` decorator."""
    node: str = "http://127.0.0.1:26657"
    key: PrivateKey | None = None
    outbox: Outbox | None = None
    model: str = "unknown"
    weights_sha256: bytes = b"\0" * 32
    key_path: str | None = None  # where the key was loaded from: its certificate lies beside it
    cert: str | None = None  # the C2PA signing certificate chain (PEM) to use instead
    c2pa: bool = True  # embed a C2PA manifest in MP4/MOV outputs (when c2pa-python is installed)

    def __post_init__(self):
        if self.key is None:
            from ..cli_keys import keystore_path, load_or_create_key
            self.key = load_or_create_key(None)
            self.key_path = self.key_path or str(keystore_path(None))
        self.outbox = self.outbox or Outbox()
        self.client = NodeClient(self.node)
        self._chain: c2pa_sign.ChainRef | None = None

    def enqueue(self, path: str, prompt: str = "", seed: int = 0, settings: dict | None = None,
                parents=()) -> RegisterClip:
        """Sign (C2PA), fingerprint the final file and write its record to the outbox (durable before the
        registration's network I/O)."""
        settings = dict(settings or {})
        analysis = analyze_file(path)
        signed = self._embed_manifest(path, analysis, seed) if self.c2pa else None
        if signed is not None:
            analysis = signed
            settings[c2pa_sign.SETTING] = 1
        gen = GeneratorInfo(self.model, self.weights_sha256, hashlib.sha256(prompt.encode()).digest(), seed,
                            tuple(sorted(settings.items())))
        record = build_record(analysis, gen, parents)
        self.outbox.put(record, str(path))
        return record

    def _embed_manifest(self, path: str, analysis: ClipAnalysis, seed: int) -> ClipAnalysis | None:
        """Sign the clip in place; returns the final file's analysis. A clip that cannot carry a manifest
        (None) is registered without one, and a warning says why: nothing is lost."""
        if c2pa_sign.mime_type(path) is None:
            log.warning("%s: C2PA manifests go into MP4/MOV files; registering without one", path)
            return None
        if not c2pa_sign.available():
            log.warning("c2pa-python is not installed (pip install 'provchain[c2pa]'); %s gets no C2PA manifest", path)
            return None
        try:
            chain_pem = creator_certificate(self.key, self.key_path, self.cert)
            weights = self.weights_sha256 if any(self.weights_sha256) else None
            return c2pa_sign.sign_clip(path, analysis, self.key, chain_pem, self.model, self.chain_ref(), weights,
                                       seed)
        except (c2pa_sign.CredentialError, OSError) as exc:
            log.warning("%s: no C2PA manifest: %s", path, exc)
            return None

    def chain_ref(self) -> c2pa_sign.ChainRef | None:
        """The node's chain id and genesis hash for the manifest; remembered in the outbox folder so a
        clip made while the node is down still names its chain."""
        if self._chain is not None:
            return self._chain
        cache = self.outbox.dir / "chains.json"
        try:
            known = json.loads(cache.read_text())
        except (OSError, ValueError):
            known = {}
        try:
            g = self.client.genesis()
            self._chain = c2pa_sign.ChainRef(g.chain_id, g.hash(), self.node)
            known[self.node] = {"chain_id": g.chain_id, "genesis_hash": g.hash().hex()}
            write_atomic(cache, json.dumps(known).encode())
        except NodeError:
            entry = known.get(self.node)
            if isinstance(entry, dict):
                self._chain = c2pa_sign.ChainRef(entry["chain_id"], bytes.fromhex(entry["genesis_hash"]), self.node)
            else:
                log.warning("node %s unreachable and never seen: the C2PA manifest cannot name the chain", self.node)
        return self._chain

    def register(self, path: str, **facts) -> Registration | None:
        """Enqueue and deliver. Returns this clip's registration, or None if the node is unreachable (it
        stays in the outbox and goes out with the next delivery)."""
        self.enqueue(path, **facts)
        done, errors = self.outbox.deliver(self.client, self.key)
        for e in errors:
            log.warning(e)
        for source, reg in done:
            if source == str(path):
                return reg
        return None


def registered(node: str = "http://127.0.0.1:26657", key: str | PrivateKey | None = None, model: str = "unknown",
               weights_sha256: bytes = b"\0" * 32, outbox: str | None = None, fps: float = 24.0,
               cert: str | None = None, c2pa: bool = True):
    """Decorator: the wrapped function returns a video path or frames (T, H, W, 3 uint8); the output is
    signed (C2PA, unless c2pa=False), registered, and the wrapper returns (path, registration_or_None).
    Keyword arguments `prompt` and `seed` of the call, when given, are recorded (the prompt as its SHA-256)."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            k, key_path = key, None
            if isinstance(k, str) or k is None:
                from ..cli_keys import keystore_path, load_or_create_key
                k, key_path = load_or_create_key(k), str(keystore_path(k))
            hook = Hook(node, k, Outbox(outbox or DEFAULT_OUTBOX), model, weights_sha256, key_path, cert, c2pa)
            out = fn(*args, **kwargs)
            path = out if isinstance(out, (str, os.PathLike)) else _write_frames(out, fps)
            reg = hook.register(str(path), prompt=str(kwargs.get("prompt", args[0] if args and
                                                                  isinstance(args[0], str) else "")),
                                seed=int(kwargs.get("seed", 0)))
            return str(path), reg
        return inner
    return wrap


def _write_frames(frames, fps: float) -> str:
    """Encode raw frames as H.264 MP4 with PyAV (for generators that return arrays)."""
    import av
    import numpy as np
    arr = np.asarray(frames, dtype=np.uint8)
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix=f"provchain-{int(time.time())}-")
    os.close(fd)
    with av.open(path, "w") as c:
        s = c.add_stream("libx264", rate=int(round(fps)))
        s.width, s.height, s.pix_fmt = arr.shape[2] & ~1, arr.shape[1] & ~1, "yuv420p"
        for f in arr:
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: s.height, : s.width]),
                                                           format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path

"""The RegisterClip record: what is written on chain for one video, and how a creator signs it.

A record is the body of a SignedTx of kind "register_clip" (the envelope carries the creator's public
key, nonce and signature over the chain id). The record id is the hash of that tx, so the tx's Merkle
proof and its block's commit prove the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..chain import crypto
from ..chain.tx import SignedTx
from ..chain.types import InvalidError, _bytes, _int, _list, _str
from .fingerprint import ALG, Fingerprint, MediaFacts, thumb_every

KIND = "register_clip"
VERSION = 1
MAX_PARENTS = 16
MAX_SETTINGS = 32


@dataclass(frozen=True)
class MediaInfo(MediaFacts):
    """The media facts of the analysed file, as recorded on chain."""

    def to_obj(self) -> list:
        return [self.duration_ms, self.fps_milli, self.width, self.height, self.codec, self.container]

    @classmethod
    def from_obj(cls, obj) -> "MediaInfo":
        d, f, w, h, codec, container = _list(obj, 6, "media")
        return cls(_int(d, "duration_ms", 0, 10**9), _int(f, "fps_milli", 0, 10**7), _int(w, "width", 0, 100_000),
                   _int(h, "height", 0, 100_000), _str(codec, "codec", 64), _str(container, "container", 64))


@dataclass(frozen=True)
class GeneratorInfo:
    model: str
    weights_sha256: bytes
    prompt_sha256: bytes
    seed: int
    settings: tuple[tuple[str, object], ...] = ()  # sorted (name, int|str) pairs: sampling settings

    def to_obj(self) -> list:
        return [self.model, self.weights_sha256, self.prompt_sha256, self.seed, [list(kv) for kv in self.settings]]

    @classmethod
    def from_obj(cls, obj) -> "GeneratorInfo":
        model, wsha, psha, seed, settings = _list(obj, 5, "generator")
        pairs = []
        for kv in _list(settings, name="settings", max_len=MAX_SETTINGS):
            k, v = _list(kv, 2, "setting")
            if not isinstance(v, (int, str)) or isinstance(v, bool):
                raise InvalidError("setting values must be ints or strings")
            if isinstance(v, str):
                _str(v, "setting value", 256)
            pairs.append((_str(k, "setting name", 64), v))
        if [k for k, _ in pairs] != sorted({k for k, _ in pairs}):
            raise InvalidError("settings must be sorted by name without repeats")
        return cls(_str(model, "model", 128), _bytes(wsha, 32, "weights_sha256"), _bytes(psha, 32, "prompt_sha256"),
                   _int(seed, "seed", 0, 2**63 - 1), tuple(pairs))


@dataclass(frozen=True)
class RegisterClip:
    file_sha256: bytes
    frames_sha256: bytes
    fingerprint: Fingerprint
    media: MediaInfo
    claimed_time_ms: int
    generator: GeneratorInfo | None = None
    parents: tuple[bytes, ...] = ()  # record ids this clip was derived from (each must be on chain)

    def to_obj(self) -> list:
        return [VERSION, self.file_sha256, self.frames_sha256, self.fingerprint.record_form().to_obj(),
                self.media.to_obj(), self.claimed_time_ms,
                self.generator.to_obj() if self.generator else None, list(self.parents)]

    @classmethod
    def from_obj(cls, obj) -> "RegisterClip":
        version, fsha, frsha, fp, media, claimed, gen, parents = _list(obj, 8, "register_clip")
        if version != VERSION:
            raise InvalidError(f"unsupported record version {version!r}")
        try:
            fingerprint = Fingerprint.from_obj(fp)
        except (ValueError, TypeError) as exc:
            raise InvalidError(f"fingerprint: {exc}") from None
        if fingerprint.variants:
            raise InvalidError("a record's fingerprint carries no query variants")
        if fingerprint.thumb_step not in (0, thumb_every(len(fingerprint.times_ms))):
            raise InvalidError(f"a record keeps the thumbnail of every {thumb_every(len(fingerprint.times_ms))}"
                               f"-th sample, not every {fingerprint.thumb_step}-th")
        parent_ids = tuple(_bytes(p, 32, "parent") for p in _list(parents, name="parents", max_len=MAX_PARENTS))
        if len(set(parent_ids)) != len(parent_ids):
            raise InvalidError("parents must not repeat")
        return cls(_bytes(fsha, 32, "file_sha256"), _bytes(frsha, 32, "frames_sha256"), fingerprint,
                   MediaInfo.from_obj(media), _int(claimed, "claimed_time_ms"),
                   None if gen is None else GeneratorInfo.from_obj(gen), parent_ids)

    def sign(self, key: crypto.PrivateKey, chain_id: str, nonce: int) -> SignedTx:
        return SignedTx.create(key, chain_id, KIND, nonce, self.to_obj())


def validate_body(body) -> RegisterClip:
    return RegisterClip.from_obj(body)


__all__ = ["ALG", "KIND", "GeneratorInfo", "MediaInfo", "RegisterClip", "validate_body"]

"""Ed25519 keys, signatures, addresses and key files."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .encoding import sha256

PUBKEY_SIZE = 32
SIGNATURE_SIZE = 64
ADDRESS_SIZE = 20


class KeyFileError(Exception):
    """A key file that is missing, malformed or locked with another passphrase."""


def address_of(pubkey: bytes) -> bytes:
    """Validator/creator address: the first 20 bytes of sha256(pubkey), as in CometBFT."""
    return sha256(pubkey)[:ADDRESS_SIZE]


class PrivateKey:
    def __init__(self, key: Ed25519PrivateKey):
        self._key = key
        self.pubkey = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.address = address_of(self.pubkey)

    @classmethod
    def generate(cls) -> "PrivateKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> "PrivateKey":
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def save(self, path: str | os.PathLike, passphrase: str | None = None) -> None:
        """Write PKCS#8 PEM, encrypted at rest when a passphrase is given; file mode 0600."""
        encryption = (
            serialization.BestAvailableEncryption(passphrase.encode())
            if passphrase else serialization.NoEncryption()
        )
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike, passphrase: str | None = None) -> "PrivateKey":
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
        try:
            key = serialization.load_pem_private_key(pem, password=passphrase.encode() if passphrase else None)
        except TypeError:
            raise KeyFileError(f"key file {path} is encrypted: a passphrase is needed") from None
        except ValueError:
            raise KeyFileError(f"key file {path} is malformed or the passphrase is wrong") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"key file {path} does not hold an Ed25519 key")
        return cls(key)


def verify(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    if len(pubkey) != PUBKEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(pubkey).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


class VerifyCache:
    """Remembers signature checks by a caller-chosen key (a tx hash), so each is verified once per node."""

    def __init__(self, capacity: int = 100_000):
        self.capacity = capacity
        self._seen: OrderedDict[bytes, bool] = OrderedDict()

    def verify(self, key: bytes, pubkey: bytes, message: bytes, signature: bytes) -> bool:
        hit = self._seen.get(key)
        if hit is not None:
            self._seen.move_to_end(key)
            return hit
        ok = verify(pubkey, message, signature)
        self._seen[key] = ok
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return ok

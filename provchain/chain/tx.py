"""The signed transaction envelope shared by every application.

tx = encode([kind, sender_pubkey, nonce, body, signature]); the signature covers the chain id, so a tx
signed for one chain is invalid on another. `body` is any canonical value whose meaning the kind defines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import crypto
from .encoding import EncodingError, decode, encode
from .types import InvalidError, _bytes, _int, _list, _str


@dataclass(frozen=True)
class SignedTx:
    kind: str
    sender: bytes  # Ed25519 public key
    nonce: int
    body: object
    signature: bytes = b""
    # the body as its kind's handler parsed it (set once by the app after validation; not encoded)
    parsed: object = field(default=None, compare=False, repr=False)

    def sign_bytes(self, chain_id: str) -> bytes:
        return encode(["tx", chain_id, self.kind, self.sender, self.nonce, self.body])

    def encode(self) -> bytes:
        return encode([self.kind, self.sender, self.nonce, self.body, self.signature])

    @classmethod
    def create(cls, key: crypto.PrivateKey, chain_id: str, kind: str, nonce: int, body) -> "SignedTx":
        unsigned = cls(kind, key.pubkey, nonce, body)
        return cls(kind, key.pubkey, nonce, body, key.sign(unsigned.sign_bytes(chain_id)))

    @classmethod
    def decode(cls, raw: bytes, max_bytes: int) -> "SignedTx":
        """Strict decode; raises InvalidError with a reason a client can act on."""
        if len(raw) > max_bytes:
            raise InvalidError(f"tx of {len(raw)} bytes exceeds the limit of {max_bytes}")
        try:
            obj = decode(raw, max_bytes)
        except EncodingError as exc:
            raise InvalidError(f"malformed tx: {exc}") from None
        kind, sender, nonce, body, sig = _list(obj, 5, "tx")
        return cls(_str(kind, "kind", 32), _bytes(sender, crypto.PUBKEY_SIZE, "sender"), _int(nonce, "nonce"),
                   body, _bytes(sig, crypto.SIGNATURE_SIZE, "signature"))

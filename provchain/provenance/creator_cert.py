"""The creator's C2PA signing certificate: an X.509 certificate for the creator's Ed25519 chain key.

It lives beside the key file (`creator.pem` -> `creator.cert.pem`: the leaf, then its CA chain). It
comes from a CA: a real one (`provchain keys csr` writes a request signed by the key; `provchain keys
cert --import CHAIN.pem` installs what the CA returns), the devnet's (`provchain keys cert --ca
<devnet home>/ca`), or, when there is none, a personal CA made on first use (trusted by nobody else).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from ..devnet import ca
from .c2pa_sign import CredentialError


def cert_path_for(key_path: str | os.PathLike) -> Path:
    p = Path(os.path.expanduser(key_path))
    return p.with_name((p.name[:-4] if p.name.endswith(".pem") else p.name) + ".cert.pem")


def _raw(public) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def check_chain(pem: bytes, pubkey: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM chain whose leaf certifies `pubkey`; CredentialError otherwise."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CredentialError(f"not a PEM certificate chain: {exc}") from None
    leaf_key = certs[0].public_key()
    if not isinstance(leaf_key, Ed25519PublicKey):
        raise CredentialError("the certificate is not for an Ed25519 key (the chain's creator keys are Ed25519)")
    if _raw(leaf_key) != pubkey:
        raise CredentialError(f"the certificate is for key {_raw(leaf_key).hex()}, not the creator key {pubkey.hex()}")
    return certs


def creator_certificate(key, key_path: str | os.PathLike | None = None, cert_path: str | os.PathLike | None = None,
                        personal_ca: str | os.PathLike = ca.PERSONAL_CA) -> str:
    """The PEM chain to sign with: `cert_path`, else the certificate beside `key_path`; when neither
    exists, one issued from the personal CA (saved beside `key_path` when that is given)."""
    path = Path(os.path.expanduser(cert_path)) if cert_path else (cert_path_for(key_path) if key_path else None)
    if path is not None and path.exists():
        pem = path.read_bytes()
        check_chain(pem, key.pubkey)
        return pem.decode()
    if cert_path:
        raise CredentialError(f"no certificate at {path}")
    ca.ensure_ca(personal_ca, "provchain personal CA")
    chain = ca.issue(personal_ca, key.pubkey, f"provchain creator {key.pubkey.hex()[:16]}")
    if path is not None:  # written whole or not at all: another process may be reading it
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(chain)
        os.replace(tmp, path)
    return chain


def signing_request(key, common_name: str, email: str | None = None) -> bytes:
    """A PKCS#10 request signed by the creator key, for a real CA (PEM)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    if email:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return builder.sign(Ed25519PrivateKey.from_private_bytes(key.seed()), None).public_bytes(serialization.Encoding.PEM)

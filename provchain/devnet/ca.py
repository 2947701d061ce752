"""A small X.509 certificate authority for C2PA signing certificates (Ed25519, made with `cryptography`).

The devnet makes one at init (`<devnet home>/ca/`): its root certificate is the trust anchor a C2PA
validator is given (`verify --c2pa-trust <home>/ca/ca.pem`), and creators' certificates are issued from
it (`provchain keys cert --ca <home>/ca`). A creator without any certificate gets one from a personal CA
(`~/.provchain/ca`), which nobody else trusts: the manifest then validates as `Valid`, not `Trusted`.

Certificates follow the C2PA certificate profile: v3, the leaf has digitalSignature key usage, the
emailProtection extended key usage (a C2PA-allowed EKU), subject and authority key identifiers, and
is not a CA; the root has keyCertSign and basicConstraints CA with path length 0.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
PERSONAL_CA = "~/.provchain/ca"
ROOT_DAYS = 3650
LEAF_DAYS = 825  # the longest leaf lifetime public CAs issue


class CAError(Exception):
    """A CA folder that is missing or unreadable."""


def _key_usage(sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not sign, crl_sign=not sign,
                         encipher_only=False, decipher_only=False)


def _now() -> datetime.datetime:
    # an hour back: a clock a little behind ours must not see a certificate from the future
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)


def create_ca(directory: str | os.PathLike, name: str) -> Path:
    """Write a new root (certificate + private key, mode 0600) as the folder `directory`, atomically: it is
    made beside it and renamed into place, so two processes creating it at once end with one consistent
    pair (the first one's). Returns the cert path."""
    d = Path(os.path.expanduser(directory))
    d.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provchain"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(_now())
            .not_valid_after(_now() + datetime.timedelta(days=ROOT_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(sign=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, None))
    tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}-", dir=d.parent))
    try:
        fd = os.open(tmp / CA_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        (tmp / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        os.chmod(tmp, 0o700)
        try:
            os.rename(tmp, d)  # replaces `d` only if it is an empty folder
        except OSError:
            if not (d / CA_CERT).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return d / CA_CERT


def load_ca(directory: str | os.PathLike) -> tuple[x509.Certificate, Ed25519PrivateKey]:
    d = Path(os.path.expanduser(directory))
    try:
        cert = x509.load_pem_x509_certificate((d / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((d / CA_KEY).read_bytes(), password=None)
    except OSError as exc:
        raise CAError(f"no CA in {d}: {exc.strerror}: {exc.filename}") from None
    except ValueError as exc:
        raise CAError(f"the CA in {d} is malformed: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CAError(f"the CA key in {d} is not an Ed25519 key")
    return cert, key


def issue(directory: str | os.PathLike, pubkey: bytes, common_name: str, organization: str = "provchain creator",
          email: str | None = None) -> str:
    """A signing certificate for the raw Ed25519 public key `pubkey`, issued by the CA in `directory`.
    Returns the PEM chain the signer embeds: the leaf, then the CA certificate."""
    ca_cert, ca_key = load_ca(directory)
    subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
               x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    public = Ed25519PublicKey.from_public_bytes(pubkey)
    builder = (x509.CertificateBuilder().subject_name(x509.Name(subject)).issuer_name(ca_cert.subject)
               .public_key(public).serial_number(x509.random_serial_number()).not_valid_before(_now())
               .not_valid_after(min(_now() + datetime.timedelta(days=LEAF_DAYS), ca_cert.not_valid_after_utc))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(_key_usage(sign=True), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if email:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    leaf = builder.sign(ca_key, None)
    return (leaf.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)).decode()


def ensure_ca(directory: str | os.PathLike, name: str) -> Path:
    """The CA in `directory`, created when missing."""
    d = Path(os.path.expanduser(directory))
    return d / CA_CERT if (d / CA_CERT).exists() else create_ca(d, name)

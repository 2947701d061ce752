"""Node keys, node ids, `ID@host:port` peer addresses and the mutually authenticated TLS 1.3 contexts of p2p links.

A node's identity is its node key (Ed25519, `config/node_key.pem`, separate from a validator's signing key);
its id is the hex of the first 20 bytes of SHA-256 of the public key, as in CometBFT. Each p2p link is TLS 1.3
with a certificate on both sides whose public key is the node key; after the handshake each side reads the
other's certificate key and refuses the link unless it hashes to the id it dialled (or the id the remote
announces in its hello). TLS 1.3's CertificateVerify proves the remote holds that key's private half.

Python's `ssl` cannot skip chain verification for a client certificate while still asking for one, so every
leaf certificate is issued by a "link CA" whose private key is public (derived from a fixed string): the chain
check passes for any node key and authorises nothing; identity comes only from the leaf's key.
"""

from __future__ import annotations

import datetime
import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from ..chain import crypto
from ..chain.encoding import sha256

ID_HEX_LEN = 40
LINK_CA_SEED = sha256(b"provchain p2p link CA: public key, authorises nothing")
_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provchain p2p link CA (public, no authority)")])
_NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)  # clocks may be wrong: no expiry games
_NOT_AFTER = datetime.datetime(9999, 12, 31, tzinfo=datetime.timezone.utc)


class PeerAddressError(ValueError):
    """A peer address that is not ID@host:port."""


def split_hostport(text: str) -> tuple[str, int]:
    """(host, port) of `HOST:PORT`: a name or IPv4 address, or an IPv6 address in brackets (returned
    without them); the port 1..65535."""
    m = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})", text)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise PeerAddressError(f"{text!r} is not HOST:PORT")
    return m.group(1).strip("[]"), int(m.group(2))


def join_hostport(host: str, port: int) -> str:
    """`HOST:PORT`, an IPv6 host in brackets (what split_hostport reads and a URL needs)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def node_id(pubkey: bytes) -> str:
    """The id of the node with this public key: hex of the first 20 bytes of its SHA-256 (CometBFT's)."""
    return crypto.address_of(pubkey).hex()


def load_or_create_node_key(path: str | Path) -> crypto.PrivateKey:
    """The node key at `path`, made on first use (a node id must survive restarts: peers dial it)."""
    path = Path(path)
    if not path.exists():
        crypto.PrivateKey.generate().save(path)
    return crypto.PrivateKey.load(path)


@dataclass(frozen=True)
class PeerAddress:
    id: str
    host: str
    port: int

    @property
    def hostport(self) -> str:
        return join_hostport(self.host, self.port)

    def __str__(self) -> str:
        return f"{self.id}@{self.hostport}"

    @classmethod
    def parse(cls, text: str) -> "PeerAddress":
        m = re.fullmatch(r"([0-9a-fA-F]{40})@(.+)", text.strip())
        try:
            host, port = split_hostport(m.group(2)) if m else (None, 0)
        except PeerAddressError:
            host = None
        if host is None:
            raise PeerAddressError(f"peer address {text!r} is not ID@host:port (ID: the 40 hex digits `provchain "
                                   f"show-node-id --home DIR` prints)")
        return cls(m.group(1).lower(), host, port)


def parse_peer_list(text: str | list[str]) -> list[PeerAddress]:
    items = text.split(",") if isinstance(text, str) else text
    return [PeerAddress.parse(s) for s in items if s.strip()]


def _cert(subject_key: crypto.PrivateKey, subject_cn: str) -> bytes:
    ca = Ed25519PrivateKey.from_private_bytes(LINK_CA_SEED)
    pub = Ed25519PublicKey.from_public_bytes(subject_key.pubkey)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
            .issuer_name(_CA_NAME).public_key(pub).serial_number(int.from_bytes(subject_key.pubkey[:16], "big") | 1)
            .not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
            .sign(ca, None))
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca_cert() -> bytes:
    ca = Ed25519PrivateKey.from_private_bytes(LINK_CA_SEED)
    cert = (x509.CertificateBuilder().subject_name(_CA_NAME).issuer_name(_CA_NAME).public_key(ca.public_key())
            .serial_number(1).not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca, None))
    return cert.public_bytes(serialization.Encoding.PEM)


def tls_contexts(key: crypto.PrivateKey) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) TLS 1.3 contexts presenting `key`'s certificate and requiring the remote's."""
    key_pem = crypto_pem(key)
    cert_pem = _cert(key, node_id(key.pubkey))
    ca_pem = _ca_cert().decode()
    contexts = []
    for purpose in (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS_CLIENT):
        ctx = ssl.SSLContext(purpose)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False  # identity is the certificate's key, checked by the p2p layer
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=ca_pem)
        _load_cert_chain(ctx, cert_pem, key_pem)
        contexts.append(ctx)
    return contexts[0], contexts[1]


def _load_cert_chain(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """load_cert_chain reads files only: hand it anonymous in-memory files (Linux memfd), so the private
    key never touches a disk; elsewhere a private temporary folder."""
    if hasattr(os, "memfd_create"):
        fds = [os.memfd_create(name) for name in ("node-cert", "node-key")]
        try:
            for fd, data in zip(fds, (cert_pem, key_pem)):
                os.write(fd, data)
            ctx.load_cert_chain(f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}")
        finally:
            for fd in fds:
                os.close(fd)
        return
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "c").write_bytes(cert_pem)
        (Path(d) / "k").write_bytes(key_pem)
        ctx.load_cert_chain(Path(d) / "c", Path(d) / "k")


def crypto_pem(key: crypto.PrivateKey) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(key.seed()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def remote_id(ssl_object) -> str | None:
    """The node id of the key in the remote's certificate on an established TLS link, or None."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    pub = x509.load_der_x509_certificate(der).public_key()
    if not isinstance(pub, Ed25519PublicKey):
        return None
    return node_id(pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

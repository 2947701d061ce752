"""`provchain keys new|show`: creator keys, encrypted at rest when a passphrase is given."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

DEFAULT_KEYSTORE = "~/.provchain/keys/creator.pem"


def key_help() -> str:
    return f"creator key file (default $PROVCHAIN_KEY, else {DEFAULT_KEYSTORE}; created if missing)"


def keystore_path(path: str | None) -> Path:
    return Path(os.path.expanduser(path or os.environ.get("PROVCHAIN_KEY", DEFAULT_KEYSTORE)))


def passphrase(ask: bool, confirm: bool = False) -> str | None:
    env = os.environ.get("PROVCHAIN_PASSPHRASE")
    if env:
        return env
    if not ask:
        return None
    first = getpass.getpass("passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise SystemExit("error: passphrases differ")
    return first or None


def load_or_create_key(path: str | None, create: bool = True):
    """The creator key at `path`; created (unencrypted unless PROVCHAIN_PASSPHRASE is set) when missing."""
    from .chain.crypto import PrivateKey
    p = keystore_path(path)
    if not p.exists():
        if not create:
            raise SystemExit(f"error: no key at {p}; run `provchain keys new`")
        key = PrivateKey.generate()
        key.save(p, passphrase(False))
        print(f"created creator key {p} (public key {key.pubkey.hex().upper()})", file=sys.stderr)
        return key
    return PrivateKey.load(p, passphrase(False))


def cmd_keys(args) -> int:
    from .chain.crypto import KeyFileError, PrivateKey
    p = keystore_path(args.keystore)
    if args.action in ("cert", "csr"):
        return cmd_certificate(args, p)
    try:
        if args.action == "new":
            if p.exists() and not args.force:
                print(f"error: {p} exists (use --force to replace it)", file=sys.stderr)
                return 2
            key = PrivateKey.generate()
            key.save(p, passphrase(args.passphrase, confirm=True))
        else:
            key = PrivateKey.load(p, passphrase(args.passphrase))
    except KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"keystore:   {p}\npublic key: {key.pubkey.hex().upper()}\naddress:    {key.address.hex().upper()}")
    from .provenance.creator_cert import cert_path_for
    if cert_path_for(p).exists():
        print(f"C2PA cert:  {cert_path_for(p)}")
    return 0


def cmd_certificate(args, p: Path) -> int:
    """`keys csr`: a certificate request for a real CA; `keys cert --ca DIR | --import CHAIN.pem`: install
    the creator's C2PA signing certificate beside the key file."""
    from .chain.crypto import KeyFileError, PrivateKey
    from .devnet.ca import CAError, issue
    from .provenance.c2pa_sign import CredentialError
    from .provenance.creator_cert import cert_path_for, check_chain, signing_request
    try:
        key = PrivateKey.load(p, passphrase(args.passphrase))
        name = args.name or f"provchain creator {key.pubkey.hex()[:16]}"
        if args.action == "csr":
            if not args.output:
                print("error: keys csr needs -o FILE", file=sys.stderr)
                return 2
            Path(args.output).write_bytes(signing_request(key, name, args.email))
            print(f"wrote {args.output}: send it to your CA, then `provchain keys cert --import CHAIN.pem`")
            return 0
        if bool(args.ca) == bool(args.import_chain):
            print("error: keys cert needs --ca DIR or --import CHAIN.pem", file=sys.stderr)
            return 2
        if args.ca:
            chain = issue(args.ca, key.pubkey, name, email=args.email)
        else:
            chain = Path(args.import_chain).read_text()
            check_chain(chain.encode(), key.pubkey)
    except (KeyFileError, CAError, CredentialError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output) if args.output else cert_path_for(p)
    out.write_text(chain)
    print(f"C2PA signing certificate for {key.pubkey.hex().upper()} written to {out}")
    return 0


def add_parser(sub) -> None:
    from .cli import subcommand
    s = subcommand(sub, "keys", "create or show your creator key, its C2PA certificate or a request for one",
                   "Your creator key signs the records of your clips. Every command that signs (generate,\n"
                   f"register, outbox, the Python hook, scripts/devnet.sh) uses {DEFAULT_KEYSTORE}\n"
                   "unless --key/--keystore or $PROVCHAIN_KEY names another file; it is created on first use.\n"
                   "new: make a key; show: print its public key and address; cert: install its C2PA signing\n"
                   "certificate (from a CA folder or a CA's PEM chain); csr: write a certificate request.")
    s.add_argument("action", choices=["new", "show", "cert", "csr"], help="what to do (see above)")
    s.add_argument("--ca", default=None, metavar="DIR", help="cert: issue from this CA folder (the devnet's <home>/ca)")
    s.add_argument("--import", dest="import_chain", default=None, metavar="CHAIN.pem",
                   help="cert: install a CA's PEM chain")
    s.add_argument("--name", default=None, help="cert/csr: the certificate's common name")
    s.add_argument("--email", default=None, help="cert/csr: an e-mail subject alternative name")
    s.add_argument("-o", "--output", default=None, metavar="FILE", help="csr: where to write the request; cert: write the certificate there instead of beside the key")
    s.add_argument("--keystore", default=None, metavar="FILE",
                   help=f"key file (default $PROVCHAIN_KEY, else {DEFAULT_KEYSTORE})")
    s.add_argument("--passphrase", action="store_true",
                   help="ask for a passphrase to encrypt / decrypt the key (or set $PROVCHAIN_PASSPHRASE)")
    s.add_argument("--force", action="store_true", help="new: replace an existing key file")
    s.set_defaults(func=cmd_keys)

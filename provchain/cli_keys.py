"""`provchain keys new|show`: creator keys, encrypted at rest when a passphrase is given."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

DEFAULT_KEYSTORE = "~/.provchain/keys/creator.pem"


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
        print(f"created creator key {p} (public key {key.pubkey.hex()})", file=sys.stderr)
        return key
    return PrivateKey.load(p, passphrase(False))


def cmd_keys(args) -> int:
    from .chain.crypto import KeyFileError, PrivateKey
    p = keystore_path(args.keystore)
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
    print(f"keystore:   {p}\npublic key: {key.pubkey.hex()}\naddress:    {key.address.hex()}")
    return 0


def add_parser(sub) -> None:
    s = sub.add_parser("keys", help="create or show a creator key")
    s.add_argument("action", choices=["new", "show"])
    s.add_argument("--keystore", default=None, help=f"key file (default {DEFAULT_KEYSTORE} or $PROVCHAIN_KEY)")
    s.add_argument("--passphrase", action="store_true", help="ask for a passphrase (or set PROVCHAIN_PASSPHRASE)")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_keys)

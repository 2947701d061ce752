"""`provchain validators show|propose|sign|submit`: change the validator set on chain (docs/operators.md).

An update is a JSON file passed between the validators: `propose` writes it (the changes and the chain's
next update number), each validator's operator runs `sign` with its home (its priv_validator_key.pem),
and once validators with more than 2/3 of the current voting power signed, anyone `submit`s it. It takes
effect two heights after the block that includes it (chain/valsets.py has the rules).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path


def _client(url: str):
    from .provenance.client import NodeClient
    return NodeClient(url)


def update_to_json(chain_id: str, upd) -> dict:
    return {"chain_id": chain_id, "seq": upd.seq,
            "changes": [{"pub_key": base64.b64encode(pk).decode(), "power": p} for pk, p in upd.changes],
            "signatures": [{"validator_address": a.hex().upper(), "signature": base64.b64encode(s).decode()}
                           for a, s in upd.signatures]}


def update_from_json(d: dict):
    from .chain.valsets import ValidatorUpdate
    try:
        obj = [d["seq"], [[base64.b64decode(c["pub_key"], validate=True), c["power"]] for c in d["changes"]],
               [[bytes.fromhex(s["validator_address"]), base64.b64decode(s["signature"], validate=True)]
                for s in d["signatures"]]]
        return d["chain_id"], ValidatorUpdate.from_obj(obj)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed validator update file: {exc}") from None


def next_seq(client) -> int:
    """The chain's next validator-update number (app state a/valseq, read through abci_query /store)."""
    from .chain import schema
    from .chain.encoding import decode
    r = client._call("/abci_query", {"path": '"/store"', "data": "0x" + schema.VALSET_SEQ.hex()})["response"]
    return decode(base64.b64decode(r["value"])) if r.get("value") else 0


def parse_change(text: str) -> tuple[bytes, int]:
    """PUBKEY=POWER, the public key as 64 hex digits or base64 (power 0 removes the validator)."""
    pk, sep, power = text.rpartition("=")
    if not sep or not power.isdigit():
        raise ValueError(f"{text!r}: expected PUBKEY=POWER")
    try:
        key = bytes.fromhex(pk) if len(pk) == 64 else base64.b64decode(pk, validate=True)
    except ValueError:
        raise ValueError(f"{pk!r} is not a public key (64 hex digits or base64)") from None
    if len(key) != 32:
        raise ValueError(f"{pk!r} is not a 32-byte Ed25519 public key")
    return key, int(power)


def cmd_validators(args) -> int:
    from .chain import crypto
    from .chain.types import InvalidError
    from .chain.valsets import ValidatorUpdate
    from .provenance.client import NodeError
    try:
        if args.action == "show":
            c = _client(args.node)
            r = c.get("/validators", height=str(args.height) if args.height else None, per_page="100")
            print(f"validators of height {r['block_height']} ({r['total']}):")
            for v in r["validators"]:
                pk = base64.b64decode(v["pub_key"]["value"]).hex()
                print(f"  {v['address']}  power {v['voting_power']:>6}  pubkey {pk}")
            return 0
        if args.action == "propose":
            if not args.set or not args.output:
                print("error: propose needs --set PUBKEY=POWER (one or more) and -o FILE", file=sys.stderr)
                return 2
            c = _client(args.node)
            changes = dict(parse_change(t) for t in args.set)
            upd = ValidatorUpdate.from_obj(ValidatorUpdate.make(next_seq(c), changes).to_obj())
            Path(args.output).write_text(json.dumps(update_to_json(c.genesis().chain_id, upd), indent=2))
            print(f"wrote update {upd.seq} to {args.output}: have validators with more than 2/3 of the power run "
                  f"`provchain validators sign {args.output} --home THEIR_HOME`, then submit it")
            return 0
        path = Path(args.file or "")
        if not args.file:
            print(f"error: {args.action} needs the update FILE", file=sys.stderr)
            return 2
        chain_id, upd = update_from_json(json.loads(path.read_text()))
        if args.action == "sign":
            if not args.home:
                print("error: sign needs --home DIR (the validator's home)", file=sys.stderr)
                return 2
            key = crypto.PrivateKey.load(Path(args.home) / "config" / "priv_validator_key.pem")
            sigs = dict(upd.signatures)
            sigs[key.address] = key.sign(upd.sign_bytes(chain_id))
            upd = ValidatorUpdate(upd.seq, upd.changes, tuple(sorted(sigs.items())))
            path.write_text(json.dumps(update_to_json(chain_id, upd), indent=2))
            print(f"signed {path} as validator {key.address.hex().upper()} ({len(sigs)} signatures)")
            return 0
        # submit: any key may carry the update (its own signature and nonce only order it)
        from .chain.tx import SignedTx
        from .chain.valsets import KIND
        c = _client(args.node)
        sender = crypto.PrivateKey.generate()
        tx = SignedTx.create(sender, chain_id, KIND, 0, upd.to_obj()).encode()
        r = c.broadcast(tx, wait=True)
        code = int(r.get("code", r.get("tx_result", {}).get("code", 0)))
        if code != 0:
            print(f"error: the chain refused the update: {r.get('log') or r}", file=sys.stderr)
            return 1
        h = int(r["height"])
        print(f"update {upd.seq} committed at height {h}; the new validator set signs from height {h + 2}")
        return 0
    except (NodeError, ValueError, InvalidError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def add_parser(sub) -> None:
    from .cli import subcommand
    s = subcommand(sub, "validators", "show the validator set, or add, remove or re-weight a validator on chain",
                   "show: the validator set of a height. An update (docs/operators.md): `propose` writes it\n"
                   "to a file, the operators of validators holding more than 2/3 of the current power each\n"
                   "`sign` it with their home, then `submit` sends it; it takes effect 2 blocks after the\n"
                   "block that includes it.\n"
                   "  provchain validators propose --node URL --set NEWPUBKEY=10 --set OLDPUBKEY=0 -o upd.json\n"
                   "  provchain validators sign upd.json --home ~/.provchain/devnet/node0\n"
                   "  provchain validators submit upd.json --node URL")
    s.add_argument("action", choices=["show", "propose", "sign", "submit"], help="what to do (see above)")
    s.add_argument("file", nargs="?", default=None, help="sign/submit: the update file")
    s.add_argument("--node", default="http://127.0.0.1:26657", help="the node's RPC URL")
    s.add_argument("--height", type=int, default=None, help="show: the height (default: the latest)")
    s.add_argument("--set", action="append", default=None, metavar="PUBKEY=POWER",
                   help="propose: a validator's public key (hex or base64) and its new power; 0 removes it")
    s.add_argument("-o", "--output", default=None, metavar="FILE", help="propose: where to write the update")
    s.add_argument("--home", default=None, metavar="DIR", help="sign: the validator's home folder")
    s.set_defaults(func=cmd_validators)

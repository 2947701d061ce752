"""`provchain generate "PROMPT" -o FILE`: generate with the built-in model; registration is automatic.
`provchain outbox flush`: deliver registrations left in the outbox (node was down, process died)."""

from __future__ import annotations

import json
import sys
import time


def _progress_bar(done: int, total: int, started=[0.0]) -> None:
    if done == 0 or not started[0]:
        started[0] = time.monotonic()
    width = 30
    filled = int(width * done / max(total, 1))
    rate = done / max(time.monotonic() - started[0], 1e-6)
    print(f"\rgenerating [{'#' * filled}{'.' * (width - filled)}] {done}/{total} frames {rate:.1f} fps",
          end="" if done < total else "\n", file=sys.stderr, flush=True)


def cmd_generate(args) -> int:
    try:
        from .generator.sample import load_model
        from .generator.video import write_mp4
    except ImportError as exc:
        print(f"error: the generator needs the 'generator' extra (torch): {exc}", file=sys.stderr)
        return 2
    from .chain.crypto import KeyFileError
    from .cli_keys import keystore_path, load_or_create_key
    from .generator.hooks import Hook, Outbox
    try:
        key = load_or_create_key(args.key)
    except KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    gen = load_model()
    frames = gen.generate(args.prompt, seed=args.seed, seconds=args.seconds, progress=_progress_bar)
    write_mp4(frames, args.output, fps=gen.fps)
    print(f"wrote {args.output} ({frames.shape[0]} frames, {frames.shape[2]}x{frames.shape[1]})", file=sys.stderr)
    if args.no_register:
        return 0
    hook = Hook(args.node, key, Outbox(args.outbox) if args.outbox else None, gen.model_name, gen.weights_sha256,
                key_path=str(keystore_path(args.key)), cert=args.cert, c2pa=not args.no_c2pa)  # C2PA: hooks.py
    reg = hook.register(args.output, prompt=args.prompt, seed=args.seed, settings=gen.sampling_settings)
    if reg is None:
        print(f"{args.output}: node unreachable; the registration waits in the outbox "
              f"(`provchain outbox flush` delivers it)", file=sys.stderr)
        return 4
    if args.json:
        print(json.dumps({"file": args.output, "model": gen.model_name, "seed": args.seed, **reg.to_json()}))
    else:
        print(f"{args.output}: record {reg.record_id} at height {reg.height}, {reg.block_time} "
              f"(model {gen.model_name}, seed {args.seed})")
    return 0


def cmd_outbox(args) -> int:
    from .cli_keys import load_or_create_key
    from .generator.hooks import Outbox
    from .provenance.client import NodeClient
    box = Outbox(args.outbox) if args.outbox else Outbox()
    done, errors = box.deliver(NodeClient(args.node), load_or_create_key(args.key))
    for source, reg in done:
        print(f"{source}: record {reg.record_id} at height {reg.height}, {reg.block_time}")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    print(f"{len(box.pending())} left in {box.dir}", file=sys.stderr)
    return 4 if errors else 0


def add_parser(sub) -> None:
    s = sub.add_parser("generate", help="generate a video with the built-in model and register it")
    s.add_argument("prompt")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--node", default="http://127.0.0.1:26657")
    s.add_argument("--key", default=None)
    s.add_argument("--seconds", type=float, default=4.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--outbox", default=None)
    s.add_argument("--no-register", action="store_true")
    s.add_argument("--cert", default=None, help="C2PA signing certificate chain (PEM; default: beside the key)")
    s.add_argument("--no-c2pa", action="store_true", help="embed no C2PA manifest")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_generate)
    s = sub.add_parser("outbox", help="deliver pending registrations")
    s.add_argument("action", choices=["flush"])
    s.add_argument("--node", default="http://127.0.0.1:26657")
    s.add_argument("--key", default=None)
    s.add_argument("--outbox", default=None)
    s.set_defaults(func=cmd_outbox)

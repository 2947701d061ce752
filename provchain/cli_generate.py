"""`provchain generate "PROMPT" -o FILE`: generate with the built-in model; registration is automatic.
`provchain outbox flush`: deliver registrations left in the outbox (node was down, process died)."""

from __future__ import annotations

import json
import sys
import textwrap
import time
import warnings

DEFAULT_NODE = "http://127.0.0.1:26657"
MAX_PUBLIC_PROMPT = 256  # the longest text a record's setting value may hold


class ProgressBar:
    """A frame counter on stderr: the rate counts from the first decoded frame (the background and
    frame 0 take longer and would make the first reading meaningless), with an ETA from that rate."""

    def __init__(self, label: str = "generating", out=sys.stderr, clock=time.monotonic):
        self.label, self.out, self.clock = label, out, clock
        self.first: tuple[int, float] | None = None  # (frames done, time) at the first report
        self.started = clock()

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.first is None:
            self.first = (done, now)
        width = 30
        filled = int(width * done / max(total, 1))
        line = f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} frames"
        n0, t0 = self.first
        if done > n0 and now > t0:
            rate = (done - n0) / (now - t0)
            line += f", {rate:.1f} frames/s"
            line += f", about {(total - done) / rate:.0f} s left" if done < total else f", {now - self.started:.0f} s"
        print(line.ljust(78), end="" if done < total else "\n", file=self.out, flush=True)


def describe(reg, own_pubkey: str) -> str:
    """One line for a registration; says so when the clip was already on chain, and whose it is."""
    line = f"record {reg.record_id} at height {reg.height}, {reg.block_time}"
    if reg.existing:
        who = "you" if reg.creator and reg.creator.upper() == own_pubkey.upper() else (reg.creator or "another creator")
        line += f" (already registered by {who} at height {reg.height})"
    return line


def cmd_generate(args) -> int:
    from .generator.prompt import understand
    understood = understand(args.prompt)
    if understood.ignored:
        print(f"note: ignored words the model does not know: {', '.join(understood.ignored)} "
              "(`provchain generate --help` lists what it understands)", file=sys.stderr)
    if understood.caption != " ".join(args.prompt.lower().split()):
        print(f"prompt understood as: \"{understood.caption or '(nothing the model knows)'}\"", file=sys.stderr)
    try:
        from .generator.model import PromptWarning
        from .generator.sample import load_model
        from .generator.video import write_mp4
    except ImportError as exc:
        print(f"error: the generator needs the 'generator' extra (torch): {exc}", file=sys.stderr)
        return 2
    from .chain.crypto import KeyFileError
    from .cli_keys import keystore_path, load_or_create_key
    from .generator.hooks import Hook, Outbox
    try:
        key = None if args.no_register else load_or_create_key(args.key)
    except KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    gen = load_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PromptWarning)  # said above, once, in plain words
        frames = gen.generate(args.prompt, seed=args.seed, seconds=args.seconds, progress=ProgressBar())
    write_mp4(frames, args.output, fps=gen.fps)
    print(f"wrote {args.output} ({frames.shape[0]} frames, {frames.shape[2]}x{frames.shape[1]})", file=sys.stderr)
    if args.no_register:
        return 0
    outbox = Outbox(args.outbox) if args.outbox else Outbox()
    hook = Hook(args.node, key, outbox, gen.model_name, gen.weights_sha256,
                key_path=str(keystore_path(args.key)), cert=args.cert, c2pa=not args.no_c2pa)  # C2PA: hooks.py
    settings = gen.sampling_settings
    if args.public_prompt:
        if len(args.prompt) <= MAX_PUBLIC_PROMPT:
            settings["prompt"] = args.prompt  # shown as text by the explorer, checked against prompt_sha256
        else:
            print(f"note: the prompt is longer than {MAX_PUBLIC_PROMPT} characters: only its SHA-256 is recorded",
                  file=sys.stderr)
    hook.enqueue(args.output, prompt=args.prompt, seed=args.seed, settings=settings)
    done, errors = outbox.deliver(hook.client, key)
    reg = next((r for source, r in done if source == str(args.output)), None)
    for source, other in done:
        if source != str(args.output):
            print(f"{source}: delivered from the outbox: {describe(other, key.pubkey.hex())}", file=sys.stderr)
    if reg is None:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        print("`provchain outbox flush` delivers what waits in the outbox once the node answers", file=sys.stderr)
        return 4
    if args.json:
        print(json.dumps({"file": args.output, "model": gen.model_name, "seed": args.seed, **reg.to_json()}))
    else:
        print(f"{args.output}: {describe(reg, key.pubkey.hex())} (model {gen.model_name}, seed {args.seed})")
    return 0


def cmd_outbox(args) -> int:
    from .chain.crypto import KeyFileError
    from .cli_keys import load_or_create_key
    from .generator.hooks import Outbox
    from .provenance.client import NodeClient
    box = Outbox(args.outbox) if args.outbox else Outbox()
    try:
        key = load_or_create_key(args.key)
    except KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done, errors = box.deliver(NodeClient(args.node), key)
    for source, reg in done:
        print(f"{source}: {describe(reg, key.pubkey.hex())}")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    print(f"{len(box.pending())} left in {box.dir}", file=sys.stderr)
    return 4 if errors else 0


def add_parser(sub) -> None:
    from .cli import subcommand
    from .cli_keys import key_help
    from .generator.prompt import vocabulary_help
    s = subcommand(
        sub, "generate", "generate a short video with the built-in model and register it",
        "Generate a clip (64x64 model output, upscaled to 256x256, 8 fps) from a prompt in plain words,\n"
        "write it as MP4, then sign and register it under your creator key. The record is written to\n"
        "the outbox first, so a node that is down loses nothing: `provchain outbox flush` sends it later.\n"
        "The same prompt and seed always give the same clip.\n\n"
        "The model draws one coloured shape moving one way over an optional background. It understands:\n"
        + "\n".join(textwrap.fill(line, 96, initial_indent="  ", subsequent_indent="      ")
                    for line in vocabulary_help().splitlines())
        + "\nWord order and filler words don't matter (\"a red ball going right\", \"heading down, a blue box\");\n"
        "other words are ignored, and it says which.\n\n"
        "Exit 0 registered (or --no-register), 2 bad key or no torch, 4 written but not registered yet.")
    s.add_argument("prompt", help="what to draw, e.g. \"a red ball moving right over a striped green background\"")
    s.add_argument("-o", "--output", required=True, metavar="FILE", help="the MP4 file to write")
    s.add_argument("--node", default=DEFAULT_NODE, metavar="URL", help="node RPC URL to register with")
    s.add_argument("--key", default=None, metavar="FILE", help=key_help())
    s.add_argument("--seconds", type=float, default=4.0, help="clip length, up to 8 s")
    s.add_argument("--seed", type=int, default=0, help="the seed: with the prompt it determines the clip")
    s.add_argument("--outbox", default=None, metavar="DIR",
                   help="folder for registrations not yet delivered (default ~/.provchain/outbox)")
    s.add_argument("--no-register", action="store_true", help="only write the file")
    s.add_argument("--public-prompt", action="store_true",
                   help="record the prompt's text, not only its SHA-256 (the explorer then shows it)")
    s.add_argument("--cert", default=None, metavar="PEM",
                   help="C2PA signing certificate chain (default: the one beside the key file)")
    s.add_argument("--no-c2pa", action="store_true", help="embed no C2PA manifest")
    s.add_argument("--json", action="store_true", help="print the registration as JSON")
    s.set_defaults(func=cmd_generate)
    s = subcommand(sub, "outbox", "deliver registrations waiting in the outbox",
                   "Registrations are written to the outbox before they are sent; one stays there when the\n"
                   "node was down or the process died. `flush` sends them in order. Exit 0 all delivered,\n"
                   "4 some still waiting.")
    s.add_argument("action", choices=["flush"], help="flush: deliver everything pending")
    s.add_argument("--node", default=DEFAULT_NODE, metavar="URL", help="node RPC URL")
    s.add_argument("--key", default=None, metavar="FILE", help=key_help())
    s.add_argument("--outbox", default=None, metavar="DIR", help="the outbox folder (default ~/.provchain/outbox)")
    s.set_defaults(func=cmd_outbox)

"""Light-client cost of following validator-set changes from the genesis (chain/light.py).

An in-memory chain of --heights blocks (real Ed25519 commits, 7 validators of equal power), where one
validator is replaced every --every heights (so after 7 replacements no genesis validator is left).
Measured in the same run: verifying the last height from the genesis by skipping/bisection (the genesis
within the trusting period), the same sequentially (every height, as from an expired trust root), and
one adjacent step (the limit: the cost of checking one commit). Prints steps, seconds and the ratio of
the skipping time to the sequential time.

    PYTHONPATH=. python bench/light_client.py [--heights 2000] [--every 100]
"""

from __future__ import annotations

import argparse
import json
import time

from provchain.chain import light
from provchain.chain.crypto import PrivateKey
from provchain.chain.types import PRECOMMIT, Block, Commit, Validator, ValidatorSet, Vote

CHAIN = "bench-light"
T0 = 1_764_000_000_000


def build(heights: int, every: int, n: int = 7) -> tuple[dict[int, light.LightBlock], ValidatorSet]:
    pool = [PrivateKey.from_seed(i.to_bytes(4, "big") * 8) for i in range(n + heights // every + 1)]
    members = list(range(n))

    def vs(ms):
        return ValidatorSet(tuple(Validator(pool[i].pubkey, 10) for i in ms))
    sets = {}
    for h in range(1, heights + 2):
        if h > 1 and (h - 1) % every == 0:
            members = members[1:] + [max(members) + 1]  # the oldest validator leaves, a new one joins
        sets[h] = vs(members)
    chain, last = {}, b""
    for h in range(1, heights + 1):
        block = Block.make(dict(chain_id=CHAIN, height=h, time_ms=T0 + 1000 * h, last_block_hash=last,
                                validators_hash=sets[h].hash(), next_validators_hash=sets[h + 1].hash(),
                                app_hash=b"", proposer_address=sets[h].validators[0].address), [b"%d" % h])
        keys = {pool[i].address: pool[i] for i in range(len(pool))}
        signers = [keys[v.address] for v in sets[h].validators][:5]  # 5 of 7: > 2/3
        commit = Commit.from_votes([Vote(PRECOMMIT, h, 0, block.hash, T0 + 1000 * h, b"").signed(k, CHAIN)
                                    for k in signers])
        chain[h] = light.LightBlock(block.header, commit, sets[h], sets[h + 1])
        last = block.hash
    return chain, sets[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--heights", type=int, default=2000)
    ap.add_argument("--every", type=int, default=100)
    args = ap.parse_args()
    t = time.perf_counter()
    chain, genesis_set = build(args.heights, args.every)
    build_s = time.perf_counter() - t
    root = light.TrustedBlock(0, T0 + 1000, b"", genesis_set)
    now = T0 + 1000 * (args.heights + 1)
    target = args.heights

    t = time.perf_counter()
    _, skip_steps = light.verify_to(root, target, chain.__getitem__, CHAIN, now)
    skip_s = time.perf_counter() - t
    t = time.perf_counter()
    _, seq_steps = light.verify_to(root, target, chain.__getitem__, CHAIN, now + 2 * light.TRUSTING_PERIOD_MS)
    seq_s = time.perf_counter() - t
    reps = 200
    t = time.perf_counter()
    for _ in range(reps):
        light.verify_step(light.TrustedBlock.of(chain[target - 1]), chain[target], CHAIN, now)
    step_s = (time.perf_counter() - t) / reps
    print(json.dumps({
        "heights": args.heights, "replace_one_of_7_every": args.every, "build_s": round(build_s, 2),
        "skipping_steps": len(skip_steps), "skipping_s": round(skip_s, 4),
        "sequential_steps": len(seq_steps), "sequential_s": round(seq_s, 3),
        "one_step_ms": round(step_s * 1000, 3),
        "skipping_vs_sequential": round(skip_s / seq_s, 4),
        "sequential_vs_steps_x_one_step": round(seq_s / (len(seq_steps) * step_s), 2),
    }, indent=2))


if __name__ == "__main__":
    main()

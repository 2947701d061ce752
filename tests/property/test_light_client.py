"""The light client (chain/light.py) against honest and lying nodes, over chains whose validator set changes.

An honest chain is built in memory: each height's set, headers naming the set and the next one, commits
signed by > 2/3. verify_to from the genesis must reach any height of it, skipping where the trusted set
still holds > 1/3 and bisecting where not. A lying node (forged sets, forged headers signed by keys the
trusted sets never held, a set that is not the one the header names, another height than asked) must be
caught: verification raises, and never returns a header the honest chain does not have.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain.chain import light
from provchain.chain.crypto import PrivateKey
from provchain.chain.types import PRECOMMIT, Block, Commit, Genesis, Validator, ValidatorSet, Vote

CHAIN = "light-chain"
T0 = 1_764_000_000_000
POOL = [PrivateKey.from_seed(bytes([0x40 + i]) * 32) for i in range(12)]
ATTACKER = [PrivateKey.from_seed(bytes([0xA0 + i]) * 32) for i in range(6)]
NOW = T0 + 3_600_000


def valset(keys, powers=None) -> ValidatorSet:
    return ValidatorSet(tuple(Validator(k.pubkey, p) for k, p in zip(keys, powers or [10] * len(keys))))


def signed_block(height, vs, next_vs, last_hash, keys, chain=CHAIN, time_ms=None) -> light.LightBlock:
    block = Block.make(dict(chain_id=chain, height=height, time_ms=time_ms or T0 + 1000 * height,
                            last_block_hash=last_hash, validators_hash=vs.hash(), next_validators_hash=next_vs.hash(),
                            app_hash=b"", proposer_address=vs.validators[0].address), [b"h%d" % height])
    by_addr = {k.address: k for k in keys}
    signers = [by_addr[v.address] for v in vs.validators if v.address in by_addr]
    commit = Commit.from_votes([Vote(PRECOMMIT, height, 0, block.hash, T0 + 1000 * height + 1, b"").signed(k, chain)
                                for k in signers])
    return light.LightBlock(block.header, commit, vs, next_vs)


def honest_chain(sets: list[list[int]]) -> dict[int, light.LightBlock]:
    """sets[h - 1] = pool indices of height h's validators; the last entry is the set after the chain."""
    vss = [valset([POOL[i] for i in s]) for s in sets]
    chain, last = {}, b""
    for h in range(1, len(sets)):
        lb = signed_block(h, vss[h - 1], vss[h], last, POOL)
        chain[h] = lb
        last = lb.header.hash()
    return chain


def genesis_of(chain) -> Genesis:
    return Genesis(CHAIN, T0 + 1000, chain[1].validators)


def run(chain, target, now=NOW, genesis=None):
    """Verify `target` from the genesis (the honest chain's, when the served chain lies)."""
    trusted = light.TrustedBlock.genesis(genesis or genesis_of(chain))
    return light.verify_to(trusted, target, chain.__getitem__, CHAIN, now)


# a validator-set history: at each height keep, drop or add pool members (never empty)
sets_strategy = st.lists(st.sets(st.integers(0, len(POOL) - 1), min_size=1, max_size=6), min_size=3, max_size=14)


@settings(max_examples=40, deadline=None)
@given(sets_strategy, st.data())
def test_honest_chain_verifies_to_any_height(sets, data):
    # validator updates take effect at H + 2: each set is announced one height ahead, as on chain
    chain = honest_chain(sets)
    target = data.draw(st.integers(1, len(chain)))
    lb, steps = run(chain, target)
    assert lb == chain[target] and steps[-1][0] == target
    assert [h for h, _ in steps] == sorted(h for h, _ in steps)  # bisection verifies upwards
    for h, how in steps:
        assert how in ("adjacent", "skipping")


def test_unchanged_set_is_one_skip_and_a_replaced_set_bisects():
    same = honest_chain([[0, 1, 2, 3]] * 20)
    assert run(same, 19)[1] == [(19, "skipping")]
    replaced = honest_chain([[0, 1, 2, 3]] * 5 + [[4, 5, 6, 7]] * 15)  # every validator replaced at height 6
    lb, steps = run(replaced, 19)
    # 19, 9 and 6 lack trusted signers; 4 and 5 follow from the genesis set, 6 from 5's next set
    assert lb == replaced[19]
    assert steps == [(4, "skipping"), (5, "adjacent"), (6, "adjacent"), (9, "skipping"), (19, "skipping")]


def test_expired_trust_verifies_sequentially():
    chain = honest_chain([[0, 1, 2, 3]] * 8)
    lb, steps = run(chain, 7, now=T0 + light.TRUSTING_PERIOD_MS * 2)
    assert lb == chain[7] and steps == [(h, "adjacent") for h in range(1, 8)]


@settings(max_examples=40, deadline=None)
@given(sets_strategy, st.data())
def test_a_forged_history_is_caught(sets, data):
    """From a height k on, the node serves headers signed by keys no trusted set held (a long-range or
    eclipse attack by outsiders): every height at or above k fails, whatever path bisection takes."""
    chain = honest_chain(sets)
    k = data.draw(st.integers(1, len(chain)))
    n_forgers = data.draw(st.integers(1, len(ATTACKER)))
    forged_vs = valset(ATTACKER[:n_forgers], [1000] * n_forgers)
    lying = dict(chain)
    last = chain[k - 1].header.hash() if k > 1 else b""
    for h in range(k, len(chain) + 1):
        # the forged header claims the forged set, announced by the honest header before it or not
        lying[h] = signed_block(h, forged_vs, forged_vs, last, ATTACKER)
        last = lying[h].header.hash()
    target = data.draw(st.integers(k, len(chain)))
    with pytest.raises(light.VerificationError):
        run(lying, target, genesis=genesis_of(chain))


@pytest.mark.parametrize("lie", ["dropped validator", "changed power", "next set", "other height", "other chain",
                                 "future time", "unsigned", "old time"])
def test_each_lie_about_one_block_is_caught(lie):
    chain = honest_chain([[0, 1, 2, 3]] * 3 + [[0, 1, 2, 3, 4, 5]] * 6)
    target = 6
    lb = chain[target]
    if lie == "dropped validator":
        lb = replace(lb, validators=ValidatorSet(lb.validators.validators[:-1]))
    elif lie == "changed power":
        lb = replace(lb, validators=ValidatorSet((replace(lb.validators.validators[0], power=99),)
                                                 + lb.validators.validators[1:]))
    elif lie == "next set":
        lb = replace(lb, next_validators=chain[2].validators)
    elif lie == "other height":
        lb = chain[target - 1]
    elif lie == "other chain":
        lb = signed_block(target, lb.validators, lb.next_validators, lb.header.last_block_hash, POOL, chain="fork")
    elif lie == "future time":
        lb = signed_block(target, lb.validators, lb.next_validators, lb.header.last_block_hash, POOL,
                          time_ms=NOW + 3_600_000)
    elif lie == "unsigned":
        lb = replace(lb, commit=replace(lb.commit, signatures=lb.commit.signatures[:2]))
    elif lie == "old time":
        lb = signed_block(target, lb.validators, lb.next_validators, lb.header.last_block_hash, POOL, time_ms=T0)
    lying = {**chain, target: lb}
    with pytest.raises(light.VerificationError):
        run(lying, target)
    with pytest.raises(light.VerificationError):  # a sequential path through the lying block fails too
        run(lying, target + 2, now=T0 + 2 * light.TRUSTING_PERIOD_MS)
    assert run(lying, target + 2)[0] == chain[target + 2]  # a skip over it never uses it

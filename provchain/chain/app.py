"""The application protocol (the ABCI-like boundary) and a base for apps of signed, nonced txs.

Consensus orders opaque tx bytes; the app gives them meaning. finalize_block is deterministic (no
clock, no randomness): it stages its writes, the node writes them in the same atomic LevelDB batch as
the block and its commit, then calls commit(). Header H+1 carries the app hash after H.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from . import crypto, schema, valsets
from .encoding import decode, encode, sha256
from .store import KV
from .tx import SignedTx
from .types import Block, InvalidError, ValidatorSet, tx_hash

OK = 0
ERR_DECODE = 1
ERR_SIGNATURE = 2
ERR_NONCE = 3
ERR_SIZE = 4
ERR_KIND = 5
ERR_BODY = 6
ERR_DUPLICATE = 7
ERR_VALIDATOR_UPDATE = 20  # a validator_update that is unauthorised, replayed or would make a bad set

CHECK_CACHE = 200_000  # txs whose stateless check result is remembered


@dataclass
class QueryAnswer:
    """What abci_query returns: code 0 = found; value bytes; prove_tx: the tx whose inclusion proves it."""
    code: int = 0
    log: str = ""
    value: bytes | None = None
    prove_tx: bytes | None = None


QUERY_UNKNOWN_PATH, QUERY_BAD_DATA, QUERY_NOT_FOUND = 1, 2, 3


@dataclass
class TxResult:
    code: int = OK
    log: str = ""
    data: object = None  # kind-specific answer (e.g. the record id), canonical value

    @property
    def ok(self) -> bool:
        return self.code == OK


class Application(Protocol):
    def info(self) -> tuple[int, bytes]: ...
    def check_tx(self, tx: bytes) -> TxResult: ...
    def process_proposal(self, block: Block) -> str | None: ...  # None when acceptable, else the reason
    def finalize_block(self, block: Block) -> tuple[list[TxResult], bytes]: ...
    def pending_writes(self) -> dict[bytes, bytes | None]: ...
    def commit(self) -> None: ...
    def reset_check_state(self) -> None: ...


class Overlay:
    """Reads through staged writes to the committed KV."""

    def __init__(self, kv: KV):
        self.kv = kv
        self.writes: dict[bytes, bytes | None] = {}
        self.next_valset: ValidatorSet | None = None  # the set of height + 2 after this block's updates

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.kv.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        self.writes[key] = value


@dataclass
class KindHandler:
    """What a tx kind means: validate the body statelessly, then apply it to state."""
    validate: object  # (body) -> the parsed body (kept on the tx as tx.parsed); raises InvalidError
    apply: object     # (state: Overlay, tx: SignedTx, tx_hash: bytes, index: int, block: Block) -> TxResult


class AccountApp:
    """Signed txs with a per-sender nonce. Subclasses register their tx kinds in `handlers`.

    With the genesis validator set (`validators`), the app also keeps the validator set of each height
    and accepts `validator_update` txs (chain/valsets.py); without it (unit tests of other kinds) it does not.
    """

    def __init__(self, kv: KV, chain_id: str, max_tx_bytes: int, validators: ValidatorSet | None = None):
        self.kv = kv
        self.chain_id = chain_id
        self.max_tx_bytes = max_tx_bytes
        self.sig_cache = crypto.VerifyCache()  # for commit signatures
        self._checked: OrderedDict[bytes, tuple[SignedTx | None, TxResult]] = OrderedDict()
        self.handlers: dict[str, KindHandler] = {}
        self._staged: Overlay | None = None
        self._check_nonces: dict[bytes, int] = {}
        self.genesis_validators = validators
        self._valsets = valsets.ValidatorSets(kv, validators) if validators is not None else None
        self._check_valset: tuple[int, ValidatorSet] | None = None  # (next seq, set) after pending updates
        if validators is not None:
            self.handlers[valsets.KIND] = KindHandler(valsets.ValidatorUpdate.from_obj, self._apply_validator_update)

    # --- info & queries
    def info(self) -> tuple[int, bytes]:
        raw = self.kv.get(schema.APP_STATE)
        if raw is None:
            return 0, b""
        h, app_hash = decode(raw)
        return h, app_hash

    def nonce(self, sender: bytes, state=None) -> int:
        raw = (state or self.kv).get(schema.nonce_key(sender))
        return decode(raw) if raw is not None else 0

    def next_nonce(self, sender: bytes) -> int:
        """The nonce a new tx from `sender` should carry, counting its txs waiting in the mempool."""
        pending = self._check_nonces.get(sender)
        return pending if pending is not None else self.nonce(sender)

    def query(self, path: str, data: bytes) -> QueryAnswer:
        """abci_query paths: /nonce (data = sender pubkey -> next committed nonce, decimal) and /store
        (data = a raw application key -> its raw value)."""
        if path == "/nonce":
            if len(data) != crypto.PUBKEY_SIZE:
                return QueryAnswer(QUERY_BAD_DATA, f"data must be a {crypto.PUBKEY_SIZE}-byte public key")
            return QueryAnswer(value=str(self.nonce(data)).encode())
        if path == "/store":
            if not data.startswith(schema.APP):
                return QueryAnswer(QUERY_BAD_DATA, f"keys readable through /store start with {schema.APP!r}")
            value = self.kv.get(data)
            return QueryAnswer(QUERY_NOT_FOUND, "no such key") if value is None else QueryAnswer(value=value)
        return QueryAnswer(QUERY_UNKNOWN_PATH, f"unknown query path {path!r} (try {', '.join(self.query_paths())})")

    def query_paths(self) -> list[str]:
        return ["/nonce", "/store"]

    def routes(self):
        return [("GET", "/nonce", self.rpc_nonce)]

    async def rpc_nonce(self, request):
        from .jsonfmt import parse_hex
        sender = parse_hex(request.query.get("sender", ""), crypto.PUBKEY_SIZE)
        return {"sender": sender.hex().upper(), "next_nonce": str(self.next_nonce(sender)),
                "committed_nonce": str(self.nonce(sender))}

    # --- stateless checks (shared by check_tx, process_proposal and finalize_block)
    def _decode_checked(self, raw: bytes) -> tuple[SignedTx | None, TxResult]:
        """Decode, validate and check the signature once per tx: the answer depends only on the bytes,
        so it is cached by tx hash (mempool recheck, process_proposal and finalize reuse it)."""
        h = tx_hash(raw)
        hit = self._checked.get(h)
        if hit is not None:
            return hit
        hit = self._decode_checked_uncached(raw)
        self._checked[h] = hit
        if len(self._checked) > CHECK_CACHE:
            self._checked.popitem(last=False)
        return hit

    def _decode_checked_uncached(self, raw: bytes) -> tuple[SignedTx | None, TxResult]:
        if len(raw) > self.max_tx_bytes:
            return None, TxResult(ERR_SIZE, f"tx of {len(raw)} bytes exceeds the limit of {self.max_tx_bytes}")
        try:
            tx = SignedTx.decode(raw, self.max_tx_bytes)
        except InvalidError as exc:
            return None, TxResult(ERR_DECODE, str(exc))
        handler = self.handlers.get(tx.kind)
        if handler is None:
            return None, TxResult(ERR_KIND, f"unknown tx kind {tx.kind!r}")
        try:
            tx = SignedTx(tx.kind, tx.sender, tx.nonce, tx.body, tx.signature, handler.validate(tx.body))
        except InvalidError as exc:
            return None, TxResult(ERR_BODY, f"invalid {tx.kind}: {exc}")
        if not crypto.verify(tx.sender, tx.sign_bytes(self.chain_id), tx.signature):
            return None, TxResult(ERR_SIGNATURE, "bad signature (wrong key, altered tx or another chain id)")
        return tx, TxResult()

    # --- mempool admission
    def check_tx(self, raw: bytes) -> TxResult:
        tx, res = self._decode_checked(raw)
        if tx is None:
            return res
        expected = self._check_nonces.get(tx.sender)
        if expected is None:
            expected = self.nonce(tx.sender)
        if tx.nonce != expected:
            return TxResult(ERR_NONCE, f"nonce {tx.nonce} is not the next nonce {expected} for this sender"
                            + (" (replayed)" if tx.nonce < expected else ""))
        if tx.kind == valsets.KIND:
            res = self._check_validator_update(tx)
        else:
            res = self.check_stateful(tx, tx_hash(raw))
        if res.ok:
            self._check_nonces[tx.sender] = expected + 1
        return res

    # --- validator updates (chain/valsets.py has the rules)
    def valset_at(self, height: int, state=None) -> ValidatorSet | None:
        """The validator set of `height` from committed state (cached: consensus asks for it per
        message), or from `state` (a block being executed)."""
        if state is None and self._valsets is not None:
            return self._valsets.at(height)
        return valsets.at(state or self.kv, self.genesis_validators, height)

    def _validator_update_problem(self, upd, expected_seq: int, signers: ValidatorSet, base: ValidatorSet):
        """(problem, new set): the update against the set that must sign it and the set it changes."""
        if upd.seq != expected_seq:
            return (f"update seq {upd.seq} is not the next validator update {expected_seq}"
                    + (" (replayed)" if upd.seq < expected_seq else "")), None
        if signers is None or base is None:
            return "the validator set of this height is not known (app state without validator sets)", None
        try:
            upd.authorise(self.chain_id, signers)
            return None, valsets.apply_changes(base, upd.changes)
        except InvalidError as exc:
            return str(exc), None

    def _check_validator_update(self, tx: SignedTx) -> TxResult:
        """Mempool admission: signed by the set of the next block, applied after the updates pending."""
        height = self.info()[0] + 1
        seq, base = self._check_valset or (valsets.seq(self.kv), self.valset_at(height + 1))
        problem, new = self._validator_update_problem(tx.parsed, seq, self.valset_at(height), base)
        if problem:
            return TxResult(ERR_VALIDATOR_UPDATE, f"validator update refused: {problem}")
        self._check_valset = (seq + 1, new)
        return TxResult()

    def _apply_validator_update(self, state: Overlay, tx: SignedTx, h: bytes, index: int, block: Block) -> TxResult:
        height = block.header.height
        seq = valsets.seq(state)
        base = state.next_valset or self.valset_at(height + 1, state)
        problem, new = self._validator_update_problem(tx.parsed, seq, self.valset_at(height, state), base)
        if problem:
            return TxResult(ERR_VALIDATOR_UPDATE, f"validator update refused: {problem}")
        state.next_valset = new
        state.put(schema.VALSET_SEQ, encode(seq + 1))
        return TxResult(data=[seq, height + valsets.DELAY])

    def check_stateful(self, tx: SignedTx, h: bytes) -> TxResult:
        """Kind-specific admission checks against committed + pending state (override)."""
        return TxResult()

    def reset_check_state(self) -> None:
        self._check_nonces.clear()
        self._check_valset = None

    def check_tx_dry_run(self, raw: bytes) -> TxResult:
        """check_tx without reserving the sender's nonce (the /check_tx RPC: nothing enters the mempool)."""
        saved = self._save_check_state()
        try:
            return self.check_tx(raw)
        finally:
            self._restore_check_state(saved)

    def _save_check_state(self):
        return dict(self._check_nonces), self._check_valset

    def _restore_check_state(self, saved) -> None:
        self._check_nonces, self._check_valset = saved

    # --- events (what tx_search, block_search and websocket subscribers see; not part of the app hash)
    def tx_events(self, raw: bytes, code: int) -> list[tuple[str, list[tuple]]]:
        """The events of a committed tx: [(type, [(attribute, value[, indexed])])] (see events_of)."""
        tx, _ = self._decode_checked(raw)
        return [] if tx is None else self.events_of(tx, raw, code)

    def events_of(self, tx: SignedTx, raw: bytes, code: int) -> list[tuple[str, list[tuple]]]:
        """A "message" event (as the Cosmos SDK names it): the tx kind as action, sender and nonce (the
        nonce is not indexed: subscriptions can match it, tx_search cannot). Subclasses add theirs."""
        return [("message", [("action", tx.kind), ("sender", tx.sender.hex().upper()), ("nonce", str(tx.nonce), False)])]

    def block_events(self, block: Block, tx_events: list) -> list[tuple[str, list[tuple]]]:
        """Events of a whole block, from its txs' events (CometBFT's finalize_block_events)."""
        return []

    # --- block execution
    def process_proposal(self, block: Block) -> str | None:
        """Accept a block only if every tx in it would succeed: so a tx's inclusion in a committed block
        proves that it took effect, and light clients need no separate proof of results."""
        _, results = self._execute(block)
        for i, res in enumerate(results):
            if not res.ok:
                return f"tx {i} would fail: {res.log}"
        return None

    def _execute(self, block: Block) -> tuple[Overlay, list[TxResult]]:
        state = Overlay(self.kv)
        results = []
        for i, raw in enumerate(block.txs):
            tx, res = self._decode_checked(raw)
            if tx is not None:
                expected = self.nonce(tx.sender, state)
                if tx.nonce != expected:
                    res = TxResult(ERR_NONCE, f"nonce {tx.nonce} is not the next nonce {expected}")
                else:
                    # an ordered, correctly signed tx uses its nonce even when its kind rejects it,
                    # so the sender's later txs stay valid
                    state.put(schema.nonce_key(tx.sender), encode(expected + 1))
                    res = self.handlers[tx.kind].apply(state, tx, tx_hash(raw), i, block)
            results.append(res)
        return state, results

    def finalize_block(self, block: Block) -> tuple[list[TxResult], bytes]:
        state, results = self._execute(block)
        if self.genesis_validators is not None:
            h = block.header.height + valsets.DELAY
            state.writes.update(valsets.writes_for(state, h, state.next_valset))
        self.on_block_end(state, block)
        prev = self.info()[1]
        changes = encode([[k, v] for k, v in sorted(state.writes.items(), key=lambda kv: kv[0])])
        app_hash = sha256(prev + sha256(changes))
        state.put(schema.APP_STATE, encode([block.header.height, app_hash]))
        self._staged = state
        return results, app_hash

    def on_block_end(self, state: Overlay, block: Block) -> None:
        """Hook for apps that record something per block (e.g. evidence)."""

    def pending_writes(self) -> dict[bytes, bytes | None]:
        return dict(self._staged.writes) if self._staged else {}

    def commit(self) -> None:
        """The staged writes are durable now: drop the overlay and let subclasses update caches."""
        staged, self._staged = self._staged, None
        self.reset_check_state()
        if staged is not None:
            self.on_commit(staged)

    def on_commit(self, staged: Overlay) -> None:
        """Hook for in-memory indexes that follow committed state."""


class NoteApp(AccountApp):
    """The minimal application: signed notes (any bytes up to 1 KiB) with a per-sender nonce."""

    def __init__(self, kv: KV, chain_id: str, max_tx_bytes: int, validators: ValidatorSet | None = None):
        super().__init__(kv, chain_id, max_tx_bytes, validators)
        self.handlers["note"] = KindHandler(self._validate, self._apply)

    @staticmethod
    def _validate(body) -> None:
        if not isinstance(body, bytes) or len(body) > 1024:
            raise InvalidError("a note is at most 1024 bytes")
        return body

    @staticmethod
    def _apply(state: Overlay, tx: SignedTx, h: bytes, index: int, block: Block) -> TxResult:
        state.put(schema.NOTE + h, tx.body)
        return TxResult()

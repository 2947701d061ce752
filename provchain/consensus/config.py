"""A node's `config/config.toml`: every setting, its default and what it means, in one table.

The same table writes the file (with each setting's documentation as a comment above it), reads it back
(Python's tomllib) and checks it: an unknown key, a key in the wrong section or a value of the wrong type
is a ConfigError naming the key, never a silent default. docs/operators.md lists the same settings
(tests/unit/test_config.py checks that it lists every one).

Chain-wide rules (block size, the timeouts every validator starts from) live in genesis.json; what is set
here is this node's own business: where it listens, whom it dials, how much it buffers, how it logs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(Exception):
    """A home folder or config file that is missing or malformed."""


@dataclass(frozen=True)
class Setting:
    section: str  # "" for the top level
    name: str
    default: object
    doc: str
    choices: tuple = ()
    optional: bool = False  # written commented out; absent means "use the default described in doc"

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}" if self.section else self.name


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")

SETTINGS: tuple[Setting, ...] = (
    Setting("", "moniker", "node", "A name for this node, shown in /status and in the logs."),
    Setting("", "validator", True,
            "Sign proposals and votes with config/priv_validator_key.pem whenever that key is in the\n"
            "validator set of a height. false: a full node that never signs, even if its key is a validator."),
    Setting("", "log_level", "info", "How much to log: debug, info, warning or error. "
            "`provchain node --log-level` overrides it.", LOG_LEVELS),
    Setting("", "log_format", "text",
            "text: one human-readable line per event. json: one JSON object per line (ts, level, logger,\n"
            "msg, and exc for errors) for log shippers. `provchain node --log-format` overrides it.", LOG_FORMATS),
    Setting("rpc", "laddr", "127.0.0.1:26657",
            "HOST:PORT the RPC (HTTP and websocket, CometBFT-shaped; docs/api.md) listens on.\n"
            "Use 0.0.0.0:PORT to serve other machines."),
    Setting("p2p", "laddr", "127.0.0.1:26656",
            "HOST:PORT the p2p listener binds to (0.0.0.0:PORT: every interface). Links are TLS 1.3, both\n"
            "ends authenticated by their node key (config/node_key.pem; `provchain show-node-id`)."),
    Setting("p2p", "external_address", "",
            "HOST:PORT other nodes reach this one at, announced to peers (needed behind NAT or when laddr\n"
            "is 0.0.0.0; IPv6 in brackets). Empty: laddr; where that is 0.0.0.0 or loopback, peers on other\n"
            "machines use the address they reached this node at."),
    Setting("p2p", "persistent_peers", [],
            "Peers (ID@HOST:PORT) this node always dials and re-dials when a link drops, whatever the\n"
            "peer limits. A link whose key is not ID is refused."),
    Setting("p2p", "seeds", [],
            "Nodes (ID@HOST:PORT) dialled to learn peer addresses (peer exchange) when there are too few."),
    Setting("p2p", "pex", True, "Ask peers for addresses and answer their requests (peer exchange)."),
    Setting("p2p", "max_inbound", 40, "Links other nodes dialled to us, at most (persistent peers not counted)."),
    Setting("p2p", "max_outbound", 10, "Links we dial to addresses from the address book, at most."),
    Setting("p2p", "send_queue_bytes", 32 * 1024 * 1024,
            "Bytes queued for one peer at most; when full, the oldest gossip is dropped (consensus re-sends)."),
    Setting("p2p", "recv_msgs_per_s", 2_000,
            "Messages read from one peer per second at most; above it reading pauses (TCP slows the peer)."),
    Setting("p2p", "recv_bytes_per_s", 32 * 1024 * 1024, "Bytes read from one peer per second at most."),
    Setting("p2p", "max_bad", 20,
            "Malformed frames or invalid messages (bad signatures, invalid blocks) from one peer within a\n"
            "minute before it is banned."),
    Setting("p2p", "ban_seconds", 600, "How long a banned peer is neither accepted nor dialled."),
    Setting("mempool", "size", 20_000, "Transactions the mempool holds at most; more are refused (CheckTx code)."),
    Setting("mempool", "max_txs_bytes", 128 * 1024 * 1024,
            "Total bytes of the transactions the mempool holds at most."),
    Setting("consensus", "timeout_propose_ms", 1000,
            "How long to wait for a proposal before prevoting nil (round 0; grows by timeout_delta_ms\n"
            "per round). Default: the genesis consensus_params value. Timeouts only affect liveness.",
            optional=True),
    Setting("consensus", "timeout_vote_ms", 500,
            "How long to wait for more votes after seeing 2/3 of any (prevote or precommit).\n"
            "Default: the genesis value.", optional=True),
    Setting("consensus", "timeout_delta_ms", 500, "Added to the timeouts per round. Default: the genesis value.",
            optional=True),
    Setting("consensus", "timeout_commit_ms", 500,
            "Pause after committing a block, so late precommits make it into the next block.\n"
            "Default: the genesis value.", optional=True),
    Setting("instrumentation", "prometheus", True, "Serve Prometheus metrics at http://LISTEN_ADDR/metrics."),
    Setting("instrumentation", "prometheus_listen_addr", "127.0.0.1:26660",
            "HOST:PORT of the metrics listener (CometBFT's default port is 26660); separate from the RPC\n"
            "so it can stay on an internal interface."),
)

SECTION_DOCS = {
    "rpc": "The RPC server.",
    "p2p": "Links to other nodes.",
    "mempool": "Transactions waiting for a block.",
    "consensus": "Node-local consensus timeouts (uncomment to override the genesis value for this node).",
    "instrumentation": "Metrics (docs/operators.md lists them).",
}


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:_}" if value >= 10_000 else str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def render(values: dict[str, object]) -> str:
    """The config.toml text for `values` (keys as in Setting.key; missing keys get their default)."""
    unknown = set(values) - {s.key for s in SETTINGS}
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}")
    lines = ["# provchain node configuration (docs/operators.md explains every setting).",
             "# Unknown keys are an error. Chain-wide rules live in genesis.json, not here.", ""]
    section = ""
    for s in SETTINGS:
        if s.section != section:
            section = s.section
            lines += ["", f"# {SECTION_DOCS[section]}", f"[{section}]"]
        lines += [f"# {line}" for line in s.doc.splitlines()]
        if s.key in values:
            lines.append(f"{s.name} = {_toml_value(values[s.key])}")
        else:
            lines.append(f"{'# ' if s.optional else ''}{s.name} = {_toml_value(s.default)}")
    return "\n".join(lines) + "\n"


P2P_LIMITS = ("max_inbound", "max_outbound", "send_queue_bytes", "recv_msgs_per_s", "recv_bytes_per_s", "max_bad",
              "ban_seconds")  # p2p settings that are p2p.Limits fields
DEFAULTS = {s.key: s.default for s in SETTINGS}


def _check(s: Setting, value) -> object:
    want = type(s.default)
    ok = isinstance(value, want) and (want is not int or not isinstance(value, bool))
    if want is list:
        ok = ok and all(isinstance(v, str) for v in value)
    if not ok:
        kind = {bool: "true or false", int: "an integer", str: "a string", list: "a list of strings"}[want]
        raise ConfigError(f"{s.key} must be {kind}, got {value!r}")
    if s.choices and value not in s.choices:
        raise ConfigError(f"{s.key} must be one of {', '.join(s.choices)}, got {value!r}")
    if want is int and value < 0:
        raise ConfigError(f"{s.key} must not be negative, got {value}")
    if s.key in ("p2p.persistent_peers", "p2p.seeds"):
        from .nodekey import PeerAddressError, parse_peer_list
        try:
            parse_peer_list(value)
        except PeerAddressError as exc:
            raise ConfigError(f"{s.key}: {exc}") from None
    if s.name == "external_address" and value:  # announced to peers: it must parse where they read it
        from .nodekey import PeerAddressError, split_hostport
        try:
            split_hostport(value)
        except PeerAddressError:
            raise ConfigError(f"{s.key} must be HOST:PORT, got {value!r}") from None
    elif s.name.endswith("laddr") or s.name.endswith("listen_addr"):
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{s.key} must be HOST:PORT, got {value!r}")
    return value


def parse(text: str, where: str = "config.toml") -> dict[str, object]:
    """Every setting's value (defaults filled in; optional settings absent unless set)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None
    by_key = {s.key: s for s in SETTINGS}
    sections = {s.section for s in SETTINGS if s.section}
    values: dict[str, object] = {s.key: s.default for s in SETTINGS if not s.optional}
    for name, value in doc.items():
        if isinstance(value, dict) and name in sections:
            items = [(f"{name}.{k}", v) for k, v in value.items()]
        else:
            items = [(name, value)]
        for key, v in items:
            s = by_key.get(key)
            if s is None:
                raise ConfigError(f"unknown setting {key!r} in {where} (known: {', '.join(sorted(by_key))})")
            values[key] = _check(s, v)
    return values


@dataclass
class NodeConfig:
    """The settings a node runs with (see SETTINGS for their meaning)."""
    moniker: str
    rpc_laddr: str
    p2p_laddr: str
    peers: list[str] = field(default_factory=list)  # persistent peers, ID@HOST:PORT
    validator: bool = True
    seeds: list[str] = field(default_factory=list)
    external_address: str = ""
    pex: bool = True
    p2p_limits: dict[str, int] = field(default_factory=dict)  # p2p.Limits overrides (P2P_LIMITS)
    log_level: str = "info"
    log_format: str = "text"
    mempool_size: int = 20_000
    mempool_max_txs_bytes: int = 128 * 1024 * 1024
    timeouts: dict[str, int] = field(default_factory=dict)  # node-local overrides of genesis timeouts
    prometheus: bool = True
    prometheus_laddr: str = "127.0.0.1:26660"

    def to_values(self) -> dict[str, object]:
        v = {"moniker": self.moniker, "validator": self.validator, "log_level": self.log_level,
             "log_format": self.log_format, "rpc.laddr": self.rpc_laddr, "p2p.laddr": self.p2p_laddr,
             "p2p.persistent_peers": list(self.peers), "mempool.size": self.mempool_size,
             "mempool.max_txs_bytes": self.mempool_max_txs_bytes, "instrumentation.prometheus": self.prometheus,
             "instrumentation.prometheus_listen_addr": self.prometheus_laddr}
        v.update({f"consensus.{k}": t for k, t in self.timeouts.items()})
        v.update({"p2p.seeds": list(self.seeds), "p2p.external_address": self.external_address, "p2p.pex": self.pex})
        v.update({f"p2p.{k}": x for k, x in self.p2p_limits.items()})
        return v

    def to_toml(self) -> str:
        return render(self.to_values())

    @classmethod
    def from_toml(cls, text: str, where: str = "config.toml") -> "NodeConfig":
        v = parse(text, where)
        return cls(moniker=v["moniker"], rpc_laddr=v["rpc.laddr"], p2p_laddr=v["p2p.laddr"],
                   peers=list(v["p2p.persistent_peers"]), validator=v["validator"], log_level=v["log_level"],
                   log_format=v["log_format"], mempool_size=v["mempool.size"],
                   mempool_max_txs_bytes=v["mempool.max_txs_bytes"],
                   timeouts={k.split(".", 1)[1]: x for k, x in v.items() if k.startswith("consensus.")},
                   prometheus=v["instrumentation.prometheus"],
                   prometheus_laddr=v["instrumentation.prometheus_listen_addr"],
                   seeds=list(v["p2p.seeds"]), external_address=v["p2p.external_address"], pex=v["p2p.pex"],
                   p2p_limits={k: v[f"p2p.{k}"] for k in P2P_LIMITS if v[f"p2p.{k}"] != DEFAULTS[f"p2p.{k}"]})

    @classmethod
    def load(cls, path: Path) -> "NodeConfig":
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read node config {path}: {exc.strerror}") from None
        return cls.from_toml(text, str(path))

"""One validator or full node in one OS process: store, app, mempool, consensus, p2p and RPC.

Home folder layout (like CometBFT's):
  config/genesis.json  config/config.toml (consensus/config.py)  config/priv_validator_key.pem  config/node_key.pem
  data/state.db (LevelDB: blocks, commits, txs, app state)  data/priv_validator_state  data/cs.wal/
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from ..chain import crypto
from ..chain.app import Application
from ..chain.mempool import Mempool
from ..chain.store import KV, BlockStore, LevelDBKV, StoreError
from ..chain.types import Genesis, InvalidError
from .config import ConfigError, NodeConfig
from .driver import Driver
from .metrics import Metrics
from .nodekey import load_or_create_node_key, node_id
from .p2p import P2P, Limits
from .privval import PrivValidator
from .rpc import RPCServer
from .wal import WAL

log = logging.getLogger("provchain.node")


class StateError(Exception):
    """Stored chain data that does not add up (the app's state against the block store): the node refuses
    to start rather than run on state the rest of the chain does not have."""


def check_format(store: BlockStore, data_dir: Path | str = "data") -> None:
    """Refuse, in one line, a block store written by a version with another block format (headers gained
    next_validators_hash with validator updates), instead of failing on the first block read."""
    if store.height() == 0:
        return
    try:
        store.block(store.height())
    except InvalidError as exc:
        raise StateError(f"the blocks in {data_dir} are in another format than this provchain version reads "
                         f"({exc}): they were made by an earlier version. Run that version, or start a new "
                         f"chain (move the home folder away and write new homes)") from None


def handshake(store: BlockStore, app: Application, kv: KV, data_dir: Path | str = "data") -> int:
    """Bring the app to the block store's height by replaying stored blocks (CometBFT's handshake), checking
    before each block and at the end that the app's hash is the one the chain recorded: header H+1 carries
    the app hash after H, the chain state the one after the last block. A changed app version or damaged
    app state would otherwise compute a different state and be found only when this node proposes.
    Returns the number of blocks replayed."""
    app_height, app_hash = app.info()
    store_height, recorded, _, _ = store.chain_state()
    if app_height > store_height:
        raise StateError(f"the app state is at height {app_height}, ahead of the block store at {store_height} "
                         f"(damaged data in {data_dir})")

    def expected(height: int) -> bytes:
        """The app hash after `height` as the chain recorded it."""
        if height == store_height:
            return recorded
        block = store.block(height + 1)
        if block is None:
            raise StateError(f"block {height + 1} is missing from the block store in {data_dir} (damaged data)")
        return block.header.app_hash

    def check(height: int, ours: bytes) -> None:
        theirs = expected(height)
        if ours != theirs:
            raise StateError(f"app hash mismatch at height {height}: this node's app computes {ours.hex()[:16]}, "
                             f"the chain recorded {theirs.hex()[:16]}. The app's code or its state in {data_dir} "
                             f"differs from the one that made these blocks: run the provchain version that "
                             f"made them, or move {data_dir} away and let the node block-sync from its peers")

    check(app_height, app_hash)
    for h in range(app_height + 1, store_height + 1):
        block = store.block(h)
        if block is None:
            raise StateError(f"block {h} is missing from the block store in {data_dir} (damaged data)")
        _, app_hash = app.finalize_block(block)
        check(h, app_hash)  # before writing: a state the chain does not have never reaches the disk
        kv.write(app.pending_writes(), sync=True)
        app.commit()
        log.info("handshake replayed block %d", h)
    return store_height - app_height


class Home:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.config_dir = self.root / "config"
        self.data_dir = self.root / "data"
        self.genesis = self.config_dir / "genesis.json"
        self.node_config = self.config_dir / "config.toml"
        self.legacy_config = self.config_dir / "node.json"  # before config.toml: converted on first start
        self.key = self.config_dir / "priv_validator_key.pem"
        self.node_key = self.config_dir / "node_key.pem"  # p2p identity (made on first start if missing)
        self.db = self.data_dir / "state.db"
        self.privval_state = self.data_dir / "priv_validator_state"
        self.wal = self.data_dir / "cs.wal"

    def exists(self) -> bool:
        return self.genesis.exists() and (self.node_config.exists() or self.legacy_config.exists())

    def load_config(self) -> NodeConfig:
        """config.toml; a home written before it existed has node.json, which is converted once."""
        if not self.node_config.exists() and self.legacy_config.exists():
            try:
                old = json.loads(self.legacy_config.read_text())
                peers = [p for p in old.get("peers", []) if "@" in p]  # host:port peers predate node ids
                if len(peers) < len(old.get("peers", [])):
                    log.warning("dropped persistent peers without a node id (ID@host:port) from %s: %s",
                                self.legacy_config, [p for p in old["peers"] if "@" not in p])
                cfg = NodeConfig(moniker=old["moniker"], rpc_laddr=old["rpc_laddr"], p2p_laddr=old["p2p_laddr"],
                                 peers=peers, validator=bool(old.get("validator", True)))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"cannot read node config {self.legacy_config}: {exc}") from None
            self.node_config.write_text(cfg.to_toml())
            log.warning("converted %s to %s", self.legacy_config, self.node_config)
        return NodeConfig.load(self.node_config)

    def load_genesis(self) -> Genesis:
        try:
            return Genesis.from_json(self.genesis.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read genesis {self.genesis}: {exc.strerror}") from None


class Node:
    def __init__(self, home: str | Path, app_factory, config: NodeConfig | None = None):
        self.home = Home(home)
        if not self.home.exists():
            raise ConfigError(f"{self.home.root} is not a node home (make one with `provchain init`, `provchain testnet` or `provchain devnet`)")
        self.genesis = self.home.load_genesis()
        self.config = config or self.home.load_config()
        self.moniker = self.config.moniker
        self.p2p_addr = self.config.p2p_laddr
        key = crypto.PrivateKey.load(self.home.key)
        self.node_key = load_or_create_node_key(self.home.node_key)
        self.node_id = node_id(self.node_key.pubkey)
        # a validator key signs at every height whose set holds it (validator updates add and remove keys)
        is_validator = self.config.validator
        self.home.data_dir.mkdir(parents=True, exist_ok=True)
        self.kv = LevelDBKV(self.home.db, on_corruption=self._on_corruption)
        self.fatal: StoreError | None = None  # set when the node must stop (a corrupted store)
        self.stop_requested = asyncio.Event()
        self.app: Application = app_factory(self.kv, self.genesis)
        try:
            check_format(BlockStore(self.kv), self.home.db)
            handshake(BlockStore(self.kv), self.app, self.kv, self.home.db)
        except StateError:
            self.kv.close()
            raise
        self.mempool = Mempool(self.app, max_txs=self.config.mempool_size,
                               max_bytes=self.config.mempool_max_txs_bytes,
                               max_tx_bytes=self.genesis.params.max_tx_bytes)
        self.privval = PrivValidator(key, self.home.privval_state, self.genesis.chain_id) if is_validator else None
        self.p2p = P2P(self.genesis.chain_id, self.node_key, self.config.p2p_laddr, self.config.peers,
                       on_message=self._on_p2p, on_connect=self._on_connect, seeds=self.config.seeds,
                       external_addr=self.config.external_address, limits=Limits.from_dict(self.config.p2p_limits),
                       pex=self.config.pex, moniker=self.moniker)
        # node-local timeouts (liveness only) replace the genesis values for this node's driver
        local = replace(self.genesis, params=replace(self.genesis.params, **self.config.timeouts))
        wal = WAL(self.home.wal)
        self.driver = Driver(local, self.kv, self.app, self.mempool, self.privval, wal, self.p2p)
        self.metrics = Metrics(self, wal)
        self.rpc = RPCServer(self)
        self._gossip: list[bytes] = []
        self._rpc_runner: web.AppRunner | None = None
        self._metrics_runner: web.AppRunner | None = None
        self._flush_task = None

    def _on_corruption(self, err: StoreError) -> None:
        """A read or write found damage: stop rather than run on a store that lost data."""
        if self.fatal is None:
            log.critical("%s; stopping (repair: provchain node --home %s --repair-db)", err, self.home.root)
            self.fatal = err
        self.stop_requested.set()

    def _on_p2p(self, peer, msg):
        self.driver.on_message(peer, msg)

    def _on_connect(self, peer):
        self.driver.on_connect(peer)

    def submit_tx(self, tx: bytes):
        res = self.mempool.add(tx)
        if res.ok:
            self._gossip.append(tx)
        return res

    async def _flush_gossip(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            if self._gossip:
                batch, self._gossip = self._gossip, []
                self.p2p.broadcast(["txs", batch])

    async def start(self) -> None:
        await self.p2p.start()
        await self.driver.start()
        self._flush_task = asyncio.create_task(self._flush_gossip())
        self._rpc_runner = web.AppRunner(self.rpc.web_app, access_log=None)
        await self._rpc_runner.setup()
        host, port = self.config.rpc_laddr.rsplit(":", 1)
        await web.TCPSite(self._rpc_runner, host, int(port)).start()
        if self.config.prometheus:
            self._metrics_runner = web.AppRunner(self.metrics.web_app(), access_log=None)
            await self._metrics_runner.setup()
            host, port = self.config.prometheus_laddr.rsplit(":", 1)
            await web.TCPSite(self._metrics_runner, host, int(port)).start()
        log.info("node %s up: rpc http://%s p2p %s@%s, height %d", self.moniker, self.config.rpc_laddr,
                 self.node_id, self.p2p.external_addr, self.driver.store.height())

    async def stop(self) -> None:
        if self._flush_task:
            self._flush_task.cancel()
        if self._rpc_runner:
            await self._rpc_runner.cleanup()
        if self._metrics_runner:
            await self._metrics_runner.cleanup()
        await self.driver.stop()
        await self.p2p.stop()
        self.kv.close()


def run_node(home: str | Path, app_factory, config: NodeConfig | None = None) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly. A store found corrupted while running stops the node
    and raises its StoreError."""
    async def main():
        node = Node(home, app_factory, config)
        await node.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, node.stop_requested.set)
        await node.stop_requested.wait()
        log.info("stopping")
        await node.stop()
        if node.fatal is not None:
            raise node.fatal
    asyncio.run(main())

// Runs stock @cosmjs/tendermint-rpc clients (no adapter) against a provchain node and prints what
// each call decoded as one JSON object on stdout; tests/integration/test_cosmjs.py checks the values.
// Input (stdin, JSON): {http, ws, height, txHash, recordId, creator, junkTx, clients: {Name: {sync,
// async, commit, wsTx, wsCreator}}} with txs in base64.
"use strict";
const fs = require("node:fs");
const crypto = require("node:crypto");
const rpc = require("@cosmjs/tendermint-rpc");

const CALL_TIMEOUT_MS = 30000;

function hex(u8) {
  return Buffer.from(u8).toString("hex").toUpperCase();
}
function fromHex(s) {
  return new Uint8Array(Buffer.from(s, "hex"));
}
function fromB64(s) {
  return new Uint8Array(Buffer.from(s, "base64"));
}

// JSON-friendly copy of a decoded response: bytes as upper-case hex, dates as ISO, bigints as strings
function plain(x) {
  if (x === null || x === undefined) return x === undefined ? null : x;
  if (x instanceof Uint8Array) return hex(x);
  if (x instanceof Date) return x.toISOString();
  if (typeof x === "bigint") return x.toString();
  if (Array.isArray(x)) return x.map(plain);
  if (typeof x === "object") {
    const out = {};
    for (const [k, v] of Object.entries(x)) if (typeof v !== "function") out[k] = plain(v);
    return out;
  }
  return x;
}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

async function attempt(name, fn) {
  try {
    return { ok: true, value: plain(await withTimeout(fn(), CALL_TIMEOUT_MS, name)) };
  } catch (err) {
    return { ok: false, error: String((err && err.stack) || err).slice(0, 2000) };
  }
}

// RFC 6962 Merkle root from a proof, as CometBFT's crypto/merkle computes it
function sha256(...parts) {
  const h = crypto.createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}
function rootFromAunts(index, total, leaf, aunts) {
  if (total === 1) return aunts.length === 0 ? leaf : null;
  if (aunts.length === 0) return null;
  const k = 2 ** Math.floor(Math.log2(total - 1));
  const last = aunts[aunts.length - 1];
  const rest = aunts.slice(0, -1);
  if (index < k) {
    const left = rootFromAunts(index, k, leaf, rest);
    return left && sha256(Buffer.from([1]), left, last);
  }
  const right = rootFromAunts(index - k, total - k, leaf, rest);
  return right && sha256(Buffer.from([1]), last, right);
}
function txProofVerifies(proof, expectedRoot) {
  const leaf = sha256(Buffer.from([0]), Buffer.from(proof.data));
  if (!leaf.equals(Buffer.from(proof.proof.leafHash))) return false;
  const root = rootFromAunts(proof.proof.index, proof.proof.total, leaf, proof.proof.aunts.map((a) => Buffer.from(a)));
  return !!root && root.equals(Buffer.from(proof.rootHash)) && root.equals(Buffer.from(expectedRoot));
}

function take(stream, n, ms, what) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const got = [];
      const sub = stream.subscribe({
        next: (ev) => {
          got.push(ev);
          if (got.length >= n) {
            sub.unsubscribe();
            resolve(got);
          }
        },
        error: (err) => reject(new Error(typeof err === "string" ? err : JSON.stringify(err))),
        complete: () => reject(new Error("stream completed early")),
      });
    }),
    ms,
    what,
  );
}

async function httpSuite(Client, input, mine) {
  const c = await Client.connect(input.http);
  const H = input.height;
  const out = {};
  const calls = {
    status: () => c.status(),
    health: () => c.health(),
    abciInfo: () => c.abciInfo(),
    abciQuery: () => c.abciQuery({ path: "/record", data: fromHex(input.recordId), prove: true }),
    abciQueryMissing: () => c.abciQuery({ path: "/record", data: new Uint8Array(32) }),
    block: () => c.block(H),
    blockLatest: () => c.block(),
    block1: () => c.block(1),
    blockPrev: () => c.block(H - 1),
    blockResults: () => c.blockResults(H),
    blockSearch: () => c.blockSearch({ query: `block.height = ${H}` }),
    blockSearchAll: () => c.blockSearchAll({ query: "provenance.new_records > 0" }),
    blockchain: () => c.blockchain(Math.max(1, H - 4), H),
    commit: () => c.commit(H),
    genesis: () => c.genesis(),
    numUnconfirmedTxs: () => c.numUnconfirmedTxs(),
    tx: () => c.tx({ hash: fromHex(input.txHash), prove: true }),
    txSearch: () => c.txSearch({ query: `register_clip.creator='${input.creator}'`, prove: true }),
    txSearchAll: () => c.txSearchAll({ query: `tx.height = ${H}` }),
    validators: () => c.validators({ page: 1, per_page: 2 }),
    validatorsAll: () => c.validatorsAll(),
    broadcastTxSync: () => c.broadcastTxSync({ tx: fromB64(mine.sync) }),
    broadcastTxAsync: () => c.broadcastTxAsync({ tx: fromB64(mine.async) }),
    broadcastTxCommit: () => c.broadcastTxCommit({ tx: fromB64(mine.commit) }),
    broadcastTxSyncRejected: () => c.broadcastTxSync({ tx: fromB64(input.junkTx) }),
  };
  for (const [name, fn] of Object.entries(calls)) out[name] = await attempt(name, fn);
  // proofs checked here, on the decoded objects, against the header cosmjs decoded
  try {
    const tx = await c.tx({ hash: fromHex(input.txHash), prove: true });
    const header = (await c.commit(tx.height)).header;
    out.txProofVerified = txProofVerifies(tx.proof, header.dataHash);
    const forged = { ...tx.proof, data: new Uint8Array([...tx.proof.data, 0]) };
    out.forgedProofVerified = txProofVerifies(forged, header.dataHash);
  } catch (err) {
    out.txProofVerified = String(err);
  }
  c.disconnect();
  return out;
}

async function wsSuite(Client, input, mine) {
  const c = await Client.connect(input.ws);
  const out = {};
  try {
    out.status = await attempt("ws status", () => c.status());
    out.block = await attempt("ws block", () => c.block(input.height));
    const blocks = take(c.subscribeNewBlock(), 2, 30000, "two NewBlock events");
    const headers = take(c.subscribeNewBlockHeader(), 1, 30000, "a NewBlockHeader event");
    const txs = take(c.subscribeTx(`register_clip.creator='${mine.wsCreator}'`), 1, 30000, "a Tx event");
    await new Promise((r) => setTimeout(r, 300)); // let the subscriptions reach the node first
    out.broadcast = await attempt("ws broadcastTxSync", () => c.broadcastTxSync({ tx: fromB64(mine.wsTx) }));
    out.newBlocks = await attempt("NewBlock", () => blocks);
    out.newBlockHeaders = await attempt("NewBlockHeader", () => headers);
    out.txEvents = await attempt("Tx", () => txs);
  } finally {
    c.disconnect();
  }
  return out;
}

// JSON-RPC batches: concurrent calls through HttpBatchClient go out as one POST of an array
async function batchSuite(input) {
  const batcher = new rpc.HttpBatchClient(input.http, { dispatchInterval: 20, batchSizeLimit: 20 });
  const c = rpc.Comet38Client.create(batcher);
  const H = input.height;
  const names = ["status", "block", "commit", "tx", "validators", "blockResults", "missingBlock"];
  const settled = await Promise.allSettled([
    c.status(), c.block(H), c.commit(H), c.tx({ hash: fromHex(input.txHash) }), c.validators({}),
    c.blockResults(H), c.block(H + 1000000),
  ]);
  c.disconnect();
  const out = {};
  names.forEach((n, i) => {
    const r = settled[i];
    out[n] = r.status === "fulfilled" ? { ok: true, value: plain(r.value) } : { ok: false, error: String(r.reason) };
  });
  return out;
}

async function main() {
  const input = JSON.parse(fs.readFileSync(0, "utf8"));
  const report = { clients: {} };
  const detected = await rpc.connectComet(input.http);
  report.connectComet = detected.constructor.name;
  detected.disconnect();
  report.batch = await batchSuite(input);
  for (const name of Object.keys(input.clients)) {
    const Client = rpc[name];
    if (!Client) {
      report.clients[name] = { missing: true };
      continue;
    }
    report.clients[name] = {
      http: await httpSuite(Client, input, input.clients[name]),
      ws: await wsSuite(Client, input, input.clients[name]),
    };
  }
  fs.writeSync(1, JSON.stringify(report) + "\n"); // synchronous: the exit below must not cut it short
}

main().then(
  () => process.exit(0),
  (err) => {
    fs.writeSync(1, JSON.stringify({ fatal: String((err && err.stack) || err) }) + "\n");
    process.exit(1);
  },
);

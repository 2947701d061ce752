#!/bin/sh
# Entrypoint of the provchain devnet images (installed as /usr/local/bin/provchain-docker).
#
#   init         write the homes and genesis of PROVCHAIN_VALIDATORS validators into /devnet, once
#   node I       run validator I from /devnet/nodeI (waits for init)
#   fullnode     `provchain init` a full node in /fullnode (genesis from PROVCHAIN_NODE, node0 as seed), run it
#   explorer     serve the block explorer for PROVCHAIN_NODE
#   generator    generate a clip with the built-in model into /clips and register it on PROVCHAIN_NODE
#   healthcheck  what the image's HEALTHCHECK runs: GET the role's health URL
#   anything else is run as a command, e.g. `verify clip.mp4 --node ...` or `provchain keys show`
#
# Settings (environment): PROVCHAIN_VALIDATORS (4), PROVCHAIN_CHAIN_ID (provchain-devnet),
# PROVCHAIN_BASE_PORT (26656: validator i serves p2p on BASE + 10 i, RPC on BASE + 1 + 10 i),
# PROVCHAIN_PEER_HOSTS (services: peers are the compose services node0..nodeN-1; loopback: 127.0.0.1),
# PROVCHAIN_LISTEN_HOST (0.0.0.0), PROVCHAIN_NODE (http://node0:26657), PROVCHAIN_EXPLORER_HOST (0.0.0.0),
# PROVCHAIN_EXPLORER_PORT (8080), PROVCHAIN_PROMPT, PROVCHAIN_SEED (0), PROVCHAIN_SECONDS (2),
# PROVCHAIN_CLIP (generated.mp4).
set -eu

DEVNET="${PROVCHAIN_DEVNET_DIR:-/devnet}"
CLIPS="${PROVCHAIN_CLIPS_DIR:-/clips}"
HEALTH_URL_FILE=/tmp/provchain-health-url
NODE_URL="${PROVCHAIN_NODE:-http://node0:26657}"

log() { echo "provchain-docker: $*" >&2; }

wait_for_file() {  # PATH SECONDS
  waited=0
  while [ ! -s "$1" ]; do
    if [ "$waited" -ge "$2" ]; then log "gave up after ${2}s waiting for $1 (did the init service run?)"; exit 1; fi
    sleep 1; waited=$((waited + 1))
  done
}

wait_for_url() {  # URL SECONDS
  python - "$1" "$2" <<'PY'
import sys, time, urllib.request
url, limit = sys.argv[1], float(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + limit
while True:
    try:
        opener.open(url, timeout=3).read()
        break
    except Exception as exc:
        if time.monotonic() > deadline:
            sys.exit(f"provchain-docker: gave up after {limit:.0f}s waiting for {url}: {exc}")
        time.sleep(1)
PY
}

role_init() {
  n="${PROVCHAIN_VALIDATORS:-4}"
  peers="${PROVCHAIN_PEER_HOSTS:-services}"
  listen="${PROVCHAIN_LISTEN_HOST:-0.0.0.0}"
  base="${PROVCHAIN_BASE_PORT:-26656}"
  want="validators=$n peers=$peers listen=$listen base_port=$base"
  if [ -s "$DEVNET/node0/config/genesis.json" ]; then
    have="$(cat "$DEVNET/devnet.env" 2>/dev/null || echo unknown)"
    if [ "$have" != "$want" ]; then
      log "the devnet in this volume was made with '$have', not '$want'."
      log "remove it first (docker compose down -v) to start a new chain with these settings."
      exit 1
    fi
    log "devnet already initialised in $DEVNET ($have): resuming the chain"
    # homes from before node keys: give each one and address peers as ID@host:port
    python -c 'import sys; from provchain.devnet.testnet import add_node_ids; add_node_ids(sys.argv[1], int(sys.argv[2]))' \
      "$DEVNET" "$n"
    exit 0
  fi
  set -- --validators "$n" --chain-id "${PROVCHAIN_CHAIN_ID:-provchain-devnet}" --base-port "$base" \
         --listen-host "$listen"
  [ "$peers" = services ] && set -- "$@" --hostname-prefix node
  tmp="$DEVNET/.init.tmp"
  rm -rf "$tmp"
  provchain testnet "$@" --out "$tmp" >/dev/null
  # node0 last: its genesis.json is what marks the folder as initialised
  for d in "$tmp"/node*; do
    [ "$(basename "$d")" = node0 ] || { rm -rf "$DEVNET/$(basename "$d")"; mv "$d" "$DEVNET/"; }
  done
  if [ -d "$tmp/ca" ]; then rm -rf "$DEVNET/ca"; mv "$tmp/ca" "$DEVNET/"; fi  # the devnet's C2PA test CA
  echo "$want" > "$DEVNET/devnet.env"
  rm -rf "$DEVNET/node0"; mv "$tmp/node0" "$DEVNET/"
  rmdir "$tmp"
  log "wrote a $n-validator testnet to $DEVNET ($want)"
}

role_node() {
  i="${1:?usage: node INDEX}"
  home="$DEVNET/node$i"
  wait_for_file "$DEVNET/node0/config/genesis.json" 120
  wait_for_file "$home/config/config.toml" 10
  port="$(python -c 'import tomllib, sys; print(tomllib.load(open(sys.argv[1], "rb"))["rpc"]["laddr"].rsplit(":", 1)[1])' \
          "$home/config/config.toml")"
  echo "http://127.0.0.1:$port/health" > "$HEALTH_URL_FILE"
  exec provchain node --home "$home" --log-level "${PROVCHAIN_LOG_LEVEL:-info}"
}

role_fullnode() {  # a non-validator joining by seed: genesis from PROVCHAIN_NODE, node0 as seed
  home="${PROVCHAIN_FULLNODE_HOME:-/fullnode}"
  rpc="${PROVCHAIN_FULLNODE_RPC:-0.0.0.0:26657}"
  echo "http://127.0.0.1:${rpc##*:}/health" > "$HEALTH_URL_FILE"  # unhealthy until the node serves
  wait_for_file "$DEVNET/node0/config/node_key.pem" 120
  wait_for_url "$NODE_URL/health" 180
  if [ ! -s "$home/config/genesis.json" ]; then
    seed="$(provchain show-node-id --home "$DEVNET/node0")@${PROVCHAIN_SEED_ADDRESS:-node0:26656}"
    provchain init --home "$home" --genesis "$NODE_URL" --seeds "$seed" --moniker fullnode \
      --p2p-laddr "${PROVCHAIN_FULLNODE_P2P:-0.0.0.0:26656}" --rpc-laddr "$rpc" \
      --prometheus-laddr "${PROVCHAIN_FULLNODE_METRICS:-0.0.0.0:26660}" \
      --external-address "${PROVCHAIN_FULLNODE_ADDRESS:-fullnode:26656}"
  fi
  exec provchain node --home "$home" --log-level "${PROVCHAIN_LOG_LEVEL:-info}"
}

role_explorer() {
  port="${PROVCHAIN_EXPLORER_PORT:-8080}"
  genesis="$DEVNET/node0/config/genesis.json"
  wait_for_file "$genesis" 120
  echo "http://127.0.0.1:$port/api/health" > "$HEALTH_URL_FILE"
  exec provchain explorer --node "$NODE_URL" --host "${PROVCHAIN_EXPLORER_HOST:-0.0.0.0}" --port "$port" \
       --genesis "$genesis"
}

role_generator() {
  clip="$CLIPS/${PROVCHAIN_CLIP:-generated.mp4}"
  key="$CLIPS/creator.pem"
  wait_for_url "$NODE_URL/health" 180
  if [ -s "$clip" ]; then
    # made by an earlier run: registering again is idempotent and returns the existing record
    log "$clip exists: registering it (again)"
    provchain register "$clip" --node "$NODE_URL" --key "$key" --json
  else
    log "generating '${PROVCHAIN_PROMPT:-a red ball bouncing to the right on a green striped background}' into $clip"
    provchain generate "${PROVCHAIN_PROMPT:-a red ball bouncing to the right on a green striped background}" -o "$clip.tmp.mp4" \
      --node "$NODE_URL" --key "$key" --seed "${PROVCHAIN_SEED:-0}" --seconds "${PROVCHAIN_SECONDS:-2}" \
      --outbox "$CLIPS/outbox" --json
    mv "$clip.tmp.mp4" "$clip"
  fi
  log "registered $clip on $NODE_URL"
}

role_healthcheck() {
  [ -s "$HEALTH_URL_FILE" ] || exit 0  # one-shot roles (init, generator) have nothing to serve
  python - "$(cat "$HEALTH_URL_FILE")" <<'PY'
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(sys.argv[1], timeout=3) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

role="${1:-node}"
[ "$#" -gt 0 ] && shift
case "$role" in
  init) role_init "$@" ;;
  node) role_node "${1:-${PROVCHAIN_NODE_INDEX:-0}}" ;;
  fullnode) role_fullnode ;;
  explorer) role_explorer ;;
  generator) role_generator ;;
  healthcheck) role_healthcheck ;;
  *) exec "$role" "$@" ;;
esac

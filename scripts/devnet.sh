#!/usr/bin/env bash
# The first command: set up, run a 4-validator devnet with the explorer, generate a clip with the
# built-in model (registered automatically), verify it against the chain, then keep the devnet running
# until Ctrl-C. Options: --home DIR (default ~/.provchain/devnet), --base-port P, --prompt "...".
set -euo pipefail
cd "$(dirname "$0")/.."
HOME_DIR="$HOME/.provchain/devnet"
BASE_PORT=26656
PROMPT="a red circle bouncing left to right over a striped green background"
while [ $# -gt 0 ]; do
  case "$1" in
    --home) HOME_DIR="$2"; shift 2;;
    --base-port) BASE_PORT="$2"; shift 2;;
    --prompt) PROMPT="$2"; shift 2;;
    *) echo "usage: $0 [--home DIR] [--base-port P] [--prompt TEXT]" >&2; exit 2;;
  esac
done
./scripts/setup.sh
RPC="http://127.0.0.1:$((BASE_PORT + 1))"
OUT_DIR="$HOME_DIR/clips"
mkdir -p "$OUT_DIR"

.venv/bin/provchain devnet --home "$HOME_DIR" --base-port "$BASE_PORT" &
DEVNET=$!
trap 'kill -INT $DEVNET 2>/dev/null; wait $DEVNET 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 120); do
  if curl -fs "$RPC/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 $DEVNET 2>/dev/null; then echo "devnet failed to start" >&2; exit 1; fi
  sleep 0.5
done
sleep 2
CLIP="$OUT_DIR/clip-$(date +%s).mp4"
# C2PA: a signing certificate for the creator key from the devnet's test CA, kept in the devnet home
C2PA_GEN=() C2PA_VERIFY=()
if [ -f "$HOME_DIR/ca/ca.pem" ]; then
  .venv/bin/provchain keys show >/dev/null 2>&1 || .venv/bin/provchain keys new >/dev/null
  .venv/bin/provchain keys cert --ca "$HOME_DIR/ca" -o "$HOME_DIR/creator.cert.pem" >/dev/null
  C2PA_GEN=(--cert "$HOME_DIR/creator.cert.pem") C2PA_VERIFY=(--c2pa-trust "$HOME_DIR/ca/ca.pem")
fi
echo "== generating: \"$PROMPT\""
.venv/bin/provchain generate "$PROMPT" -o "$CLIP" --node "$RPC" --seed 7 --public-prompt "${C2PA_GEN[@]}"   # your creator key: ~/.provchain/keys/creator.pem (or $PROVCHAIN_KEY)
echo "== verifying $CLIP against the chain (trusting the devnet's genesis file and its C2PA test CA)"
.venv/bin/verify "$CLIP" --node "$RPC" --genesis "$HOME_DIR/node0/config/genesis.json" "${C2PA_VERIFY[@]}"
echo "== devnet running: explorer and RPC URLs above; Ctrl-C to stop"
wait $DEVNET

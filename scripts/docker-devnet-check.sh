#!/usr/bin/env bash
# Runs the docker compose devnet on this machine and checks it, end to end:
#
#   install docker.io, docker-compose, debootstrap (apt) if missing -> start dockerd if it is not running
#   -> make the base image (scripts/docker-base-image.sh) -> build a wheelhouse from pyproject.toml
#   -> build the validator and generator images -> compose up (host networking: devnet/docker-compose.host.yml)
#   -> checks: 4 validators healthy; heights advancing; the same block hash on every node at a common
#      height; a full node joining by seed (genesis from node0's RPC) catches up to the same blocks and
#      records; the explorer answering; the generator's clip registered (GET /record) and `verify --json`
#      on the host saying "verified"; a killed validator does not stop the chain and catches up when
#      started again; `compose down` + `up` resumes at >= the old height
#   -> clean up: containers, volumes, the images it built, the wheelhouse, the daemon if it started it.
#
#   scripts/docker-devnet-check.sh [--keep-cache]
#
# --keep-cache (or PROVCHAIN_DOCKER_KEEP_CACHE=1) keeps the base image and the wheelhouse for the next run
# (without it, a base image that was there before the run is kept too; one the run made is removed).
# On failure it says which step failed and prints the containers' logs. Every wait is bounded, and all
# traffic goes to 127.0.0.1. Exit codes: 0 passed, 1 a step failed, 77 prerequisites could not be installed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

KEEP_CACHE="${PROVCHAIN_DOCKER_KEEP_CACHE:-0}"
[ "${1:-}" = "--keep-cache" ] && KEEP_CACHE=1
PROJECT="${PROVCHAIN_DOCKER_PROJECT:-provchain-devnet-check}"
BASE_IMAGE="${PROVCHAIN_BASE_IMAGE:-provchain-base:bookworm}"
WHEELHOUSE="$ROOT/devnet/wheelhouse"
RPC_PORTS=(26657 26667 26677 26687)
EXPLORER_PORT=8080
GENERATE_TIMEOUT="${PROVCHAIN_DOCKER_GENERATE_TIMEOUT:-600}"
WORK="$(mktemp -d /tmp/provchain-docker-check.XXXXXX)"

STEP="start"
STEP_T0=0
TIMINGS=()
STARTED_DOCKERD=0
DOCKERD_PID=""
MADE_BASE=0
LOCKED=0
COMPOSE=()
T_START=$(date +%s)
exec 3>&1 4>&2  # the real stdout and stderr, for the clean-up

log() { echo "[docker-devnet-check] [$(printf '%4d' $(( $(date +%s) - T_START )))s] $*"; }
now() { date +%s.%N; }
step() {
  end_step
  STEP="$1"
  STEP_T0=$(now)
  log "== $STEP"
}
end_step() {
  if [ "$STEP_T0" != 0 ]; then
    TIMINGS+=("$(awk -v s="$STEP" -v a="$STEP_T0" -v b="$(now)" 'BEGIN { printf "%-50s %7.1f s", s, b - a }')")
    STEP_T0=0
  fi
}
fail() {
  log "FAILED at step '$STEP': $*"
  exit 1
}

HEARTBEAT=30  # seconds between "still ..." lines, so a long step shows it is alive

# wait_until SECONDS DESCRIPTION COMMAND...: run COMMAND every 2 s until it succeeds, or fail the step.
wait_until() {
  local limit="$1" what="$2"
  shift 2
  local t0 deadline next
  t0=$(date +%s); deadline=$(( t0 + limit )); next=$(( t0 + HEARTBEAT ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      fail "timed out after ${limit}s waiting for: $what"
    fi
    if [ "$(date +%s)" -ge "$next" ]; then
      log "   still waiting for $what ($(( $(date +%s) - t0 )) s of at most $limit s)"
      next=$(( next + HEARTBEAT ))
    fi
    sleep 2
  done
}

# with_heartbeat LOGFILE COMMAND...: run COMMAND (its output to LOGFILE); every HEARTBEAT seconds say
# that it is still running and show the last line it wrote. Returns COMMAND's exit code.
with_heartbeat() {
  local logfile="$1" t0 pid
  shift
  t0=$(date +%s)
  "$@" >"$logfile" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 1 "$HEARTBEAT"); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "   still running ($(( $(date +%s) - t0 )) s): $(tail -c 2000 "$logfile" | tr '\r' '\n' | grep -v '^\s*$' | tail -1 | cut -c1-110)"
    fi
  done
  wait "$pid"
}

compose() { "${COMPOSE[@]}" "$@"; }

cleanup() {
  local rc=$?
  # a signal can land while a command's output goes to /dev/null: this trap would inherit that
  exec 1>&3 2>&4
  end_step
  set +e
  if [ "$rc" != 0 ] && [ "$LOCKED" = 1 ] && [ "${#COMPOSE[@]}" -gt 0 ] && docker info >/dev/null 2>&1; then
    log "---- containers of $PROJECT"
    docker ps -a --filter "label=com.docker.compose.project=$PROJECT" \
      --format '{{.Names}}\t{{.Status}}' 2>/dev/null
    log "---- container logs (last 150 lines each)"
    timeout 60 "${COMPOSE[@]}" logs --no-color --tail=150 2>&1
    if [ -n "$DOCKERD_PID" ]; then
      log "---- dockerd log (errors, last 20)"
      grep -E 'level=(error|fatal)' "$WORK/dockerd.log" | tail -20
    fi
  fi
  if [ -n "${SIZES:-}" ]; then
    log "image sizes:"
    echo "$SIZES"
  fi
  if [ "$LOCKED" != 1 ]; then  # another check owns the daemon, images and project: touch nothing
    rm -rf "$WORK"
    exit "$rc"
  fi
  log "---- clean-up"
  if [ "${#COMPOSE[@]}" -gt 0 ] && docker info >/dev/null 2>&1; then
    timeout 180 "${COMPOSE[@]}" down -v --rmi all --remove-orphans -t 10 >"$WORK/down.log" 2>&1 \
      || { log "compose down failed:"; tail -20 "$WORK/down.log"; }
    # intermediate images of the multi-stage build carry the Dockerfile's label
    docker image prune -f --filter "label=org.provchain.devnet=1" >/dev/null 2>&1
    if [ "$KEEP_CACHE" != 1 ] && [ "$MADE_BASE" = 1 ]; then
      docker rmi "$BASE_IMAGE" >/dev/null 2>&1 && log "removed $BASE_IMAGE"
    fi
    left="$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"; \
            docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"; \
            docker images -q provchain-devnet)"
    if [ -n "$left" ]; then
      log "clean-up left containers, volumes or images behind: $(echo $left)"
      [ "$rc" = 0 ] && { STEP="clean-up"; rc=1; }
    fi
  fi
  if [ "$KEEP_CACHE" != 1 ]; then
    find "$WHEELHOUSE" -mindepth 1 ! -name README.md -delete 2>/dev/null
  fi
  if [ "$STARTED_DOCKERD" = 1 ] && [ -n "$DOCKERD_PID" ]; then
    log "stopping the dockerd it started (pid $DOCKERD_PID)"
    kill -TERM "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && { log "dockerd still running: SIGKILL"; kill -KILL "$DOCKERD_PID"; }
  fi
  rm -rf "$WORK"
  log "timings:"
  for t in "${TIMINGS[@]}"; do echo "  $t"; done
  echo "  $(printf '%-50s %7d s' total $(( $(date +%s) - T_START )))"
  if [ "$rc" = 0 ]; then
    log "PASSED"
  elif [ "$rc" = 130 ]; then
    log "INTERRUPTED at step '$STEP'"
  elif [ "$rc" = 77 ]; then
    log "SKIPPED: prerequisites could not be installed"
  else
    log "FAILED at step '$STEP'"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------------------------
step "wait for the machine-wide lock"
[ "$(id -u)" = 0 ] || { log "needs root (apt-get, dockerd, debootstrap)"; exit 77; }
# One check at a time on a machine: they share the daemon, the images, the project and the ports.
exec 9>"${PROVCHAIN_DOCKER_LOCK:-/var/lock/provchain-docker-devnet-check.lock}"
flock -w "${PROVCHAIN_DOCKER_LOCK_WAIT:-1800}" 9 || fail "another docker devnet check held the lock for too long"
LOCKED=1

step "install docker.io, docker-compose, debootstrap"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  missing+=(docker-compose)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  if ! { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 \
         apt-get install -y -qq --no-install-recommends "${missing[@]}" ; } >"$WORK/apt.log" 2>&1; then
    tail -20 "$WORK/apt.log"
    log "apt-get could not install ${missing[*]}"
    exit 77
  fi
fi
if docker compose version >/dev/null 2>&1; then
  COMPOSE_BIN=(docker compose)
else
  COMPOSE_BIN=(docker-compose)
fi
log "compose: ${COMPOSE_BIN[*]} ($("${COMPOSE_BIN[@]}" version 2>/dev/null | head -1))"

step "start dockerd"
if docker info >/dev/null 2>&1; then
  log "dockerd already running: using it (and leaving it running)"
else
  # no iptables rules: containers here use host networking only. Its own session, so that a signal to
  # this script's process group leaves it to the clean-up below to take the devnet down, then dockerd.
  setsid dockerd --iptables=false >"$WORK/dockerd.log" 2>&1 3>&- 4>&- 9>&- &
  DOCKERD_PID=$!
  STARTED_DOCKERD=1
  wait_until 60 "dockerd to answer" docker info
  log "dockerd $(docker version -f '{{.Server.Version}}' 2>/dev/null) started (pid $DOCKERD_PID)"
fi

step "base image $BASE_IMAGE"
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "cached"
else
  with_heartbeat "$WORK/base-image.log" timeout 1200 "$ROOT/scripts/docker-base-image.sh" "$BASE_IMAGE" \
    || { tail -30 "$WORK/base-image.log"; fail "could not make the base image"; }
  MADE_BASE=1
fi

step "wheelhouse"
PY="$ROOT/.venv/bin/python"
if [ ! -x "$PY" ]; then
  log ".venv missing: scripts/setup.sh"
  timeout 1200 "$ROOT/scripts/setup.sh" || fail "scripts/setup.sh failed"
fi
# What to put in it: read from pyproject.toml (build requirements, dependencies, the generator and c2pa
# extras).
"$PY" - >"$WORK/requirements.txt" <<'EOF' || fail "cannot read pyproject.toml"
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))
reqs = list(p["build-system"]["requires"]) + list(p["project"]["dependencies"])
for extra in ("generator", "c2pa"):
    reqs += p["project"].get("optional-dependencies", {}).get(extra, [])
print("\n".join(reqs))
EOF
stamp="$(sha256sum pyproject.toml | cut -c1-64)"
if [ "$(cat "$WHEELHOUSE/.stamp" 2>/dev/null)" = "$stamp" ]; then
  log "cached ($(ls "$WHEELHOUSE"/*.whl | wc -l) wheels for this pyproject.toml)"
else
  find "$WHEELHOUSE" -mindepth 1 ! -name README.md -delete
  with_heartbeat "$WORK/wheel.log" timeout 1200 "$PY" -m pip wheel -r "$WORK/requirements.txt" -w "$WHEELHOUSE" \
    || { tail -30 "$WORK/wheel.log"; fail "pip wheel failed"; }
  # The images run Debian bookworm's CPython 3.11 on x86_64 (glibc 2.36): every wheel must fit it.
  "$PY" - "$WHEELHOUSE" <<'EOF' || fail "the wheelhouse has wheels the image cannot install"
import pathlib, re, sys
bad = []
for w in pathlib.Path(sys.argv[1]).glob("*.whl"):
    py, abi, plat = w.name[:-4].split("-")[-3:]
    ok_py = any(t in ("py3", "cp311") or re.fullmatch(r"cp3(\d+)", t) and int(t[3:]) <= 11 and abi == "abi3"
                for t in py.split("."))
    globs = [re.fullmatch(r"manylinux_2_(\d+)_x86_64", p) for p in plat.split(".")]
    ok_plat = plat == "any" or any(g and int(g.group(1)) <= 36 for g in globs) or any(
        p in ("manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64") for p in plat.split("."))
    if not (ok_py and ok_plat):
        bad.append(w.name)
if bad:
    sys.exit("not installable on bookworm/cp311/x86_64: " + ", ".join(bad))
EOF
  echo "$stamp" >"$WHEELHOUSE/.stamp"
  log "$(ls "$WHEELHOUSE"/*.whl | wc -l) wheels, $(du -sh "$WHEELHOUSE" | cut -f1)"
fi

export PROVCHAIN_BASE_IMAGE="$BASE_IMAGE"
export PROVCHAIN_PIP_ARGS="--no-index --find-links /src/devnet/wheelhouse"
export PROVCHAIN_GENERATOR_PIP_ARGS=""
COMPOSE=("${COMPOSE_BIN[@]}" -p "$PROJECT" -f devnet/docker-compose.yml -f devnet/docker-compose.host.yml)
if [ "${COMPOSE_BIN[*]}" = docker-compose ]; then
  # docker-compose v1 refuses published ports on host-networked services (v2 and the engine just drop
  # them), and an override cannot remove a list: run the merged configuration without them.
  docker-compose -f devnet/docker-compose.yml -f devnet/docker-compose.host.yml config >"$WORK/merged.yml" \
    || fail "docker-compose config failed"
  /usr/bin/python3 - "$WORK/merged.yml" "$WORK/docker-compose.yml" <<'PY' || fail "cannot rewrite the compose file"
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
for svc in cfg["services"].values():
    if svc.get("network_mode") == "host":
        svc.pop("ports", None)
yaml.safe_dump(cfg, open(sys.argv[2], "w"), sort_keys=False)
PY
  COMPOSE=(docker-compose -p "$PROJECT" -f "$WORK/docker-compose.yml")
fi

# a devnet left over from an interrupted run would be resumed instead of checked from scratch
timeout 120 "${COMPOSE[@]}" down -v --remove-orphans -t 5 >/dev/null 2>&1

step "build the validator image"
with_heartbeat "$WORK/build-validator.log" timeout 1200 "${COMPOSE[@]}" build init \
  || { tail -40 "$WORK/build-validator.log"; fail "docker build (validator) failed"; }
step "build the generator image"
with_heartbeat "$WORK/build-generator.log" timeout 1800 "${COMPOSE[@]}" build generator \
  || { tail -40 "$WORK/build-generator.log"; fail "docker build (generator) failed"; }
in_image() { docker run --rm --network none --entrypoint python "$@"; }
in_image provchain-devnet:validator -c 'import importlib.util as u, os, sys; sys.exit(os.getuid() == 0 or u.find_spec("torch") is not None)' \
  || fail "the validator image runs as root or has torch in it"
in_image provchain-devnet:generator -c 'import os, sys, torch, provchain.generator.sample; sys.exit(os.getuid() == 0)' \
  || fail "the generator image runs as root or cannot import torch"
size_of() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'; }
SIZES="$(printf '  %-30s %s\n' "$BASE_IMAGE" "$(size_of "$BASE_IMAGE")" \
  provchain-devnet:validator "$(size_of provchain-devnet:validator)" \
  provchain-devnet:generator "$(size_of provchain-devnet:generator)")"
echo "$SIZES"

# --- helpers for the checks: JSON over HTTP to 127.0.0.1 only
cat >"$WORK/q.py" <<'EOF'
import hashlib, json, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def get(port, path):
    with opener.open(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        body = json.load(r)
    return body.get("result", body) if isinstance(body, dict) else body
cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "peers":        # peers PORT: the monikers of a node's peers
    print(",".join(sorted(p["node_info"]["moniker"] for p in get(args[0], "/net_info")["peers"])))
elif cmd == "heights":      # heights PORT...: one height per node, -1 where it does not answer
    out = []
    for p in args:
        try:
            out.append(int(get(p, "/status")["sync_info"]["latest_block_height"]))
        except Exception:
            out.append(-1)
    print(" ".join(map(str, out)))
elif cmd == "hash":       # hash PORT HEIGHT
    print(get(args[0], f"/block?height={args[1]}")["block_id"]["hash"])
elif cmd == "record":     # record PORT FILE: the record of FILE's bytes, found by content hash
    sha = hashlib.sha256(open(args[1], "rb").read()).hexdigest()
    rec = get(args[0], f"/record?content_sha256={sha}&fingerprint=false")
    assert rec["content_sha256"].lower() == sha, rec
    print(rec["record_id"], rec["height"])
elif cmd == "ok":         # ok PORT PATH: HTTP 200
    with opener.open(f"http://127.0.0.1:{args[0]}{args[1]}", timeout=5) as r:
        sys.exit(0 if r.status == 200 else 1)
EOF
q() { "$PY" "$WORK/q.py" "$@"; }
heights() { q heights "${RPC_PORTS[@]}"; }
min_height() { heights | tr ' ' '\n' | sort -n | head -1; }
max_height() { heights | tr ' ' '\n' | sort -n | tail -1; }
all_above() {  # all_above H [PORT...]: every listed node (default all) is past height H
  local h="$1"; shift
  local ports=("$@"); [ "${#ports[@]}" = 0 ] && ports=("${RPC_PORTS[@]}")
  for x in $(q heights "${ports[@]}"); do [ "$x" -gt "$h" ] || return 1; done
}
container() { compose ps -q "$1" 2>/dev/null | head -1; }
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$(container "$1")" 2>/dev/null)" = healthy ]; }
all_healthy() { for i in 0 1 2 3; do healthy "node$i" || return 1; done; }
gen_done() {  # the generator container has exited
  local c; c="$(container generator)"
  [ -n "$c" ] && [ "$(docker inspect -f '{{.State.Status}}' "$c")" = exited ]
}

step "compose up"
busy="$(ss -Hltn 2>/dev/null | awk '{print $4}' | grep -E ':(2665[67]|2666[67]|2667[67]|2668[67]|2669[67]|26700|'"$EXPLORER_PORT"')$' | sort -u)"
[ -z "$busy" ] || { ss -Hltnp | grep -E ':(266[5-8][67]|'"$EXPLORER_PORT"')\b'; fail "ports the devnet needs are taken: $(echo $busy)"; }
with_heartbeat "$WORK/up.log" timeout 600 "${COMPOSE[@]}" up -d || { cat "$WORK/up.log"; fail "compose up failed"; }

step "check: 4 validators healthy"
wait_until 180 "the 4 validator containers to be healthy" all_healthy
for p in "${RPC_PORTS[@]}"; do q ok "$p" /health || fail "GET 127.0.0.1:$p/health"; done
log "node0..node3 healthy: $(heights)"

step "check: heights advance, same blocks"
wait_until 120 "every node past height 3" all_above 3
h1="$(min_height)"
wait_until 60 "every node past height $((h1 + 2))" all_above $((h1 + 2))
common="$(min_height)"
hashes=()
for p in "${RPC_PORTS[@]}"; do hashes+=("$(q hash "$p" "$common")") || fail "GET /block?height=$common on $p"; done
[ "$(printf '%s\n' "${hashes[@]}" | sort -u | wc -l)" = 1 ] && [ -n "${hashes[0]}" ] \
  || fail "block hashes at height $common differ: ${hashes[*]}"
log "heights $(heights); block $common is ${hashes[0]} on all 4 nodes"

step "check: a full node joins by seed and catches up"
wait_until 180 "the full node container to be healthy" healthy fullnode
target="$(max_height)"
wait_until 120 "the full node to reach height $target" all_above $((target - 1)) 26697
fh="$(q hash 26697 "$target")" || fail "GET /block?height=$target on the full node"
[ "$fh" = "$(q hash 26657 "$target")" ] || fail "the full node's block $target differs from node0's"
log "full node at $(q heights 26697), block $target is node0's; it found its peers by seed: $(q peers 26697)"

step "check: explorer"
deadline=$(( $(date +%s) + 90 ))
until q ok "$EXPLORER_PORT" /api/health 2>/dev/null && q ok "$EXPLORER_PORT" / 2>/dev/null; do
  [ "$(date +%s)" -ge "$deadline" ] && fail "the explorer does not answer on 127.0.0.1:$EXPLORER_PORT"
  sleep 2
done
log "explorer answers on http://127.0.0.1:$EXPLORER_PORT/"

step "check: generator registered its clip; verify"
wait_until "$GENERATE_TIMEOUT" "the generator service to finish" gen_done
gen="$(container generator)"
[ "$(docker inspect -f '{{.State.ExitCode}}' "$gen")" = 0 ] || fail "the generator service exited with $(docker inspect -f '{{.State.ExitCode}}' "$gen")"
docker cp "$gen:/clips/generated.mp4" "$WORK/generated.mp4" || fail "cannot copy the clip out of the generator container"
rec="$(q record 26657 "$WORK/generated.mp4")" || fail "the generated clip has no record on node0"
log "record $rec (record id, height)"
for p in 26667 26677 26687 26697; do q record "$p" "$WORK/generated.mp4" >/dev/null || fail "no record on the node at $p"; done
"$ROOT/.venv/bin/verify" --json --node http://127.0.0.1:26657 "$WORK/generated.mp4" >"$WORK/verify.json" 2>"$WORK/verify.err"
vrc=$?
verdict="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$WORK/verify.json" 2>/dev/null)"
[ "$vrc" = 0 ] && [ "$verdict" = verified ] \
  || { cat "$WORK/verify.json" "$WORK/verify.err"; fail "verify said '$verdict' (exit $vrc), not verified"; }
# the generator image has the c2pa extra: the clip carries a signed manifest naming this record
c2pa="$("$PY" -c 'import json,sys; c=json.load(open(sys.argv[1]))["c2pa"]; print(c["present"], c["validation_state"], c["chain_check"])' "$WORK/verify.json" 2>/dev/null)"
case "$c2pa" in
  "True Valid consistent"|"True Trusted consistent") ;;
  *) cat "$WORK/verify.json"; fail "the generated clip's C2PA manifest: '$c2pa', not present, valid and consistent with the chain" ;;
esac
log "verify --json: verdict $verdict; C2PA manifest $c2pa"

step "check: a killed validator does not stop the chain"
n3="$(container node3)"
docker kill "$n3" >/dev/null || fail "docker kill node3"
sleep 2
[ "$(docker inspect -f '{{.State.Running}}' "$n3")" = false ] || fail "node3 still running after docker kill"
h="$(q heights 26657 26667 26677 | tr ' ' '\n' | sort -n | tail -1)"
wait_until 60 "the 3 remaining nodes past height $((h + 3))" all_above $((h + 3)) 26657 26667 26677
log "without node3: $(q heights 26657 26667 26677)"
docker start "$n3" >/dev/null || fail "docker start node3"
target="$(max_height)"
wait_until 120 "node3 to catch up past height $target" all_above "$target" 26687
log "node3 back and caught up: $(heights)"

step "check: compose down, up resumes"
old="$(max_height)"
ids=(); for i in 0 1 2 3; do ids+=("$(container "node$i")"); done
t0=$(date +%s)
timeout 120 "${COMPOSE[@]}" stop -t 20 >"$WORK/stop.log" 2>&1 || { cat "$WORK/stop.log"; fail "compose stop failed"; }
codes="$(docker inspect -f '{{.State.ExitCode}}' "${ids[@]}" | tr '\n' ' ')"
[ "$codes" = "0 0 0 0 " ] || fail "validators did not stop cleanly on SIGTERM (exit codes: $codes)"
log "stopped in $(( $(date +%s) - t0 )) s, validators exited 0 on SIGTERM"
timeout 120 "${COMPOSE[@]}" down -t 10 >"$WORK/down1.log" 2>&1 || { cat "$WORK/down1.log"; fail "compose down failed"; }
timeout 300 "${COMPOSE[@]}" up -d >"$WORK/up2.log" 2>&1 || { cat "$WORK/up2.log"; fail "compose up (again) failed"; }
wait_until 180 "the 4 validators to be healthy again" all_healthy
first="$(heights)"
for x in $first; do [ "$x" -ge "$old" ] || fail "a node restarted at height $x, below the old height $old ($first)"; done
wait_until 90 "every node past height $((old + 2)) after the restart" all_above $((old + 2))
q record 26657 "$WORK/generated.mp4" >/dev/null || fail "the record is gone after the restart"
log "stopped at $old; restarted at $first; now $(heights); record still there"
wait_until "$GENERATE_TIMEOUT" "the generator service to finish again" gen_done
[ "$(docker inspect -f '{{.State.ExitCode}}' "$(container generator)")" = 0 ] \
  || fail "the generator service failed on the second start (registering an existing clip again)"
end_step
exit 0

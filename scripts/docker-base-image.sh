#!/usr/bin/env bash
# Makes a local Debian bookworm image with Python 3.11 (python3 + python3-venv) for machines that cannot
# pull images from a registry: debootstrap into a temporary folder, trim it, `docker import` it.
#
#   scripts/docker-base-image.sh [--force] [NAME]        (NAME defaults to provchain-base:bookworm)
#
# Use it as the Dockerfile's base:  PROVCHAIN_BASE_IMAGE=provchain-base:bookworm docker compose build
# Needs root, debootstrap and a running docker daemon. DEBIAN_MIRROR overrides debootstrap's mirror.
set -euo pipefail
FORCE=0
if [ "${1:-}" = "--force" ]; then FORCE=1; shift; fi
NAME="${1:-provchain-base:bookworm}"
SUITE="${DEBIAN_SUITE:-bookworm}"

if [ "$FORCE" = 0 ] && docker image inspect "$NAME" >/dev/null 2>&1; then
  echo "base image $NAME already exists (--force to remake it)"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "error: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "error: debootstrap needs root" >&2; exit 1; }

ROOTFS="$(mktemp -d /tmp/provchain-base.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT
echo "debootstrap $SUITE into $ROOTFS ..."
# Downloaded .debs are kept in DEBOOTSTRAP_CACHE (default /var/cache/provchain-debootstrap) for the next run.
CACHE="${DEBOOTSTRAP_CACHE:-/var/cache/provchain-debootstrap}"
mkdir -p "$CACHE"
debootstrap --variant=minbase --include=python3,python3-venv --cache-dir="$CACHE" \
  "$SUITE" "$ROOTFS" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} \
  > "$ROOTFS.log" 2>&1 || { tail -30 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
# What an image does not need: downloaded .debs, apt lists, docs, man pages, translations.
rm -rf "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* \
       "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/* "$ROOTFS"/usr/share/info/*
chroot "$ROOTFS" python3 -c 'import sys, venv; assert sys.version_info[:2] == (3, 11), sys.version'
tar -C "$ROOTFS" -c . | docker import \
  -c 'ENV LANG=C.UTF-8' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["/bin/bash"]' -m "debootstrap --variant=minbase $SUITE + python3, python3-venv" - "$NAME" >/dev/null
echo "made $NAME ($(docker image inspect -f '{{.Size}}' "$NAME" | awk '{printf "%.0f MB", $1/1e6}'))"

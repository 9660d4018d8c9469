#!/usr/bin/env bash
# Installs the Debian packages Lumi needs to build, run and test — only those
# that are missing, quietly. Works as root on a fresh Debian 12.
#   scripts/setup.sh          build + run dependencies
#   scripts/setup.sh --test   also test dependencies (PostgreSQL server, cmocka, clang,
#                             Node.js for the Stripe SDK interoperability test)
set -euo pipefail

pkgs=(build-essential cmake pkg-config
      libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev libpq-dev
      libssl-dev libsodium-dev zlib1g-dev)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(libcmocka-dev postgresql clang libclang-rt-14-dev curl)
    # Node.js runs the official Stripe SDK in the interoperability test; a
    # node/npm already on the machine (e.g. from NodeSource) is used as it is.
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        pkgs+=(nodejs npm)
    fi
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

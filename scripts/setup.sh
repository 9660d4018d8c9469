#!/usr/bin/env bash
# Installs the Debian packages Lumi needs to build, run and test — only those
# that are missing, quietly. Works as root on a fresh Debian 12.
#   scripts/setup.sh          build + run dependencies
#   scripts/setup.sh --test   also test dependencies (PostgreSQL server, cmocka, clang,
#                             Debian's aiosmtpd as the mail tests' SMTP server,
#                             Node.js for the Stripe SDK interoperability test, and for
#                             the browser test Chromium plus playwright-core from npm)
# The browser test's parts are optional: when Chromium or playwright-core cannot be
# installed (no network) this says so and goes on, and the test reports "skipped".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(build-essential cmake pkg-config
      libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev libpq-dev
      libssl-dev libsodium-dev zlib1g-dev
      libcairo2-dev libpango1.0-dev          # PDF invoices and credit notes (pangocairo)
      fonts-dejavu-core fonts-droid-fallback) # the PDFs' fonts: Latin/Greek/Cyrillic and CJK
if [ "${1:-}" = "--test" ]; then
    # postgresql: the tests' server (tests/pg_ctl.sh), and pgbench, which
    # bench_webhooks BENCH_DB=postgres runs (/usr/lib/postgresql/15/bin)
    pkgs+=(libcmocka-dev postgresql clang libclang-rt-14-dev curl
          python3-aiosmtpd   # the real SMTP server the mail tests send to
          poppler-utils      # pdftotext reads the PDFs back in the PDF tests
          prometheus)        # promtool checks the /metrics scrape (bb_metrics)
    # Node.js runs the official Stripe SDK in the interoperability test; a
    # node/npm already on the machine (e.g. from NodeSource) is used as it is.
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        pkgs+=(nodejs npm)
    fi
fi

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for p in "${pkgs[@]}"; do
    installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing packages: ${missing[*]} (run as root, or install them)" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "${1:-}" = "--test" ] || exit 0

# Browser test (tests/browser/): Debian's Chromium and a font for the screenshots.
browser_missing=()
for p in chromium fonts-dejavu-core; do
    installed "$p" || browser_missing+=("$p")
done
if [ ${#browser_missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: browser test skipped until ${browser_missing[*]} are installed (run as root)" >&2
    else
        echo "setup: installing ${browser_missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
                   "${browser_missing[@]}"; } >/dev/null 2>&1; then
            echo "setup: could not install ${browser_missing[*]}; the browser test will be skipped" >&2
        fi
    fi
fi

# playwright-core, exactly as pinned in package-lock.json; again only when
# node_modules is missing or was installed from another lock file (the copy of
# the lock kept in node_modules says which).
browser="$root/tests/browser"
stamp="$browser/node_modules/.lumi-package-lock.json"
if ! cmp -s "$browser/package-lock.json" "$stamp"; then
    echo "setup: npm ci in tests/browser"
    if (cd "$browser" && npm ci --no-audit --no-fund --silent >/dev/null 2>&1); then
        cp "$browser/package-lock.json" "$stamp"
    else
        echo "setup: npm ci failed in tests/browser (no registry access?); the browser test will be skipped" >&2
    fi
fi
exit 0

#!/bin/sh
# run.sh — CTest's entry to the browser tests: run.sh [flow|journey] runs
# tests/browser/<name>.mjs (default flow).
#
# Checks that what the test needs is installed — Debian's chromium, Node.js and
# playwright-core in tests/browser/node_modules (scripts/setup.sh --test installs
# all three) — and runs the flow with Node. Exits 77 (CTest "skipped") with one
# line saying what is missing; otherwise the flow's own status (0 pass, 1 fail).
# Environment (set by tests/CMakeLists.txt): LUMI_BIN, LUMI_BROWSER_FAKES,
# LUMI_ARTIFACTS_DIR; LUMI_CHROMIUM overrides /usr/bin/chromium.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
chromium=${LUMI_CHROMIUM:-/usr/bin/chromium}

skip() {
    echo "browser test skipped: $*" >&2
    exit 77
}

[ -x "$chromium" ] || skip "$chromium is not installed (scripts/setup.sh --test installs the Debian package chromium)"
command -v node >/dev/null 2>&1 || skip "node is not installed (scripts/setup.sh --test installs it)"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 18 ] || skip "node $(node --version) is too old (18 or later is needed)"
[ -f "$here/node_modules/playwright-core/package.json" ] ||
    skip "playwright-core is not installed in tests/browser (run scripts/setup.sh --test, or npm ci there)"
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.lumi-package-lock.json"; then
    echo "browser test: note: tests/browser/node_modules is older than package-lock.json (scripts/setup.sh --test updates it)" >&2
fi
test_name=${1:-flow}
[ -f "$here/$test_name.mjs" ] || { echo "run.sh: no browser test $test_name" >&2; exit 2; }
LUMI_CHROMIUM=$chromium exec node "$here/$test_name.mjs"

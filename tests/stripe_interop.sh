#!/bin/sh
# stripe_interop.sh — signs a payload with the official `stripe` npm package
# (stripe.webhooks.generateTestHeaderString) and prints the Stripe-Signature
# header on stdout, so the C verifier can be checked against Stripe's own code.
#
# Usage: stripe_interop.sh PAYLOAD SECRET TIMESTAMP
# Exit 77 (CTest "skipped") when node/npm are missing or the registry cannot
# be reached; the package is installed into a temporary directory removed on exit.
set -eu
if [ $# -ne 3 ]; then
    echo "usage: $0 PAYLOAD SECRET TIMESTAMP" >&2
    exit 2
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "stripe_interop: node or npm not installed; skipping" >&2
    exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/lumi-stripe-interop.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
if ! npm install --prefix "$dir" --no-audit --no-fund --silent --no-save stripe >"$dir/npm.log" 2>&1; then
    echo "stripe_interop: npm could not install 'stripe' (no registry access?); skipping" >&2
    tail -n 5 "$dir/npm.log" >&2 || true
    exit 77
fi
NODE_PATH="$dir/node_modules" LUMI_PAYLOAD="$1" LUMI_SECRET="$2" LUMI_TS="$3" node -e '
const Stripe = require("stripe");
const stripe = (typeof Stripe === "function" && !Stripe.webhooks) ? Stripe("sk_test_interop") : Stripe;
const wh = stripe.webhooks || Stripe.webhooks;
const header = wh.generateTestHeaderString({
    payload: process.env.LUMI_PAYLOAD,
    secret: process.env.LUMI_SECRET,
    timestamp: Number(process.env.LUMI_TS),
});
process.stdout.write(header + "\n");
'

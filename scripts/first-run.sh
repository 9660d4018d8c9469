#!/usr/bin/env bash
# First run of `make run`: writes .env from .env.example with a fresh random
# LUMI_SECRET_KEY (only when .env does not exist yet), and says how to create
# the first admin when there is none.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f .env ]; then
    key=$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
    umask 077
    sed "s/^LUMI_SECRET_KEY=.*/LUMI_SECRET_KEY=$key/" .env.example > .env
    echo "first run: wrote .env with a new random LUMI_SECRET_KEY (keep it: it decrypts stored secrets)"
    cat <<'MSG'
first run: create the first admin in another terminal with
    ./build/lumi admin create you@example.com        (reads the password from stdin)
then log in at http://127.0.0.1:8080/admin/login, or make an API token with
    ./build/lumi token create my-laptop
MSG
fi

#!/usr/bin/env bash
# Runs the seed's Django, FastAPI and Flask snippets against a keygate binary (built beforehand):
#   bash tests/seed_snippets/run.sh [target/debug/keygate]
# The Python packages go into a venv under target/seed-venv, created on first use.
set -euo pipefail
cd "$(dirname "$0")/../.."

binary="${1:-${KEYGATE_BIN:-target/debug/keygate}}"
venv=target/seed-venv

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/seed_snippets/requirements.txt
"$venv/bin/python" tests/seed_snippets/run.py "$binary"

#!/usr/bin/env bash
# Runs upstream's official JS SDK (@stackframe/js 2.8.102 and 2.8.108) against a real keygate
# binary. Exits non-zero when any flow fails.
#
#   KEYGATE_BIN               the keygate binary (default: ../../target/debug/keygate; build it
#                             with `cargo build -p keygate`)
#   KEYGATE_SDK_DATABASE_URL  a database for keygate, e.g. postgres://postgres@127.0.0.1:5432/db
#                             (default: a fresh SQLite file per keygate process)
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "Node.js 20 or newer (with npm) is required for the SDK suite" >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "Node.js 20 or newer is required (found $(node --version))" >&2
  exit 1
fi

# Exactly the versions in package-lock.json. The SDK needs no install scripts.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

# One test file, one process: the keygate servers are shared by every flow.
exec node --test --test-reporter=spec test/

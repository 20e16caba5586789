# Everyday commands for keygate. `just --list` shows them.

pg_url := env_var_or_default("KEYGATE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")

# Run keygate on a SQLite file in this directory (creates the default project on first start).
run:
    cargo run --release

# The tests, SQLite only (Postgres twins report that they skipped).
test:
    cargo test --workspace

# The tests on SQLite and on the local Postgres.
test-pg:
    KEYGATE_TEST_POSTGRES_URL={{pg_url}} cargo test --workspace

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Everything CI runs, against a fresh Postgres database.
ci:
    bash .ci/run

# The seed's Django, FastAPI and Flask snippets against a freshly built keygate (venv in target/).
seed:
    cargo build -p keygate
    bash tests/seed_snippets/run.sh target/debug/keygate

# Upstream's JS SDK (tests/sdk-js, Node 20+) against a freshly built keygate, on SQLite; pass a
# database URL to use it instead, e.g. `just test-sdk postgres://postgres@127.0.0.1:5432/sdk`.
test-sdk db="":
    cargo build -p keygate
    KEYGATE_BIN="$PWD/target/debug/keygate" KEYGATE_SDK_DATABASE_URL="{{db}}" bash tests/sdk-js/run.sh

# Schemathesis (tests/schemathesis, venv in target/) against a freshly built keygate, on SQLite;
# pass a fresh database URL to use it instead, e.g. `just schemathesis postgres://postgres@127.0.0.1:5432/st`.
schemathesis db="":
    cargo build -p keygate
    KEYGATE_SCHEMATHESIS_DATABASE_URL="{{db}}" bash tests/schemathesis/run.sh target/debug/keygate

# Load benchmark (not run by CI): release build on SQLite and Postgres, 10^3 and 10^6 keys, wrk;
# prints req/s, p50, p99, ratios to /health and peak RSS. Results: docs/benchmarks.md.
bench:
    BENCH_POSTGRES_URL={{pg_url}} bash scripts/bench.sh

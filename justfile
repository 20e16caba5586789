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

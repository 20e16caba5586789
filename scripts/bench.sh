#!/usr/bin/env bash
# Load benchmark of keygate's hot paths (issue 5): builds the release binary, starts it on SQLite
# and on Postgres with 10^3 and 10^6 stored keys, and measures with wrk:
#   GET /health, check (warm cache; and of a key with scopes and a rate limit), check (distinct keys), check (distinct keys, cache off; at
#   10^6 also over the same 1,000 keys as at 10^3), check (well-formed unknown keys), create
#   (spread over BENCH_CREATE_OWNERS users, since keys per owner are capped).
# Prints req/s, p50, p99, the ratio of req/s to /health, and the server's peak RSS (VmHWM).
#
# Usage: scripts/bench.sh            (or `just bench`)
# Environment: BENCH_POSTGRES_URL (admin URL; default postgres://postgres@127.0.0.1:5432/postgres,
#   empty string skips Postgres), BENCH_BACKENDS ("sqlite postgres"), BENCH_SIZES ("1000 1000000"), BENCH_DURATION (10s),
#   BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_CREATE_OWNERS (1000).
# Not run by CI or the tests. Seeding 10^6 keys takes a few minutes; the whole run ~15 minutes.
set -euo pipefail

cd "$(dirname "$0")/.."
POSTGRES_URL="${BENCH_POSTGRES_URL-postgres://postgres@127.0.0.1:5432/postgres}"
SIZES="${BENCH_SIZES:-1000 1000000}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
THREADS="${BENCH_THREADS:-2}"
PRINTED_KEYS=200000
# Users the create measurement spreads its keys over (each may hold limits.max_keys_per_owner).
CREATE_OWNERS="${BENCH_CREATE_OWNERS:-1000}"

if ! command -v wrk >/dev/null; then
    echo "wrk is missing; installing it (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
    else sudo apt-get install -y wrk >/dev/null; fi
fi

cargo build --release -p keygate
BIN="$PWD/target/release/keygate"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Lua for wrk: POSTs with server access, either one fixed JSON body (BENCH_BODY), sent as a
# static request so the load generator spends no Lua per request, or `{"api_key": <key>}` with
# keys taken in turn from a file (BENCH_KEYS; each wrk thread starts at a different offset), or
# a key create for users taken in turn from a file (BENCH_USERS: keys per owner are capped, so
# creates are spread over many owners, as real traffic is).
cat >"$WORK/post.lua" <<'LUA'
local keys = {}
local file = os.getenv("BENCH_KEYS")
if file and file ~= "" then
  for line in io.lines(file) do keys[#keys + 1] = line end
end
local users = {}
local users_file = os.getenv("BENCH_USERS")
if users_file and users_file ~= "" then
  for line in io.lines(users_file) do users[#users + 1] = line end
end
local thread_index = 0
function setup(thread)
  thread:set("offset", thread_index * 100003)
  thread_index = thread_index + 1
end
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-stack-access-type"] = "server"
wrk.headers["x-stack-project-id"] = os.getenv("BENCH_PROJECT")
wrk.headers["x-stack-secret-server-key"] = os.getenv("BENCH_SERVER_KEY")
wrk.body = os.getenv("BENCH_BODY")
if #keys > 0 then
  local counter = 0
  function request()
    counter = counter + 1
    local key = keys[((offset or 0) + counter) % #keys + 1]
    return wrk.format(nil, nil, nil, '{"api_key":"' .. key .. '"}')
  end
end
if #users > 0 then
  local counter = 0
  function request()
    counter = counter + 1
    local user = users[((offset or 0) + counter) % #users + 1]
    return wrk.format(nil, nil, nil,
      '{"user_id":"' .. user .. '","description":"bench","expires_at_millis":null}')
  end
end
function done(summary, latency, requests)
  io.write(string.format("BENCH %.1f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.requests))
end
LUA

# Plain GETs, reporting the same line.
sed -n '/^function done/,$p' "$WORK/post.lua" >"$WORK/get.lua"

RESULTS="$WORK/results.tsv"
printf "backend\tkeys\tmeasurement\treq/s\tp50 ms\tp99 ms\tvs /health\tnon-2xx\n" >"$RESULTS"
HEALTH_RPS=""

start_server() { # database_url [env...]
    local url="$1"; shift
    env "$@" KEYGATE_LOG__LEVEL=warn KEYGATE_DATABASE__MAX_CONNECTIONS=16 \
        "$BIN" serve --bind 127.0.0.1:0 --database-url "$url" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 1 600); do
        if grep -q "^listening on " "$WORK/server.out"; then break; fi
        sleep 0.1
    done
    BASE="$(sed -n 's/^listening on //p' "$WORK/server.out" | head -1)"
    [ -n "$BASE" ] || { cat "$WORK/server.err" >&2; exit 1; }
}

stop_server() {
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
}

measure() { # backend keys name path script [env for the script...]
    local backend="$1" keys="$2" name="$3" path="$4" script="$5"; shift 5
    local line
    line="$(env "$@" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$script" "$BASE$path" | grep '^BENCH ')"
    read -r _ rps p50 p99 bad total <<<"$line"
    if [ "$name" = "GET /health" ]; then HEALTH_RPS="$rps"; fi
    local ratio
    ratio="$(awk -v a="$rps" -v b="$HEALTH_RPS" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
    printf "%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%s\t%s/%s\n" "$backend" "$keys" "$name" "$rps" "$p50" "$p99" "$ratio" "$bad" "$total" | tee -a "$RESULTS"
}

run_config() { # backend keys database_url
    local backend="$1" keys="$2" url="$3"
    echo "== $backend, $keys keys" >&2
    start_server "$url"
    local project server_key
    project="$(sed -n 's/^ *project id *//p' "$WORK/server.out" | head -1 | tr -d ' ')"
    server_key="$(sed -n 's/^ *secret server key *//p' "$WORK/server.out" | head -1 | tr -d ' ')"
    local admin_key
    admin_key="$(sed -n 's/^ *super secret admin key *//p' "$WORK/server.out" | head -1 | tr -d ' ')"
    local started=$SECONDS
    "$BIN" seed-keys --database-url "$url" --project-id "$project" --count "$keys" \
        --print "$(( keys < PRINTED_KEYS ? keys : PRINTED_KEYS ))" >"$WORK/keys.txt"
    "$BIN" seed-keys --database-url "$url" --project-id "$project" --count 0 \
        --unknown "$PRINTED_KEYS" >"$WORK/unknown.txt"
    echo "seeded $keys keys in $(( SECONDS - started )) s" >&2
    # Owners for the create measurement: keys per owner are capped (limits.max_keys_per_owner),
    # so creates go to many users in turn. Created before the vacuum below, so that Postgres's
    # statistics know them, as autovacuum's would on a database that has been running.
    for _ in $(seq 1 "$CREATE_OWNERS"); do
        curl -sf -X POST "$BASE/api/v1/users" -H 'content-type: application/json' \
            -H 'x-stack-access-type: server' -H "x-stack-project-id: $project" \
            -H "x-stack-secret-server-key: $server_key" -d '{"display_name":"bench"}' \
            | sed 's/^{"id":"\([^"]*\)".*/\1/'
        echo
    done >"$WORK/users.txt"
    if [[ "$url" == postgres* ]]; then
        # Let Postgres digest the bulk load before measuring (as a table that grew over months
        # has been): otherwise autovacuum works through the fresh rows, and a checkpoint writes
        # them out, on the same two cores during the first measurements.
        psql "$url" -qc "VACUUM (ANALYZE)" -c "CHECKPOINT" >/dev/null
        echo "vacuumed after seeding, $(( SECONDS - started )) s in all" >&2
    fi
    local common=(BENCH_PROJECT="$project" BENCH_SERVER_KEY="$server_key")
    local first_key
    first_key="$(head -1 "$WORK/keys.txt")"

    measure "$backend" "$keys" "GET /health" /health "$WORK/get.lua"
    measure "$backend" "$keys" "check, warm cache" /api/v1/user-api-keys/check "$WORK/post.lua" "${common[@]}" \
        BENCH_BODY="{\"api_key\":\"$first_key\"}" BENCH_KEYS=
    # The same warm check of a key with scopes and a rate limit (issue 14: within 10% of the
    # plain one), checked with required_scopes; the limit is never reached.
    curl -sf -X PATCH "$BASE/api/v1/internal/projects/current" -H 'content-type: application/json' \
        -H 'x-stack-access-type: admin' -H "x-stack-project-id: $project" \
        -H "x-stack-super-secret-admin-key: $admin_key" \
        -d '{"config":{"api_key_scopes":[{"id":"bench:read"},{"id":"bench:write"}]}}' >/dev/null
    local policy_key
    policy_key="$(curl -sf -X POST "$BASE/api/v1/user-api-keys" -H 'content-type: application/json' \
        -H 'x-stack-access-type: server' -H "x-stack-project-id: $project" \
        -H "x-stack-secret-server-key: $server_key" \
        -d "{\"user_id\":\"$(head -1 "$WORK/users.txt")\",\"description\":\"bench policy\",\"expires_at_millis\":null,\"scopes\":[\"bench:read\",\"bench:write\"],\"rate_limit\":{\"limit\":1000000000,\"window_millis\":1000}}" \
        | sed 's/.*"value":"\([^"]*\)".*/\1/')"
    measure "$backend" "$keys" "check, warm cache, scopes + rate limit" /api/v1/user-api-keys/check "$WORK/post.lua" "${common[@]}" \
        BENCH_BODY="{\"api_key\":\"$policy_key\",\"required_scopes\":[\"bench:read\"]}" BENCH_KEYS=
    measure "$backend" "$keys" "check, distinct keys" /api/v1/user-api-keys/check "$WORK/post.lua" "${common[@]}" \
        BENCH_KEYS="$WORK/keys.txt"
    measure "$backend" "$keys" "check, unknown keys" /api/v1/user-api-keys/check "$WORK/post.lua" "${common[@]}" \
        BENCH_KEYS="$WORK/unknown.txt"
    measure "$backend" "$keys" "create" /api/v1/user-api-keys "$WORK/post.lua" "${common[@]}" BENCH_KEYS= \
        BENCH_USERS="$WORK/users.txt"
    local rss
    rss="$(awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$SERVER_PID/status")"
    printf "%s\t%s\tpeak RSS (cache on)\t%s\n" "$backend" "$keys" "$rss" | tee -a "$RESULTS"
    stop_server

    # Every check a miss: the same keys on a server whose cache is off.
    start_server "$url" KEYGATE_CHECK_CACHE__MAX_BYTES=0
    measure "$backend" "$keys" "check, cache off (all misses)" /api/v1/user-api-keys/check "$WORK/post.lua" "${common[@]}" \
        BENCH_KEYS="$WORK/keys.txt"
    if [ "$keys" -gt 1000 ]; then
        # The same working set as the 10^3 run (1,000 distinct keys), so table size and working
        # set can be told apart.
        head -1000 "$WORK/keys.txt" >"$WORK/keys-1000.txt"
        measure "$backend" "$keys" "check, cache off, 1,000 distinct keys" /api/v1/user-api-keys/check "$WORK/post.lua" "${common[@]}" \
            BENCH_KEYS="$WORK/keys-1000.txt"
    fi
    stop_server
}

for keys in $SIZES; do
    if [[ " $BACKENDS " == *" sqlite "* ]]; then
        run_config sqlite "$keys" "sqlite://$WORK/bench-$keys.sqlite3"
    fi
    if [ -n "$POSTGRES_URL" ] && [[ " $BACKENDS " == *" postgres "* ]]; then
        db="keygate_bench_$keys"
        psql "$POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
        pg_db_url="$(echo "$POSTGRES_URL" | sed "s#/[^/]*\$#/$db#")"
        run_config postgres "$keys" "$pg_db_url"
        psql "$POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    fi
    rm -f "$WORK"/bench-*.sqlite3*
done

echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); wrk -t$THREADS -c$CONNECTIONS -d$DURATION on the same machine"
column -t -s $'\t' "$RESULTS"

#!/usr/bin/env bash
# Schemathesis (property-based API testing from the OpenAPI document) against a real keygate
# binary, built beforehand:
#   bash tests/schemathesis/run.sh [target/debug/keygate]
#
#   KEYGATE_BIN                        the binary (default: target/debug/keygate)
#   KEYGATE_SCHEMATHESIS_DATABASE_URL  a database for keygate, e.g. a fresh
#                                      postgres://postgres@127.0.0.1:5432/db (default: a fresh
#                                      SQLite file)
#   SCHEMATHESIS_MAX_EXAMPLES          examples per operation and phase (default: 100)
#
# keygate starts on a free port with an empty database; its first start prints the `default`
# project's id and keys, and Schemathesis sends every generated request with that project's
# server credentials (`x-stack-access-type: server`, the project id, the secret server key),
# reading the document keygate itself serves at /api/v1/openapi.json. A user, a team and a key
# of each are made first; generated requests use their ids and keys half of the time (a
# schemathesis.toml written for the run), so answers about real objects are checked too. It fails on any 5xx
# (`not_a_server_error`) and on any answer whose status, content type, headers or body the
# document does not describe. The per-address rate limits are off for the run, so generated requests reach the
# handlers instead of a 429. The Python packages go into a venv under target/schemathesis-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."

binary="${1:-${KEYGATE_BIN:-target/debug/keygate}}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
venv=target/schemathesis-venv

if [ ! -x "$binary" ]; then
  echo "no keygate binary at $binary (build it with \`cargo build -p keygate\`)" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/schemathesis/requirements.txt

work="$(mktemp -d "${TMPDIR:-/tmp}/keygate-schemathesis.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

database_url="${KEYGATE_SCHEMATHESIS_DATABASE_URL:-sqlite://$work/keygate.sqlite3}"
: >"$work/server.log"
# The server sees only the settings given here, not KEYGATE_* variables of the caller.
env $(env | sed -n 's/^\(KEYGATE_[A-Za-z0-9_]*\)=.*/-u \1/p') \
  KEYGATE_DATABASE_URL="$database_url" \
  KEYGATE_OPERATOR_TOKEN="schemathesis-$RANDOM$RANDOM" \
  KEYGATE_RATE_LIMITS__MAX_TRACKED_ADDRESSES=0 \
  NO_COLOR=1 \
  "$binary" --bind 127.0.0.1:0 >"$work/server.log" 2>&1 &
server_pid=$!

base_url=""
for _ in $(seq 1 600); do
  base_url="$(sed -n 's/.*listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/server.log" | head -n 1 || true)"
  [ -n "$base_url" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$work/server.log" >&2
    echo "keygate exited before it listened" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$base_url" ]; then
  cat "$work/server.log" >&2
  echo "keygate did not listen within 60 s" >&2
  exit 1
fi
banner_value() { sed -n "s/^  $1 *\([^ ]*\)$/\1/p" "$work/server.log" | head -n 1 || true; }
project_id="$(banner_value 'project id')"
server_key="$(banner_value 'secret server key')"
if [ -z "$project_id" ] || [ -z "$server_key" ]; then
  cat "$work/server.log" >&2
  echo "no first-start banner: the database was not empty" >&2
  exit 1
fi
echo "keygate at $base_url (project $project_id, $database_url)"

# A user, a team (the user created it), and a key of each, so that generated requests also reach
# real objects: Schemathesis takes ids and keys from these dictionaries half of the time, and
# generates the other half.
"$venv/bin/python" - "$base_url" "$project_id" "$server_key" "$work/schemathesis.toml" <<'PY'
import json, sys
import requests

base, project, key, config = sys.argv[1:]
session = requests.Session()
session.headers.update({
    "x-stack-access-type": "server",
    "x-stack-project-id": project,
    "x-stack-secret-server-key": key,
})

def post(path, body, status):
    response = session.post(base + path, json=body, timeout=10)
    assert response.status_code == status, (path, response.status_code, response.text)
    return response.json()

user = post("/api/v1/users", {"display_name": "Schemathesis"}, 201)["id"]
team = post("/api/v1/teams", {"display_name": "Schemathesis", "creator_user_id": user}, 201)["id"]
# DELETE requests get a user and a team of their own, so they do not take the others' keys along.
doomed_user = post("/api/v1/users", {"display_name": "Doomed"}, 201)["id"]
doomed_team = post("/api/v1/teams", {"display_name": "Doomed", "creator_user_id": doomed_user}, 201)["id"]
user_key = post("/api/v1/user-api-keys",
                {"user_id": user, "description": "schemathesis", "expires_at_millis": None}, 200)
team_key = post("/api/v1/team-api-keys",
                {"team_id": team, "description": "schemathesis", "expires_at_millis": None}, 200)

def values(*items):
    return "{ values = " + json.dumps(list(items)) + " }"

def bind(location, name, dictionary):
    return f'"{location}.{name}" = {{ dictionary = "{dictionary}", probability = 0.5 }}'

lines = [
    "[dictionaries]",
    "users = " + values(user),
    "teams = " + values(team),
    "key_ids = " + values(user_key["id"], team_key["id"]),
    "keys = " + values(user_key["value"], team_key["value"]),
    "doomed_users = " + values(doomed_user),
    "doomed_teams = " + values(doomed_team),
    "",
    "[parameters]",
]
for location in ("path", "query", "body"):
    lines.append(bind(location, "user_id", "users"))
    lines.append(bind(location, "team_id", "teams"))
lines.append(bind("path", "api_key_id", "key_ids"))
lines.append(bind("body", "api_key", "keys"))
lines += ["", "[[operations]]", 'include-method = "DELETE"', "[operations.parameters]"]
lines.append(bind("path", "user_id", "doomed_users"))
lines.append(bind("path", "team_id", "doomed_teams"))
with open(config, "w") as out:
    out.write("\n".join(lines) + "\n")
PY

status=0
# The key-change stream (`followApiKeyChanges`) is excluded: its answer never ends by design, so
# Schemathesis could only time out on it; its HTTP tests (routes::api_keys::tests::change_feed)
# cover its access rules, query and events on both backends.
# Run from the scratch directory: Schemathesis keeps its replay data in the working directory.
schemathesis="$PWD/$venv/bin/schemathesis"
(cd "$work" && "$schemathesis" --config-file "$work/schemathesis.toml" run "$base_url/api/v1/openapi.json" \
  --url "$base_url" \
  -H "x-stack-access-type: server" \
  -H "x-stack-project-id: $project_id" \
  -H "x-stack-secret-server-key: $server_key" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance \
  --phases examples,coverage,fuzzing \
  --mode all \
  --max-examples "$max_examples" \
  --seed 13 \
  --generation-with-security-parameters false \
  --generation-database none \
  --exclude-operation-id followApiKeyChanges \
  --no-color \
  --request-timeout 10) || status=$?

# The server's log of the last run stays for a look (which requests reached which answers).
cp "$work/server.log" target/schemathesis-server.log
if [ "$status" -ne 0 ]; then
  echo "--- keygate's log (last 50 lines) ---"
  tail -n 50 "$work/server.log"
fi
exit "$status"

#!/usr/bin/env bash
# Load test: the release server on the demo data, a load generator against
# /cubejs-api/v1/load with the demo query; prints requests per second, p99
# latency and the server's peak RSS. From the repository root:
#
#   scripts/load.sh                  # SQLite (the embedded demo database)
#   LOAD_DB=postgres scripts/load.sh # the same data and query on PostgreSQL
#
# LOAD_SECONDS (default 10), LOAD_CONNECTIONS (default 32), LOAD_PATH
# (default: the demo query) and PG_URL (default the local test database)
# adjust it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${LOAD_SECONDS:-10}"
connections="${LOAD_CONNECTIONS:-32}"
port="${LOAD_PORT:-4099}"
query='{"measures":["Orders.count","Orders.totalAmount"],"dimensions":["Orders.status"]}'
encoded=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$query")
path="${LOAD_PATH:-/cubejs-api/v1/load?query=$encoded}"

cargo build --release --quiet --bin tenantgate --example loadgen

tmp=$(mktemp -d)
server=""
schema=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  if [ -n "$schema" ]; then psql "$pg_url" -q -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE;" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
env_vars=(TENANTGATE__SERVER__PORT="$port" RUST_LOG=warn)
serve_args=(--env development)
if [ "${LOAD_DB:-sqlite}" = postgres ]; then
  pg_url="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
  schema="tenantgate_load"
  psql "$pg_url" -q -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema;"
  PGOPTIONS="--search_path=$schema" psql "$pg_url" -q -v ON_ERROR_STOP=1 -f fixtures/demo/seed.sql
  cat > "$tmp/load.toml" <<TOML
[[auth.providers]]
name = "default"
type = "secret"
secrets = ["tenantgate-load-test-secret-0123456789abcdef"]
[model]
path = "fixtures/demo/model"
[database]
type = "postgres"
url = "$pg_url"
[tenancy]
tenant_key = "tenant_id"
[tenants.acme]
schema = "$schema"
TOML
  serve_args=(--env load --config-dir "$tmp")
  secret="tenantgate-load-test-secret-0123456789abcdef"
else
  env_vars+=(TENANTGATE__DATABASE__PATH="$tmp/demo.sqlite")
  secret=""
fi

# Another server on the port would answer /readyz instead of ours.
if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "load.sh: port $port is already in use (LOAD_PORT picks another)" >&2
  exit 1
fi
env "${env_vars[@]}" target/release/tenantgate serve "${serve_args[@]}" > /dev/null &
server=$!
ready=""
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && { ready=1; break; }
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "load.sh: the server did not become ready on port $port" >&2
  exit 1
fi
if [ -n "$secret" ]; then
  token=$(target/release/tenantgate token -s "$secret" -p tenant_id=acme -p id=42 -e 1h)
else
  token=$(target/release/tenantgate token --env development -p tenant_id=acme -p id=42 -e 1h)
fi
echo "== ${LOAD_DB:-sqlite}: $connections connections for ${seconds}s on $path"
target/release/examples/loadgen --url "http://127.0.0.1:$port$path" --token "$token" \
  --connections "$connections" --duration "$seconds" --pid "$server"

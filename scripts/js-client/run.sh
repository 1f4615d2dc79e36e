#!/usr/bin/env bash
# The official Cube.js JavaScript client against a real tenantgate server on
# the development demo data. From the repository root: scripts/js-client/run.sh
# (.ci/run runs it). Needs node and npm; the npm registry must be reachable.
set -euo pipefail
cd "$(dirname "$0")/../.."
node --version > /dev/null || { echo "node is required for the JS client test" >&2; exit 1; }

cargo build --quiet --bin tenantgate
port="${JS_CLIENT_PORT:-4098}"
tmp=$(mktemp -d)
TENANTGATE__SERVER__PORT="$port" TENANTGATE__DATABASE__PATH="$tmp/demo.sqlite" RUST_LOG=warn \
  target/debug/tenantgate serve > /dev/null &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
  sleep 0.1
done
token=$(target/debug/tenantgate token --env development -p tenant_id=acme -p id=42 -e 1h)

cd scripts/js-client
npm ci --no-audit --no-fund --silent
BASE_URL="http://127.0.0.1:$port" TOKEN="$token" node test.mjs

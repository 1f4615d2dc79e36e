#!/usr/bin/env bash
# The official Cube.js JavaScript client against a real tenantgate server on
# the development demo data. From the repository root: scripts/js-client/run.sh
# (.ci/run runs it). Needs node and npm; the npm registry must be reachable.
# JS_CLIENT_PORT (default 4098) picks the port.
set -euo pipefail
cd "$(dirname "$0")/../.."
node --version > /dev/null || { echo "node is required for the JS client test" >&2; exit 1; }
npm --version > /dev/null || { echo "npm is required for the JS client test" >&2; exit 1; }

cargo build --quiet --bin tenantgate
port="${JS_CLIENT_PORT:-4098}"
# Another server on the port would answer /readyz instead of ours.
if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "js-client: port $port is already in use (JS_CLIENT_PORT picks another)" >&2
  exit 1
fi
tmp=$(mktemp -d)
server=""
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT
TENANTGATE__SERVER__PORT="$port" TENANTGATE__DATABASE__PATH="$tmp/demo.sqlite" RUST_LOG=warn \
  target/debug/tenantgate serve --env development > /dev/null &
server=$!
ready=""
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && { ready=1; break; }
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "js-client: the server did not become ready on port $port" >&2
  exit 1
fi
token=$(target/debug/tenantgate token --env development -p tenant_id=acme -p id=42 -e 1h)

cd scripts/js-client
npm ci --no-audit --no-fund --silent
BASE_URL="http://127.0.0.1:$port" TOKEN="$token" node test.mjs

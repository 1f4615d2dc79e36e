#!/usr/bin/env bash
# The Cube.js differential suite, one command from the repository root:
#
#   scripts/cube-conformance/run.sh            # SQLite
#   CONFORMANCE_DB=postgres scripts/cube-conformance/run.sh
#   CONFORMANCE_DB=all scripts/cube-conformance/run.sh    # both, one after the other
#
# Installs the pinned npm tree (package-lock.json) when it is missing or out
# of date, builds tenantgate (debug, or TENANTGATE_BIN to use another
# binary), then run.mjs seeds the data, starts the real Cube.js and tenantgate
# on free ports and compares their answers. Other knobs are in run.mjs's
# header (CONFORMANCE_ONLY, CONFORMANCE_VERBOSE, CONFORMANCE_STRICT, ...).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
node --version > /dev/null || { echo "cube-conformance: node is required" >&2; exit 2; }
npm --version > /dev/null || { echo "cube-conformance: npm is required" >&2; exit 2; }

# npm ci --ignore-scripts: Cube.js 0.33's install scripts download native
# binaries from outside the registry. The only native addon the suite needs is
# sqlite3's, rebuilt here against the local Node headers.
stamp="$here/node_modules/.conformance-lock"
if ! cmp -s "$here/package-lock.json" "$stamp" 2>/dev/null; then
  echo "== cube-conformance: installing the pinned Cube.js (npm ci)"
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  nodedir=()
  [ -f /usr/include/node/node.h ] && nodedir=(--nodedir=/usr)
  (cd "$here" && npm rebuild sqlite3 "${nodedir[@]}" --loglevel=error > /dev/null)
  cp "$here/package-lock.json" "$stamp"
fi

if [ -z "${TENANTGATE_BIN:-}" ]; then
  (cd "$repo" && cargo build --quiet --locked --bin tenantgate)
  export TENANTGATE_BIN="$repo/target/debug/tenantgate"
fi

dbs="${CONFORMANCE_DB:-sqlite}"
[ "$dbs" = all ] && dbs="sqlite postgres"
status=0
for db in $dbs; do
  CONFORMANCE_DB="$db" node "$here/run.mjs" || status=$?
done
exit "$status"

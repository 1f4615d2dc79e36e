#!/usr/bin/env bash
# Load test: the release server on the demo data and model, one load
# generator (examples/loadgen.rs) with keep-alive connections; for each
# scenario a fresh server, then requests per second, p50/p99 latency and the
# server's peak RSS, as one Markdown table. From the repository root:
#
#   scripts/load.sh                 # SQLite and PostgreSQL
#   scripts/load.sh sqlite          # SQLite only (the embedded demo database)
#   scripts/load.sh postgres        # PostgreSQL only (the demo seed in a schema)
#   scripts/load.sh whoami          # the bare baseline and whoami only
#   LOAD_CUBEJS=1 scripts/load.sh   # and the real Cube.js beside tenantgate (below)
#   scripts/load.sh cubejs          # that comparison only
#
# Scenarios per database: whoami (verification cache on, then off), /load
# with the result cache on and the same query repeated (every request after
# the first is a hit), and /load with the result cache off. Once per run, the
# bare hyper HS256 server (examples/bare_hs256.rs) on the same token: the
# whoami ratio's baseline.
#
# Then how cost grows, on SQLite with the result cache on: 1, 100 and 10,000
# distinct tenants (tokens sent in turn; each tenant's query is its own cache
# entry, so the hit rate falls as tenants outnumber what one run repeats),
# with the hit rate read from /metrics. LOAD_SCALING=0 skips it. The cost of
# 1 against 100 cubes and 1 against 50 JWKS keys is in the criterion benches
# (`cargo bench --bench render -- cubes`, `cargo bench --bench verify -- keys`).
#
# The Cube.js comparison (issue 15; LOAD_CUBEJS=1, or the `cubejs` target)
# starts the real Cube.js 0.33 that the conformance suite installs
# (scripts/cube-conformance: run its run.sh once to install it; Node
# required), set up as the suite sets it up (serve-cube.mjs: lib/cube.mjs's
# CUBEJS_* environment, seed.mjs's data in SQLite, the model/ folder), then
# tenantgate with the result cache on over the very same SQLite file and
# model folder. Both get the same repeated /load query, the same kind of
# token (HS256, tenant_id=acme, exp in an hour, the suite's secret), the
# same connections and duration, one after the other, each warmed up first
# until it answers with data. Cube.js answers "Continue wait" (a 200) while
# a query is first computed: such answers are not counted as results
# (loadgen --not-success-body) and, if any, their number is in the row's
# label. The two ratios follow the table: tenantgate/Cube.js req/s and
# tenantgate/Cube.js p99 (the issue asks at least 40x and at most 1/20).
#
# The audit log is on, as by default: its lines (one per /load) and the
# server's warnings go to a file in the run's temporary folder, as an
# operator's would go to a file or a pipe, never to the terminal.
#
# LOAD_SECONDS (default 10), LOAD_CONNECTIONS (default 16), LOAD_PORT
# (default 4099; the baseline uses the next one) and PG_URL (default the
# local test database) adjust it; TENANTGATE_BIN runs another tenantgate
# binary (an earlier build, to compare before and after). The generator shares the machine with the
# server: figures compare runs on one machine, not machines.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${LOAD_SECONDS:-10}"
connections="${LOAD_CONNECTIONS:-16}"
port="${LOAD_PORT:-4099}"
bare_port=$((port + 1))
pg_url="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
if [ $# -eq 0 ]; then set -- sqlite postgres; fi
databases=()
want_whoami=0
want_cubejs="${LOAD_CUBEJS:-0}"
for target in "$@"; do
  case "$target" in
    sqlite) databases+=(sqlite); want_whoami=1 ;;
    postgres) databases+=(postgres) ;;
    whoami) want_whoami=1 ;;
    cubejs) want_cubejs=1 ;;
    *) echo "load.sh: unknown target $target (sqlite, postgres, whoami, cubejs)" >&2; exit 2 ;;
  esac
done
secret="tenantgate-load-test-secret-0123456789abcdef"
query='{"measures":["Orders.count","Orders.totalAmount"],"dimensions":["Orders.status"]}'
encoded=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$query")
load_path="/cubejs-api/v1/load?query=$encoded"

cargo build --release --quiet --bin tenantgate --example loadgen --example bare_hs256
tg_bin="${TENANTGATE_BIN:-target/release/tenantgate}"

tmp=$(mktemp -d)
server=""
schema=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  if [ -n "$schema" ]; then psql "$pg_url" -q -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE;" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port_free() {
  if (exec 3<> "/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "load.sh: port $1 is already in use (LOAD_PORT picks another)" >&2
    exit 1
  fi
}

wait_ready() { # url pid [tries, 0.1 s apart]
  for _ in $(seq 1 "${3:-100}"); do
    curl -fs "$1" > /dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "load.sh: the server did not become ready at $1" >&2
  exit 1
}

stop_server() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}

# One configuration folder per database: a secret provider, the demo model,
# the database, tenant acme.
write_config() { # db
  mkdir -p "$tmp/$1"
  {
    printf '[[auth.providers]]\nname = "default"\ntype = "secret"\nsecrets = ["%s"]\n' "$secret"
    printf '[model]\npath = "fixtures/demo/model"\n'
    if [ "$1" = postgres ]; then
      printf '[database]\ntype = "postgres"\nurl = "%s"\n' "$pg_url"
      printf '[tenancy]\ntenant_key = "tenant_id"\n[tenants.acme]\nschema = "%s"\n' "$schema"
    else
      printf '[database]\ntype = "sqlite"\npath = "%s/demo.sqlite"\nseed = "fixtures/demo/seed.sql"\n' "$tmp"
    fi
  } > "$tmp/$1/load.toml"
}

rows=()
# Run the generator against the current server; append a table row and keep
# its figures in last_rps, last_p50, last_p99. A non-empty $not_success is a
# body text that is not a result (Cube.js's "Continue wait").
not_success=""
measure() { # label url pid [tokens-file] [metrics-url]
  local out label="$1"
  if ! out=$(target/release/examples/loadgen --url "$2" --token "$token" \
    --connections "$connections" --duration "$seconds" --pid "$3" ${4:+--tokens-file "$4"} \
    ${not_success:+--not-success-body "$not_success"}); then
    echo "$out" >&2
    echo "load.sh: $1: requests failed" >&2
    exit 1
  fi
  local rps p50 p99 rss
  rps=$(awk '/requests\/second/ {print $2}' <<< "$out")
  p50=$(awk '/latency p50/ {print $3}' <<< "$out")
  p99=$(awk '/latency p99/ {print $3}' <<< "$out")
  rss=$(awk '/peak RSS/ {print $4}' <<< "$out")
  local not_results
  not_results=$(awk '/not results/ {print $3}' <<< "$out")
  if [ -n "$not_results" ] && [ "$not_results" != 0 ]; then label="$label ($not_results \"$not_success\" not counted)"; fi
  last_rps=$rps last_p50=$p50 last_p99=$p99
  local hit=""
  if [ -n "${5:-}" ]; then
    local metrics hits misses
    metrics=$(curl -fs "$5" || true)
    hits=$(awk '/^tenantgate_cache_hits_total\{cache="result"\}/ {print $2}' <<< "$metrics")
    misses=$(awk '/^tenantgate_cache_misses_total\{cache="result"\}/ {print $2}' <<< "$metrics")
    hit=$(python3 -c 'import sys; h, m = float(sys.argv[1] or 0), float(sys.argv[2] or 0); print(f"{100 * h / max(h + m, 1):.1f}%")' "${hits:-0}" "${misses:-0}")
  fi
  rows+=("| $label | $rps | $p50 | $p99 | ${rss:--} | ${hit:--} |")
  echo "load.sh: $1: $rps req/s" >&2
}

# Start a fresh server for one scenario, with extra environment variables.
serve() { # db var=value...
  local db="$1"
  shift
  port_free "$port"
  env TENANTGATE__SERVER__PORT="$port" RUST_LOG=warn "$@" \
    "$tg_bin" serve --env load --config-dir "$tmp/$db" > /dev/null 2>> "$tmp/tenantgate.log" &
  server=$!
  wait_ready "http://127.0.0.1:$port/readyz" "$server"
}

token=$("$tg_bin" token -s "$secret" -p tenant_id=acme -p id=42 -e 1h)

if [ "$want_whoami" = 1 ]; then
  port_free "$bare_port"
  target/release/examples/bare_hs256 --port "$bare_port" --secret "$secret" &
  server=$!
  for _ in $(seq 1 50); do (exec 3<> "/dev/tcp/127.0.0.1/$bare_port") 2>/dev/null && break; sleep 0.1; done
  measure "bare hyper HS256 (baseline)" "http://127.0.0.1:$bare_port/" "$server"
  stop_server
  if [ ${#databases[@]} -eq 0 ]; then
    write_config sqlite
    serve sqlite
    measure "whoami" "http://127.0.0.1:$port/tenantgate/v1/whoami" "$server"
    stop_server
  fi
fi

for db in "${databases[@]}"; do
  if [ "$db" = postgres ]; then
    schema="tenantgate_load"
    psql "$pg_url" -q -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema;"
    PGOPTIONS="--search_path=$schema" psql "$pg_url" -q -v ON_ERROR_STOP=1 -f fixtures/demo/seed.sql
  fi
  write_config "$db"
  whoami="http://127.0.0.1:$port/tenantgate/v1/whoami"
  load="http://127.0.0.1:$port$load_path"
  if [ "$db" = sqlite ]; then
    serve "$db"
    measure "whoami" "$whoami" "$server"
    stop_server
    serve "$db" TENANTGATE__AUTH__VERIFICATION_CACHE_MAX_BYTES=0
    measure "whoami, verification cache off" "$whoami" "$server"
    stop_server
  fi
  serve "$db" TENANTGATE__CACHE__ENABLED=true
  measure "$db /load, cached" "$load" "$server"
  stop_server
  serve "$db" TENANTGATE__CACHE__ENABLED=false
  measure "$db /load, uncached" "$load" "$server"
  stop_server
done

# Tokens for N tenants (tenant_id t0..tN-1), HS256 with the test secret.
mint_tokens() { # n file
  python3 - "$1" "$secret" > "$2" <<'PY'
import base64, hashlib, hmac, json, sys, time
n, secret = int(sys.argv[1]), sys.argv[2].encode()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
exp = int(time.time()) + 3600
for i in range(n):
    body = b64(json.dumps({"tenant_id": f"t{i}", "id": i, "exp": exp}).encode())
    sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    print(f"{head}.{body}.{sig}")
PY
}

if [ "${LOAD_SCALING:-1}" != 0 ] && printf '%s\n' "${databases[@]}" | grep -qx sqlite; then
  write_config sqlite
  for n in 1 100 10000; do
    mint_tokens "$n" "$tmp/tokens-$n"
    serve sqlite TENANTGATE__CACHE__ENABLED=true
    measure "sqlite /load, cached, $n tenants" "http://127.0.0.1:$port$load_path" "$server" "$tmp/tokens-$n" \
      "http://127.0.0.1:$port/metrics"
    stop_server
  done
fi

# Ask until the answer has data (Cube.js says "Continue wait" while it
# first computes a query), kept in file $2; then the run measures answers
# from the servers' caches.
warm_up() { # url file
  for _ in $(seq 1 120); do
    if curl -fs -H "Authorization: Bearer $token" "$1" > "$2" 2> /dev/null && grep -q '"data"' "$2"; then return 0; fi
    sleep 0.25
  done
  echo "load.sh: no data from $1 after 30 s" >&2
  exit 1
}

ratios=""
if [ "$want_cubejs" = 1 ]; then
  cc=scripts/cube-conformance
  if [ ! -f "$cc/node_modules/.conformance-lock" ]; then
    echo "load.sh: the Cube.js comparison needs the conformance suite's Cube.js: run $cc/run.sh once" >&2
    exit 1
  fi
  cube_secret=$(node "$cc/serve-cube.mjs" prepare "$tmp/cube-data")
  token=$("$tg_bin" token -s "$cube_secret" -p tenant_id=acme -e 1h)
  url="http://127.0.0.1:$port$load_path"

  port_free "$port"
  node "$cc/serve-cube.mjs" serve "$tmp/cube-data" "$port" > "$tmp/cube.log" 2>&1 &
  server=$!
  if ! (wait_ready "http://127.0.0.1:$port/readyz" "$server" 900); then tail -20 "$tmp/cube.log" >&2; exit 1; fi
  warm_up "$url" "$tmp/cube-answer.json"
  not_success="Continue wait"
  measure "Cube.js 0.33 /load, conformance data (SQLite)" "$url" "$server"
  not_success=""
  cube_rps=$last_rps cube_p99=$last_p99
  stop_server

  # tenantgate on the same file and model folder, the same secret.
  mkdir -p "$tmp/cubejs"
  {
    printf '[[auth.providers]]\nname = "default"\ntype = "secret"\nsecrets = ["%s"]\n' "$cube_secret"
    printf '[model]\npath = "%s/cube-data/model"\n' "$tmp"
    printf '[database]\ntype = "sqlite"\npath = "%s/cube-data/conformance.sqlite"\n' "$tmp"
  } > "$tmp/cubejs/load.toml"
  serve cubejs TENANTGATE__CACHE__ENABLED=true
  warm_up "$url" "$tmp/tenantgate-answer.json"
  measure "tenantgate /load, cached, conformance data (SQLite)" "$url" "$server"
  stop_server
  ratios=$(python3 - "$last_rps" "$cube_rps" "$last_p99" "$cube_p99" "$tmp/cube-answer.json" "$tmp/tenantgate-answer.json" <<'PY'
import json, sys
tg_rps, cube_rps, tg_p99, cube_p99 = map(float, sys.argv[1:5])
# The same rows, or the comparison is not of the same work.
rows = [sorted(json.dumps(r, sort_keys=True) for r in json.load(open(f))["data"]) for f in sys.argv[5:7]]
if rows[0] != rows[1]:
    print("the two servers' answers differ: the ratios below compare different work")
rps = tg_rps / cube_rps if cube_rps else float("inf")
p99 = tg_p99 / cube_p99 if cube_p99 else float("inf")
inv = f"1/{1 / p99:.0f}" if p99 else "0"
print(f"tenantgate / Cube.js 0.33, same run: req/s {rps:.1f}x (issue 15 asks >= 40x), "
      f"p99 {p99:.3f} = {inv} (asks <= 1/20)")
PY
)
fi

echo
echo "$connections connections, ${seconds}s per scenario, $(nproc) cores shared by generator and server"
echo
echo "| scenario | req/s | p50 ms | p99 ms | peak RSS MiB | cache hit rate |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
if [ -n "$ratios" ]; then
  echo
  echo "$ratios"
fi

#!/usr/bin/env bash
# The largest request the default limits allow, against the release server:
# a 300,000-row table, one request of 20 queries that together return
# max_result_cells (1,000,000) cells, two such requests at once, and /livez
# timed while they run. Prints each status, body size, the slowest /livez
# and the server's peak RSS (VmHWM). From the repository root:
#
#   scripts/worst_request.sh
set -euo pipefail
cd "$(dirname "$0")/.."
port="${WORST_PORT:-4098}"
secret="tenantgate-worst-request-secret-0123456789abcdef"
cargo build --release --quiet --bin tenantgate

tmp=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

python3 - "$tmp/big.sqlite" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, tenant_id TEXT, label TEXT)")
c.executemany("INSERT INTO events VALUES (?, 'acme', ?)",
              ((i, "label-%06d-%s" % (i, "x" * 12)) for i in range(300_000)))
c.commit()
PY
mkdir "$tmp/model"
cat > "$tmp/model/events.yml" <<'YML'
cubes:
  - name: Events
    sql: SELECT * FROM events WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    measures:
      - name: count
        type: count
    dimensions:
      - name: label
        sql: label
        type: string
      - name: id
        sql: id
        type: number
YML
cat > "$tmp/worst.toml" <<TOML
[[auth.providers]]
name = "default"
type = "secret"
secrets = ["$secret"]
[model]
path = "$tmp/model"
[database]
path = "$tmp/big.sqlite"
TOML
TENANTGATE__SERVER__PORT="$port" RUST_LOG=warn target/release/tenantgate serve --env worst --config-dir "$tmp" > /dev/null &
server=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
  sleep 0.1
done
token=$(target/release/tenantgate token -s "$secret" -p tenant_id=acme -e 1h)
python3 -u - "$port" "$token" "$server" <<'PY'
import json, sys, threading, time, urllib.request
port, token, pid = sys.argv[1], sys.argv[2], sys.argv[3]
def body(n, limit, dims=("Events.label",)):
    q = {"dimensions": list(dims), "limit": limit}
    return json.dumps({"queryType": "multi", "query": [q] * n}).encode()
def post(data, out):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/cubejs-api/v1/load", data=data,
                                 headers={"Authorization": token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            out.append((r.status, len(r.read())))
    except urllib.error.HTTPError as e:
        out.append((e.code, json.loads(e.read()).get("code")))
livez = []
stop = threading.Event()
def probe():
    while not stop.is_set():
        t = time.monotonic()
        urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=30).read()
        livez.append(time.monotonic() - t)
        time.sleep(0.02)
def hwm():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
p = threading.Thread(target=probe, daemon=True); p.start()
for name, data, n in [("20 x 50,000 rows x 1 column (the budget exactly)", body(20, 50_000), 1),
                      ("20 x 50,000 rows x 2 columns (twice the budget)", body(20, 50_000, ("Events.label", "Events.id")), 1),
                      ("two of the largest at once", body(20, 50_000), 2)]:
    out = []
    threads = [threading.Thread(target=post, args=(data, out)) for _ in range(n)]
    t = time.monotonic()
    [th.start() for th in threads]; [th.join() for th in threads]
    print(f"{name}: {out} in {time.monotonic() - t:.2f} s; peak RSS so far {hwm():.1f} MiB")
stop.set(); p.join()
print(f"/livez during the run: {len(livez)} probes, slowest {max(livez) * 1000:.1f} ms")
PY

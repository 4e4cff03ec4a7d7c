#!/usr/bin/env bash
# Ingest benchmark: one command, figures reported as ratios against references
# measured in the same run on the same machine (DESIGN §6).
#
#   bash bench/ingest.sh            # or: make bench
#
# (a) `sluice import` of an NDJSON corpus into a fresh data directory (durable)
#     vs simdjson On-Demand parse-only over the same file (bench_parse_only).
# (b) HTTP POST /v1/batch (100 events/request, wrk, 64 connections, 2 threads)
#     vs appending the same bytes in 100-event chunks with fdatasync per MiB
#     (bench_append_baseline).
# (c) latency p50/p99 at about half the maximum HTTP rate. Debian's wrk has no
#     --rate, so this uses wrk --latency at a lower connection count, chosen by
#     short calibration runs as the one whose throughput is closest to half of (b).
#
# Environment: EVENTS (1000000), SEED (42), DURATION (15, seconds for b),
# CONNECTIONS (64), THREADS (2), BUILD (build), SLUICE_BIN (BUILD/sluice),
# KEEP_DATA=1 keeps the data directories under bench/out/.
# Output: a Markdown table on stdout and in bench/out/ingest.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

EVENTS=${EVENTS:-1000000}
SEED=${SEED:-42}
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BUILD=${BUILD:-build}
SLUICE_BIN_GIVEN=${SLUICE_BIN:+1}
SLUICE_BIN=${SLUICE_BIN:-$ROOT/$BUILD/sluice}
OUT=$ROOT/bench/out
WRITE_KEY=bench_write_key
BODY_COUNT=${BODY_COUNT:-200}
BATCH=100

log() { echo "ingest.sh: $*" >&2; }
die() { echo "ingest.sh: error: $*" >&2; exit 1; }

for tool in cmake node wrk curl; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/install-deps.sh)"
done
mkdir -p "$OUT"

# --- build -------------------------------------------------------------------
cmake -S . -B "$BUILD" -DSLUICE_BUILD_BENCH=ON >/dev/null
log "building sluice, bench_parse_only, bench_append_baseline in $BUILD/"
targets=(bench_parse_only bench_append_baseline)
[ -n "${SLUICE_BIN_GIVEN:-}" ] || targets+=(sluice)
cmake --build "$BUILD" --target "${targets[@]}" -j"$(nproc)" >/dev/null
PARSE_ONLY=$(find "$BUILD" -type f -name bench_parse_only -perm -u+x | head -1)
APPEND_BASELINE=$(find "$BUILD" -type f -name bench_append_baseline -perm -u+x | head -1)
[ -x "$SLUICE_BIN" ] || die "no sluice binary at $SLUICE_BIN"
[ -n "$PARSE_ONLY" ] && [ -n "$APPEND_BASELINE" ] || die "benchmark binaries not built"

# --- corpus --------------------------------------------------------------------
CORPUS=$OUT/corpus.ndjson
BODIES=$OUT/bodies.ndjson
STAMP=$OUT/corpus.stamp
want_stamp="events=$EVENTS seed=$SEED bodies=$BODY_COUNT gen=$(sha1sum bench/gen_corpus.mjs | cut -c1-12)"
if [ ! -f "$CORPUS" ] || [ ! -f "$BODIES" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want_stamp" ]; then
  log "generating the corpus ($EVENTS events, seed $SEED)"
  node bench/gen_corpus.mjs --events "$EVENTS" --seed "$SEED" --out "$CORPUS" \
    --bodies "$BODIES" --body-count "$BODY_COUNT" --batch "$BATCH" >&2
  echo "$want_stamp" > "$STAMP"
fi
CORPUS_BYTES=$(stat -c %s "$CORPUS")
AVG_BYTES=$(( CORPUS_BYTES / EVENTS ))

field() { # field NAME LINE → value of NAME=value in LINE
  sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $2"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
fmt() { awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); n = length(s); o = ""; for (i = 1; i <= n; i++) { o = o substr(s, i, 1); if ((n - i) % 3 == 0 && i < n) o = o "," } print o }'; }
now() { date +%s.%N; }

SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -z "${KEEP_DATA:-}" ]; then rm -rf "$OUT/import-data" "$OUT/serve-data" "$OUT/append.tmp" "$OUT/wrk.out"; fi
}
trap cleanup EXIT

# --- (a) import vs parse-only -----------------------------------------------------
log "parse-only reference (simdjson On-Demand iterate_many)"
PO_LINE=$("$PARSE_ONLY" "$CORPUS" | grep '^RESULT')
PO_EPS=$(field events_per_s "$PO_LINE")
PO_MBS=$(field mb_per_s "$PO_LINE")
PO_EVENTS=$(field events "$PO_LINE")
[ "$PO_EVENTS" = "$EVENTS" ] || die "parse-only counted $PO_EVENTS events, expected $EVENTS"

log "sluice import into a fresh data directory"
rm -rf "$OUT/import-data"
sync
t0=$(now)
IMPORT_OUT=$("$SLUICE_BIN" import "$CORPUS" --data-dir "$OUT/import-data" 2>"$OUT/import.stderr") \
  || die "sluice import failed: $(tail -5 "$OUT/import.stderr")"
t1=$(now)
IMPORT_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
IMPORT_EPS=$(awk -v n="$EVENTS" -v s="$IMPORT_SECS" 'BEGIN { printf "%.0f", n / s }')
IMPORT_MBS=$(awk -v n="$CORPUS_BYTES" -v s="$IMPORT_SECS" 'BEGIN { printf "%.1f", n / s / 1e6 }')
IMPORT_RATIO=$(ratio "$IMPORT_EPS" "$PO_EPS")
log "import: $IMPORT_OUT"
rm -rf "$OUT/import-data"

# --- (b) HTTP ingest vs append baseline ---------------------------------------------
log "append baseline (100-event chunks, fdatasync per MiB)"
AB_LINE=$("$APPEND_BASELINE" "$CORPUS" "$OUT/append.tmp" | grep '^RESULT')
AB_EPS=$(field events_per_s "$AB_LINE")
AB_MBS=$(field mb_per_s "$AB_LINE")

PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
URL=http://127.0.0.1:$PORT
rm -rf "$OUT/serve-data"
log "starting sluice serve on $URL"
"$SLUICE_BIN" serve --data-dir "$OUT/serve-data" --listen "127.0.0.1:$PORT" --write-key "$WRITE_KEY" \
  >"$OUT/serve.stdout" 2>"$OUT/serve.stderr" &
SERVER_PID=$!
for i in $(seq 150); do
  kill -0 "$SERVER_PID" 2>/dev/null || die "sluice serve exited: $(tail -5 "$OUT/serve.stderr")"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && break
  if [ "$i" = 150 ]; then die "sluice serve not ready after 15 s"; fi
  sleep 0.1
done

run_wrk() { # run_wrk TAG CONNS THREADS SECONDS → WRK_RESULT line (plus WRK_FIRST_ERROR)
  local t=$3
  if [ "$t" -gt "$2" ]; then t=$2; fi
  wrk -t"$t" -c"$2" -d"$4"s --latency -s bench/batch.lua "$URL" -- "$BODIES" "$WRITE_KEY" "$1" "$BATCH" \
    >"$OUT/wrk.out" 2>&1 || die "wrk failed: $(tail -5 "$OUT/wrk.out")"
  grep -q '^WRK_RESULT' "$OUT/wrk.out" || die "wrk printed no result: $(tail -5 "$OUT/wrk.out")"
  kill -0 "$SERVER_PID" 2>/dev/null || die "sluice serve died under load: $(tail -5 "$OUT/serve.stderr")"
  grep -E '^WRK_(RESULT|FIRST_ERROR)' "$OUT/wrk.out"
}

log "wrk: $CONNECTIONS connections, $THREADS threads, ${DURATION}s on /v1/batch"
run_wrk 001 2 1 2 >/dev/null   # warm-up
MAX_LINE=$(run_wrk 002 "$CONNECTIONS" "$THREADS" "$DURATION")
grep -q '^WRK_FIRST_ERROR' <<<"$MAX_LINE" && log "non-200 responses: $(grep '^WRK_FIRST_ERROR' <<<"$MAX_LINE")"
MAX_LINE=$(grep '^WRK_RESULT' <<<"$MAX_LINE")
HTTP_EPS=$(field events_per_s "$MAX_LINE")
HTTP_RPS=$(field req_per_s "$MAX_LINE")
HTTP_NON200=$(field non200 "$MAX_LINE")
HTTP_ERRORS=$(field errors "$MAX_LINE")
HTTP_P50=$(field p50_ms "$MAX_LINE")
HTTP_P99=$(field p99_ms "$MAX_LINE")
HTTP_RATIO=$(ratio "$HTTP_EPS" "$AB_EPS")

# --- (c) latency at about half the max rate ------------------------------------------
HALF=$(awk -v x="$HTTP_EPS" 'BEGIN { printf "%.0f", x / 2 }')
log "calibrating: connection count giving ~$HALF events/s (half of max)"
BEST_C=1; BEST_D=-1; tag=10
for c in 1 2 3 4 6 8 12 16 24 32; do
  [ "$c" -ge "$CONNECTIONS" ] && break
  tag=$((tag + 1))
  line=$(run_wrk "0$tag" "$c" "$THREADS" 3 | grep '^WRK_RESULT')
  eps=$(field events_per_s "$line")
  d=$(awk -v a="$eps" -v h="$HALF" 'BEGIN { d = a - h; if (d < 0) d = -d; printf "%.0f", d }')
  log "  $c connections: $eps events/s"
  if [ "$BEST_D" -lt 0 ] || [ "$d" -lt "$BEST_D" ]; then BEST_C=$c; BEST_D=$d; fi
  awk -v a="$eps" -v h="$HALF" 'BEGIN { exit !(a > h * 1.15) }' && break
done
log "latency run: $BEST_C connections, 10 s"
HALF_LINE=$(run_wrk 090 "$BEST_C" "$THREADS" 10 | grep '^WRK_RESULT')
HALF_EPS=$(field events_per_s "$HALF_LINE")
HALF_P50=$(field p50_ms "$HALF_LINE")
HALF_P99=$(field p99_ms "$HALF_LINE")
HALF_FRAC=$(ratio "$HALF_EPS" "$HTTP_EPS")

kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || log "sluice serve exited with status $? on SIGTERM"
SERVER_PID=""

# --- report -----------------------------------------------------------------------------
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
MNT_SRC=$(findmnt -no SOURCE -T "$OUT" 2>/dev/null | head -1)
MNT_FS=$(findmnt -no FSTYPE -T "$OUT" 2>/dev/null | head -1)
DEV=$(basename "${MNT_SRC:-unknown}")
ROTA=$(cat "/sys/block/$DEV/queue/rotational" 2>/dev/null || echo "?")
case "$ROTA" in 0) MEDIA="non-rotational";; 1) MEDIA="rotational";; *) MEDIA="unknown media";; esac
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo "uncommitted")
[ -n "$(git status --porcelain 2>/dev/null | head -1)" ] && COMMIT="$COMMIT+dirty"

REPORT=$(cat <<MD
## Ingest benchmark ($(date -u +%Y-%m-%dT%H:%MZ), commit $COMMIT)

Machine: $(nproc) cores, ${CPU:-unknown CPU}, kernel $(uname -r), disk $MNT_SRC ($MNT_FS, $MEDIA per sysfs).
Corpus: $(fmt "$EVENTS") Segment events, $(awk -v b="$CORPUS_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB, avg $AVG_BYTES bytes/event (bench/gen_corpus.mjs, seed $SEED).

| measure | Sluice | reference (same run) | ratio |
|---|---|---|---|
| NDJSON import, durable (\`sluice import\`, fresh data dir) | $(fmt "$IMPORT_EPS") events/s, $IMPORT_MBS MB/s ($IMPORT_SECS s) | simdjson On-Demand parse-only: $(fmt "$PO_EPS") events/s, $PO_MBS MB/s | **$IMPORT_RATIO** (target ≥ 0.25) |
| HTTP POST /v1/batch, $BATCH events/request, wrk $CONNECTIONS conns / $THREADS threads, ${DURATION}s | $(fmt "$HTTP_EPS") events/s ($HTTP_RPS req/s; non-200: $HTTP_NON200, socket errors: $HTTP_ERRORS) | append + fdatasync per MiB, $BATCH-event chunks: $(fmt "$AB_EPS") events/s, $AB_MBS MB/s | **$HTTP_RATIO** |
| latency at max load ($CONNECTIONS conns) | p50 $HTTP_P50 ms, p99 $HTTP_P99 ms | | |
| latency at ~half max: wrk --latency with $BEST_C connection(s), 10 s (closed loop; Debian's wrk has no --rate) | $(fmt "$HALF_EPS") events/s = $HALF_FRAC of max; p50 $HALF_P50 ms, p99 $HALF_P99 ms | | |

Import summary printed by sluice: \`$IMPORT_OUT\`
Reproduce: \`bash bench/ingest.sh\` (EVENTS, SEED, DURATION, CONNECTIONS, THREADS override the defaults).
MD
)
echo "$REPORT" | tee "$OUT/ingest.md"

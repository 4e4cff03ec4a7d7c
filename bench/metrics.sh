#!/usr/bin/env bash
# Metrics overhead on the hot path: the same ingest benchmarks built twice in
# this run — metrics on (the default) and compiled out (-DSLUICE_METRICS=OFF:
# Counter::Inc, FoldedCounter::Inc, Histogram::Observe are no-ops) — and
# reported as ns/event and overhead %.
#
#   bash bench/metrics.sh
#
# (a) `sluice import` of the ingest benchmark's NDJSON corpus (bench/gen_corpus.mjs)
#     into a fresh data directory: the whole durable import path.
# (b) bench_parse BM_PrepareBatchBody: IngestPath::Prepare of 100-event /v1/batch
#     bodies, one core — where the per-event metrics live, without disk noise.
# Runs are interleaved (on, off, on, off, …). Reported: the fastest of ROUNDS
# per variant, and the median over rounds of the on/off ratio within a round
# (paired, so slow drifts of a shared machine cancel out).
#
# Environment: EVENTS (300000), SEED (42), ROUNDS (5).
# Output: a Markdown table on stdout and in bench/out/metrics.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
EVENTS=${EVENTS:-300000}
SEED=${SEED:-42}
ROUNDS=${ROUNDS:-5}
OUT=$ROOT/bench/out
ON=$ROOT/build-metrics-on
OFF=$ROOT/build-metrics-off

log() { echo "metrics.sh: $*" >&2; }
die() { echo "metrics.sh: error: $*" >&2; exit 1; }
mkdir -p "$OUT"

for variant in ON OFF; do
  dir=$ON; [ "$variant" = OFF ] && dir=$OFF
  log "building sluice and bench_parse with SLUICE_METRICS=$variant in $dir/"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_METRICS=$variant -DBUILD_TESTING=OFF \
    -DSLUICE_BUILD_BENCH=ON >/dev/null
  cmake --build "$dir" --target sluice bench_parse -j"$(nproc)" >/dev/null
done

CORPUS=$OUT/metrics-corpus.ndjson
STAMP=$OUT/metrics-corpus.stamp
want_stamp="events=$EVENTS seed=$SEED gen=$(sha1sum bench/gen_corpus.mjs | cut -c1-12)"
if [ ! -f "$CORPUS" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want_stamp" ]; then
  log "generating the corpus ($EVENTS events, seed $SEED)"
  node bench/gen_corpus.mjs --events "$EVENTS" --seed "$SEED" --out "$CORPUS" >&2
  echo "$want_stamp" > "$STAMP"
fi

cleanup() { rm -rf "$OUT/metrics-import"; }
trap cleanup EXIT

import_seconds() { # import_seconds BUILD_DIR → wall seconds of one durable import
  rm -rf "$OUT/metrics-import"
  sync
  local t0 t1
  t0=$(date +%s.%N)
  "$1/sluice" import "$CORPUS" --data-dir "$OUT/metrics-import" >/dev/null 2>"$OUT/metrics-import.stderr" \
    || die "sluice import failed: $(tail -3 "$OUT/metrics-import.stderr")"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}
prepare_ns() { # prepare_ns BUILD_DIR → ns per event of BM_PrepareBatchBody (one run)
  "$1/bench/bench_parse" --benchmark_filter=BM_PrepareBatchBody --benchmark_min_time=1 --benchmark_format=json \
    2>/dev/null | node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        const b = JSON.parse(s).benchmarks.find((x) => x.name === "BM_PrepareBatchBody");
        console.log((1e9 / b.items_per_second).toFixed(1));
      });'
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
median_pct() { sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%+.1f %%", (m - 1) * 100 }'; }
BEST_IMPORT_ON=""; BEST_IMPORT_OFF=""; BEST_PREP_ON=""; BEST_PREP_OFF=""; IMPORT_RATIOS=""; PREP_RATIOS=""
for r in $(seq "$ROUNDS"); do
  a=$(import_seconds "$ON"); b=$(import_seconds "$OFF")
  c=$(prepare_ns "$ON"); d=$(prepare_ns "$OFF")
  log "round $r: import on ${a}s off ${b}s; Prepare on ${c} ns/event off ${d} ns/event"
  BEST_IMPORT_ON=$(min "$BEST_IMPORT_ON" "$a"); BEST_IMPORT_OFF=$(min "$BEST_IMPORT_OFF" "$b")
  BEST_PREP_ON=$(min "$BEST_PREP_ON" "$c"); BEST_PREP_OFF=$(min "$BEST_PREP_OFF" "$d")
  IMPORT_RATIOS+="$(ratio "$a" "$b")"$'\n'; PREP_RATIOS+="$(ratio "$c" "$d")"$'\n'
done
IMPORT_MEDIAN=$(printf '%s' "$IMPORT_RATIOS" | median_pct)
PREP_MEDIAN=$(printf '%s' "$PREP_RATIOS" | median_pct)

ns() { awk -v s="$1" -v n="$EVENTS" 'BEGIN { printf "%.0f", s * 1e9 / n }'; }
pct() { awk -v on="$1" -v off="$2" 'BEGIN { printf "%+.1f %%", (on - off) / off * 100 }'; }
IMP_ON_NS=$(ns "$BEST_IMPORT_ON"); IMP_OFF_NS=$(ns "$BEST_IMPORT_OFF")
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo "uncommitted")

REPORT=$(cat <<MD
## Metrics overhead ($(date -u +%Y-%m-%dT%H:%MZ), commit $COMMIT)

$(nproc) cores; fastest of $ROUNDS interleaved rounds per variant; corpus $EVENTS events (seed $SEED).

| measure | metrics on (fastest) | metrics compiled out (fastest) | overhead, fastest vs fastest | overhead, median of paired rounds |
|---|---|---|---|---|
| \`sluice import\`, durable, fresh data dir | $IMP_ON_NS ns/event (${BEST_IMPORT_ON} s) | $IMP_OFF_NS ns/event (${BEST_IMPORT_OFF} s) | $(pct "$IMP_ON_NS" "$IMP_OFF_NS") | **$IMPORT_MEDIAN** |
| IngestPath::Prepare, 100-event bodies, one core (bench_parse) | $BEST_PREP_ON ns/event | $BEST_PREP_OFF ns/event | $(pct "$BEST_PREP_ON" "$BEST_PREP_OFF") | **$PREP_MEDIAN** |

Reproduce: \`bash bench/metrics.sh\` (EVENTS, SEED, ROUNDS override the defaults). Target ≤ 2 %.
MD
)
echo "$REPORT" | tee "$OUT/metrics.md"

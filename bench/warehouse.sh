#!/usr/bin/env bash
# Warehouse benchmark: one hourly run of the shipped models (models/) over
# EVENTS events in one lake hour — seconds per run, and the share spent
# inside DuckDB (the models' SQL) versus in Sluice around it, same run.
#
#   EVENTS=1000000 RUNS=3 bash bench/warehouse.sh
#
# bench_warehouse writes the lake directly (untimed), then runs the models
# RUNS times with --force semantics and reports the fastest run.
# Environment: EVENTS (1000000), RUNS (3), BUILD (build).
# Output: the RESULT line on stdout and a Markdown row in bench/out/warehouse.md.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-1000000}
RUNS=${RUNS:-3}
BUILD=${BUILD:-build}
OUT=bench/out
mkdir -p "$OUT"
cmake -S . -B "$BUILD" -DSLUICE_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD" --target bench_warehouse -j"$(nproc)" >/dev/null
BENCH=$(find "$BUILD" -type f -name bench_warehouse -perm -u+x | head -1)
DATA=$(mktemp -d /tmp/sluice-bench-warehouse.XXXXXX)
trap 'rm -rf "$DATA"' EXIT
LINE=$("$BENCH" "$DATA/data" "$EVENTS" "$RUNS" | grep '^RESULT')
echo "$LINE"
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $LINE"; }
{
  echo "| events | staged rows | run (s) | inside DuckDB (s) | Sluice (s) | DuckDB share | load avg |"
  echo "|---|---|---|---|---|---|---|"
  echo "| $(field events) | $(field staged_rows) | $(field run_s) | $(field duckdb_s) | $(field sluice_s) | $(field duckdb_share) | $(cut -d' ' -f1 /proc/loadavg) |"
} | tee "$OUT/warehouse.md"

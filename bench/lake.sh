#!/usr/bin/env bash
# Lake benchmark: log → committed Parquet + Delta, against DuckDB's own
# COPY … TO parquet of the same rows, measured in the same run (DESIGN §6).
#
#   bash bench/lake.sh
#
# Steps: the ingest corpus (bench/gen_corpus.mjs, EVENTS events) is imported
# into a fresh data directory's log (`sluice import`, untimed), then
# bench_lake times a LakeWriter committing the whole log (decode, DuckDB
# appender, COPY to zstd Parquet partitioned by dt/hour, fsync, Delta commit)
# and DuckDB's COPY of the same rows already in a DuckDB table, and reports
# Parquet bytes against the corpus's NDJSON bytes.
#
# Environment: EVENTS (1000000), SEED (42), BUILD (build), KEEP_DATA=1.
# Output: a Markdown table on stdout and in bench/out/lake.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
EVENTS=${EVENTS:-1000000}
SEED=${SEED:-42}
BUILD=${BUILD:-build}
OUT=$ROOT/bench/out
log() { echo "lake.sh: $*" >&2; }
die() { echo "lake.sh: error: $*" >&2; exit 1; }
mkdir -p "$OUT"

cmake -S . -B "$BUILD" -DSLUICE_BUILD_BENCH=ON >/dev/null
log "building sluice and bench_lake in $BUILD/"
cmake --build "$BUILD" --target sluice bench_lake -j"$(nproc)" >/dev/null
BENCH=$(find "$BUILD" -type f -name bench_lake -perm -u+x | head -1)
[ -n "$BENCH" ] || die "bench_lake not built"

CORPUS=$OUT/lake-corpus.ndjson
STAMP=$OUT/lake-corpus.stamp
want="events=$EVENTS seed=$SEED gen=$(sha1sum bench/gen_corpus.mjs | cut -c1-12)"
if [ ! -f "$CORPUS" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  log "generating the corpus ($EVENTS events, seed $SEED)"
  node bench/gen_corpus.mjs --events "$EVENTS" --seed "$SEED" --out "$CORPUS" >&2
  echo "$want" > "$STAMP"
fi
DATA=$OUT/lake-data
trap '[ -n "${KEEP_DATA:-}" ] || rm -rf "$DATA"' EXIT
rm -rf "$DATA"
log "importing the corpus into $DATA (untimed)"
"$ROOT/$BUILD/sluice" import "$CORPUS" --data-dir "$DATA" >/dev/null
sync
log "lake write vs DuckDB COPY"
LINE=$("$BENCH" "$DATA" "$(stat -c %s "$CORPUS")" | grep '^RESULT')
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $LINE"; }
fmt() { awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); n = length(s); o = ""; for (i = 1; i <= n; i++) { o = o substr(s, i, 1); if ((n - i) % 3 == 0 && i < n) o = o "," } print o }'; }
{
  echo "| lake ($(field rows) events, $(nproc) cores, $(date -u +%Y-%m-%d)) | figure | reference (same run) | ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| log → committed Parquet + Delta, rows/s | $(fmt "$(field sluice_rows_per_s)") ($(field sluice_s) s; staging $(field staged_s) s) | DuckDB COPY of the same rows: $(fmt "$(field ref_rows_per_s)") ($(field ref_s) s) | $(field ratio) | ≥ 0.7 |"
  echo "| Parquet bytes / NDJSON bytes | $(fmt "$(field sluice_parquet_bytes)") / $(fmt "$(field ndjson_bytes)") | DuckDB COPY: $(fmt "$(field ref_parquet_bytes)") ($(field ref_bytes_ratio)) | $(field sluice_bytes_ratio) | ≤ 0.12 |"
} | tee "$OUT/lake.md"

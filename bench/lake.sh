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
# REPEAT runs (3) each time a fresh copy of the imported data directory; the
# table reports the fastest run of each side (the machine is shared, and the
# fastest run is the least disturbed one).
#
# Environment: EVENTS (1000000), SEED (42), REPEAT (3), BUILD (build), KEEP_DATA=1.
# Output: a Markdown table on stdout and in bench/out/lake.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
EVENTS=${EVENTS:-1000000}
SEED=${SEED:-42}
BUILD=${BUILD:-build}
REPEAT=${REPEAT:-3}
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
IMPORTED=$OUT/lake-imported
DATA=$OUT/lake-data
trap '[ -n "${KEEP_DATA:-}" ] || rm -rf "$DATA" "$IMPORTED"' EXIT
rm -rf "$DATA" "$IMPORTED"
log "importing the corpus into $IMPORTED (untimed)"
"$ROOT/$BUILD/sluice" import "$CORPUS" --data-dir "$IMPORTED" >/dev/null
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $LINE"; }
BEST_S=""; BEST_REF=""; LINE=""
for run in $(seq "$REPEAT"); do
  rm -rf "$DATA" && cp -r "$IMPORTED" "$DATA" && sync
  log "run $run/$REPEAT: lake write vs DuckDB COPY"
  LINE=$("$BENCH" "$DATA" "$(stat -c %s "$CORPUS")" | grep '^RESULT')
  log "  $LINE"
  s=$(field sluice_s); r=$(field ref_s)
  if [ -z "$BEST_S" ] || awk -v a="$s" -v b="$BEST_S" 'BEGIN { exit !(a < b) }'; then BEST_S=$s; BEST_LINE=$LINE; fi
  if [ -z "$BEST_REF" ] || awk -v a="$r" -v b="$BEST_REF" 'BEGIN { exit !(a < b) }'; then BEST_REF=$r; fi
done
LINE=$BEST_LINE
ROWS=$(field rows)
RATIO=$(awk -v a="$BEST_S" -v b="$BEST_REF" 'BEGIN { printf "%.3f", b / a }')
fmt() { awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); n = length(s); o = ""; for (i = 1; i <= n; i++) { o = o substr(s, i, 1); if ((n - i) % 3 == 0 && i < n) o = o "," } print o }'; }
{
  echo "| lake ($(field rows) events, $(nproc) cores, $(date -u +%Y-%m-%d)) | figure | reference (same run) | ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| log → committed Parquet + Delta, rows/s (best of $REPEAT) | $(fmt "$(awk -v n="$ROWS" -v t="$BEST_S" 'BEGIN { print n / t }')") ($BEST_S s; reading the log $(field staged_s) s) | DuckDB COPY of the same rows: $(fmt "$(awk -v n="$ROWS" -v t="$BEST_REF" 'BEGIN { print n / t }')") ($BEST_REF s) | $RATIO | ≥ 0.7 |"
  echo "| Parquet bytes / NDJSON bytes | $(fmt "$(field sluice_parquet_bytes)") / $(fmt "$(field ndjson_bytes)") | DuckDB COPY: $(fmt "$(field ref_parquet_bytes)") ($(field ref_bytes_ratio)) | $(field sluice_bytes_ratio) | ≤ 0.12 |"
} | tee "$OUT/lake.md"

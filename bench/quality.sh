#!/usr/bin/env bash
# Quality-gate benchmark: JSON Schema validation events/s, Sluice vs ajv 8,
# same tracking plan, same events, same machine, same run (DESIGN §6).
#
#   bash bench/quality.sh
#
# Inputs (bench/gen_quality_events.mjs): a 10-event tracking plan (2020-12
# schemas with 5–15 properties, enums, ranges, patterns, formats, nested
# objects/arrays) and EVENTS events, ~5 % invalid. Both sides compile the
# schemas once and parse every event before timing; only "look up the event's
# schema, validate its properties" is timed. Formats are annotations on both
# sides (ajv-formats is not installed). Best of REPEATS runs each.
#
# Environment: EVENTS (1000000), SEED (7), REPEATS (3), BUILD (build).
# Output: a Markdown table on stdout and in bench/out/quality.md.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-1000000}
SEED=${SEED:-7}
REPEATS=${REPEATS:-3}
BUILD=${BUILD:-build}
OUT=bench/out
PLAN=$OUT/quality_plan.json
EVENTS_FILE=$OUT/quality_events.ndjson

log() { echo "quality.sh: $*" >&2; }
die() { echo "quality.sh: error: $*" >&2; exit 1; }
for tool in cmake node; do command -v "$tool" >/dev/null || die "$tool not found (run scripts/install-deps.sh)"; done
[ -d node_modules/ajv ] || die "node_modules/ajv missing (run scripts/install-deps.sh)"
mkdir -p "$OUT"

cmake -S . -B "$BUILD" -DSLUICE_BUILD_BENCH=ON >/dev/null
log "building bench_quality in $BUILD/"
cmake --build "$BUILD" --target bench_quality -j"$(nproc)" >/dev/null
BENCH=$(find "$BUILD" -type f -name bench_quality -perm -u+x | head -1)
[ -n "$BENCH" ] || die "bench_quality not built"

STAMP=$OUT/quality.stamp
want="events=$EVENTS seed=$SEED gen=$(sha1sum bench/gen_quality_events.mjs | cut -c1-12)"
if [ ! -f "$EVENTS_FILE" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  log "generating $EVENTS events"
  node bench/gen_quality_events.mjs --events "$EVENTS" --seed "$SEED" --plan "$PLAN" --out "$EVENTS_FILE"
  echo "$want" > "$STAMP"
fi

log "running Sluice (bench_quality)"
sluice=$("$BENCH" "$PLAN" "$EVENTS_FILE" "$REPEATS")
log "running ajv $(node -p "require('./node_modules/ajv/package.json').version")"
ajv=$(node bench/quality_ajv.mjs "$PLAN" "$EVENTS_FILE" "$REPEATS")

field() { echo "$1" | grep "^$2 " | sed -E "s/.*$3=([0-9]+).*/\1/"; }
{
  echo "| mode | Sluice events/s | ajv events/s | ratio | valid (Sluice / ajv) |"
  echo "|---|---:|---:|---:|---|"
  for mode in first_error all_errors; do
    s=$(field "$sluice" "sluice_$mode" events_per_s); a=$(field "$ajv" "ajv_$mode" events_per_s)
    sv=$(field "$sluice" "sluice_$mode" valid); av=$(field "$ajv" "ajv_$mode" valid)
    [ "$sv" = "$av" ] || log "warning: $mode: Sluice and ajv disagree on validity ($sv vs $av)"
    ratio=$(awk -v s="$s" -v a="$a" 'BEGIN { printf "%.2f×", s / a }')
    echo "| $mode | $s | $a | $ratio | $sv / $av of $EVENTS |"
  done
} | tee "$OUT/quality.md"

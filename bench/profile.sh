#!/usr/bin/env bash
# Profile update benchmark (in-process): the whole profile consumer — read
# the log, decode, identity, Apply with the default features, segments,
# RocksDB checkpoints — in events/s per core, against decode alone and
# decode + Apply alone measured in the same run (bench/profile_bench.cc);
# then GetJson of random users in-process (the serving path without HTTP),
# and one segment sweep pass over every profile, hot (in memory) and cold
# (read from RocksDB by a fresh builder): those rows count profiles, not events.
#
#   bash bench/profile.sh
#
# Environment: EVENTS (2000000), USERS (100000), CHECKPOINT_MS (1000),
# CHECKPOINT_PROFILES (100000) and CHECKPOINT_EVENTS (1000000) — the server's
# defaults —, BOTH_IDS (0; 1: every event also carries an anonymousId, so
# each asks the identity graph for its link, and reads are timed by
# anonymousId too: row get_anon), IDENTIFY_EVERY (0; k: every k-th event is an
# identify with an email trait: a link and a fuzzy match each), BUILD (build).
# Output: RESULT lines and a Markdown table on stdout and in bench/out/profile.md.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-2000000}
USERS=${USERS:-100000}
CHECKPOINT_MS=${CHECKPOINT_MS:-1000}
CHECKPOINT_EVENTS=${CHECKPOINT_EVENTS:-1000000}
CHECKPOINT_PROFILES=${CHECKPOINT_PROFILES:-100000}
BOTH_IDS=${BOTH_IDS:-0}
IDENTIFY_EVERY=${IDENTIFY_EVERY:-0}
BUILD=${BUILD:-build}
OUT=$(pwd)/bench/out
mkdir -p "$OUT"
cmake -S . -B "$BUILD" -DSLUICE_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD" --target bench_profile -j"$(nproc)" >/dev/null
BENCH=$(find "$BUILD" -type f -name bench_profile -perm -u+x | head -1)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
"$BENCH" "$OUT/profile-bench-data" "$EVENTS" "$USERS" "$CHECKPOINT_MS" "$CHECKPOINT_EVENTS" "$BOTH_IDS" "$CHECKPOINT_PROFILES" "$IDENTIFY_EVERY" | tee "$OUT/profile-bench.out"
rm -rf "$OUT/profile-bench-data"
field() { grep "phase=$1 " "$OUT/profile-bench.out" | sed -E "s/.* $2=([0-9.]+).*/\1/"; }
{
  echo "| $(date -u +%Y-%m-%dT%H:%MZ), $EVENTS events, $USERS users, both ids: $BOTH_IDS, identify every: $IDENTIFY_EVERY, checkpoints every ${CHECKPOINT_MS} ms / $CHECKPOINT_PROFILES profiles / $CHECKPOINT_EVENTS events, load before: $LOAD | events/s (wall) | events per CPU-second | × builder |"
  echo "|---|---:|---:|---:|"
  B=$(field builder events_per_cpu_s)
  for p in decode apply builder sweep_hot get get_anon sweep_cold; do
    grep -q "phase=$p " "$OUT/profile-bench.out" || continue  # get_anon: BOTH_IDS=1 only
    echo "| $p | $(field $p events_per_s) | $(field $p events_per_cpu_s) | $(awk -v a="$(field $p events_per_cpu_s)" -v b="$B" 'BEGIN{printf "%.2f", a/b}') |"
  done
} | tee "$OUT/profile.md"

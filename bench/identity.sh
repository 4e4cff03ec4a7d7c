#!/usr/bin/env bash
# Identity benchmark (bench_identity, bench/identity_bench.cc), three figures:
#   1. the edit-distance kernel: pairs/s of the bit-parallel Levenshtein and OSA
#      against a plain two-row DP, same run, emails and ~160-char strings;
#   2. batch resolve of PROFILES synthetic people with known truth: index and
#      resolve seconds, confusion counts, precision/recall, review-queue size;
#   3. incremental match latency (Upsert + MatchOne) against a PROFILES index.
#
#   PROFILES=1000000 THREADS=2 bash bench/identity.sh
#
# Environment: PROFILES (1000000), THREADS (2), PROBES (20000), BUILD (build).
# The load average is printed before and after: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILES=${PROFILES:-1000000}
THREADS=${THREADS:-2}
PROBES=${PROBES:-20000}
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" -DSLUICE_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD" --target bench_identity -j"$(nproc)" >/dev/null
BENCH=$(find "$BUILD" -type f -name bench_identity -perm -u+x | head -1)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
"$BENCH" kernel 100000
"$BENCH" resolve "$PROFILES" "$THREADS"
"$BENCH" incremental "$PROFILES" "$PROBES"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Installs what Sluice needs to build, test and run on Debian 12: the apt packages
# (one call, only when something is missing), the npm test drivers from the
# committed package-lock.json, and libduckdb.so + duckdb.h from the npm registry.
# Idempotent: a second run on a ready machine does nothing and takes < 1 s.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  libsimdjson-dev librocksdb-dev libboost1.81-dev libcli11-dev libyaml-cpp-dev
  libspdlog-dev libfmt-dev libxxhash-dev libzstd-dev zlib1g-dev libssl-dev
  libcurl4-openssl-dev libgtest-dev libgmock-dev libbenchmark-dev libre2-dev
  libpq-dev postgresql-15 libutf8proc-dev
  wrk curl ca-certificates
  prometheus clickhouse-server clickhouse-client redis-server
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm test drivers (SDKs, readers, reference implementations), exact versions from the lock file.
if [ -f package-lock.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "install-deps: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi

# DuckDB C library: the official build, pinned, from the npm registry (Debian 12 has none).
DUCKDB_VERSION=1.5.6-r.1
DUCKDB_HEADER_VERSION=1.4.4
DDIR=third_party/duckdb
if [ ! -f "$DDIR/package/libduckdb.so" ] || [ "$(cat "$DDIR/VERSION" 2>/dev/null)" != "$DUCKDB_VERSION" ]; then
  echo "install-deps: fetching libduckdb $DUCKDB_VERSION"
  mkdir -p "$DDIR/include"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@duckdb/node-bindings-linux-x64@$DUCKDB_VERSION" >/dev/null \
     && tar xzf duckdb-node-bindings-linux-x64-*.tgz package/libduckdb.so \
     && npm pack --silent "duckdb@$DUCKDB_HEADER_VERSION" >/dev/null \
     && tar xzf "duckdb-$DUCKDB_HEADER_VERSION.tgz" package/src/duckdb/src/include/duckdb.h)
  mkdir -p "$DDIR/package"
  mv "$tmp/package/libduckdb.so" "$DDIR/package/libduckdb.so"
  mv "$tmp/package/src/duckdb/src/include/duckdb.h" "$DDIR/include/duckdb.h"
  rm -rf "$tmp"
  echo "$DUCKDB_VERSION" > "$DDIR/VERSION"
fi

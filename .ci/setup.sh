#!/usr/bin/env bash
# Installs and starts what the tests need on a fresh machine. Sourced by
# .ci/run (and by developers: `source .ci/setup.sh`). Idempotent: cached tools
# are reused.
#   - versitygw v1.8.0, a real S3-compatible server (Go module proxy), cached in ~/.cache/idbatch/bin
#   - DuckDB (npm @duckdb/node-api), the independent Parquet reader, in .ci/duckdb/node_modules
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${IDBATCH_CACHE:-$HOME/.cache/idbatch}
mkdir -p "$cache/bin"

if [ ! -x "$cache/bin/versitygw" ]; then
  echo "setup: installing versitygw v1.8.0 (first time only; a few minutes)"
  GOBIN="$cache/bin" GOFLAGS=-buildvcs=false go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
export IDBATCH_VERSITYGW="$cache/bin/versitygw"

if [ ! -d "$root/.ci/duckdb/node_modules/@duckdb/node-api" ]; then
  echo "setup: installing DuckDB for Node (npm ci)"
  npm ci --prefix "$root/.ci/duckdb" --no-audit --no-fund --loglevel=error
fi
export IDBATCH_DUCKDB="$root/.ci/duckdb/query.mjs"

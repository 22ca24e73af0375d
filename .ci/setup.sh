#!/usr/bin/env bash
# Installs and starts what the tests need on a fresh machine. Sourced by
# .ci/run (and by developers: `source .ci/setup.sh`). Idempotent: cached tools
# are reused.
#   - versitygw v1.8.0, a real S3-compatible server (Go module proxy), cached in ~/.cache/idbatch/bin
#   - DuckDB (npm @duckdb/node-api), the independent Parquet reader, in .ci/duckdb/node_modules
#   - staticcheck v0.8.2 (2026.2.2, supports Go 1.26; Go module proxy), cached in ~/.cache/idbatch/bin
#   - chromium (apt-get), headless, for the run report's browser test
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${IDBATCH_CACHE:-$HOME/.cache/idbatch}
mkdir -p "$cache/bin"

if [ ! -x "$cache/bin/versitygw" ]; then
  echo "setup: installing versitygw v1.8.0 (first time only; a few minutes)"
  GOBIN="$cache/bin" GOFLAGS=-buildvcs=false go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
export IDBATCH_VERSITYGW="$cache/bin/versitygw"

# staticcheck, pinned: a new release can add checks, and CI must not turn red
# by itself. Reinstalled when the cached one is another version.
idbatch_staticcheck_version=v0.8.2
if ! "$cache/bin/staticcheck" -version 2>/dev/null | grep -q "(${idbatch_staticcheck_version#v})"; then
  echo "setup: installing staticcheck $idbatch_staticcheck_version (first time only)"
  (cd "$cache" && GOBIN="$cache/bin" GOFLAGS=-buildvcs=false go install "honnef.co/go/tools/cmd/staticcheck@$idbatch_staticcheck_version")
fi
export IDBATCH_STATICCHECK="$cache/bin/staticcheck"

# Headless Chromium (Debian package) for the run report's browser test (report/).
if [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing chromium (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export IDBATCH_CHROMIUM=/usr/bin/chromium

if [ ! -d "$root/.ci/duckdb/node_modules/@duckdb/node-api" ]; then
  echo "setup: installing DuckDB for Node (npm ci)"
  npm ci --prefix "$root/.ci/duckdb" --no-audit --no-fund --loglevel=error
fi
export IDBATCH_DUCKDB="$root/.ci/duckdb/query.mjs"

# PostgreSQL 15 for pipeline/pgstore and the tests that run on it: a throwaway
# cluster (fsync off, loopback only) on a temp dir, stopped when the shell that
# sourced this file exits. Its DSN is exported as IDBATCH_TEST_PG_DSN; tests
# skip without it locally and fail without it under CI.
idbatch_pg_bin=/usr/lib/postgresql/15/bin
if [ ! -x "$idbatch_pg_bin/initdb" ]; then
  echo "setup: installing PostgreSQL 15 (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi
idbatch_pg_up() { [ -n "${IDBATCH_TEST_PG_DSN:-}" ] && "$idbatch_pg_bin/pg_isready" -q -d "$IDBATCH_TEST_PG_DSN" 2>/dev/null; }
if ! idbatch_pg_up; then
  idbatch_pg_dir=$(mktemp -d /tmp/idbatch-pg.XXXXXX)
  idbatch_pg_port=$(( 20000 + RANDOM % 20000 ))
  while (exec 3<>"/dev/tcp/127.0.0.1/$idbatch_pg_port") 2>/dev/null; do idbatch_pg_port=$(( idbatch_pg_port + 1 )); done
  if [ "$(id -u)" = 0 ]; then
    id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$idbatch_pg_dir"
    idbatch_pg_as() { runuser -u postgres -- "$@"; }
  else
    idbatch_pg_as() { "$@"; }
  fi
  idbatch_pg_as "$idbatch_pg_bin/initdb" -D "$idbatch_pg_dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$idbatch_pg_dir/initdb.log" 2>&1 \
    || { cat "$idbatch_pg_dir/initdb.log"; return 1 2>/dev/null || exit 1; }
  idbatch_pg_as "$idbatch_pg_bin/pg_ctl" -D "$idbatch_pg_dir/data" -l "$idbatch_pg_dir/server.log" -w -t 30 \
    -o "-p $idbatch_pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$idbatch_pg_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null \
    || { cat "$idbatch_pg_dir/server.log"; return 1 2>/dev/null || exit 1; }
  export IDBATCH_TEST_PG_DSN="postgres://postgres@127.0.0.1:$idbatch_pg_port/postgres?sslmode=disable"
  export IDBATCH_PG_DIR="$idbatch_pg_dir"
  idbatch_pg_stop() { idbatch_pg_as "$idbatch_pg_bin/pg_ctl" -D "$IDBATCH_PG_DIR/data" -m immediate stop >/dev/null 2>&1; rm -rf "$IDBATCH_PG_DIR"; }
  trap idbatch_pg_stop EXIT
  echo "setup: PostgreSQL 15 on 127.0.0.1:$idbatch_pg_port (data in $idbatch_pg_dir, stopped at exit)"
fi

#!/usr/bin/env bash
# Runs every native Go fuzz target for a bounded time each: bash .ci/fuzz.sh [DURATION]
# DURATION is a go test -fuzztime value (default 10s). A crasher fails the
# run and is written under the package's testdata/fuzz/<Target>/: commit it
# as a regression seed once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
T="${1:-10s}"

# One "package FuzzTarget" pair per line.
targets=$(cat <<'LIST'
ingest FuzzReadManifestCSV
ingest FuzzReadManifestJSONL
ingest FuzzExifOrientation
ingest FuzzNormalize
results FuzzWebhook
submit/idenfy FuzzParseWebhook
submit/idenfy FuzzDecodeResponses
LIST
)

while read -r pkg t; do
	[ -n "$pkg" ] || continue
	echo "== $pkg $t ($T)"
	go test -run='^$' -fuzz="^${t}\$" -fuzztime="$T" "./$pkg"
done <<<"$targets"

#!/usr/bin/env bash
# Makes the corpus files Go cannot encode, with libvips's command line
# (apt-get install libvips-tools), from ok/png-8bit.png. Run from this
# directory after `go test ./ingest -run TestCorpus -update-corpus`.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vips jpegsave ok/png-8bit.png ok/jpeg-progressive.jpg --Q 80 --interlace --strip
vips colourspace ok/png-8bit.png "$tmp/cmyk.v" cmyk
vips jpegsave "$tmp/cmyk.v" ok/jpeg-cmyk.jpg --Q 80 --strip
vips webpsave ok/png-8bit.png ok/webp-lossy.webp --Q 75 --strip

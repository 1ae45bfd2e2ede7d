#!/bin/sh
# Regenerates testdata/cosmjs/vectors/vectors.json with CosmJS and diffs it with the committed copy.
set -eu
dir=$(dirname "$(readlink -f testdata/cosmjs/oracle.js)")
if [ ! -f "$dir/node_modules/@cosmjs/proto-signing/package.json" ]; then
  echo "SKIP: node_modules not installed in $dir (tools/test runs npm install)"
  exit 0
fi
out="${TEST_TMPDIR:-/tmp}/vectors.json"
(cd "$dir" && node oracle.js vectors) > "$out"
if ! cmp -s "$out" testdata/cosmjs/vectors/vectors.json; then
  echo "FAIL: regenerated vectors differ from the committed testdata/cosmjs/vectors/vectors.json"
  diff "$out" testdata/cosmjs/vectors/vectors.json | head -40
  exit 1
fi
echo "OK: regenerated vectors equal the committed file"

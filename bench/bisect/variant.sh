#!/bin/bash
# Builds a variant of this checkout's HEAD for bisecting the REGISTER path by subtraction:
# a copy of HEAD in DIR/NAME with bench/bisect/patch.mjs's edits applied, bundled into DIR/NAME/b
# as `npm run build` bundles it (bench/README.md, "REGISTER, round 7").
#
#   bench/bisect/variant.sh DIR NAME [EDIT ...]       e.g. variant.sh /tmp/v base; variant.sh /tmp/v canned canned
set -euo pipefail
DIR=$1; NAME=$2; shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$DIR/$NAME
rm -rf "$T"; mkdir -p "$T"
(cd "$ROOT" && git archive HEAD) | tar -x -C "$T"
ln -s "$ROOT/node_modules" "$T/node_modules"
[ $# -eq 0 ] || "$ROOT/node_modules/.bin/node" "$ROOT/bench/bisect/patch.mjs" "$T" "$@"
cd "$T" && PATH="$ROOT/node_modules/.bin:$PATH" node node_modules/wrangler/bin/wrangler.js deploy --dry-run --outdir "$T/b" >"$T/build.log" 2>&1 || { tail "$T/build.log"; exit 1; }
echo "$T/b/index.js"

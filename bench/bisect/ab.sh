#!/bin/bash
# Alternates variants built by variant.sh: ROUNDS rounds, every other one in reverse order, one
# `bench/run.mjs` run per variant and round (50 clients, 8 s window; LOG_LEVEL=warn), each from its
# own tree (so a variant's wrangler.toml and bench/floor count). "floor" is the runtime floor
# (--mode echo) of DIR/base; NAME@N runs NAME with CONNECTION_SHARDS=N; a name starting with "f"
# is a variant of the floor. Run it in your network namespace; QW=seconds to wait for a quiet second.
#
#   bench/bisect/ab.sh DIR ROUNDS OUT.jsonl floor canned base sync ...
#   node bench/bisect/summary.mjs OUT.jsonl
set -u
DIR=$1; R=$2; OUT=$3; shift 3
for r in $(seq 1 "$R"); do
  if [ $((r % 2)) -eq 1 ]; then vs=("$@"); else vs=(); for ((i = $#; i >= 1; i--)); do vs+=("${!i}"); done; fi
  for v in "${vs[@]}"; do
    X=""; tree=${v%@*}; [ "$tree" != "$v" ] && X="SIPEDGE_CONNECTION_SHARDS=${v#*@}"
    M=reg; T=$DIR/$tree
    case "$v" in floor) M=echo; T=$DIR/base ;; f*) M=echo ;; esac
    echo "== $(date -u +%T) round $r $v ($M), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd "$T" && env SIPEDGE_LOG_LEVEL=warn $X node_modules/.bin/node bench/run.mjs --mode $M --conns 50 --duration 8 --warmup 2 \
      --quiet-wait "${QW:-3}" --bundle "$T/b" --json "$OUT" --label "$v" >"$T/last.log" 2>&1
      grep -E "\[r[0-9]+ " "$T/last.log" | head -1)
  done
done

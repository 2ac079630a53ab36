#!/bin/bash
# Gateway calls, A/B alternating: ROUNDS rounds, every other one in reverse order, one
# `bench/run.mjs --mode call` run (50 clients, 8 s window, SIPEDGE_LOG_LEVEL=warn) per variant and
# round. A variant is NAME:TREE:BUNDLE: the run starts from TREE (a `git archive` of a commit with
# node_modules linked in), so its bridge and its migrations count, with the worker bundle in BUNDLE
# (`npx wrangler deploy --dry-run --outdir BUNDLE`). Run it in your network namespace. EXTRA adds
# options (e.g. EXTRA="--rate 200": a paced rate, so the per-second costs amortize alike in every
# run); QW=seconds to wait for a quiet second.
#
#   bench/bisect/ab-call.sh ROUNDS OUT.jsonl base:/tmp/a:/tmp/a/b new:/tmp/b:/tmp/b/b
#   node bench/bisect/pairs.mjs OUT.jsonl base
set -u
R=$1; OUT=$2; shift 2
for r in $(seq 1 "$R"); do
  if [ $((r % 2)) -eq 1 ]; then vs=("$@"); else vs=(); for ((i = $#; i >= 1; i--)); do vs+=("${!i}"); done; fi
  for v in "${vs[@]}"; do
    IFS=: read -r name tree bundle <<<"$v"
    echo "== $(date -u +%T) round $r $name, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    # shellcheck disable=SC2086 # EXTRA is a list of options
    (cd "$tree" && SIPEDGE_LOG_LEVEL=warn node_modules/.bin/node bench/run.mjs --mode call --conns 50 --duration 8 --warmup 2 \
      --quiet-wait "${QW:-3}" --bundle "$bundle" ${EXTRA:-} --json "$OUT" --label "$name" >"$tree/last.log" 2>&1
      grep -E "\[r[0-9]+ " "$tree/last.log" | head -1)
  done
done

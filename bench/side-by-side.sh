#!/bin/bash
# sipedge and Kamailio side by side on the same workloads, interleaved: each round runs sipedge
# (the runtime floor, OPTIONS, keep-alive, REGISTER and gateway call each with its floor, call between two users), then Kamailio with
# ../shared/bench's configuration (REGISTER, gateway call to its own sipp UASes), in reverse order
# every other round. Both use UDP 7070/7072/7074, so they never run at once.
#
#   bench/side-by-side.sh [ROUNDS] [OUT]          default 2 rounds, /tmp/side-by-side.jsonl
#   BUNDLES="DIR:label DIR2:label2" bench/side-by-side.sh   several builds of sipedge per round
#   LOG_LEVELS="info warn" bench/side-by-side.sh   sipedge at each LOG_LEVEL (default: info, as
#       shipped; warn prints nothing per call, as the reference's debug=1 without acc); a level
#       other than info is appended to the label
#   SHARDS="16 1" bench/side-by-side.sh   sipedge with each CONNECTION_SHARDS (default: as
#       wrangler.toml says, 16); a count given is appended to the label ("-shards1")
#   FLOOR_SHARDS=16 bench/side-by-side.sh   the call and registration floors over that many bare
#       objects (run.mjs --floor-shards; default 1), the link's batching split as sipedge's is
#
# Needs ../shared/bench (or KBENCH=dir) and Kamailio with its websocket modules. The JSON lines
# carry a label per target (sipedge's bundle label, or "kamailio"); bench/README.md reads them.
set -u
ROUNDS=${1:-2}
OUT=${2:-/tmp/side-by-side.jsonl}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KSRC=${KBENCH:-$ROOT/../shared/bench}
K=/tmp/kbench
cd "$ROOT"
[ -d "$K/db" ] || "$KSRC/gen_db.sh" >/dev/null
NODE=${NODE:-node_modules/.bin/node}
[ -x "$NODE" ] || NODE=node
OPTS=(--conns 50 --duration 8 --warmup 2 --quiet-wait 10 --json "$OUT" --floor-shards "${FLOOR_SHARDS:-1}")
# Both sides' gateways run the reference's own sipp scenario, so they answer alike: ours
# (test/sipp/uas.xml, `npm run bench`'s default) also sends a 100 Trying, one more datagram per
# call through the bridge and the edge. UAS=FILE picks another for sipedge.
UAS=${UAS:-$KSRC/sipp/uas_rr.xml}

sipedge() {
  local level shards suffix
  for level in ${LOG_LEVELS:-info}; do
    for shards in ${SHARDS:-default}; do
      suffix=""; [ "$level" = info ] || suffix="-$level"
      local env=(SIPEDGE_LOG_LEVEL=$level)
      [ "$shards" = default ] || { env+=(SIPEDGE_CONNECTION_SHARDS=$shards); suffix="$suffix-shards$shards"; }
      for b in ${BUNDLES:-}; do
        env "${env[@]}" "$NODE" bench/run.mjs --mode echo,options,ping,reg,regfloor,call,callfloor,u2u "${OPTS[@]}" --uas-scenario "$UAS" --bundle "${b%%:*}" --label "${b##*:}$suffix" || return 1
      done
      [ -n "${BUNDLES:-}" ] || env "${env[@]}" "$NODE" bench/run.mjs --mode echo,options,ping,reg,regfloor,call,callfloor,u2u "${OPTS[@]}" --uas-scenario "$UAS" --label "sipedge$suffix" || return 1
    done
  done
}

kamailio() {
  (cd "$K" && ./ctl.sh start-uas && KAM_MEM=tlsf ./ctl.sh start-kam) || return 1
  sleep 6 # the first ds_ping round, as run_all.sh waits
  local uas
  uas=$(cat $K/run/uas_7070.pid),$(cat $K/run/uas_7072.pid),$(cat $K/run/uas_7074.pid)
  "$NODE" bench/run.mjs --mode reg,call "${OPTS[@]}" --url ws://127.0.0.1:8080 --domain kbench.local \
    --edge-pid "tree:$(cat $K/run/kamailio.main.pid)" --uas-pid "$uas" --label kamailio
  local status=$?
  (cd "$K" && ./ctl.sh stop-all)
  return $status
}

for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r: $(uptime)"
  if [ $((r % 2)) -eq 1 ]; then sipedge && kamailio; else kamailio && sipedge; fi || exit 1
done

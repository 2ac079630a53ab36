#!/bin/bash
# Calls to gateways with media anchored, sipedge and Kamailio side by side (issue 14: "calls to
# gateways are measured twice: without rtpengine ... and with it, against Kamailio with its
# rtpengine module and the same rtpengine, rtpengine's own CPU counted on both sides").
#
# Every call offers a browser's SDP (test/fixtures/sdp/chromium-offer.sdp: ICE, DTLS-SRTP,
# Opus + G.711). With media, both proxies ask rtpengine for the same things: an offer toward
# the gateway on the INVITE (plain RTP/AVP, G.711 kept), an answer toward the browser on the 200
# (ICE, DTLS-SRTP, rtcp-mux), a delete at the BYE — sipedge by src/routes/media.ts, Kamailio by
# its rtpengine module with the same flag strings in ../shared/bench's configuration (patched
# into /tmp/kbench/kamailio.cfg under `#!ifdef WITH_RTPENGINE`, so the plain reference is
# unchanged). Each rtpengine is started alike (userspace forwarding, deleted calls dropped at once).
# Each round runs sipedge (with and without media), then Kamailio (with and without), in
# reverse order every other round.
#
#   bench/media-side-by-side.sh [ROUNDS] [OUT]        default 2 rounds, /tmp/media-side-by-side.jsonl
set -u
ROUNDS=${1:-2}
OUT=${2:-/tmp/media-side-by-side.jsonl}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KSRC=${KBENCH:-$ROOT/../shared/bench}
K=/tmp/kbench
SDP=$ROOT/test/fixtures/sdp/chromium-offer.sdp
NG=127.0.0.1:22223
cd "$ROOT"
NODE=${NODE:-node_modules/.bin/node}
[ -x "$NODE" ] || NODE=node
OPTS=(--mode call --conns ${CONNS:-50} --duration ${DURATION:-8} --warmup 2 --quiet-wait 10 --json "$OUT" --sdp "$SDP")
command -v rtpengine >/dev/null || { echo "rtpengine is not installed (apt-get install rtpengine-daemon)"; exit 2; }

# The reference's files in /tmp/kbench (ctl.sh copies ../shared/bench there), its db_text
# subscribers, and the rtpengine calls added to its configuration, once.
"$KSRC/ctl.sh" status >/dev/null
[ -d "$K/db" ] || "$KSRC/gen_db.sh" >/dev/null
OFFER="ICE=remove DTLS=off RTP/AVP replace-origin replace-session-connection rtcp-mux-demux strip-extmap codec-mask-all codec-except-PCMU codec-except-PCMA codec-except-telephone-event transcode-PCMU transcode-PCMA DTLS-reverse=passive"
ANSWER="ICE=force DTLS=passive UDP/TLS/RTP/SAVPF replace-origin replace-session-connection rtcp-mux-offer rtcp-mux-require SDES-off generate-mid"
if ! grep -q WITH_RTPENGINE "$K/kamailio.cfg"; then
  awk -v ng="$NG" -v offer="$OFFER" -v answer="$ANSWER" '
    { print }
    /^loadmodule "websocket.so"/ {
      print "#!ifdef WITH_RTPENGINE"; print "loadmodule \"rtpengine.so\""
      print "modparam(\"rtpengine\", \"rtpengine_sock\", \"udp:" ng "\")"; print "#!endif"
    }
    /^route\[PSTN\]/ { pstn = 1 }
    pstn && /ds_select_dst/ { sel = 1 }
    pstn && sel && /^\t}$/ {
      print "#!ifdef WITH_RTPENGINE"; print "\tif (has_body(\"application/sdp\")) rtpengine_offer(\"" offer "\");"; print "#!endif"
      pstn = 0; sel = 0
    }
    /^\tif \(loose_route\(\)\) \{$/ {
      print "#!ifdef WITH_RTPENGINE"; print "\t\tif (is_method(\"BYE\")) rtpengine_delete();"; print "#!endif"
    }
    /^onreply_route\[MANAGE_REPLY\] \{$/ {
      print "#!ifdef WITH_RTPENGINE"; print "\tif (has_body(\"application/sdp\")) rtpengine_answer(\"" answer "\");"; print "#!endif"
    }
  ' "$K/kamailio.cfg" > "$K/kamailio.cfg.new" && mv "$K/kamailio.cfg.new" "$K/kamailio.cfg"
  [ "$(grep -c WITH_RTPENGINE "$K/kamailio.cfg")" = 4 ] || { echo "patching $K/kamailio.cfg failed"; exit 1; }
fi

RTPENGINE_PID=
start_rtpengine() {
  rtpengine --config-file=none --interface=127.0.0.1 --listen-ng=$NG --foreground --log-stderr --no-log-timestamps \
    --log-level=5 --table=-1 --port-min=40000 --port-max=49999 --timeout=60 --silent-timeout=3600 --offer-timeout=300 \
    --delete-delay=0 > "$K/logs/rtpengine.log" 2>&1 &
  RTPENGINE_PID=$!
  sleep 1
  kill -0 $RTPENGINE_PID || { echo "rtpengine failed"; tail "$K/logs/rtpengine.log"; return 1; }
}
stop_rtpengine() { [ -n "$RTPENGINE_PID" ] && kill $RTPENGINE_PID 2>/dev/null; wait $RTPENGINE_PID 2>/dev/null; RTPENGINE_PID=; }

sipedge() {
  "$NODE" bench/run.mjs "${OPTS[@]}" --rtpengine yes --label sipedge-media &&
  "$NODE" bench/run.mjs "${OPTS[@]}" --label sipedge
}

kamailio_run() { # $1 = label, $2.. = defines
  local label=$1; shift
  (cd "$K" && ./ctl.sh start-uas && KAM_MEM=tlsf ./ctl.sh start-kam "$@") || return 1
  sleep 6 # the first ds_ping round, as run_all.sh waits
  local uas extra=()
  uas=$(cat $K/run/uas_7070.pid),$(cat $K/run/uas_7072.pid),$(cat $K/run/uas_7074.pid)
  [ -n "$RTPENGINE_PID" ] && extra=(--rtpengine-pid "$RTPENGINE_PID")
  "$NODE" bench/run.mjs "${OPTS[@]}" --url ws://127.0.0.1:8080 --domain kbench.local \
    --edge-pid "tree:$(cat $K/run/kamailio.main.pid)" --uas-pid "$uas" "${extra[@]}" --label "$label"
  local status=$?
  (cd "$K" && ./ctl.sh stop-all)
  return $status
}

kamailio() {
  start_rtpengine || return 1
  kamailio_run kamailio-media WITH_RTPENGINE
  local status=$?
  stop_rtpengine
  [ $status -eq 0 ] && kamailio_run kamailio
}

trap 'stop_rtpengine; (cd "$K" && ./ctl.sh stop-all)' EXIT
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r: $(uptime)"
  if [ $((r % 2)) -eq 1 ]; then sipedge && kamailio; else kamailio && sipedge; fi || exit 1
done

#!/bin/sh
# Regenerates test/unit/dispatcher/golden.json from a local Kamailio (GPL; only run, never copied).
#
#   apt-get install -y kamailio kamailio-utils-modules kamailio-extra-modules
#   test/unit/dispatcher/gen-golden.sh
#
# It starts Kamailio on 127.0.0.1:5099/udp with a private ctl socket in a temporary directory,
# loads fixtures/golden-dispatcher.list, records `dispatcher.hash` RPC results (kamcmd) and
# whole selections made by ds_select_dst() for SIP requests sent over UDP (gen-golden.mjs),
# then stops Kamailio (by its pid file) and removes the directory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
port=${GOLDEN_SIP_PORT:-5099}
mods=${KAMAILIO_MODULES:-/usr/lib/x86_64-linux-gnu/kamailio/modules}
tmp=$(mktemp -d /tmp/sipedge-golden.XXXXXX)
stop() {
  if [ -s "$tmp/kamailio.pid" ]; then kill "$(cat "$tmp/kamailio.pid")" 2>/dev/null || true; sleep 1; fi
  rm -rf "$tmp"
}
trap stop EXIT INT TERM

cat > "$tmp/kamailio.cfg" <<CFG
#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
disable_tcp=yes
auto_aliases=no
# the reply lists up to 101 failover entries; the core stops while loops at 100 by default
max_while_loops=1000
listen=udp:127.0.0.1:$port
mpath="$mods/"
loadmodule "kex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "xlog.so"
loadmodule "ctl.so"
loadmodule "dispatcher.so"
modparam("ctl", "binrpc", "unix:$tmp/kamailio_ctl")
modparam("dispatcher", "list_file", "$here/fixtures/golden-dispatcher.list")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "hash_pvar", "\$hdr(X-Hash)")
request_route {
  \$var(set) = \$(hdr(X-Set){s.int});
  \$var(alg) = \$(hdr(X-Alg){s.int});
  if (!ds_select_dst("\$var(set)", "\$var(alg)")) {
    sl_send_reply("404", "No destination");
    exit;
  }
  # the failover list, in the order ds_next_dst() walks it
  \$var(i) = 0;
  while (\$xavp(_dsdst_[\$var(i)]=>uri) != \$null) {
    append_to_reply("X-Dst: \$xavp(_dsdst_[\$var(i)]=>uri)\r\n");
    \$var(i) = \$var(i) + 1;
  }
  sl_send_reply("200", "OK");
  exit;
}
CFG

kamailio -f "$tmp/kamailio.cfg" -P "$tmp/kamailio.pid" -x tlsf -m 64 -M 8 -w "$tmp" > "$tmp/kamailio.log" 2>&1
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -S "$tmp/kamailio_ctl" ] && break; sleep 0.5; done
[ -S "$tmp/kamailio_ctl" ] || { cat "$tmp/kamailio.log"; exit 1; }
cd "$root" && npx node "$here/gen-golden.mjs" "$tmp/kamailio_ctl" "$port" "$here/golden.json"

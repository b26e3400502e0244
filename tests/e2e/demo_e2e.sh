#!/usr/bin/env bash
# demo_e2e.sh - `mqttids demo` end to end (ctest demo_e2e, label long, about
# 100 s): it exits 0, its summary says every attack was detected with no
# false positives and lists every attack kind of demo.scn, and it leaves no
# namespace or temporary directory behind.
# usage: demo_e2e.sh MQTTIDS
set -euo pipefail
MQTTIDS=$1
command -v mosquitto >/dev/null || { echo "mosquitto not installed"; exit 77; }
[[ $(id -u) -eq 0 ]] || { echo "the demo's capture needs root"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
count_tmp() { local n=0 d; for d in /tmp/mqttids-demo.*; do [[ -e $d ]] && n=$((n + 1)); done; echo "$n"; }
before=$(count_tmp)
rc=0
"$MQTTIDS" demo > "$W/out" 2> "$W/err" || rc=$?
sed -n '/==== mqttids demo/,$p' "$W/out"
cat "$W/err"
[[ $rc -eq 0 ]] || { echo "FAIL: mqttids demo exited $rc"; exit 1; }
grep -q '^result: every attack detected, no false positives$' "$W/out" || { echo "FAIL: no success line"; exit 1; }
grep -Eq '\[(Critical|High|Medium|Low)\]' "$W/out" || { echo "FAIL: no live alert line on stdout"; exit 1; }
for k in discovery brute-force unauth-subscribe unauth-publish flood-flock malformed flood-malaria \
	connect-flood big-will spoof no-key syn-flood bad-hmac replay slowite takeover slow-ping; do
	grep -Eq "^ +[0-9.]+  $k " "$W/out" || { echo "FAIL: $k not in the summary"; exit 1; }
done
after=$(count_tmp)
[[ $after -le $before ]] || { echo "FAIL: the demo left its temporary directory"; exit 1; }
for n in /run/netns/mqtb*; do
	[[ -e $n ]] || continue
	n=${n##*/}
	pid=${n#mqtb}; pid=${pid%%-*}
	kill -0 "$pid" 2>/dev/null || { echo "FAIL: namespace $n left behind"; exit 1; }
done
echo "demo_e2e: mqttids demo detected every attack"

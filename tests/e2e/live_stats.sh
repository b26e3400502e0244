#!/usr/bin/env bash
# live_stats.sh - mqttids live writes a stats record every stats.interval
# seconds (and only then), to its EVE file, with every table's counters.
# Captures on lo for a few seconds with a filter no packet matches: nothing
# but the clock drives it. Exit 77 (skip) when capturing on lo is not
# permitted. Usage: live_stats.sh MQTTIDS
set -uo pipefail
mqttids=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$mqttids" live -i lo --duration 4 --filter 'tcp port 1 and tcp port 2' \
	--set stats.interval=1 --no-detectors --eve "$tmp/eve.json" 2>"$tmp/err"; then
	if grep -qiE 'permission|not permitted|operation not' "$tmp/err"; then
		echo "live_stats: cannot capture on lo; skipped"; exit 77
	fi
	echo "live_stats: FAIL mqttids live exited non-zero:"; cat "$tmp/err"; exit 1
fi
n=$(grep -c '"event_type":"stats"' "$tmp/eve.json" || true)
# Four seconds at one a second: the first after the first tick's second,
# so at least one whatever the load, never more than four.
if ((n < 1 || n > 4)); then
	echo "live_stats: FAIL $n stats records in 4 s at stats.interval=1"; exit 1
fi
for key in '"decoder":' '"mqtt":' '"detect":' '"detectors":{"takeover":' '"outputs":'; do
	grep -q "$key" "$tmp/eve.json" || { echo "live_stats: FAIL no $key in the stats record"; exit 1; }
done
# stats.interval=0: none.
"$mqttids" live -i lo --duration 2 --filter 'tcp port 1 and tcp port 2' \
	--set stats.interval=0 --no-detectors --eve "$tmp/none.json" 2>/dev/null
if grep -q '"event_type":"stats"' "$tmp/none.json"; then
	echo "live_stats: FAIL a stats record with stats.interval=0"; exit 1
fi
echo "live_stats: PASS ($n stats records)"

#!/usr/bin/env bash
# store_cost.sh - what the alert store's durability costs: `mqttids read`
# of a capture with a rule that alerts on every PUBLISH (rate caps lifted),
# the store committing in batches (read's default, commit-ms 200) and
# committing each alert (commit-ms 0, what live does so that kill -9 loses
# nothing EVE holds). Reports wall and CPU seconds (/usr/bin/time) and the
# cost per alert, alternating the two RUNS times in the same run.
# usage: bench/store_cost.sh MQTTIDS CAPTURE [RUNS]
set -euo pipefail
BIN=$1
PCAP=$2
RUNS=${3:-3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
printf 'mqtt any -> any; name: every publish; msg_type: publish; cooldown: 0; sid: 9000002\n' > "$W/pub.rules"
one() { # commit-ms -> "wall cpu alerts"
	rm -f "$W"/s.db*
	/usr/bin/time -f "%e %U %S" -o "$W/time" "$BIN" read -r "$W/pub.rules" --no-console --no-detectors \
		--set detect.rule-alert-rate=1000000000 --set detect.alert-rate=1000000000 \
		--db "$W/s.db" --set "outputs.sqlite.commit-ms=$1" "$PCAP" 2>"$W/err"
	local alerts
	alerts=$(grep -oE '[0-9]+ alerts,' "$W/err" | grep -oE '[0-9]+')
	awk -v a="$alerts" '{ printf "%.2f %.2f %d\n", $1, $2 + $3, a }' "$W/time"
}
declare -A wall cpu
n=0
for _ in $(seq "$RUNS"); do
	for c in 200 0; do
		read -r w u a < <(one "$c")
		wall[$c]="${wall[$c]:-} $w"; cpu[$c]="${cpu[$c]:-} $u"; n=$a
	done
done
med() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
wb=$(echo "${wall[200]}" | med); cb=$(echo "${cpu[200]}" | med)
w0=$(echo "${wall[0]}" | med); c0=$(echo "${cpu[0]}" | med)
echo "alerts stored per run: $n (medians of $RUNS runs each)"
printf '%-34s %8s %8s %14s %14s\n' "store" "wall s" "cpu s" "wall us/alert" "cpu us/alert"
awk -v n="$n" -v wb="$wb" -v cb="$cb" -v w0="$w0" -v c0="$c0" 'BEGIN {
	printf "%-34s %8.2f %8.2f %14.1f %14.1f\n", "batched (read, commit-ms 200)", wb, cb, wb * 1e6 / n, cb * 1e6 / n
	printf "%-34s %8.2f %8.2f %14.1f %14.1f\n", "each alert committed (live)", w0, c0, w0 * 1e6 / n, c0 * 1e6 / n
	printf "ratio each/batched: wall %.2f, cpu %.2f; added per alert: wall %.1f us, cpu %.1f us\n",
		w0 / wb, c0 / cb, (w0 - wb) * 1e6 / n, (c0 - cb) * 1e6 / n }'

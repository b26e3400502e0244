#!/usr/bin/env bash
# profile.sh - where mqttids decode spends its instructions (callgrind on a slice).
#
# usage: bench/profile.sh [SLICE.pcap [PORT]]
#
# SLICE defaults to the 100k-packet slice bench/run.sh leaves in bench/out/, PORT to
# the capture's port from bench/out/capture.pcap.meta. Runs the release mqttids under
# valgrind --tool=callgrind (about 40 s for 100k packets) and prints the top functions
# by exclusive and by inclusive instruction count, plus the share of instructions
# spent writing EVE JSON (everything under sink_tx, mqtt_eve_msg, mqtt_eve_session
# and sink_anomaly) against the rest of the pipeline and against pcap_floor's.
# Output goes to stdout and bench/out/profile.txt; callgrind's raw file stays in
# bench/out/callgrind.out for callgrind_annotate or kcachegrind.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTDIR=$ROOT/bench/out
SLICE=${1:-$OUTDIR/slice-capture-100000.pcap}
PORT=${2:-$(sed -n 's/^port=//p' "$OUTDIR/capture.pcap.meta" 2>/dev/null)}
[[ -f $SLICE && -n $PORT ]] || { echo "usage: $0 SLICE.pcap PORT (run bench/run.sh first)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
make -s -C "$ROOT/bench" >/dev/null

CG=$OUTDIR/callgrind.out
valgrind --tool=callgrind --callgrind-out-file="$CG" \
	"$ROOT/build/release/mqttids" decode -o /dev/null --mqtt-port "$PORT" "$SLICE" 2>"$OUTDIR/callgrind.log"
valgrind --tool=callgrind --callgrind-out-file="$CG.floor" "$OUTDIR/pcap_floor" "$SLICE" >/dev/null 2>&1

incl() { # inclusive Ir of function $1 (0 if absent)
	callgrind_annotate --inclusive=yes "$CG" 2>/dev/null |
		awk -v fn="$1" '$0 ~ (":" fn " \\[") {gsub(",", "", $1); print $1; f = 1; exit} END {if (!f) print 0}'
}
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'; }
PKTS=$("$OUTDIR/pcap_floor" "$SLICE" | tr ' ' '\n' | sed -n 's/^packets=//p')
{
	echo "callgrind: mqttids decode -o /dev/null on $(basename "$SLICE") ($PKTS packets), $(date -u '+%Y-%m-%d %H:%M UTC')"
	T=$(total "$CG")
	F=$(total "$CG.floor")
	OUT=$(($(incl sink_tx) + $(incl mqtt_eve_msg) + $(incl mqtt_eve_session) + $(incl sink_anomaly)))
	awk -v t="$T" -v f="$F" -v o="$OUT" -v p="$PKTS" 'BEGIN {
		printf "instructions per packet: mqttids %.0f (EVE JSON writing %.0f = %.1f%%, the rest %.0f); pcap_floor %.0f\n",
			t / p, o / p, 100 * o / t, (t - o) / p, f / p }'
	echo
	echo "top functions, exclusive:"
	callgrind_annotate --inclusive=no "$CG" 2>/dev/null | sed -n '/file:function/,$p' | sed -n '3,22p'
	echo
	echo "top functions, inclusive:"
	callgrind_annotate --inclusive=yes "$CG" 2>/dev/null | sed -n '/file:function/,$p' | grep -v 'below main\|libc_start\|ld-linux\|:main \[\|:run \[' | sed -n '3,27p'
} | tee "$OUTDIR/profile.txt"

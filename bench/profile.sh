#!/usr/bin/env bash
# profile.sh - where mqttids decode (or read) spends its instructions (callgrind on a slice).
#
# usage: bench/profile.sh [decode|read|read-gen] [SLICE.pcap [PORT]]
#
# decode (default): mqttids decode -o /dev/null. read: mqttids read with the default
# rules (rules/), EVE to /dev/null, no console. read-gen: the same plus the generated
# rules bench/run.sh leaves in bench/out/bench-1000.rules (BENCH_RULES changes the
# number). BENCH_MQTTIDS profiles another binary. For read and read-gen the report adds the share of the detection path
# (everything under detect_event, detect_tick and the alert sink).
#
# SLICE defaults to the 100k-packet slice bench/run.sh leaves in bench/out/, PORT to
# the capture's port from bench/out/capture.pcap.meta. Runs the release mqttids under
# valgrind --tool=callgrind (about 40 s for 100k packets) and prints the top functions
# by exclusive and by inclusive instruction count, plus the share of instructions
# spent in the outputs (everything under output_emit: building EVE records from the
# structs and writing them) against the rest of the pipeline and against
# pcap_floor's.
# Output goes to stdout and bench/out/profile.txt; callgrind's raw file stays in
# bench/out/callgrind.out for callgrind_annotate or kcachegrind.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTDIR=$ROOT/bench/out
MODE=decode
case ${1:-} in decode | read | read-gen) MODE=$1; shift ;; esac
SLICE=${1:-$OUTDIR/slice-capture-100000.pcap}
PORT=${2:-$(sed -n 's/^port=//p' "$OUTDIR/capture.pcap.meta" 2>/dev/null)}
[[ -f $SLICE && -n $PORT ]] || { echo "usage: $0 SLICE.pcap PORT (run bench/run.sh first)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
make -s -C "$ROOT/bench" >/dev/null

MQ=${BENCH_MQTTIDS:-$ROOT/build/release/mqttids} # BENCH_MQTTIDS: profile that binary
case $MODE in
decode) CMD=("$MQ" decode -o /dev/null --mqtt-port "$PORT") ;;
read) CMD=("$MQ" read --no-console --eve /dev/null --mqtt-port "$PORT" --rules "$ROOT/rules") ;;
read-gen)
	GEN=$OUTDIR/bench-${BENCH_RULES:-1000}.rules
	[[ -f $GEN ]] || python3 "$ROOT/bench/gen_rules.py" -n "${BENCH_RULES:-1000}" -o "$GEN"
	CMD=("$MQ" read --no-console --eve /dev/null --mqtt-port "$PORT" --rules "$ROOT/rules" --rules "$GEN")
	;;
esac
CG=$OUTDIR/callgrind.out
[[ $MODE == decode ]] || CG=$OUTDIR/callgrind.$MODE.out
valgrind --tool=callgrind --callgrind-out-file="$CG" "${CMD[@]}" "$SLICE" 2>"$OUTDIR/callgrind.log"
valgrind --tool=callgrind --callgrind-out-file="$CG.floor" "$OUTDIR/pcap_floor" "$SLICE" >/dev/null 2>&1

incl() { # inclusive Ir of function $1 (0 if absent)
	callgrind_annotate --inclusive=yes "$CG" 2>/dev/null |
		awk -v fn="$1" '$0 ~ (":" fn " \\[") {gsub(",", "", $1); print $1; f = 1; exit} END {if (!f) print 0}'
}
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'; }
PKTS=$("$OUTDIR/pcap_floor" "$SLICE" | tr ' ' '\n' | sed -n 's/^packets=//p')
REPORT=$OUTDIR/profile.txt
[[ $MODE == decode ]] || REPORT=$OUTDIR/profile-$MODE.txt
{
	echo "callgrind: mqttids ${CMD[*]:1} on $(basename "$SLICE") ($PKTS packets), $(date -u '+%Y-%m-%d %H:%M UTC')"
	T=$(total "$CG")
	F=$(total "$CG.floor")
	OUT=$(incl output_emit)
	awk -v t="$T" -v f="$F" -v o="$OUT" -v p="$PKTS" 'BEGIN {
		printf "instructions per packet: mqttids %.0f (outputs, EVE writing %.0f = %.1f%%, the rest %.0f); pcap_floor %.0f\n",
			t / p, o / p, 100 * o / t, (t - o) / p, f / p }'
	if [[ $MODE != decode ]]; then
		# detect_event covers rule matching, thresholds and alerts raised inline; detect_tick
		# the cooldown ends. The alert records are written under them (emit_alert).
		DE=$(incl detect_event)
		DT=$(incl detect_tick)
		awk -v t="$T" -v de="$DE" -v dt="$DT" -v rm="$(incl rule_match)" -v rc="$(incl ruleset_candidates)" \
			-v ea="$(incl emit_alert)" -v p="$PKTS" 'BEGIN {
			printf "detection per packet: detect_event %.0f (%.1f%%; rule_match %.0f, ruleset_candidates %.0f, alert records %.0f), detect_tick %.0f (%.1f%%)\n",
				de / p, 100 * de / t, rm / p, rc / p, ea / p, dt / p, 100 * dt / t }'
	fi
	echo
	echo "top functions, exclusive:"
	callgrind_annotate --inclusive=no "$CG" 2>/dev/null | sed -n '/file:function/,$p' | sed -n '3,22p'
	echo
	echo "top functions, inclusive:"
	callgrind_annotate --inclusive=yes "$CG" 2>/dev/null | sed -n '/file:function/,$p' | grep -v 'below main\|libc_start\|ld-linux\|:main \[\|:run \[' | sed -n '3,27p'
} | tee "$REPORT"

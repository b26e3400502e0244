#!/usr/bin/env bash
# rule_kinds.sh - what each kind of rule costs `mqttids read` (a diagnostic for the rule engine).
#
# usage: bench/rule_kinds.sh [--callgrind] [CAPTURE [PORT]]
#
# For each kind of bench/gen_rules.py (foreign-topic, shared-topic, client-id, username,
# retcode, tcp-port, anomaly, address, misc) it writes BENCH_RULES (1000) non-matching rules
# of that kind only (--only KIND --matching 0), checks that all of them load, and times
#   mqttids read CAPTURE --rules rules/ --rules KIND.rules --no-console --eve /dev/null
# against the default rules alone and the standard mix (bench/gen_rules.py defaults).
# Each is run BENCH_REPS (2) times and the fastest run is kept (a cost breakdown wants
# the least disturbed run). CAPTURE defaults to bench/out/capture.pcap, PORT to its .meta.
# The extra time over the default rules, divided by packets and rules, is the cost of one
# rule of that kind per packet. Measures build/release/mqttids as it is (run bench/run.sh
# or build first), or BENCH_MQTTIDS. Writes the table to stdout and bench/out/rule_kinds.md.
#
# --callgrind counts instructions instead of timing (deterministic, so it does not care what
# else runs on the machine): each row runs once under callgrind on the first 20000 packets
# of CAPTURE (BENCH_KINDS_SLICE), ~15-40 s per row, and the table gives instructions per
# packet and per packet per rule. Writes bench/out/rule_kinds-callgrind.md.
set -euo pipefail

CALLGRIND=0
if [[ ${1:-} == --callgrind ]]; then
	CALLGRIND=1
	shift
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTDIR=$ROOT/bench/out
CAP=${1:-$OUTDIR/capture.pcap}
PORT=${2:-$(sed -n 's/^port=//p' "$CAP.meta" 2>/dev/null)}
N=${BENCH_RULES:-1000}
REPS=${BENCH_REPS:-2}
MQTTIDS=${BENCH_MQTTIDS:-$ROOT/build/release/mqttids}
[[ -f $CAP && $PORT =~ ^[0-9]+$ ]] || { echo "usage: $0 [CAPTURE [PORT]] (no capture or port)" >&2; exit 1; }
[[ -x $MQTTIDS ]] || { echo "$0: no $MQTTIDS" >&2; exit 1; }
mkdir -p "$OUTDIR/kinds"
make -s -C "$ROOT/bench" >/dev/null
if ((CALLGRIND)); then
	command -v valgrind >/dev/null || { echo "$0: valgrind is not installed" >&2; exit 1; }
	KS=${BENCH_KINDS_SLICE:-20000}
	SL=$OUTDIR/kinds/slice-$KS.pcap
	[[ -f $SL && ! $SL -ot $CAP ]] || editcap -r "$CAP" "$SL" "1-$KS"
	CAP=$SL
	REPS=1
fi
PKTS=$("$OUTDIR/pcap_floor" "$CAP" | tr ' ' '\n' | sed -n 's/^packets=//p')
cat "$CAP" >/dev/null

# best KEY RULES... : fastest wall time of REPS runs (with --callgrind: instructions of the
# one run); the last run's summary line in .err
best() {
	local key=$1 r t0 t1 b=
	shift
	if ((CALLGRIND)); then
		valgrind --tool=callgrind --callgrind-out-file="$OUTDIR/kinds/$key.cg" \
			"$MQTTIDS" read --no-console --eve /dev/null --mqtt-port "$PORT" "$@" "$CAP" 2>"$OUTDIR/kinds/$key.err" ||
			{ cat "$OUTDIR/kinds/$key.err" >&2; exit 1; }
		grep -v '^==' "$OUTDIR/kinds/$key.err" >"$OUTDIR/kinds/$key.err.tmp" || true
		awk '/Collected :/ {print $NF}' "$OUTDIR/kinds/$key.err"
		mv "$OUTDIR/kinds/$key.err.tmp" "$OUTDIR/kinds/$key.err"
		return
	fi
	for ((r = 0; r < REPS; r++)); do
		t0=$EPOCHREALTIME
		"$MQTTIDS" read --no-console --eve /dev/null --mqtt-port "$PORT" "$@" "$CAP" 2>"$OUTDIR/kinds/$key.err" ||
			{ cat "$OUTDIR/kinds/$key.err" >&2; exit 1; }
		t1=$EPOCHREALTIME
		b=$(awk -v a="$t0" -v c="$t1" -v b="$b" 'BEGIN {w = c - a; print (b == "" || w < b) ? w : b}')
	done
	echo "$b"
}
matches() { grep -o '[0-9]* alerts, [0-9]* updates, [0-9]* rule matches' "$OUTDIR/kinds/$1.err" | tail -1 | awk '{print $1 " / " $5}'; }

echo "rule_kinds: $CAP ($PKTS packets), $N rules per kind, best of $REPS" >&2
DEF=$(best defaults --rules "$ROOT/rules")
KINDS=(foreign-topic shared-topic client-id username retcode tcp-port anomaly address misc mix)
declare -A W
for k in "${KINDS[@]}"; do
	f=$OUTDIR/kinds/$k.rules
	if [[ $k == mix ]]; then
		python3 "$ROOT/bench/gen_rules.py" -n "$N" -o "$f"
	else
		python3 "$ROOT/bench/gen_rules.py" -n "$N" --matching 0 --only "$k" -o "$f"
	fi
	loaded=$("$MQTTIDS" rules check "$f" 2>/dev/null | awk '/ rules, / {print $(NF - 3); exit}')
	[[ $loaded == "$N" ]] || { echo "$0: $f: ${loaded:-?} of $N rules load" >&2; exit 1; }
	W[$k]=$(best "$k" --rules "$ROOT/rules" --rules "$f")
	echo "rule_kinds: $k ${W[$k]}" >&2
done

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || COMMIT="$COMMIT + uncommitted src changes"
[[ -n ${BENCH_MQTTIDS:-} ]] && COMMIT="$COMMIT, binary $BENCH_MQTTIDS"
if ((CALLGRIND)); then
	{
		echo "## Instructions of $N rules of one kind, \`mqttids read\` ($COMMIT), $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo
		echo "callgrind on \`$(realpath --relative-to="$ROOT" "$CAP")\` ($PKTS packets); each row loads the default rules plus $N rules."
		echo
		echo "| rules | instructions per packet | vs defaults only | extra instructions per packet per rule | alerts / rule matches |"
		echo "| --- | ---: | ---: | ---: | ---: |"
		awk -v w="$DEF" -v p="$PKTS" -v m="$(matches defaults)" 'BEGIN {
			printf "| default rules only | %.0f | 1 | - | %s |\n", w / p, m }'
		for k in "${KINDS[@]}"; do
			name="$N $k"
			[[ $k == mix ]] && name="$N mixed (the run.sh set)"
			awk -v n="$name" -v w="${W[$k]}" -v d="$DEF" -v p="$PKTS" -v r="$N" -v m="$(matches "$k")" 'BEGIN {
				printf "| %s | %.0f | %.3f | %.1f | %s |\n", n, w / p, d / w, (w - d) / p / r, m }'
		done
	} | tee "$OUTDIR/rule_kinds-callgrind.md"
	exit 0
fi
{
	echo "## Cost of $N rules of one kind, \`mqttids read\` ($COMMIT), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Capture \`$(realpath --relative-to="$ROOT" "$CAP")\`, $PKTS packets; each row loads the default rules plus $N rules" \
		"(best of $REPS runs; load average $(cut -d' ' -f1-3 /proc/loadavg))."
	echo
	echo "| rules | wall s | packets/s | vs defaults only | extra ns per packet per rule | alerts / rule matches |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	awk -v w="$DEF" -v p="$PKTS" -v m="$(matches defaults)" 'BEGIN {
		printf "| default rules only | %.3f | %.0f | 1 | - | %s |\n", w, p / w, m }'
	for k in "${KINDS[@]}"; do
		name="$N $k"
		[[ $k == mix ]] && name="$N mixed (the run.sh set)"
		awk -v n="$name" -v w="${W[$k]}" -v d="$DEF" -v p="$PKTS" -v r="$N" -v m="$(matches "$k")" 'BEGIN {
			printf "| %s | %.3f | %.0f | %.3f | %.1f | %s |\n", n, w, p / w, d / w, (w - d) / p / r * 1e9, m }'
	done
} | tee "$OUTDIR/rule_kinds.md"

#!/usr/bin/env bash
# compare.sh - instructions per packet of two mqttids builds, paired, with callgrind.
#
# usage: bench/compare.sh BASE_BIN [NEW_BIN [SLICE.pcap [PORT]]]
#
# Runs both binaries under valgrind --tool=callgrind on the same slice (default: the
# 100k-packet slice bench/run.sh leaves in bench/out/) in the three modes that matter
# for the pipeline's cost:
#   decode        mqttids decode -o /dev/null
#   read          mqttids read --no-console --eve /dev/null (default rules)
#   alerts-only   the same with --alerts-only
# and prints, per mode, the instructions per packet of each and NEW/BASE. Instruction
# counts are repeatable for one binary and input whatever else the machine does, so
# this is the measure for changes of a few per cent that wall clocks cannot see. It
# also prints pcap_floor's, the libpcap read floor. NEW_BIN defaults to
# build/release/mqttids; PORT to the capture's port from bench/out/capture.pcap.meta.
# Each run takes ~30-60 s. Writes bench/out/compare.md as well.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTDIR=$ROOT/bench/out
[[ $# -ge 1 ]] || { echo "usage: $0 BASE_BIN [NEW_BIN [SLICE.pcap [PORT]]]" >&2; exit 2; }
BASE=$1
NEW=${2:-$ROOT/build/release/mqttids}
SLICE=${3:-$OUTDIR/slice-capture-100000.pcap}
PORT=${4:-$(sed -n 's/^port=//p' "$OUTDIR/capture.pcap.meta" 2>/dev/null)}
[[ -x $BASE && -x $NEW && -f $SLICE && -n $PORT ]] ||
	{ echo "$0: need two binaries, a slice and its port (run bench/run.sh first)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
make -s -C "$ROOT/bench" >/dev/null
export TZ=UTC

ir() { # instructions of one run: ir BIN ARGS...
	local out
	out=$(mktemp)
	valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>&1
	callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'
	rm -f "$out"
}
PKTS=$("$OUTDIR/pcap_floor" "$SLICE" | tr ' ' '\n' | sed -n 's/^packets=//p')
FLOOR=$(ir "$OUTDIR/pcap_floor" "$SLICE")
REPORT=$OUTDIR/compare.md
{
	echo "callgrind on $(basename "$SLICE") ($PKTS packets), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "base: $BASE"
	echo "new:  $NEW"
	echo
	echo "| mode | base Ir/packet | new Ir/packet | new / base |"
	echo "| --- | ---: | ---: | ---: |"
	for mode in decode read alerts-only; do
		case $mode in
		decode) args=(decode -o /dev/null --mqtt-port "$PORT") ;;
		read) args=(read --no-console --eve /dev/null --mqtt-port "$PORT" --rules "$ROOT/rules") ;;
		alerts-only) args=(read --alerts-only --no-console --eve /dev/null --mqtt-port "$PORT" --rules "$ROOT/rules") ;;
		esac
		b=$(ir "$BASE" "${args[@]}" "$SLICE")
		n=$(ir "$NEW" "${args[@]}" "$SLICE")
		awk -v m="$mode" -v b="$b" -v n="$n" -v p="$PKTS" \
			'BEGIN { printf "| %s | %.0f | %.0f | %.3f |\n", m, b / p, n / p, n / b }'
	done
	awk -v f="$FLOOR" -v p="$PKTS" 'BEGIN { printf "| libpcap floor | %.0f | | |\n", f / p }'
} | tee "$REPORT"

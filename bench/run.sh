#!/usr/bin/env bash
# run.sh - measure mqttids decode against the libpcap floor and tshark, in one run.
#
# usage: bench/run.sh [CAPTURE]
#
# CAPTURE defaults to bench/out/capture.pcap, made by bench/make_capture.sh (1M packets,
# ~10k TCP connections of real mosquitto traffic) when it does not exist. The MQTT port
# comes from CAPTURE.meta (written by make_capture.sh), else BENCH_PORT, else the most
# common destination port of the SYNs in the capture.
#
# Steps: build mqttids (release preset, incremental) and the helpers in bench/; then,
# with the capture in the page cache, each repeated BENCH_REPS (3) times, interleaved,
# median reported:
#   floor       bench/out/pcap_floor CAPTURE          (pcap_next_ex loop, touches each packet)
#   mqttids     mqttids decode CAPTURE -o /dev/null --mqtt-port PORT
#   floor/slice and mqttids/slice on the first BENCH_SLICE (100000) packets
# and tshark's MQTT decode of the slice (-T json, BENCH_TSHARK_REPS (2) runs, best
# kept: it is slow, and the best run is the fair comparison). Wall time is measured
# around each process; peak RSS is GNU time's "Maximum resident set size".
#
# Prints a markdown table and writes it to bench/out/latest.md. Exit status 0 when the
# measurements ran (whether or not the targets were met), 1 when something failed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
OUTDIR=$BENCH/out
CAP=${1:-$OUTDIR/capture.pcap}
REPS=${BENCH_REPS:-3}
SLICE_N=${BENCH_SLICE:-100000}
TSHARK_REPS=${BENCH_TSHARK_REPS:-2}
MQTTIDS=$ROOT/build/release/mqttids
GNU_TIME=/usr/bin/time
mkdir -p "$OUTDIR"

die() { echo "run.sh: $*" >&2; exit 1; }
[[ -x $GNU_TIME ]] || die "GNU time is missing (apt-get install time)"
for t in tshark editcap capinfos cmake make cc; do
	command -v "$t" >/dev/null || die "$t is not installed"
done

# --- build --------------------------------------------------------------------------------
# Other people edit src/ while this runs; a failed build is retried, and an existing
# binary is used (with a warning) if it keeps failing.
build_ok=0
for attempt in 1 2 3; do
	if { [[ -f $ROOT/build/release/CMakeCache.txt ]] || (cd "$ROOT" && cmake --preset release >/dev/null); } &&
		(cd "$ROOT" && cmake --build --preset release -j2 --target mqttids >"$OUTDIR/build.log" 2>&1); then
		build_ok=1
		break
	fi
	echo "run.sh: release build failed (attempt $attempt, see bench/out/build.log); retrying in 60 s" >&2
	sleep 60
done
if ((!build_ok)); then
	[[ -x $MQTTIDS ]] || die "no mqttids binary"
	echo "run.sh: WARNING: measuring the existing $MQTTIDS, which may be stale" >&2
fi
make -s -C "$BENCH" >/dev/null
# Others edit src/ while benchmarks run: name an uncommitted state by a hash of its diff.
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null ||
	COMMIT="$COMMIT + uncommitted src changes (diff $(git -C "$ROOT" diff HEAD -- src | sha1sum | cut -c1-8))"

# --- capture and slice --------------------------------------------------------------------
if [[ ! -f $CAP ]]; then
	[[ $# -eq 0 ]] || die "$CAP does not exist"
	echo "run.sh: making $CAP (a few minutes)" >&2
	"$BENCH/make_capture.sh" "$CAP"
fi
PORT=${BENCH_PORT:-}
[[ -z $PORT && -f $CAP.meta ]] && PORT=$(sed -n 's/^port=//p' "$CAP.meta")
if [[ -z $PORT ]]; then
	PORT=$(tcpdump -nr "$CAP" -c 100000 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2>/dev/null |
		awk '{n = split($5, a, "."); sub(":", "", a[n]); c[a[n]]++} END {for (p in c) if (c[p] > m) {m = c[p]; b = p} print b}')
fi
[[ $PORT =~ ^[0-9]+$ ]] || die "cannot tell the MQTT port of $CAP; set BENCH_PORT"

SLICE=$OUTDIR/slice-$(basename "${CAP%.*}")-$SLICE_N.pcap
if [[ ! -f $SLICE || $SLICE -ot $CAP ]]; then
	editcap -r "$CAP" "$SLICE" "1-$SLICE_N"
fi
cat "$CAP" "$SLICE" >/dev/null # page cache: every tool reads from memory

# --- measuring ---------------------------------------------------------------------------
# measure KEY CMD... : one run; appends "wall_s maxrss_kb cpu_s" to $OUTDIR/.m.KEY, and fails
# the script if CMD fails (its stderr is kept in $OUTDIR/.err.KEY).
rm -f "$OUTDIR"/.m.* "$OUTDIR"/.err.*
measure() {
	local key=$1 t0 t1 rss
	shift
	t0=$EPOCHREALTIME
	if ! "$GNU_TIME" -f '%M %U %S' -o "$OUTDIR/.rss" "$@" >/dev/null 2>"$OUTDIR/.err.$key"; then
		cat "$OUTDIR/.err.$key" >&2
		die "failed: $*"
	fi
	t1=$EPOCHREALTIME
	rss=$(tail -1 "$OUTDIR/.rss")
	awk -v a="$t0" -v b="$t1" -v r="$rss" 'BEGIN {split(r, f, " "); printf "%.6f %d %.2f\n", b - a, f[1], f[2] + f[3]}' \
		>>"$OUTDIR/.m.$key"
}
# stat KEY FIELD FN : FN (median|min|max) of column FIELD (1 wall, 2 rss, 3 cpu) over the runs.
stat() {
	awk -v f="$2" '{print $f}' "$OUTDIR/.m.$1" | sort -g | awk -v fn="$3" '
		{v[NR] = $1} END {
			if (fn == "min") print v[1]; else if (fn == "max") print v[NR];
			else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

floor_fields() { "$BENCH/out/pcap_floor" "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
PKTS=$(floor_fields "$CAP" packets)
BYTES=$(floor_fields "$CAP" bytes)
SPKTS=$(floor_fields "$SLICE" packets)
SBYTES=$(floor_fields "$SLICE" bytes)

# Other work on the machine skews every number: record the load around the runs.
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 >= 20 {printf "%s%s (%s%%)", n++ ? ", " : "", $2, $1}')
DEC=("$MQTTIDS" decode -o /dev/null --mqtt-port "$PORT")
echo "run.sh: $CAP: $PKTS packets, port $PORT; $REPS rounds" >&2
for ((r = 1; r <= REPS; r++)); do
	measure floor "$BENCH/out/pcap_floor" "$CAP"
	measure mqttids "${DEC[@]}" "$CAP"
	measure floor_slice "$BENCH/out/pcap_floor" "$SLICE"
	measure mqttids_slice "${DEC[@]}" "$SLICE"
	echo "run.sh: round $r done" >&2
done
for ((r = 1; r <= TSHARK_REPS; r++)); do
	measure tshark_slice tshark -n -r "$SLICE" -d "tcp.port==$PORT,mqtt" -o tcp.reassemble_out_of_order:TRUE -Y mqtt -T json
	echo "run.sh: tshark run $r done" >&2
done

# One untimed run with --stats says what mqttids found, so a fast but wrong decode shows.
"$MQTTIDS" decode --stats --mqtt-port "$PORT" "$CAP" 2>/dev/null | tail -1 >"$OUTDIR/stats.json"
STATS=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["stats"]
print(s["decoder"]["pkts"], s["flow"]["created"], s["mqtt"]["messages"], s["mqtt"]["anomalies"], s["tcp"]["gaps"])
' "$OUTDIR/stats.json" 2>/dev/null || echo "? ? ? ? ?")
read -r ST_PKTS ST_FLOWS ST_MSGS ST_ANOM ST_GAPS <<<"$STATS"

LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------------------
F_WALL=$(stat floor 1 median)
M_WALL=$(stat mqttids 1 median)
FS_WALL=$(stat floor_slice 1 median)
MS_WALL=$(stat mqttids_slice 1 median)
T_WALL=$(stat tshark_slice 1 min)
M_RSS=$(stat mqttids 2 max)

row() { # name input packets bytes wall rss_kb runs cpu
	awk -v n="$1" -v i="$2" -v p="$3" -v b="$4" -v w="$5" -v r="$6" -v k="$7" -v c="$8" 'BEGIN {
		printf "| %s | %s | %d | %.1f | %.3f (%s) | %.0f | %.1f | %.2f | %.1f |\n",
			n, i, p, b / 1e6, w, k, p / w, b / 1e6 / w, c, r / 1024 }'
}
# Same packets on both sides, so a packet-rate ratio is a ratio of times.
R_FLOOR=$(awk -v w="$M_WALL" -v f="$F_WALL" 'BEGIN {printf "%.6f", f / w}')
R_TSHARK=$(awk -v w="$MS_WALL" -v t="$T_WALL" 'BEGIN {printf "%.6f", t / w}')
C_FLOOR=$(awk -v w="$(stat mqttids 3 median)" -v f="$(stat floor 3 median)" 'BEGIN {printf "%.3f", (w > 0 ? f / w : 0)}')
C_TSHARK=$(awk -v w="$(stat mqttids_slice 3 median)" -v t="$(stat tshark_slice 3 min)" 'BEGIN {printf "%.1f", (w > 0 ? t / w : 0)}')
verdict() { # value goal cmp(ge|lt) unit
	awk -v v="$1" -v g="$2" -v c="$3" 'BEGIN {
		ok = (c == "ge") ? v >= g : v < g
		if (ok) print "**met**"
		else if (c == "ge" && g / v < 1.1) printf "**missed**: %.1f%% short\n", (g / v - 1) * 100
		else if (c == "ge") printf "**missed**: %.1fx short\n", g / v
		else printf "**missed**: %.1f%% over\n", (v / g - 1) * 100 }'
}
CPU=$(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)
CONNS=$(sed -n 's/^connections=//p' "$CAP.meta" 2>/dev/null || true)

{
	echo "## mqttids decode benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Host: $(nproc) CPUs ($CPU), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM; mqttids $COMMIT (release preset);" \
		"$(tshark -v 2>/dev/null | head -1 | sed "s/\.$//"); $(pcap-config --version 2>/dev/null | sed 's/^/libpcap /' || echo libpcap)."
	echo "Capture: \`$(realpath --relative-to="$ROOT" "$CAP")\`, $PKTS packets, $(awk -v b="$BYTES" 'BEGIN {printf "%.1f", b / 1e6}') MB," \
		"${CONNS:-?} TCP connections (mqttids: $ST_FLOWS flows, $ST_MSGS MQTT messages, $ST_ANOM anomaly records, $ST_GAPS gaps), port $PORT;" \
		"slice: first $SPKTS packets."
	echo "Load average before/after: $LOAD0 / $LOAD1${BUSY:+; busy before the runs: $BUSY}."
	echo
	echo "| measurement | input | packets | MB | wall s (runs) | packets/s | MB/s | CPU s | peak RSS MiB |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	row "libpcap floor (\`pcap_floor\`)" full "$PKTS" "$BYTES" "$F_WALL" "$(stat floor 2 max)" "median of $REPS" "$(stat floor 3 median)"
	row "\`mqttids decode -o /dev/null\`" full "$PKTS" "$BYTES" "$M_WALL" "$M_RSS" "median of $REPS" "$(stat mqttids 3 median)"
	row "libpcap floor (\`pcap_floor\`)" slice "$SPKTS" "$SBYTES" "$FS_WALL" "$(stat floor_slice 2 max)" "median of $REPS" "$(stat floor_slice 3 median)"
	row "\`mqttids decode -o /dev/null\`" slice "$SPKTS" "$SBYTES" "$MS_WALL" "$(stat mqttids_slice 2 max)" "median of $REPS" "$(stat mqttids_slice 3 median)"
	row "\`tshark -Y mqtt -T json\`" slice "$SPKTS" "$SBYTES" "$T_WALL" "$(stat tshark_slice 2 max)" "best of $TSHARK_REPS" "$(stat tshark_slice 3 min)"
	echo
	echo "| target | measured | goal | result |"
	echo "| --- | ---: | ---: | --- |"
	echo "| mqttids / libpcap floor, packet rate (full capture) | $(printf %.3f "$R_FLOOR") | >= 0.333 | $(verdict "$R_FLOOR" 0.3333 ge) |"
	echo "| mqttids / tshark, packet rate (slice) | $(printf %.1f "$R_TSHARK")x | >= 100x | $(verdict "$R_TSHARK" 100 ge) |"
	echo "| mqttids peak RSS (full capture, max of $REPS) | $(awk -v r="$M_RSS" 'BEGIN {printf "%.1f MiB", r / 1024}') | < 64 MiB | $(verdict "$M_RSS" 65536 lt) |"
	echo
	echo "The same ratios on CPU time (user+sys, less sensitive to other load on the machine, 10 ms resolution):" \
		"mqttids / floor $C_FLOOR, mqttids / tshark ${C_TSHARK}x."
} | tee "$OUTDIR/latest.md"
rm -f "$OUTDIR"/.m.* "$OUTDIR"/.err.* "$OUTDIR/.rss"

#!/usr/bin/env bash
# eve_equiv.sh - byte-for-byte equivalence of the EVE output of two mqttids binaries.
#
# usage: scripts/eve_equiv.sh BASE_BIN NEW_BIN [INPUT_DIR]
#
# For a refactor that must not change any output: runs both binaries with identical
# arguments on every capture of INPUT_DIR (default /work/ref/inputs) and compares
# what they write with cmp. For each input, in the modes it lists (all three unless
# NAME.modes says otherwise):
#   decode       mqttids decode ARGS -o OUT CAP
#   read         mqttids read ARGS -r RULES [-c CONF] [READ-ARGS] --eve OUT --no-console CAP
#   read-alerts  the same with --alerts-only
# ARGS are the input's options (NAME.args, one per line, plus --mqtt-port from the
# port= line of NAME.pcap.meta), CONF its NAME.yaml and READ-ARGS its NAME.read-args
# (the e2e tests' configurations; scripts/eve_equiv_inputs.sh documents the format).
# RULES is the rules/ directory of the NEW binary's tree (the first rules/ beside a
# CMakeLists.txt above NEW_BIN; else this tree's), for both sides; EQUIV_RULES
# overrides it. Both run with TZ=UTC and LC_ALL=C, from their own empty directory;
# a @STATE@ argument becomes a fresh (absent) state file per run, and the state files
# the two runs save are compared as well (mode "read:state").
#
# The EVE file, stdout and exit status must all be equal for `same`; otherwise the
# line says DIFF, with the first differing EVE line of each side (cut to 300
# characters around the first differing column). One line per (input, mode):
#   same  NAME  MODE
#   DIFF  NAME  MODE  line N        (then "    base: ..." and "    new:  ...")
# then `N same, M differ`. The last stderr lines (mqttids' summaries) are compared
# too and a difference is reported as a "note:" line, not counted. Offline
# detection is deterministic (event time, content-derived alert uuids), so the same
# binary twice must give `same` everywhere. Exit status: 0 all same, 1 some differ,
# 2 bad usage or missing inputs.
#
# The inputs: `scripts/eve_equiv_inputs.sh [DIR]` makes them once (the 1M bench
# capture needs root and a few minutes; the rest takes seconds) and this script never
# regenerates them. The two sides run at the same time (EQUIV_SERIAL=1: one after
# the other, which would also show output that depends on the wall clock); a full
# run of the 51 inputs (153 comparisons) takes about 35 s on 2 cores, most of it the
# 1M-packet capture. The bench capture is live traffic: compare binaries on one
# inputs directory, not outputs of captures made at different times.
#
# Examples:
#   scripts/eve_equiv.sh /work/base/build/release/mqttids build/release/mqttids
#   EQUIV_ONLY='^(sv-|golden-)' scripts/eve_equiv.sh OLD NEW       # seconds
#   EQUIV_EXTRA_ARGS='--string-log-limit 10' scripts/eve_equiv.sh B B   # must differ
#
# Environment:
#   EQUIV_OUT         directory for the outputs (default: a new mktemp -d); per input
#                     NAME/MODE.{base,new}.{cmd,eve,out,err,rc[,state]}; all but
#                     the EVE files are always kept
#   EQUIV_KEEP=1      keep EVE files that are the same (default: deleted once compared;
#                     the ones that differ are always kept)
#   EQUIV_ONLY=RE     only inputs whose name matches the extended regex RE
#   EQUIV_MODES="..." only these modes (decode read read-alerts)
#   EQUIV_RULES=DIR   the rules for both sides
#   EQUIV_SERIAL=1    run the NEW side after the BASE side instead of alongside it
#   EQUIV_TIMEOUT=S   time limit per run (default 600 s; a run cut off is a DIFF)
#   EQUIV_EXTRA_ARGS  extra options for the NEW side only, split on blanks and put
#                     before the capture, e.g. EQUIV_EXTRA_ARGS='--string-log-limit 10'
#                     to check that a real difference is caught
set -uo pipefail
export LC_ALL=C

usage() { echo "usage: $0 BASE_BIN NEW_BIN [INPUT_DIR]" >&2; exit 2; }
(($# == 2 || $# == 3)) || usage
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
BASE=$(abs "$1")
NEW=$(abs "$2")
IN=${3:-/work/ref/inputs}
for b in "$BASE" "$NEW"; do
	[[ -x $b && -f $b ]] || { echo "$0: $b is not an executable" >&2; exit 2; }
done
[[ -d $IN ]] || { echo "$0: no input directory $IN (make it with scripts/eve_equiv_inputs.sh)" >&2; exit 2; }
IN=$(cd "$IN" && pwd)

rules_dir() { # the rules/ of NEW_BIN's tree
	local d
	d=$(dirname "$(realpath "$NEW")")
	while [[ $d != / ]]; do
		[[ -d $d/rules && -f $d/CMakeLists.txt ]] && { echo "$d/rules"; return; }
		d=$(dirname "$d")
	done
	echo "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/rules"
}
RULES=${EQUIV_RULES:-$(rules_dir)}
[[ -d $RULES || -f $RULES ]] || { echo "$0: no rules at $RULES (set EQUIV_RULES)" >&2; exit 2; }
OUT=${EQUIV_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/eve-equiv.XXXXXX")}
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
TIMEOUT=${EQUIV_TIMEOUT:-600}
MODES=${EQUIV_MODES:-decode read read-alerts}
read -r -a EXTRA <<<"${EQUIV_EXTRA_ARGS:-}"

shopt -s nullglob
CAPS=("$IN"/*.pcap)
shopt -u nullglob
((${#CAPS[@]})) || { echo "$0: no *.pcap in $IN (make them with scripts/eve_equiv_inputs.sh)" >&2; exit 2; }

# lines FILE - the lines of FILE with @INPUT_DIR@ replaced, into the array `got`
lines() {
	got=()
	[[ -f $1 ]] || return 0
	mapfile -t got < <(sed "s|@INPUT_DIR@|$IN|g" "$1")
}

# run SIDE BIN NAME MODE CAP ARGS... - one run, in the background; files under $OUT/NAME
run() {
	local side=$1 bin=$2 name=$3 mode=$4 cap=$5 dir=$OUT/$3 a
	shift 5
	local args=()
	for a in "$@"; do args+=("${a//@STATE@/$dir/$mode.$side.state}"); done
	[[ $side == new ]] && args+=("${EXTRA[@]}")
	rm -f "$dir/$mode.$side".{eve,out,err,rc,state}
	mkdir -p "$dir/$mode.$side.cwd"
	case $mode in
	decode) set -- decode "${args[@]}" -o "$dir/$mode.$side.eve" "$cap" ;;
	read) set -- read "${args[@]}" --eve "$dir/$mode.$side.eve" --no-console "$cap" ;;
	read-alerts) set -- read "${args[@]}" --alerts-only --eve "$dir/$mode.$side.eve" --no-console "$cap" ;;
	esac
	printf '%q ' "$bin" "$@" >"$dir/$mode.$side.cmd"
	(
		cd "$dir/$mode.$side.cwd" || exit 1
		TZ=UTC timeout "$TIMEOUT" "$bin" "$@" >"$dir/$mode.$side.out" 2>"$dir/$mode.$side.err" </dev/null
		echo $? >"$dir/$mode.$side.rc"
	) &
}

# first_diff A B - the number of the first line where files A and B differ
first_diff() {
	local msg f n
	msg=$(cmp -- "$1" "$2" 2>&1)
	if [[ $msg =~ differ:\ (byte|char)\ [0-9]+,\ line\ ([0-9]+) ]]; then
		echo "${BASH_REMATCH[2]}"
	elif [[ $msg =~ EOF\ on\ (.*)\ (after\ (byte|char)\ ([0-9]+)|which\ is\ empty) ]]; then
		f=${BASH_REMATCH[1]} n=${BASH_REMATCH[4]:-0}
		echo $(($(head -c "$n" -- "$f" | wc -l) + 1))
	else
		echo 1
	fi
}
# line_of FILE N - line N of FILE into `ln`; ok=1, or 0 when FILE ends before
# line N, or -1 when there is no FILE
line_of() {
	local x=
	ok=-1 ln=''
	[[ -f $1 ]] || return 0
	x=$(awk -v n="$2" 'NR == n { print "L" $0; exit }' "$1")
	ok=0
	[[ $x == L* ]] && ok=1
	ln=${x#L}
}
# cut300 OK LINE START - LINE cut to 300 characters from START (… marks a cut)
cut300() {
	if (($1 != 1)); then
		if (($1 == 0)); then echo "<end of file>"; else echo "<no file>"; fi
		return
	fi
	local pre='' post=''
	(($3 > 0)) && pre=…
	((${#2} > $3 + 300)) && post=…
	echo "$pre${2:$3:300}$post"
}
# show_diff A B N - line N of files A and B, cut around the first column where
# they differ, as two indented lines
show_diff() {
	local a b oka okb col=1 msg start
	line_of "$1" "$3"
	a=$ln oka=$ok
	line_of "$2" "$3"
	b=$ln okb=$ok
	if ((oka == 1 && okb == 1)); then
		msg=$(cmp <(printf '%s\n' "$a") <(printf '%s\n' "$b") 2>&1)
		[[ $msg =~ (differ:|after)\ (byte|char)\ ([0-9]+) ]] && col=${BASH_REMATCH[3]}
	fi
	start=$((col > 100 ? col - 100 : 0))
	echo "    base: $(cut300 "$oka" "$a" "$start")"
	echo "    new:  $(cut300 "$okb" "$b" "$start")"
	((col > 1)) && echo "    (first difference at column $col)"
	return 0
}
lastline() { if [[ -s $1 ]]; then tail -n 1 "$1"; else echo "<empty>"; fi; }

same=0 differ=0 notes=0
T0=$EPOCHREALTIME
echo "eve_equiv: base $BASE"
echo "eve_equiv: new  $NEW${EQUIV_EXTRA_ARGS:+ (plus $EQUIV_EXTRA_ARGS)}"
echo "eve_equiv: inputs $IN, rules $RULES, outputs $OUT"
for cap in "${CAPS[@]}"; do
	name=$(basename "$cap" .pcap)
	[[ -z ${EQUIV_ONLY:-} || $name =~ $EQUIV_ONLY ]] || continue
	common=()
	if [[ -f $IN/$name.pcap.meta ]]; then
		port=$(sed -n 's/^port=//p' "$IN/$name.pcap.meta" | head -n 1)
		[[ -n $port ]] && common+=(--mqtt-port "$port")
	fi
	lines "$IN/$name.args" && common+=("${got[@]}")
	readx=(-r "$RULES")
	mkdir -p "$OUT/$name"
	if [[ -f $IN/$name.yaml ]]; then
		sed "s|@INPUT_DIR@|$IN|g" "$IN/$name.yaml" >"$OUT/$name/config.yaml"
		readx+=(-c "$OUT/$name/config.yaml")
	fi
	lines "$IN/$name.read-args" && readx+=("${got[@]}")
	modes=$MODES
	[[ -f $IN/$name.modes ]] && modes=$(cat "$IN/$name.modes")
	for mode in $modes; do
		[[ " $MODES " == *" $mode "* ]] || continue
		case $mode in
		decode) args=("${common[@]}") ;;
		read | read-alerts) args=("${common[@]}" "${readx[@]}") ;;
		*) echo "$0: $name: unknown mode $mode" >&2; exit 2 ;;
		esac
		run base "$BASE" "$name" "$mode" "$cap" "${args[@]}"
		[[ ${EQUIV_SERIAL:-0} == 1 ]] && wait
		run new "$NEW" "$name" "$mode" "$cap" "${args[@]}"
		wait
		p=$OUT/$name/$mode
		rmdir "$p.base.cwd" "$p.new.cwd" 2>/dev/null
		why=()
		eve_same=1
		if [[ ! -f $p.base.eve && ! -f $p.new.eve ]]; then
			: # neither wrote one (a run that fails on its options): the rest decides
		elif ! cmp -s -- "$p.base.eve" "$p.new.eve" 2>/dev/null; then
			eve_same=0
		fi
		rb=$(cat "$p.base.rc") rn=$(cat "$p.new.rc")
		[[ $rb == "$rn" ]] || why+=("exit status $rb vs $rn")
		cmp -s -- "$p.base.out" "$p.new.out" || why+=("stdout differs")
		if ((eve_same && ${#why[@]} == 0)); then
			echo "same  $name  $mode"
			((same += 1))
			[[ ${EQUIV_KEEP:-0} == 1 ]] || rm -f "$p.base.eve" "$p.new.eve"
		else
			((differ += 1))
			if ((eve_same)); then
				echo "DIFF  $name  $mode  (${why[*]}; EVE the same)"
			else
				l=$(first_diff "$p.base.eve" "$p.new.eve")
				if ((${#why[@]})); then echo "DIFF  $name  $mode  line $l (${why[*]})"; else echo "DIFF  $name  $mode  line $l"; fi
				show_diff "$p.base.eve" "$p.new.eve" "$l"
			fi
		fi
		if [[ -f $p.base.state || -f $p.new.state ]]; then
			if cmp -s -- "$p.base.state" "$p.new.state" 2>/dev/null; then
				echo "same  $name  $mode:state"
				((same += 1))
			else
				((differ += 1))
				l=$(first_diff "$p.base.state" "$p.new.state")
				echo "DIFF  $name  $mode:state  line $l"
				show_diff "$p.base.state" "$p.new.state" "$l"
			fi
		fi
		eb=$(lastline "$p.base.err") en=$(lastline "$p.new.err")
		if [[ $eb != "$en" ]]; then
			((notes += 1))
			echo "    note: last stderr line differs (not counted): base: ${eb:0:300} | new: ${en:0:300}"
		fi
	done
done
T1=$EPOCHREALTIME
note=
((notes)) && note=" ($notes stderr summaries differ, not counted)"
echo "$same same, $differ differ$note; $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s; outputs in $OUT"
((same + differ > 0)) || { echo "$0: nothing compared (EQUIV_ONLY/EQUIV_MODES too narrow?)" >&2; exit 2; }
((differ == 0))

#!/usr/bin/env bash
# eve_equiv_inputs.sh - make the captures (and their options) that scripts/eve_equiv.sh
# runs two mqttids binaries on.
#
# usage: scripts/eve_equiv_inputs.sh [--synth MQTTIDS-SYNTH] [--recapture] [DIR]
#
# DIR defaults to /work/ref/inputs (keep it outside the repository: the 1M capture
# is 250 MB). What it makes, each step skipped when its files are already there
# (delete them, or pass --recapture for the bench capture, to make them again):
#
#  1a. bench-1m.pcap (+ .meta): the benchmark's 1,000,000-packet capture of real
#      mosquitto traffic on 127.0.0.1 (bench/make_capture.sh: root, mosquitto and
#      tcpdump, 3-6 min). When bench/out/capture.pcap exists it is taken from there
#      instead (unless --recapture); a new capture is also copied there (with its
#      .meta) when bench/out has none, so bench/run.sh measures the same file.
#      Live traffic: a new capture is not byte-identical to an older one.
#      bench-100k.pcap: its first 100,000 packets (editcap -r, as bench/run.sh).
#      bench-1m-detectors: the 1M capture (a symlink) read with bench/detectors.yaml,
#      the data detectors' benchmark configuration (read modes only).
#  1b. The synthetic captures of the e2e tests, with the baseline's mqttids-synth
#      (same seed and options, same bytes):
#      synth-all-v4 / synth-all-v5: tests/e2e/scenarios/synth-all.scn at MQTT 3.1.1
#      and 5.0, read with tests/e2e/ids-netns.yaml plus the ACL, inventory and keys
#      the synth writes (as tests/e2e/synth_scenario.sh does);
#      synth-all-v4-state: the same, read with --state on a fresh path each run (the
#      saved state files are compared too);
#      synth-day (20 sensors, 24 h, interval 60, seed 42), synth-v31, synth-v5,
#      synth-qos0: the benign runs of tools/synth/synth_benign.sh, read with
#      ids-netns.yaml.
#  1c. sv-<case>: every suricata-verify case under $EQUIV_SHARED/conformance/
#      suricata-verify (default /work/shared) that has a capture, with the options
#      tests/conformance/run_conformance.sh derives from the case's suricata.yaml
#      (its functions are used as they are); a case that names another case's
#      capture gets a symlink to it. golden-<case>: tests/pcap/<case>/input.pcap
#      with the options of tests/pcap/<case>/args.
#
# Per input NAME the directory holds (the format eve_equiv.sh reads):
#   NAME.pcap        the capture (a file, or a symlink to one in DIR)
#   NAME.pcap.meta   optional; its port=P line adds --mqtt-port P to every mode
#   NAME.args        optional; options for every mode, one per line
#   NAME.yaml        optional; configuration (-c) for the read modes
#   NAME.read-args   optional; more options for the read modes, one per line
#   NAME.modes       optional; the modes to run (default: decode read read-alerts)
# In .args, .read-args and .yaml, @INPUT_DIR@ stands for DIR and, in the args,
# @STATE@ for a fresh state-file path per run. DIR/INPUTS.txt lists the inputs
# with their packet counts and how they were made.
#
# Environment: EQUIV_SYNTH (mqttids-synth; default build/release/tools/synth/
# mqttids-synth of this tree), EQUIV_SHARED (/work/shared). Everything runs
# offline, except make_capture.sh, which uses 127.0.0.1 only.
set -euo pipefail

usage() { echo "usage: $0 [--synth MQTTIDS-SYNTH] [--recapture] [DIR]" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SYNTH=${EQUIV_SYNTH:-$REPO/build/release/tools/synth/mqttids-synth}
SHARED=${EQUIV_SHARED:-/work/shared}
RECAPTURE=0
DIR=
while (($#)); do
	case $1 in
	--synth) (($# >= 2)) || usage; SYNTH=$2; shift 2 ;;
	--recapture) RECAPTURE=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) usage ;;
	*) [[ -z $DIR ]] || usage; DIR=$1; shift ;;
	esac
done
DIR=${DIR:-/work/ref/inputs}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
case $DIR/ in
"$REPO"/*) echo "$0: $DIR is inside the repository; choose a directory outside it" >&2; exit 2 ;;
esac
for t in editcap capinfos; do
	command -v "$t" >/dev/null || { echo "$0: $t is not installed (wireshark-common)" >&2; exit 1; }
done

say() { echo "eve_equiv_inputs: $*" >&2; }
args_file() { # args_file FILE ARG... - one argument per line (an empty file for none)
	local f=$1
	shift
	if (($#)); then printf '%s\n' "$@" >"$f"; else : >"$f"; fi
}

# --- 1a. the benchmark capture ------------------------------------------------------------
BENCH_OUT=$REPO/bench/out
if [[ $RECAPTURE == 1 || ! -f $DIR/bench-1m.pcap ]]; then
	if [[ $RECAPTURE == 0 && -f $BENCH_OUT/capture.pcap && -f $BENCH_OUT/capture.pcap.meta ]]; then
		say "bench-1m.pcap: copied from $BENCH_OUT/capture.pcap"
		cp "$BENCH_OUT/capture.pcap" "$DIR/bench-1m.pcap.tmp"
		cp "$BENCH_OUT/capture.pcap.meta" "$DIR/bench-1m.pcap.meta"
		mv "$DIR/bench-1m.pcap.tmp" "$DIR/bench-1m.pcap"
	else
		((EUID == 0)) || { echo "$0: bench/make_capture.sh captures on lo: run as root" >&2; exit 1; }
		say "bench-1m.pcap: bench/make_capture.sh (a few minutes)"
		"$REPO/bench/make_capture.sh" "$DIR/bench-1m.pcap"
		if [[ ! -f $BENCH_OUT/capture.pcap ]]; then
			mkdir -p "$BENCH_OUT"
			cp "$DIR/bench-1m.pcap" "$BENCH_OUT/capture.pcap"
			cp "$DIR/bench-1m.pcap.meta" "$BENCH_OUT/capture.pcap.meta"
			say "copied to $BENCH_OUT/capture.pcap for bench/run.sh"
		fi
	fi
	rm -f "$DIR/bench-100k.pcap"
fi
if [[ ! -f $DIR/bench-100k.pcap ]]; then
	editcap -r "$DIR/bench-1m.pcap" "$DIR/bench-100k.pcap.tmp" 1-100000
	mv "$DIR/bench-100k.pcap.tmp" "$DIR/bench-100k.pcap"
fi
grep '^port=' "$DIR/bench-1m.pcap.meta" >"$DIR/bench-100k.pcap.meta"
ln -sfn bench-1m.pcap "$DIR/bench-1m-detectors.pcap"
ln -sfn bench-1m.pcap.meta "$DIR/bench-1m-detectors.pcap.meta"
cp "$REPO/bench/detectors.yaml" "$DIR/bench-1m-detectors.yaml"
echo "read read-alerts" >"$DIR/bench-1m-detectors.modes"

# --- 1b. the synthetic e2e captures ---------------------------------------------------------
[[ -x $SYNTH ]] || { echo "$0: no mqttids-synth at $SYNTH (build it, or pass --synth / EQUIV_SYNTH)" >&2; exit 1; }
E2E=$REPO/tests/e2e
synth_all() { # synth_all MQTT-VERSION: as tests/e2e/synth_scenario.sh
	local v=$1 n=synth-all-v$1
	if [[ ! -f $DIR/$n.pcap ]]; then
		sed "s/^seed 11/seed 11\nmqtt-version $v/" "$E2E/scenarios/synth-all.scn" >"$DIR/$n.scn"
		"$SYNTH" --scenario "$DIR/$n.scn" -o "$DIR/$n.pcap.tmp" --labels "$DIR/$n.labels" \
			--keys "$DIR/$n.keys" --acl "$DIR/$n.acl" --inventory "$DIR/$n.inventory" >"$DIR/$n.summary"
		mv "$DIR/$n.pcap.tmp" "$DIR/$n.pcap"
	fi
	# The data detectors get the broker's ACL, the devices' keys and the known
	# devices (synth_scenario.sh, testbed_ids.c).
	{
		cat "$E2E/ids-netns.yaml"
		printf '%s\n' "detectors:" "  authz:" "    acl-file: \"@INPUT_DIR@/$n.acl\"" \
			"  inventory:" "    file: \"@INPUT_DIR@/$n.inventory\"" "  integrity:" \
			"    keys-file: \"@INPUT_DIR@/$n.keys\"" "    topics:" "      - filter: \"sensors/+/+\"" \
			"        mode: hmac"
	} >"$DIR/$n.yaml"
}
synth_all 4
synth_all 5
ln -sfn synth-all-v4.pcap "$DIR/synth-all-v4-state.pcap"
cp "$DIR/synth-all-v4.yaml" "$DIR/synth-all-v4-state.yaml"
args_file "$DIR/synth-all-v4-state.read-args" --state @STATE@
echo "read read-alerts" >"$DIR/synth-all-v4-state.modes"

synth_benign() { # synth_benign NAME SYNTH-ARGS...: as tools/synth/synth_benign.sh
	local n=$1
	shift
	if [[ ! -f $DIR/$n.pcap ]]; then
		"$SYNTH" "$@" -o "$DIR/$n.pcap.tmp" >"$DIR/$n.summary"
		mv "$DIR/$n.pcap.tmp" "$DIR/$n.pcap"
	fi
	cp "$E2E/ids-netns.yaml" "$DIR/$n.yaml"
}
synth_benign synth-day --sensors 20 --hours 24 --interval 60 --seed 42
synth_benign synth-v31 --sensors 5 --hours 2 --interval 10 --seed 5 --mqtt-version 3 --reconnect-hours 0.5
synth_benign synth-v5 --sensors 5 --hours 2 --interval 10 --seed 6 --mqtt-version 5 --reconnect-hours 0.5
synth_benign synth-qos0 --sensors 40 --hours 1 --interval 30 --seed 7 --qos 0 --keepalive 60

# --- 1c. conformance and golden captures ----------------------------------------------------
CASES=$SHARED/conformance/suricata-verify
RUNNER=$REPO/tests/conformance/run_conformance.sh
[[ -d $CASES ]] || { echo "$0: no suricata-verify cases in $CASES (set EQUIV_SHARED)" >&2; exit 1; }
# The runner's own translation of a case (its capture and options): its functions,
# not a copy of them.
# shellcheck disable=SC1090
source <(awk '/^(yaml_flatten|yaml_get|find_pcap|case_options)\(\) *\{/, /^\}/' "$RUNNER")
declare -F yaml_flatten yaml_get find_pcap case_options >/dev/null ||
	{ echo "$0: $RUNNER no longer defines yaml_flatten/yaml_get/find_pcap/case_options" >&2; exit 1; }
declare -A owner=() # real path of a capture -> the input that holds the copy
for pass in own other; do
	for d in "$CASES"/*/; do
		d=${d%/}
		name=$(basename "$d")
		[[ -f $d/test.yaml ]] || continue
		pcap=$(find_pcap "$d" 2>/dev/null) || { say "sv-$name: skipped (no capture)"; continue; }
		real=$(realpath "$pcap")
		if [[ $pass == own ]]; then
			[[ $(dirname "$real") == "$(realpath "$d")" ]] || continue
			cp "$real" "$DIR/sv-$name.pcap"
			owner[$real]=sv-$name
		else
			[[ $(dirname "$real") == "$(realpath "$d")" ]] && continue
			if [[ -n ${owner[$real]:-} ]]; then
				ln -sfn "${owner[$real]}.pcap" "$DIR/sv-$name.pcap"
			else
				cp "$real" "$DIR/sv-$name.pcap"
			fi
		fi
		opts=()
		case_options "$name" "$d" >/dev/null
		args_file "$DIR/sv-$name.args" "${opts[@]}"
	done
done
for d in "$REPO"/tests/pcap/*/; do
	d=${d%/}
	name=$(basename "$d")
	[[ -f $d/input.pcap ]] || continue
	cp "$d/input.pcap" "$DIR/golden-$name.pcap"
	args=()
	[[ -f $d/args ]] && read -r -a args <"$d/args"
	args_file "$DIR/golden-$name.args" "${args[@]}"
done

# --- the list ------------------------------------------------------------------------------
{
	echo "# eve_equiv inputs, made by scripts/eve_equiv_inputs.sh on $(date -u +%FT%TZ)"
	echo "# repo $REPO at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'), synth $SYNTH"
	echo "# name packets options (all modes) | read-mode options"
	for p in "$DIR"/*.pcap; do
		n=$(basename "$p" .pcap)
		pk=$(capinfos -c -M "$p" 2>/dev/null | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
		a=$(if [[ -f $DIR/$n.pcap.meta ]]; then sed -n 's/^port=/--mqtt-port /p' "$DIR/$n.pcap.meta"; fi
			if [[ -f $DIR/$n.args ]]; then cat "$DIR/$n.args"; fi)
		r=$(if [[ -f $DIR/$n.yaml ]]; then echo "-c $n.yaml"; fi
			if [[ -f $DIR/$n.read-args ]]; then cat "$DIR/$n.read-args"; fi)
		link=
		[[ -L $p ]] && link=" (-> $(readlink "$p"))"
		echo "$n$link $pk ${a//$'\n'/ } | ${r//$'\n'/ }"
	done
} >"$DIR/INPUTS.txt"
say "$(grep -vc '^#' "$DIR/INPUTS.txt") inputs in $DIR (list: $DIR/INPUTS.txt)"

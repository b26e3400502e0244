#!/usr/bin/env bash
# run_conformance.sh - run mqttids over the suricata-verify MQTT cases and check its EVE output with sv_check.
#
# Usage: run_conformance.sh MQTTIDS_BINARY SV_CHECK_BINARY [SHARED_DIR]
#
# For each SHARED_DIR/conformance/suricata-verify/<case>/ this finds the
# capture, turns the case's suricata.yaml settings into mqttids options, runs
# `mqttids decode` in a scratch directory and hands test.yaml and the EVE
# output to sv_check. The shared corpus is read in place, never copied.
# SHARED_DIR defaults to the `shared` directory beside the repository.
#
# Prints one line per check (`<case>: PASS|FAIL|SKIP ...`), then
#   conformance: N passed, M failed, K skipped
# counting individual checks. A case skipped as a whole (no pcap) counts as
# one skip; a decode that exits non-zero or times out, or an sv_check error,
# counts as one more failure on top of the case's checks.
# MQTTIDS_CONFORMANCE_TIMEOUT sets the per-case time limit (seconds, 120).
# Exit status: 0 when nothing failed, 1 when something did, 2 on bad usage
# or a missing corpus.

set -u
set -o pipefail

prog=run_conformance.sh

usage() {
	echo "usage: $prog MQTTIDS_BINARY SV_CHECK_BINARY [SHARED_DIR]" >&2
	exit 2
}

# abs_path PATH - print PATH made absolute (relative to the current directory).
abs_path() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "$1" ;;
	esac
}

# yaml_flatten FILE - print "dotted.key<TAB>value" for every `key: value`
# line of a block-style YAML file. A sequence item `- key:` nests like a map
# key; sequence scalars and flow collections are not expanded. Enough for
# the plain suricata.yaml / test.yaml layouts of suricata-verify.
yaml_flatten() {
	awk '
	{
		sub(/\r$/, "")
		if ($0 ~ /^[ \t]*(#|$)/ || $0 ~ /^(%|---|\.\.\.)/)
			next
		match($0, /^ */)
		indent = RLENGTH
		rest = substr($0, indent + 1)
		while (rest ~ /^-( |$)/) {          # "- key: v" nests one level
			rest = substr(rest, 2)
			match(rest, /^ */)
			indent += 1 + RLENGTH
			rest = substr(rest, RLENGTH + 1)
		}
		if (!match(rest, /^[^:#"'"'"' \t][^:#]*:([ \t]|$)/))
			next                            # not a key line
		key = substr(rest, 1, RLENGTH)
		val = substr(rest, RLENGTH + 1)
		sub(/[ \t]*:[ \t]*$/, "", key)
		while (depth > 0 && ind[depth] >= indent)
			depth--
		depth++
		ind[depth] = indent
		name[depth] = key
		sub(/^[ \t]+/, "", val)
		sub(/[ \t]+#.*$/, "", val)
		sub(/[ \t]+$/, "", val)
		if (val ~ /^".*"$/ || val ~ /^'"'"'.*'"'"'$/)
			val = substr(val, 2, length(val) - 2)
		if (val == "")
			next
		path = name[1]
		for (i = 2; i <= depth; i++)
			path = path "." name[i]
		printf "%s\t%s\n", path, val
	}' "$1"
}

# yaml_get FILE KEY - print the value of dotted KEY in FILE (last one wins).
yaml_get() {
	yaml_flatten "$1" | awk -F '\t' -v k="$2" '$1 == k { v = $2; found = 1 } END { if (found) print v }'
}

# find_pcap DIR - print the capture of case DIR, or explain on stderr why
# there is none and fail.
find_pcap() {
	local dir=$1 rel pcaps
	rel=$(yaml_get "$dir/test.yaml" pcap)
	if [[ -n $rel ]]; then
		if [[ -f $dir/$rel ]]; then
			printf '%s\n' "$dir/$rel"
			return 0
		fi
		echo "pcap $rel named by test.yaml does not exist" >&2
		return 1
	fi
	if [[ -f $dir/input.pcap ]]; then
		printf '%s\n' "$dir/input.pcap"
		return 0
	fi
	shopt -s nullglob
	pcaps=("$dir"/*.pcap "$dir"/*.pcapng)
	shopt -u nullglob
	if ((${#pcaps[@]} == 1)); then
		printf '%s\n' "${pcaps[0]}"
		return 0
	fi
	if ((${#pcaps[@]} == 0)); then
		echo "no pcap" >&2
	else
		echo "${#pcaps[@]} pcaps and no input.pcap or pcap: key" >&2
	fi
	return 1
}

# case_options NAME DIR - fill the global array `opts` with the mqttids
# options that reproduce DIR/suricata.yaml; notes untranslated settings.
case_options() {
	local name=$1 dir=$2 key val passwords=1
	opts=()
	if [[ -f $dir/suricata.yaml ]]; then
		while IFS=$'\t' read -r key val; do
			case $key in
			app-layer.protocols.mqtt.max-msg-length)
				opts+=(--max-msg-length "$val") ;;
			outputs.eve-log.types.mqtt.string-log-limit)
				opts+=(--string-log-limit "$val") ;;
			outputs.eve-log.types.mqtt.passwords)
				[[ $val =~ ^(no|false|off|No|False|Off|NO|FALSE|OFF)$ ]] && passwords=0 ;;
			stream.midstream)
				# Midstream pickup is our default; only "false" needs an option.
				[[ $val =~ ^(no|false|off|No|False|Off|NO|FALSE|OFF)$ ]] &&
					opts+=(--no-midstream) ;;
			app-layer.protocols.mqtt.enabled | outputs.eve-log.* | app-layer.protocols.mqtt.detection-ports.*) ;;
			app-layer.protocols.mqtt.*)
				echo "$name: note: suricata.yaml setting $key: $val is not translated" ;;
			esac
		done < <(yaml_flatten "$dir/suricata.yaml")
	fi
	# Suricata logs MQTT passwords unless told not to; mqttids does the opposite.
	((passwords)) && opts+=(--passwords)
	return 0
}

# decode WORKDIR PCAP - run `mqttids decode` with the case options in
# WORKDIR, writing eve.json, stdout and stderr there; returns its status
# (124 when it ran out of time).
decode() {
	local work=$1 pcap=$2
	(cd "$work" && timeout "$case_timeout" "$mqttids" decode "${opts[@]}" -o eve.json "$pcap" \
		>stdout 2>stderr </dev/null)
}

# show_file FILE - print the first lines of FILE indented, or say it is empty.
show_file() {
	if [[ -s $1 ]]; then
		sed -n '1,5s/^/    /p' "$1"
	else
		echo "    (empty)"
	fi
}

# count_lines PATTERN FILE - number of lines of FILE that start with PATTERN.
count_lines() {
	grep -c "^$1" "$2" || true
}

# run_exit_case NAME DIR PCAP EXPECTED - a case that expects mqttids to fail
# with status EXPECTED, checked by a shell check that greps its stderr.
run_exit_case() {
	local name=$1 dir=$2 pcap=$3 expected=$4 work=$tmp/$1 rc text want got
	mkdir -p "$work"
	decode "$work" "$pcap"
	rc=$?
	text=$(grep -oE 'grep +"[^"]+" +stderr' "$dir/test.yaml" | head -n 1 | sed -E 's/^grep +"(.*)" +stderr$/\1/')
	want=$(yaml_get "$dir/test.yaml" checks.shell.expect)
	if [[ -z $text || -z $want ]]; then
		echo "$name: SKIP exit-code case: no \`grep \"TEXT\" stderr\` shell check to translate"
		((skipped += 1))
		return
	fi
	got=$(grep -cF -- "$text" "$work/stderr")
	if ((rc == expected)) && [[ $got == "$want" ]]; then
		echo "$name: PASS exit status $rc, stderr has \"$text\" on $got line(s)"
		((passed += 1))
	else
		echo "$name: FAIL wanted exit status $expected and \"$text\" on $want stderr line(s), got status $rc and $got line(s); stderr:"
		show_file "$work/stderr"
		((failed += 1))
	fi
}

# run_case NAME DIR PCAP - decode PCAP and check the EVE output against
# DIR/test.yaml, adding up the checks' outcomes.
run_case() {
	local name=$1 dir=$2 pcap=$3 work=$tmp/$1 rc p f s
	mkdir -p "$work"
	decode "$work" "$pcap"
	rc=$?
	if ((rc == 124)); then
		echo "$name: FAIL mqttids decode did not finish within ${case_timeout}s"
		((failed += 1))
	elif ((rc != 0)); then
		echo "$name: FAIL mqttids decode exited with status $rc; stderr:"
		show_file "$work/stderr"
		((failed += 1))
	fi
	[[ -f $work/eve.json ]] || : >"$work/eve.json"

	# Documented divergences (divergences.tsv): check the true value instead
	# of the one Suricata's bug produces, in a scratch copy of test.yaml.
	local yaml=$dir/test.yaml from to why
	while IFS=$'\t' read -r c from to why; do
		[[ $c == "$name" ]] || continue
		[[ $yaml == "$work/test.yaml" ]] || cp "$dir/test.yaml" "$work/test.yaml"
		yaml=$work/test.yaml
		grep -qF -- "$from" "$yaml" || { echo "$name: FAIL divergence line '$from' not found"; ((failed += 1)); }
		from=$from to=$to awk '{ if (index($0, ENVIRON["from"])) sub(/[^ ].*$/, ENVIRON["to"]); print }' \
			"$yaml" >"$yaml.new" && mv "$yaml.new" "$yaml"
		echo "$name: DIVERGENCE '$from' checked as '$to': $why"
	done < <(grep -v '^#' "$divergences")

	# Run from the scratch directory so reports name just "eve.json".
	(cd "$work" && "$sv_check" "$yaml" eve.json >check.out 2>check.err)
	rc=$?
	awk -v prefix="$name: " '{ print prefix $0 }' "$work/check.out"
	p=$(count_lines PASS "$work/check.out")
	f=$(count_lines FAIL "$work/check.out")
	s=$(count_lines SKIP "$work/check.out")
	((passed += p, failed += f, skipped += s))
	if ((rc == 2 || (rc != 0 && f == 0) || (rc == 0 && f != 0))); then
		echo "$name: FAIL sv_check exited with status $rc:"
		show_file "$work/check.err"
		((failed += 1))
	fi
}

(($# == 2 || $# == 3)) || usage
mqttids=$(abs_path "$1")
sv_check=$(abs_path "$2")
divergences=$(dirname "$(abs_path "$0")")/divergences.tsv
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
shared=${3:-$script_dir/../../../shared}
cases_dir=$shared/conformance/suricata-verify

for bin in "$mqttids" "$sv_check"; do
	if [[ ! -x $bin ]]; then
		echo "$prog: $bin is not an executable" >&2
		exit 2
	fi
done
if [[ ! -d $cases_dir ]]; then
	echo "$prog: no suricata-verify cases in $cases_dir (pass SHARED_DIR, or set the CMake cache variable MQTTIDS_SHARED_DIR)" >&2
	exit 2
fi
cases_dir=$(cd "$cases_dir" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqttids-conformance.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Per-case limit, so a decoder that hangs fails one case instead of the run.
case_timeout=${MQTTIDS_CONFORMANCE_TIMEOUT:-120}
passed=0 failed=0 skipped=0 ncases=0
opts=()
for dir in "$cases_dir"/*/; do
	dir=${dir%/}
	name=$(basename "$dir")
	if [[ ! -f $dir/test.yaml ]]; then
		echo "$name: SKIP case: no test.yaml"
		((skipped += 1))
		continue
	fi
	if ! pcap=$(find_pcap "$dir" 2>"$tmp/why"); then
		echo "$name: SKIP case: $(cat "$tmp/why")"
		((skipped += 1))
		continue
	fi
	((ncases += 1))
	case_options "$name" "$dir"
	expected_exit=$(yaml_get "$dir/test.yaml" exit-code)
	if [[ -n $expected_exit && $expected_exit != 0 ]]; then
		run_exit_case "$name" "$dir" "$pcap" "$expected_exit"
	else
		run_case "$name" "$dir" "$pcap"
	fi
done

if ((ncases == 0)); then
	echo "$prog: no runnable cases in $cases_dir" >&2
	((failed += 1))
fi
echo "conformance: $passed passed, $failed failed, $skipped skipped"
((failed == 0))

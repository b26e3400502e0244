#!/usr/bin/env bash
# run_golden.sh - golden pcap tests: decode tests/pcap/<case>/input.pcap (with
# the options in <case>/args, if any) and compare with <case>/expected.jsonl.
# Usage: run_golden.sh MQTTIDS [--regen]   (--regen rewrites expected.jsonl on purpose)
set -uo pipefail
mqttids=$1
regen=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
export TZ=UTC
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for dir in "$here"/*/; do
	name=$(basename "$dir")
	[[ -f $dir/input.pcap ]] || continue
	args=()
	[[ -f $dir/args ]] && read -r -a args <"$dir/args"
	if ! "$mqttids" decode "${args[@]}" -o "$tmp/$name.jsonl" "$dir/input.pcap" 2>"$tmp/$name.err"; then
		echo "$name: FAIL decode exited non-zero:"; cat "$tmp/$name.err"
		((failed += 1)); continue
	fi
	if [[ $regen == --regen ]]; then
		cp "$tmp/$name.jsonl" "$dir/expected.jsonl"
		echo "$name: regenerated ($(wc -l <"$dir/expected.jsonl") records)"
		((passed += 1)); continue
	fi
	if diff -u "$dir/expected.jsonl" "$tmp/$name.jsonl" >"$tmp/$name.diff"; then
		echo "$name: PASS ($(wc -l <"$dir/expected.jsonl") records)"
		((passed += 1))
	else
		echo "$name: FAIL output differs from expected.jsonl:"; head -40 "$tmp/$name.diff"
		((failed += 1))
	fi
done
echo "golden: $passed passed, $failed failed"
((failed == 0 && passed > 0))

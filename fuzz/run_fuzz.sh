#!/usr/bin/env bash
# run_fuzz.sh - runs one libFuzzer target on a scratch copy of its corpus,
# then minimises what it found against the committed corpus.
#
# usage: fuzz/run_fuzz.sh TARGET [SECONDS] [--keep]
#   TARGET   mqtt_parse | mqtt_stream | tcp_reasm | pcap_pipeline |
#            pcap_frames | config | scenario | payload | rules
#   SECONDS  run time (default 300)
#   --keep   copy the new, minimised inputs into fuzz/corpus/TARGET
#
# Environment: BUILD (default build/fuzz), WORK (default /tmp/mqttids-fuzz).
# A crash does not end the run: the fuzzer is restarted for the time left
# (a known bug may so be found again; the artifacts are kept). crash-*,
# timeout-*, oom-* and leak-* files land in $WORK/TARGET/artifacts, the
# reports in $WORK/TARGET/fuzz.log. The last line sums up the run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
t=${1:?usage: run_fuzz.sh TARGET [SECONDS] [--keep]}
secs=${2:-300}
keep=${3:-}
build=${BUILD:-$root/build/fuzz}
bin=$build/fuzz/fuzz_$t
work=${WORK:-/tmp/mqttids-fuzz}/$t
dict=$here/mqtt.dict
[ "$t" = config ] && dict=$here/config.dict
[ "$t" = scenario ] && dict=$here/scenario.dict
[ "$t" = rules ] && dict=$here/rules.dict

[ -x "$bin" ] || { echo "run_fuzz.sh: $bin missing: cmake --preset fuzz && cmake --build build/fuzz" >&2; exit 1; }
mkdir -p "$work/corpus" "$work/artifacts"
cp -n "$here/corpus/$t/"* "$work/corpus/" 2>/dev/null || true
: >"$work/fuzz.log"

if ! "$bin" -runs=0 -dict="$dict" "$work/artifacts" >"$work/dict.log" 2>&1; then
	echo "run_fuzz.sh: $bin cannot start (see $work/dict.log)" >&2
	exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
start=$(date +%s)
deadline=$((start + secs))
runs=0
while :; do
	left=$((deadline - $(date +%s)))
	[ "$left" -gt 0 ] || break
	runs=$((runs + 1))
	"$bin" -max_total_time="$left" -dict="$dict" -close_fd_mask=2 \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" >>"$work/fuzz.log" 2>&1 || true
done
end=$(date +%s)

# Minimise into a fresh directory that starts as a copy of the committed
# corpus, so only inputs that add coverage are new. -use_counters=0: keep
# inputs for new edges, not for new hit counts, so the corpus stays small.
rm -rf "$work/merged"
mkdir -p "$work/merged"
cp "$here/corpus/$t/"* "$work/merged/"
"$bin" -merge=1 -use_counters=0 -close_fd_mask=2 -timeout=10 "$work/merged" "$work/corpus" \
	>"$work/merge.log" 2>&1 || true
new=()
for f in "$work/merged/"*; do
	b=$(basename "$f")
	[ -e "$here/corpus/$t/$b" ] || new+=("$f")
done
if [ "$keep" = --keep ] && [ ${#new[@]} -gt 0 ]; then
	cp "${new[@]}" "$here/corpus/$t/"
fi

execs=$(awk '/stat::number_of_executed_units:/ { n += $2 } END { print n + 0 }' "$work/fuzz.log")
count() { find "$work/artifacts" -name "$1-*" | wc -l; }
echo "fuzz_$t: $((end - start)) s in $runs run(s), $execs execs," \
     "${#new[@]} new inputs after merge; artifacts: $(count crash) crash," \
     "$(count timeout) timeout, $(count oom) oom, $(count leak) leak ($work/artifacts)"

#!/usr/bin/env bash
# run_fuzz.sh - runs one libFuzzer target on a scratch copy of its corpus,
# then minimises what it found against the committed corpus.
#
# usage: fuzz/run_fuzz.sh TARGET [SECONDS] [--keep]
#   TARGET   mqtt_parse | mqtt_stream | tcp_reasm | pcap_pipeline |
#            pcap_frames | config
#   SECONDS  run time (default 300)
#   --keep   copy the new, minimised inputs into fuzz/corpus/TARGET
#
# Environment: BUILD (default build/fuzz), WORK (default /tmp/mqttids-fuzz).
# The fuzzer runs in fork mode with -ignore_crashes=1, so one crash does not
# end the run; crash-*/timeout-*/oom-* files land in $WORK/TARGET/artifacts.
# The summary line at the end gives the run time, executions and findings.
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

[ -x "$bin" ] || { echo "run_fuzz.sh: $bin missing: cmake --preset fuzz && cmake --build build/fuzz" >&2; exit 1; }
mkdir -p "$work/corpus" "$work/artifacts"
cp -n "$here/corpus/$t/"* "$work/corpus/" 2>/dev/null || true

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
start=$(date +%s)
"$bin" -max_total_time="$secs" -dict="$dict" -close_fd_mask=2 \
	-fork=1 -ignore_crashes=1 -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/fuzz.log" 2>&1 || true
end=$(date +%s)

# Minimise: the committed corpus first, then only inputs that add coverage.
rm -rf "$work/merged"
mkdir -p "$work/merged"
cp "$here/corpus/$t/"* "$work/merged/"
"$bin" -merge=1 -close_fd_mask=2 "$work/merged" "$work/corpus" >"$work/merge.log" 2>&1 || true
new=()
for f in "$work/merged/"*; do
	b=$(basename "$f")
	[ -e "$here/corpus/$t/$b" ] || new+=("$f")
done
if [ "$keep" = --keep ] && [ ${#new[@]} -gt 0 ]; then
	cp "${new[@]}" "$here/corpus/$t/"
fi

execs=$(grep -oE '^#[0-9]+' "$work/fuzz.log" | tail -1 | tr -d '#')
crashes=$(find "$work/artifacts" -name 'crash-*' | wc -l)
timeouts=$(find "$work/artifacts" -name 'timeout-*' | wc -l)
ooms=$(find "$work/artifacts" -name 'oom-*' | wc -l)
echo "fuzz_$t: $((end - start)) s, ${execs:-?} execs, ${#new[@]} new inputs after merge," \
     "$crashes crash, $timeouts timeout, $ooms oom files in $work/artifacts"

#!/usr/bin/env bash
# floods.sh - what the state floods cost `mqttids read`: peak RSS, wall time and the
# evictions, one row per flood capture of tests/unit/test_state_floods.c.
#
# usage: bench/floods.sh [BUILD_DIR]     (default: build/release; builds nothing)
#
# Runs BUILD_DIR/tests/unit/test_state_floods with STATE_FLOODS_KEEP=bench/out/floods, which
# writes the flood captures there and keeps them (a failed check is reported, the captures
# are measured anyway). Then each capture is read once more under /usr/bin/time -v:
#   BUILD_DIR/mqttids read -r rules --eve bench/out/floods/CAPTURE.bench.json --no-console --stats CAPTURE
# The table gives the peak RSS ("Maximum resident set size"), the wall time and, from the
# EVE stats record, what the bounded state gave up: flows evicted, threshold trackers
# evicted (and of them protected ones), client ids evicted (takeover detector) and partial
# MQTT messages dropped at mqtt.buffer-memcap. At the default memory.budget (64 MiB) every
# row must stay under 100 MiB of RSS (docs/ARCHITECTURE.md "Memory budget").
# Needs only bash, /usr/bin/time and /usr/bin/python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build/release}" && pwd)
OUT=$ROOT/bench/out/floods
MQTTIDS=$BUILD/mqttids
TEST=$BUILD/tests/unit/test_state_floods
for f in "$MQTTIDS" "$TEST"; do
	[[ -x $f ]] || { echo "$0: no $f (build first)" >&2; exit 1; }
done
mkdir -p "$OUT"
rm -f "$OUT"/*.pcap

echo "making the captures: $TEST (log: $OUT/test.log)" >&2
if ! MQTTIDS_BIN=$MQTTIDS STATE_FLOODS_KEEP=$OUT "$TEST" >"$OUT/test.log" 2>&1; then
	echo "warning: test_state_floods failed:" >&2
	grep -E '^(\[ FAIL \]|ERROR:)' "$OUT/test.log" >&2 || true
fi

for pcap in "$OUT"/*.pcap; do
	name=$(basename "$pcap" .pcap)
	echo "reading $name" >&2
	/usr/bin/time -v -o "$OUT/$name.time" "$MQTTIDS" read -r "$ROOT/rules" \
		--eve "$OUT/$name.bench.json" --no-console --stats "$pcap" 2>/dev/null
done

/usr/bin/python3 - "$OUT" <<'EOF'
import glob, json, os, sys

out = sys.argv[1]

def time_v(path):
    """Peak RSS (KiB) and wall seconds from /usr/bin/time -v."""
    rss = wall = None
    for line in open(path):
        key, _, val = line.strip().rpartition(": ")
        if key == "Maximum resident set size (kbytes)":
            rss = int(val)
        elif key.startswith("Elapsed (wall clock) time"):
            wall = 0.0
            for part in val.split(":"):  # [h:]m:ss.cc
                wall = wall * 60 + float(part)
    return rss, wall

def stats(path):
    """The last EVE stats record's "stats" object."""
    last = None
    for line in open(path):
        if '"event_type":"stats"' in line:
            last = line
    return json.loads(last)["stats"]

print("memory.budget 64 MiB; process limit 100 MiB\n")
print("| flood | packets | pcap MB | peak RSS MiB | wall s | flow evicted "
      "| threshold evicted / protected | client_ids evicted | buffer_memcap_drops |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for pcap in sorted(glob.glob(os.path.join(out, "*.pcap"))):
    name = os.path.basename(pcap)[:-len(".pcap")]
    rss, wall = time_v(os.path.join(out, name + ".time"))
    s = stats(os.path.join(out, name + ".bench.json"))
    t = s["tables"]
    print(f"| {name} | {s['decoder']['pkts']:,} | {os.path.getsize(pcap) / 1e6:.1f} "
          f"| {rss / 1024:.1f} | {wall:.2f} | {t['flow']['evicted']:,} "
          f"| {t['threshold']['evicted']:,} / {t['threshold']['evicted_protected']:,} "
          f"| {t['client_ids']['evicted']:,} | {s['mqtt']['buffer_memcap_drops']:,} |")
EOF

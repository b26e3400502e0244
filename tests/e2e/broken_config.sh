#!/usr/bin/env bash
# broken_config.sh - a configuration that would leave mqttids blind stops it at start
# (issue 14, "Broken configuration stops at start"):
#  - flow.max-flows: 0 (and the other engine-disabling values) in a config file: exit 1,
#    the message names FILE:LINE:COL and why; the same with --set;
#  - an address-group typo that breaks rules (HOME_NET "[10.0.0.0/33]"): read stops,
#    naming how many rules failed, unless rules.allow-errors is set (then a warning);
#  - an unreadable rule file stops it too.
# usage: broken_config.sh MQTTIDS
set -uo pipefail
MQTTIDS=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PCAP=$ROOT/tests/pcap/sensors/input.pcap
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; cat "$W/err" >&2; exit 1; }
run() { "$MQTTIDS" read -r "$ROOT/rules" --no-console "$@" "$PCAP" >/dev/null 2>"$W/err"; }

printf 'flow:\n  idle-timeout: 30\n  max-flows: 0\n' > "$W/zero.yaml"
run -c "$W/zero.yaml" && fail "flow.max-flows: 0 accepted"
grep -q "$W/zero.yaml:3:14: flow.max-flows: '0' refused: at least 1" "$W/err" || fail "no FILE:LINE:COL message"
grep -q "1 value refused" "$W/err" || fail "no summary of the refusal"
echo "ok   flow.max-flows: 0 in a config: refused with file:line:col, exit 1"

for kv in flow.max-flows=0 memory.budget=100kb mqtt.buffer-memcap=1kb \
	detect.max-trackers=0; do
	run --set "$kv" && fail "--set $kv accepted"
	grep -q -- "--set $kv refused: at least" "$W/err" || fail "no message for --set $kv"
done
echo "ok   engine-disabling values with --set: each refused, exit 1"

printf 'vars:\n  address-groups:\n    HOME_NET: "[10.0.0.0/33]"\n' > "$W/typo.yaml"
run -c "$W/typo.yaml" && fail "rules broken by an address-group typo: run went on"
grep -qE "mqttids: [0-9]+ rules or rule files failed to load" "$W/err" || fail "no count of failed rules"
n=$(grep -oE "mqttids: [0-9]+ rules" "$W/err" | grep -oE "[0-9]+")
printf 'rules:\n  allow-errors: yes\n' >> "$W/typo.yaml"
run -c "$W/typo.yaml" || fail "rules.allow-errors: yes did not let it run"
grep -q "warning: running without $n rules that failed to load" "$W/err" || fail "no warning with allow-errors"
echo "ok   HOME_NET typo: $n rules fail, read stops; with rules.allow-errors it runs and warns"

"$MQTTIDS" read -r "$W/missing.rules" --no-console "$PCAP" >/dev/null 2>"$W/err" \
	&& fail "a missing rule file: run went on"
grep -q "missing.rules" "$W/err" || fail "the missing rule file is not named"
echo "ok   a missing rule file stops it"

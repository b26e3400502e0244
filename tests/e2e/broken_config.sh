#!/usr/bin/env bash
# broken_config.sh - a configuration that would leave mqttids blind stops it at start
# (issue 14, "Broken configuration stops at start"):
#  - flow.max-flows: 0 (and the other engine-disabling values) in a config file: exit 1,
#    the message names FILE:LINE:COL and why; the same with --set;
#  - an address-group typo that breaks rules (HOME_NET "[10.0.0.0/33]"): read stops,
#    naming how many rules failed, unless rules.allow-errors is set (then a warning);
#  - an unreadable rule file stops it too;
#  - a misspelt anomaly name, a glob matching none, an unknown classtype and a broken
#    classification file each stop it with FILE:LINE:COL; rules check --list prints both registries.
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

# Anomaly names and classtypes are checked against their registries.
cp "$ROOT/rules/classification.config" "$W/"
printf 'mqtt any -> any; name: typo; anomaly: dobule_connect\n' > "$W/anom.rules"
"$MQTTIDS" read -r "$W/anom.rules" --no-console "$PCAP" >/dev/null 2>"$W/err" \
	&& fail "a misspelt anomaly name: run went on"
grep -qF "$W/anom.rules:1:39: error: unknown anomaly event 'dobule_connect' (did you mean 'double_connect'?); 'mqttids rules check --list anomalies' lists them" "$W/err" \
	|| fail "no file:line:col message for the misspelt anomaly"
printf 'mqtt any -> any; name: glob; anomaly: ipv5.*\n' > "$W/anom.rules"
"$MQTTIDS" rules check "$W/anom.rules" >/dev/null 2>"$W/err" && fail "a glob matching nothing passed rules check"
grep -qF "$W/anom.rules:1:39: error: glob 'ipv5.*' matches no anomaly event" "$W/err" || fail "no message for the empty glob"
echo "ok   misspelt anomaly name and empty glob: file:line:col, exit 1"

printf 'mqtt any -> any; name: typo; classtype: atempted-dos\n' > "$W/class.rules"
"$MQTTIDS" read -r "$W/class.rules" --no-console "$PCAP" >/dev/null 2>"$W/err" \
	&& fail "an unknown classtype: run went on"
grep -qF "$W/class.rules:1:41: error: unknown classtype 'atempted-dos': $W/classification.config does not define it (did you mean 'attempted-dos'?)" "$W/err" \
	|| fail "no message for the unknown classtype"
printf 'config classification: attempted-dos,Attempted Denial of Service\n' > "$W/bad.config"
printf 'rules:\n  classification-file: %s\n' "$W/bad.config" > "$W/cls.yaml"
run -c "$W/cls.yaml" && fail "a broken classification file: run went on"
grep -qF "$W/bad.config:1:65: error: expected ',PRIORITY' after the description" "$W/err" \
	|| fail "no message for the broken classification file"
echo "ok   unknown classtype and broken classification file: file:line:col, exit 1"

"$MQTTIDS" rules check --list anomalies > "$W/list" || fail "--list anomalies failed"
grep -qP '^double_connect\tproto_parser\t' "$W/list" || fail "double_connect not listed"
grep -qP '^value_jump\ttelemetry\t' "$W/list" || fail "value_jump not listed"
"$MQTTIDS" rules check --list classtypes > "$W/classes" || fail "--list classtypes failed"
grep -qP '^attempted-dos\tMedium\tAttempted Denial of Service$' "$W/classes" || fail "attempted-dos not listed"
# every name a default rule uses is listed
for a in $(grep -ohP 'anomaly: \K[^;]*' "$ROOT/rules/mqttids.rules" | tr ',' '\n' | tr -d ' !' | grep -v '[*?[]'); do
	grep -qP "^$a\t" "$W/list" || fail "default rule anomaly $a not listed"
done
echo "ok   rules check --list anomalies|classtypes"

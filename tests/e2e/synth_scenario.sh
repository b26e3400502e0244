#!/usr/bin/env bash
# synth_scenario.sh - renders tests/e2e/scenarios/synth-all.scn with
# mqttids-synth, in MQTT 3.1.1 and 5.0, decodes it with mqttids and checks
# every label's evidence, that the only anomalies come from the attacker,
# that readings keep the scenario's interval and no client outlives its
# keepalive; that `mqttids read` raises exactly the expected alerts for each
# attack and none else (alerts_check.py, tools/testbed/expected-alerts.json);
# with the data detectors given the modelled broker's ACL, the device keys
# and the known devices; and that the same scenario gives the same bytes twice.
# usage: synth_scenario.sh MQTTIDS-SYNTH MQTTIDS
set -euo pipefail
SYNTH=$1
MQTTIDS=$2
HERE=$(cd "$(dirname "$0")" && pwd)
EXPECT=$HERE/../../tools/testbed/expected-alerts.json
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
KINDS=brute-force,discovery,unauth-publish,unauth-subscribe,malformed,connect-flood,flood-malaria,flood-flock,big-will,slowite,slow-ping,spoof,no-key,bad-hmac,replay,takeover,syn-flood,tamper,silence
for v in 4 5; do
	sed "s/^seed 11/seed 11\nmqtt-version $v/" "$HERE/scenarios/synth-all.scn" > "$W/s$v.scn"
	"$SYNTH" --scenario "$W/s$v.scn" -o "$W/v$v.pcap" --labels "$W/v$v.labels" \
		--keys "$W/v$v.keys" --acl "$W/v$v.acl" --inventory "$W/v$v.inventory" > "$W/v$v.summary"
	# The data detectors get the broker's ACL, the devices' keys and the
	# known devices, as the live runner gives them (testbed_ids.c).
	{ cat "$HERE/ids-netns.yaml"; printf '%s\n' "detectors:" "  authz:" "    acl-file: \"$W/v$v.acl\"" \
		"  inventory:" "    file: \"$W/v$v.inventory\"" "  integrity:" "    keys-file: \"$W/v$v.keys\"" \
		"    topics:" "      - filter: \"sensors/+/+\"" "        mode: hmac"; } > "$W/v$v.yaml"
	"$MQTTIDS" decode "$W/v$v.pcap" > "$W/v$v.eve" 2> "$W/v$v.err"
	grep -q " 0 gaps" "$W/v$v.err" || { cat "$W/v$v.err"; exit 1; }
	[ "$(stat -c %a "$W/v$v.keys")" = 600 ] || { echo "key file is not mode 0600"; exit 1; }
	echo "== MQTT protocol level $v: $(tail -1 "$W/v$v.err")"
	python3 "$HERE/testbed_check.py" --eve "$W/v$v.eve" --labels "$W/v$v.labels" \
		--pcap "$W/v$v.pcap" --keys "$W/v$v.keys" --interval 10 --benign \
		--min-slowite 1000 --expect "$KINDS"
	"$MQTTIDS" read "$W/v$v.pcap" -c "$W/v$v.yaml" --eve "$W/v$v.alerts" --no-console \
		2> "$W/v$v.read.err" || { cat "$W/v$v.read.err"; exit 1; }
	tail -1 "$W/v$v.read.err"
	python3 "$HERE/alerts_check.py" --labels "$W/v$v.labels" --expect "$EXPECT" \
		--eve "$W/v$v.alerts" --name "read-v$v" --kinds "$KINDS"
done
"$SYNTH" --scenario "$W/s4.scn" -o "$W/again.pcap" --labels "$W/again.labels" > /dev/null
cmp "$W/v4.pcap" "$W/again.pcap"
cmp "$W/v4.labels" "$W/again.labels"
echo "deterministic: same scenario, same capture and labels"

#!/usr/bin/env bash
# testbed_live.sh - runs tests/e2e/scenarios/live-all.scn on the live testbed
# (network namespaces, or the loopback fallback when they are not permitted)
# with a real mosquitto, real libmosquitto sensors and every attack kind,
# decodes the capture with mqttids and checks each label's evidence and the
# benign traffic (testbed_check.py). mqttids runs live on the testbed during
# the run (--ids); its alerts, and those of `mqttids read` on the capture,
# must be exactly the expected ones for each attack and none else, and agree
# (alerts_check.py with tools/testbed/expected-alerts.json).
# usage: testbed_live.sh MQTTIDS-TESTBED MQTTIDS [--loopback]
set -euo pipefail
TESTBED=$1
MQTTIDS=$2
MODE=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
EXPECT=$HERE/../../tools/testbed/expected-alerts.json
command -v mosquitto >/dev/null || { echo "mosquitto not installed"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$TESTBED" run "$HERE/scenarios/live-all.scn" -o "$W/run" $MODE --ids "$MQTTIDS" | tail -27
"$MQTTIDS" decode "$W/run/capture.pcap" > "$W/eve.json" 2> "$W/decode.err"
cat "$W/decode.err"
python3 - "$W/run/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def find(d, k):
    if isinstance(d, dict):
        if k in d:
            return d[k]
        for v in d.values():
            x = find(v, k)
            if x is not None:
                return x
    return None
drops = find(r, "dropped")
ids = r.get("ids") or {}
print("network:", r.get("mode"), "- capture drops:", drops, "- IDS:", ids.get("status"))
sys.exit(1 if drops or ids.get("exit") != 0 else 0)
PY
KINDS=brute-force,discovery,unauth-publish,unauth-subscribe,malformed,connect-flood,flood-malaria,flood-flock,big-will,slowite,slow-ping,spoof,no-key,bad-hmac,replay,takeover,syn-flood,tamper,silence,z2m-offline
python3 "$HERE/testbed_check.py" --eve "$W/eve.json" --labels "$W/run/labels.jsonl" \
	--pcap "$W/run/capture.pcap" --keys "$W/run/device-keys" --interval 2 \
	--benign --min-slowite 950 --expect "$KINDS"
# The IDS: live during the run, and offline on the same capture.
"$MQTTIDS" read "$W/run/capture.pcap" -c "$W/run/ids.yaml" --eve "$W/read.json" --no-console 2> "$W/read.err" \
	|| { cat "$W/read.err"; exit 1; }
tail -1 "$W/read.err"
python3 "$HERE/alerts_check.py" --labels "$W/run/labels.jsonl" --expect "$EXPECT" \
	--eve "$W/run/eve.json" --eve "$W/read.json" --kinds "$KINDS"

#!/usr/bin/env bash
# baseline_live.sh - ten minutes of benign traffic on the live testbed
# (tests/e2e/scenarios/baseline-10min.scn: sensors, Zigbee2MQTT bridge,
# dashboard, no attacks) with mqttids live on it (--ids): no alert live, none
# from `mqttids read` on the capture, and the run itself clean (no capture
# drops, every host and the IDS exit 0). ctest baseline_live_10min (label long).
# usage: baseline_live.sh MQTTIDS-TESTBED MQTTIDS [--loopback]
set -euo pipefail
TESTBED=$1
MQTTIDS=$2
MODE=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
EXPECT=$HERE/../../tools/testbed/expected-alerts.json
command -v mosquitto >/dev/null || { echo "mosquitto not installed"; exit 77; }
[[ $(id -u) -eq 0 ]] || { echo "capturing needs root"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$TESTBED" run "$HERE/scenarios/baseline-10min.scn" -o "$W/run" $MODE --ids "$MQTTIDS" | tail -14
python3 - "$W/run/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ids = r.get("ids") or {}
print("network:", r["mode"], "- packets:", r["pcap"]["packets"], "- capture drops:", r["pcap"]["dropped"],
      "- IDS:", ids.get("status"))
sys.exit(0 if r["ok"] and not r["pcap"]["dropped"] and ids.get("exit") == 0 else 1)
PY
"$MQTTIDS" read "$W/run/capture.pcap" -c "$W/run/ids.yaml" --eve "$W/read.json" --no-console 2> "$W/read.err" \
	|| { cat "$W/read.err"; exit 1; }
tail -2 "$W/read.err"
# No labels: every alert would be a false positive.
python3 "$HERE/alerts_check.py" --labels "$W/run/labels.jsonl" --expect "$EXPECT" \
	--eve "$W/run/eve.json" --eve "$W/read.json"
n=$(grep -c '"event_type":"mqtt"' "$W/read.json" || true)
[[ $n -gt 1000 ]] || { echo "FAIL: only $n mqtt records in $W/read.json: was there traffic?"; exit 1; }
echo "baseline_live_10min: 0 alerts live and offline over $n MQTT transactions"

#!/usr/bin/env bash
# synth_benign.sh - a synthetic 24 h x 20 sensor capture decodes cleanly and matches the synth's own summary; same seed, same bytes.
#
# Usage: synth_benign.sh MQTTIDS_SYNTH MQTTIDS
# Checks, for MQTT 3.1.1 (24 h x 20 sensors) and briefly for 3.1 and 5.0:
#  - no anomaly records, no TCP gaps, no malformed/resynced MQTT;
#  - PUBLISH transactions == the synth's publish_total (device publishes plus
#    broker forwards), PINGREQ records == its pingreq, and pingresp present;
#  - every flow has a CONNECT, and its client id is the one the synth gave
#    the flow's source address;
#  - two runs with the same seed are byte-identical, another seed differs;
#  - `mqttids read` with the default rules and the testbed's addresses
#    (tests/e2e/ids-netns.yaml) raises no alert at all: benign is benign.
set -euo pipefail

SYNTH=${1:?usage: synth_benign.sh MQTTIDS_SYNTH MQTTIDS}
MQTTIDS=${2:?usage: synth_benign.sh MQTTIDS_SYNTH MQTTIDS}
IDS_CONF=$(cd "$(dirname "$0")/../../tests/e2e" && pwd)/ids-netns.yaml
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

check() { # check PCAP SUMMARY EVE
	python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
pcap, summary, eve = sys.argv[1:4]
want, ip2id = {}, {}
for line in open(summary):
    if line.startswith("client "):
        _, cid, ip = line.split()[:3]
        ip2id[ip] = cid
    elif "=" in line and " " not in line.strip():
        k, v = line.strip().split("=", 1)
        want[k] = int(v)
recs = [json.loads(l) for l in open(eve)]
fail = []
anom = [r for r in recs if r["event_type"] == "anomaly"]
if anom:
    fail.append(f"{len(anom)} anomaly records, first: {json.dumps(anom[0])[:300]}")
stats = [r for r in recs if r["event_type"] == "stats"]
if len(stats) != 1:
    fail.append("no stats record")
else:
    st = stats[0]["stats"]
    for k in ("gaps", "retransmissions", "overlaps", "midstream"):
        if st["tcp"][k]:
            fail.append(f"tcp.{k}={st['tcp'][k]}")
    for k in ("malformed", "anomalies", "gaps", "resyncs", "giveups", "truncated"):
        if st["mqtt"][k]:
            fail.append(f"mqtt.{k}={st['mqtt'][k]}")
    if st["decoder"]["pkts"] != want["packets"]:
        fail.append(f"decoder.pkts={st['decoder']['pkts']}, synth wrote {want['packets']}")
    if st["flow"]["created"] != want["connects"]:
        fail.append(f"flows={st['flow']['created']}, synth made {want['connects']} connections")
mqtt = [r for r in recs if r["event_type"] == "mqtt"]
count = lambda k: sum(1 for r in mqtt if k in r["mqtt"])
checks = {"publish": want["publish_total"], "pingreq": want["pingreq"],
          "connect": want["connects"], "disconnect": want["disconnects"]}
for k, n in checks.items():
    if count(k) != n:
        fail.append(f"{k} records: {count(k)}, expected {n}")
if count("pingresp") == 0:
    fail.append("no pingresp")
acked = sum(1 for r in mqtt if "publish" in r["mqtt"] and "puback" in r["mqtt"])
qos1 = sum(1 for r in mqtt if "publish" in r["mqtt"] and r["mqtt"]["publish"]["qos"] == 1)
if acked != qos1:
    fail.append(f"{qos1} QoS 1 publishes but {acked} with a puback")
flows = {r["flow_id"] for r in mqtt}
connects = {}
for r in mqtt:
    if "connect" in r["mqtt"]:
        connects[r["flow_id"]] = r
for f in sorted(flows - set(connects)):
    fail.append(f"flow {f} has no CONNECT")
for f, r in connects.items():
    cid = r["mqtt"]["connect"]["client_id"]
    if ip2id.get(r["src_ip"]) != cid:
        fail.append(f"flow {f}: client id {cid} from {r['src_ip']}, expected {ip2id.get(r['src_ip'])}")
    if r["mqtt"]["connack"]["return_code"] != 0:
        fail.append(f"flow {f}: connack {r['mqtt']['connack']['return_code']}")
if fail:
    print(f"FAIL {pcap}:\n  " + "\n  ".join(fail[:20]))
    sys.exit(1)
print(f"ok {pcap}: {want['packets']} packets, {len(flows)} flows, "
      f"{count('publish')} publish, {count('pingreq')} pingreq, 0 anomalies")
EOF
}

no_alerts() { # no_alerts NAME: mqttids read on NAME.pcap raises nothing
	local n
	"$MQTTIDS" read "$TMP/$1.pcap" -c "$IDS_CONF" --eve "$TMP/$1.alerts" >"$TMP/$1.console" \
		2>"$TMP/$1.read.err" || { cat "$TMP/$1.read.err"; exit 1; }
	n=$(grep -c '"event_type":"alert' "$TMP/$1.alerts" || true)
	if [ "$n" != 0 ] || [ -s "$TMP/$1.console" ]; then
		echo "FAIL $1: mqttids read raised $n alert records on benign traffic:"
		head -5 "$TMP/$1.console"
		exit 1
	fi
	echo "ok $1: mqttids read: 0 alerts ($(tail -1 "$TMP/$1.read.err"))"
}

run() { # run NAME SYNTH_ARGS...
	local name=$1
	shift
	local t0 t1
	t0=$(date +%s.%N)
	"$SYNTH" "$@" -o "$TMP/$name.pcap" >"$TMP/$name.sum"
	t1=$(date +%s.%N)
	echo "$name: generated in $(echo "$t1 - $t0" | bc) s, $(stat -c %s "$TMP/$name.pcap") bytes"
	"$MQTTIDS" decode --stats "$TMP/$name.pcap" >"$TMP/$name.eve" 2>"$TMP/$name.err"
	check "$TMP/$name.pcap" "$TMP/$name.sum" "$TMP/$name.eve"
	no_alerts "$name"
}

run day --sensors 20 --hours 24 --interval 60 --seed 42
"$SYNTH" --sensors 20 --hours 24 --interval 60 --seed 42 -o "$TMP/day_again.pcap" >/dev/null
a=$(sha256sum <"$TMP/day.pcap")
b=$(sha256sum <"$TMP/day_again.pcap")
if [ "$a" != "$b" ]; then
	echo "FAIL: same seed, different files"
	exit 1
fi
echo "ok: same seed, identical sha256 ${a%% *}"
"$SYNTH" --sensors 20 --hours 1 --seed 43 -o "$TMP/other.pcap" >/dev/null
"$SYNTH" --sensors 20 --hours 1 --seed 42 -o "$TMP/same.pcap" >/dev/null
if cmp -s "$TMP/other.pcap" "$TMP/same.pcap"; then
	echo "FAIL: seeds 42 and 43 gave the same file"
	exit 1
fi
run v31 --sensors 5 --hours 2 --interval 10 --seed 5 --mqtt-version 3 --reconnect-hours 0.5
run v5 --sensors 5 --hours 2 --interval 10 --seed 6 --mqtt-version 5 --reconnect-hours 0.5
run qos0 --sensors 40 --hours 1 --interval 30 --seed 7 --qos 0 --keepalive 60
echo "synth_benign_decodes_clean: all checks passed"

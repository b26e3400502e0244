#!/usr/bin/env bash
# suricata-scenario.sh - traffic that fires the translated rules, read by mqttids and Suricata.
#
# usage: bench/suricata-scenario.sh [OUT.pcap]       (root: captures on lo)
#
# The benchmark capture fires only three of the translated rules (SYN flood, publish rate,
# the '#' subscription). This records about 40 s of loopback traffic against a private
# mosquitto (127.0.0.1, first free port from 18990, password file) that fires five more:
#   7 refused MQTT 3.1.1 logins (CONNACK 5)       -> 1000005 (5 in 60 s)
#   6 refused MQTT 5 logins (CONNACK 0x87)        -> 1000006 (5 in 60 s; Suricata: sid 1200006)
#   subscriptions to '#' and '$SYS/broker/#'      -> 1000008
#   a CONNECT with a 20,000-byte will             -> 1000016
#   12 idle clients (keepalive 5 s) for 26 s      -> 1000015 (50 PINGREQ in 30 s)
# then runs `mqttids read --alerts-only --no-detectors` with out/mqttids-translated.rules and
# Suricata with out/suricata-mqttids.rules (both made by bench/suricata-rules.py) and prints
# bench/suricata-compare.py's alert table. Default OUT: bench/out/scenario.pcap.
# BENCH_MQTTIDS: the mqttids binary (default build/release/mqttids).
# Everything this starts is stopped by pid (a trap), whatever happens.
set -euo pipefail
set -m

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
OUTDIR=$BENCH/out
OUT=${1:-$OUTDIR/scenario.pcap}
MQTTIDS=${BENCH_MQTTIDS:-$ROOT/build/release/mqttids}
HOST=127.0.0.1
for t in mosquitto mosquitto_pub mosquitto_sub mosquitto_passwd tcpdump ss capinfos suricata python3; do
	command -v "$t" >/dev/null || { echo "$0: $t is not installed" >&2; exit 1; }
done
[[ -x $MQTTIDS ]] || { echo "$0: no mqttids at $MQTTIDS (BENCH_MQTTIDS)" >&2; exit 1; }
mkdir -p "$OUTDIR" "$OUTDIR/suricata"

WORK=$(mktemp -d /tmp/mqttids-scenario.XXXXXX)
PIDS=()
cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -- -"${PIDS[i]}" 2>/dev/null || true; done
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do wait "${PIDS[i]}" 2>/dev/null || true; done
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=
for ((p = 18990; p < 19090; p++)); do
	[[ -z $(ss -Htan "( sport = :$p or dport = :$p )") ]] && { PORT=$p; break; }
done
[[ -n $PORT ]] || { echo "$0: no free port in 18990-19089" >&2; exit 1; }

touch "$WORK/passwd"
chmod 600 "$WORK/passwd"
mosquitto_passwd -b "$WORK/passwd" alice secret
cat >"$WORK/mosquitto.conf" <<EOF
listener $PORT $HOST
allow_anonymous false
password_file $WORK/passwd
persistence false
user root
log_dest none
EOF
mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do [[ -n $(ss -Htln "sport = :$PORT") ]] && break; sleep 0.05; done
[[ -n $(ss -Htln "sport = :$PORT") ]] || { cat "$WORK/mosquitto.log" >&2; exit 1; }
tcpdump -i lo -n -Z root -s 0 -U -w "$OUT" "host $HOST and tcp port $PORT" 2>"$WORK/tcpdump.err" &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
for ((i = 0; i < 100; i++)); do grep -q "listening on" "$WORK/tcpdump.err" && break; sleep 0.05; done
sleep 0.3

C=(-h "$HOST" -p "$PORT")
for i in 1 2 3 4 5 6 7; do timeout 10 mosquitto_pub "${C[@]}" -u alice -P wrong -t a/b -m x -i "bad311-$i" 2>/dev/null || true; done
for i in 1 2 3 4 5 6; do timeout 10 mosquitto_pub "${C[@]}" -V mqttv5 -u alice -P wrong -t a/b -m x -i "bad5-$i" 2>/dev/null || true; done
timeout 2 mosquitto_sub "${C[@]}" -u alice -P secret -t '#' -t '$SYS/broker/#' -i watcher >/dev/null 2>&1 || true
timeout 2 mosquitto_sub "${C[@]}" -u alice -P secret -t 'zigbee2mqtt/+/set' -i z2m-cmd >/dev/null 2>&1 || true
WILL=$(head -c 20000 /dev/zero | tr '\0' w)
timeout 10 mosquitto_pub "${C[@]}" -u alice -P secret -t a/b -m x -i big-will --will-topic dead/x --will-payload "$WILL" || true
IDLE=()
for i in $(seq 1 12); do
	timeout 26 mosquitto_sub "${C[@]}" -u alice -P secret -t "idle/$i" -k 5 -i "idle-$i" >/dev/null 2>&1 &
	IDLE+=($!)
	PIDS+=($!)
done
for p in "${IDLE[@]}"; do wait "$p" 2>/dev/null || true; done
sleep 1
kill -INT "$TCPDUMP" 2>/dev/null || true
wait "$TCPDUMP" 2>/dev/null || true

SR=$OUTDIR/suricata-mqttids.rules
TR=$OUTDIR/mqttids-translated.rules
python3 "$BENCH/suricata-rules.py" "$ROOT/rules" -o "$SR" --mqttids-out "$TR"
"$MQTTIDS" read --no-console --alerts-only --no-detectors --mqtt-port "$PORT" --rules "$TR" \
	--eve "$OUTDIR/scenario-mqttids.json" "$OUT" 2>&1 | tail -1 >&2
rm -f "$OUTDIR/suricata/eve.json"
suricata -c "$BENCH/suricata.yaml" -k none -l "$OUTDIR/suricata" -S "$SR" \
	--set "app-layer.protocols.mqtt.detection-ports.dp=$PORT" --set outputs.0.eve-log.types.1.mqtt.enabled=no \
	--set packet-alert-max=255 \
	-r "$OUT" >/dev/null 2>&1
mv "$OUTDIR/suricata/eve.json" "$OUTDIR/scenario-suricata.json"
echo "$OUT: $(capinfos -c -M "$OUT" 2>/dev/null | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}') packets, port $PORT"
python3 "$BENCH/suricata-compare.py" alerts "$OUTDIR/scenario-suricata.json" "$OUTDIR/scenario-mqttids.json" --rules "$SR"

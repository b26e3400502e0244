#!/usr/bin/env bash
# make_capture.sh - record the benchmark capture from real mosquitto traffic on loopback.
#
# usage: bench/make_capture.sh OUT.pcap [PACKETS]
#
# Starts a private mosquitto broker on 127.0.0.1 (a free port from 18883 up), three
# long-lived mosquitto_sub subscribers (one receives everything), then about
# BENCH_FLOWS (10000) short device sessions made with mosquitto_pub: connect, publish
# one or a few JSON sensor readings at QoS 0/1/2 (a few sessions publish a larger
# payload: a snapshot or a firmware report of 2 kB to 256 kB), disconnect. Protocol
# versions, usernames, retained messages, wills and v5 properties are mixed in.
# When the sessions are done and the capture is still short of PACKETS, a handful of
# long-lived "gateway" publishers stream readings until it is full.
#
# The capture is `tcpdump -i lo -s 0 -c PACKETS` filtered on the broker port, so it
# holds exactly PACKETS packets (default 1000000) of whole frames. Everything runs
# on 127.0.0.1 only. The run is bounded: BENCH_TIME_LIMIT seconds (default 540) for
# the traffic, after which the script fails. The broker, clients and tcpdump are
# stopped by a trap however the script ends.
#
# Writes OUT.pcap and OUT.pcap.meta (port=, packets=, connections=, address_port_pairs=,
# seconds=, dropped=, ...) that bench/run.sh reads. Linux reuses client ports on
# loopback quickly, so the ~10000 TCP connections share fewer address/port pairs.
# Exit status 0 only when the capture holds PACKETS packets and tcpdump dropped none.
#
# Tunables (environment): BENCH_FLOWS (10000), BENCH_JOBS (parallel publishers, 6;
# most of a session is waiting on the broker, so 6 keep 2 cores busy),
# BENCH_TIME_LIMIT (540), BENCH_SEED (1), BENCH_PORT (first free from 18883),
# BENCH_TOPUP=0 (debugging: no gateways, stop when the sessions are done).
set -euo pipefail
set -m # each background job gets its own process group, so the trap can stop it whole

usage() { echo "usage: $0 OUT.pcap [PACKETS]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
OUT=$1
PACKETS=${2:-1000000}
FLOWS=${BENCH_FLOWS:-10000}
JOBS=${BENCH_JOBS:-6}
LIMIT=${BENCH_TIME_LIMIT:-540}
SEED=${BENCH_SEED:-1}
HOST=127.0.0.1 # loopback only, never anything else
mkdir -p "$(dirname "$OUT")"
[[ $PACKETS =~ ^[0-9]+$ && $PACKETS -ge 1000 ]] || { echo "PACKETS must be a number >= 1000" >&2; exit 2; }
[[ $FLOWS =~ ^[0-9]+$ && $FLOWS -ge 10 ]] || { echo "BENCH_FLOWS must be a number >= 10" >&2; exit 2; }
[[ $JOBS =~ ^[0-9]+$ && $JOBS -ge 1 && $JOBS -le 16 ]] || { echo "BENCH_JOBS must be 1..16" >&2; exit 2; }

for t in mosquitto mosquitto_pub mosquitto_sub tcpdump ss; do
	command -v "$t" >/dev/null || { echo "$0: $t is not installed" >&2; exit 1; }
done
HERE=$(cd "$(dirname "$0")" && pwd)
make -s -C "$HERE" >/dev/null

# Messages per session of the "batch" kinds are scaled so the sessions alone make
# about 85% of PACKETS; the gateways top up the rest. PKT_BASE (packets per session)
# and PKT_MSG (per published message, broker fan-out to the subscribers included;
# back-to-back publishes share segments, hence < 3) were measured on this setup with
# BENCH_FLOWS=1000; the top-up phase absorbs the error.
PKT_BASE=14
PKT_MSG=2.75

WORK=$(mktemp -d /tmp/mqttids-bench.XXXXXX)
PIDS=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# Stop what this script started, newest first, by pid (never by name).
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -- -"${PIDS[i]}" 2>/dev/null || true
	done
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		wait "${PIDS[i]}" 2>/dev/null || true
	done
	rm -rf "$WORK"
	((rc == 0)) || rm -f "${TMP_OUT:-}" # no half-written capture is left behind
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T0=$SECONDS
check_time() {
	if ((SECONDS - T0 >= LIMIT)); then
		echo "$0: time limit of ${LIMIT}s reached" >&2
		exit 1
	fi
}

# --- a free port on 127.0.0.1: nothing listening and no socket using it -------------
PORT=${BENCH_PORT:-}
if [[ -z $PORT ]]; then
	for ((p = 18883; p < 18983; p++)); do
		[[ -z $(ss -Htan "( sport = :$p or dport = :$p )") ]] && { PORT=$p; break; }
	done
fi
[[ $PORT =~ ^[0-9]+$ && $PORT -ge 1024 && $PORT -le 65535 ]] || { echo "$0: no usable port (${PORT:-none free in 18883-18982})" >&2; exit 1; }

# --- broker ---------------------------------------------------------------------------
cat >"$WORK/mosquitto.conf" <<EOF
listener $PORT $HOST
allow_anonymous true
persistence false
max_queued_messages 100000
max_inflight_messages 20
log_dest none
EOF
mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
BROKER=$!
PIDS+=("$BROKER")
for ((i = 0; i < 100; i++)); do
	[[ -n $(ss -Htln "sport = :$PORT") ]] && break
	kill -0 "$BROKER" 2>/dev/null || { cat "$WORK/mosquitto.log" >&2; exit 1; }
	sleep 0.05
done
[[ -n $(ss -Htln "sport = :$PORT") ]] || { echo "$0: mosquitto did not listen on $PORT" >&2; exit 1; }

# --- capture ----------------------------------------------------------------------------
# -s 0: whole frames (262144 bytes, more than loopback's 64 kB GSO frames);
# -B: a 256 MB kernel buffer so bursts are not dropped; -c: exactly PACKETS packets;
# -Z root: keep the rights to write OUT (tcpdump otherwise drops to its own user).
TMP_OUT="${OUT%.pcap}.part.pcap"
rm -f "$TMP_OUT"
tcpdump -i lo -n -Z root -s 0 -B 262144 -c "$PACKETS" -w "$TMP_OUT" "host $HOST and tcp port $PORT" \
	2>"$WORK/tcpdump.err" &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
for ((i = 0; i < 100; i++)); do
	grep -q "listening on" "$WORK/tcpdump.err" && break
	kill -0 "$TCPDUMP" 2>/dev/null || { cat "$WORK/tcpdump.err" >&2; exit 1; }
	sleep 0.05
done
grep -q "listening on" "$WORK/tcpdump.err" || { echo "$0: tcpdump did not start" >&2; exit 1; }
sleep 0.2

# --- long-lived subscribers ----------------------------------------------------------------
# A logger that receives everything, a v5 dashboard on the telemetry at QoS 1, and an
# automation client on one room at QoS 2.
mosquitto_sub -h "$HOST" -p "$PORT" -i logger-all -t '#' -q 0 -k 60 >/dev/null 2>&1 &
PIDS+=($!)
mosquitto_sub -h "$HOST" -p "$PORT" -i dashboard-v5 -V mqttv5 -t 'sensors/+/+/telemetry' -q 1 \
	-u dashboard -P dashboard-secret >/dev/null 2>&1 &
PIDS+=($!)
mosquitto_sub -h "$HOST" -p "$PORT" -i automation-kitchen -t 'sensors/kitchen/#' -t 'alarms/#' -q 2 \
	>/dev/null 2>&1 &
PIDS+=($!)
sleep 0.3

# --- payload blobs for the large-payload sessions ------------------------------------------
for kb in 2 8 32 128 256; do
	{
		printf '{"device":"cam","format":"jpeg","b64":"'
		head -c $((kb * 768)) /dev/urandom | base64 -w0
		printf '"}'
	} >"$WORK/blob$kb.json"
done

# --- the session plan -------------------------------------------------------------------------
# One line per session: client_id version qos kind count topic user retain will.
# kind: one (-m), batch (-l, count lines), repeat (--repeat count), big (-f blob of count kB).
SCALE=$(awk -v p="$PACKETS" -v f="$FLOWS" -v b="$PKT_BASE" -v m="$PKT_MSG" 'BEGIN {
	# mean messages per session of the plan below is 2.47 + 4.225 * scale
	msgs = (0.85 * p - f * b) / m / f; s = (msgs - 2.47) / 4.225; if (s < 0.05) s = 0.05; printf "%.3f", s }')
awk -v n="$FLOWS" -v seed="$SEED" -v scale="$SCALE" -v jobs="$JOBS" 'BEGIN {
	srand(seed)
	split("esp32 esp8266 shelly zigbee tasmota rpi", types, " ")
	split("kitchen livingroom bedroom garage garden office bathroom hallway", rooms, " ")
	# Each device connects about 25 times. Session i runs on worker i % jobs and is
	# device i % ndev with ndev a multiple of jobs, so one device never has two
	# sessions at once (the broker would make them take over each other forever).
	ndev = jobs * (int(n / (25 * jobs)) + 1)
	for (i = 0; i < n; i++) {
		d = i % ndev
		type = types[d % 6 + 1]; room = rooms[int(d / 6) % 8 + 1]
		cid = type "-" room "-" d
		r = rand(); ver = r < 0.80 ? "mqttv311" : (r < 0.95 ? "mqttv5" : "mqttv31")
		if (ver == "mqttv31" && length(cid) > 23) ver = "mqttv311" # 3.1 allows 23 bytes
		r = rand(); qos = r < 0.5 ? 0 : (r < 0.8 ? 1 : 2)
		r = rand()
		if (r < 0.55) { kind = "one"; cnt = 1 }
		else if (r < 0.80) { kind = "batch"; cnt = 2 + int(rand() * 9 * scale) }
		else if (r < 0.93) { kind = "batch"; cnt = 10 + int(rand() * 40 * scale) }
		else if (r < 0.98) { kind = "repeat"; cnt = 2 + int(rand() * 20 * scale) }
		else { kind = "big"; split("2 8 32 128 256", kbs, " "); cnt = kbs[int(rand() * 5) + 1] }
		topic = "sensors/" room "/" cid "/telemetry"
		if (kind == "big") topic = (rand() < 0.5 ? "cameras/" room "/" cid "/snapshot" : "devices/" cid "/firmware/report")
		else if (rand() < 0.03) topic = "alarms/" room "/" cid
		user = rand() < 0.3 ? "dev-" d : "-"
		retain = (kind == "one" && rand() < 0.1) ? 1 : 0
		will = rand() < 0.1 ? 1 : 0
		print cid, ver, qos, kind, cnt, topic, user, retain, will > ("'"$WORK"'/plan." (i % jobs))
		msgs += kind == "big" ? 1 : cnt
	}
	print msgs
}' >"$WORK/plan.msgs"

# One worker runs its share of the plan one session after another; readings are built
# with printf -v and here-strings so each session costs one fork (mosquitto_pub).
# timeout --foreground stays in the worker's process group, so the trap stops it too.
worker() {
	local plan=$1 wid=$2 cid ver qos kind cnt topic user retain will msg lines i t h
	RANDOM=$((SEED * 100 + wid))
	while read -r cid ver qos kind cnt topic user retain will; do
		((SECONDS - T0 < LIMIT)) || return 1
		local args=(-h "$HOST" -p "$PORT" -i "$cid" -V "$ver" -q "$qos" -t "$topic" -k $((30 + RANDOM % 91)) --quiet)
		[[ $user != - ]] && args+=(-u "$user" -P "pw-$RANDOM$RANDOM")
		((retain)) && args+=(-r)
		((will)) && args+=(--will-topic "devices/$cid/status" --will-payload offline --will-qos 1)
		if [[ $ver == mqttv5 ]]; then
			args+=(-D publish content-type application/json -D publish user-property fw "1.$((RANDOM % 9)).$((RANDOM % 30))")
			((RANDOM % 4 == 0)) && args+=(-D publish message-expiry-interval 3600)
		fi
		t=$((150 + RANDOM % 150)) h=$((30 + RANDOM % 50))
		printf -v msg '{"device":"%s","temperature":%d.%d,"humidity":%d,"battery":%d,"rssi":-%d}' \
			"$cid" $((t / 10)) $((t % 10)) "$h" $((20 + RANDOM % 81)) $((40 + RANDOM % 50))
		case $kind in
		one) timeout --foreground 30 mosquitto_pub "${args[@]}" -m "$msg" ;;
		repeat) timeout --foreground 30 mosquitto_pub "${args[@]}" -m "$msg" --repeat "$cnt" ;;
		big) timeout --foreground 30 mosquitto_pub "${args[@]}" -f "$WORK/blob$cnt.json" ;;
		batch)
			lines=
			for ((i = 0; i < cnt; i++)); do
				t=$((t + RANDOM % 5 - 2)) h=$((h + RANDOM % 3 - 1))
				printf -v msg '{"device":"%s","seq":%d,"temperature":%d.%d,"humidity":%d}' \
					"$cid" "$i" $((t / 10)) $((t % 10)) "$h"
				lines+=$msg$'\n'
			done
			timeout --foreground 30 mosquitto_pub "${args[@]}" -l <<<"${lines%$'\n'}"
			;;
		esac || echo "session $cid ($ver qos $qos $kind $cnt) failed: exit $?" >>"$WORK/failures"
	done <"$plan"
}

echo "make_capture: port $PORT, $FLOWS sessions with $(cat "$WORK/plan.msgs") messages on $JOBS workers (scale $SCALE), $PACKETS packets" >&2
WPIDS=()
for ((w = 0; w < JOBS; w++)); do
	worker "$WORK/plan.$w" "$w" &
	WPIDS+=($!)
	PIDS+=($!)
done
# Wait for the workers; if the capture fills up first, the remaining sessions are cut.
running() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while running "${WPIDS[@]}"; do
	check_time
	if ! kill -0 "$TCPDUMP" 2>/dev/null; then
		echo "make_capture: capture full before all sessions ran; raise PKT_MSG" >&2
		for p in "${WPIDS[@]}"; do kill -- -"$p" 2>/dev/null || true; done
		break
	fi
	sleep 0.2
done
T_SESSIONS=$((SECONDS - T0))
FAILED=0
[[ -f $WORK/failures ]] && FAILED=$(wc -l <"$WORK/failures")
echo "make_capture: sessions done in ${T_SESSIONS}s ($FAILED failed)" >&2
((FAILED)) && head -5 "$WORK/failures" >&2

# --- top-up: gateways stream readings until tcpdump has PACKETS packets ----------------
# A gateway (a Zigbee bridge, say) relays readings of many nodes over one connection,
# two or three at a time every few milliseconds. The pause is a read with a timeout on
# a FIFO nobody writes, so it costs no fork.
mkfifo "$WORK/nap"
gateway() {
	local g=$1 qos=$2 lines i t=200 h=50 nap
	exec {nap}<>"$WORK/nap"
	RANDOM=$((SEED * 1000 + g))
	while :; do
		lines=
		for ((i = 0; i < 1 + RANDOM % 3; i++)); do
			t=$((t + RANDOM % 5 - 2)) h=$((h + RANDOM % 3 - 1))
			((t < 100 || t > 350)) && t=200
			((h < 10 || h > 95)) && h=50
			printf -v msg '{"device":"zb-node-%d","bridge":"gw-%d","temperature":%d.%d,"humidity":%d,"linkquality":%d}' \
				$((RANDOM % 64)) "$g" $((t / 10)) $((t % 10)) "$h" $((RANDOM % 256))
			lines+=$msg$'\n'
		done
		printf '%s' "$lines" || return 0
		read -r -t 0.004 -u "$nap" _ || true
	done | mosquitto_pub -h "$HOST" -p "$PORT" -i "gateway-$g" -q "$qos" -t "sensors/bridge/gw-$g/telemetry" -l --quiet
}
if [[ ${BENCH_TOPUP:-1} == 0 ]]; then
	sleep 2 # tcpdump hands over a ring block after its 1 s timeout; let it drain
	kill -INT "$TCPDUMP" 2>/dev/null || true
elif kill -0 "$TCPDUMP" 2>/dev/null; then
	echo "make_capture: topping up with gateway publishers" >&2
	for g in 0 1 2 3; do
		gateway "$g" $((g % 3)) &
		PIDS+=($!)
	done
fi
while kill -0 "$TCPDUMP" 2>/dev/null; do
	check_time
	sleep 0.2
done
wait "$TCPDUMP" || true
T_TOTAL=$((SECONDS - T0))
cat "$WORK/tcpdump.err" | grep -v "listening on" >&2 || true
DROPPED=$(awk '/dropped by kernel/ {print $1}' "$WORK/tcpdump.err")
mv "$TMP_OUT" "$OUT"

read -r _ _ pairs conns <<<"$("$HERE/out/pcap_flows" "$OUT" "$PORT" | tr '=' ' ' | awk '{print $2, $4, $6, $8}')"
COUNT=$(capinfos -c -M "$OUT" 2>/dev/null | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
cat >"$OUT.meta" <<EOF
port=$PORT
packets=$COUNT
connections=$conns
address_port_pairs=$pairs
sessions=$FLOWS
failed_sessions=$FAILED
dropped=${DROPPED:-unknown}
seconds=$T_TOTAL
sessions_seconds=$T_SESSIONS
EOF
echo "make_capture: $OUT: $COUNT packets, $conns TCP connections over $pairs address/port pairs," \
	"port $PORT, ${T_TOTAL}s, dropped ${DROPPED:-?}" >&2
[[ $COUNT == "$PACKETS" && ${DROPPED:-1} == 0 ]]

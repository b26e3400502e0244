#!/usr/bin/env bash
# sensor_e2e.sh - end-to-end test of mqttids-sensor against a real mosquitto
# on loopback (ctest sensor_live_e2e).
#
# Usage: sensor_e2e.sh MQTTIDS_SENSOR_BINARY
#
# Starts mosquitto on 127.0.0.1:<free port> with a password file and no
# anonymous access, records everything on '#' with mosquitto_sub, and runs
# for about 14 s, all with --interval 1:
#   esp32-kitchen  DHT11, --security key, from 127.77.0.11, a Wi-Fi drop
#                  every 3 s on average (--drop-every 3), silent from 4 s to 8 s
#   esp32-office   DHT22, --security hmac (key file, mode 0600), MQTT 5, from
#                  127.77.0.12, tampered +15 degC from 3 s to 11 s
#   zigbee2mqtt    the bridge with 4 devices; kitchen_air leaves at 1 s,
#                  front_door_lock from 2 s to 5 s
#   dashboard      subscribes to sensors/# and zigbee2mqtt/#
# then reads the retained messages, stops every device with SIGTERM and has
# sensor_e2e_check.py check the recording, the labels and the broker log
# (reading shapes, shared key, HMAC, birth/info, will and reconnect, the
# bridge's devices and availability, labels, graceful DISCONNECTs).
#
# Only 127.0.0.0/8 is used. Exit status: 0 pass, 1 fail, 77 skip (mosquitto
# or python3 missing). E2E_KEEP=1 keeps the temporary directory.
set -euo pipefail

SKIP=77
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../../tests/e2e/lib.sh"
KILL_GRACE_S=5
PROG=sensor_e2e

log()  { printf '%s: %s\n' "$PROG" "$*" >&2; }
die()  { printf '%s: FAIL: %s\n' "$PROG" "$*" >&2; exit 1; }
skip() { printf '%s: SKIPPED: %s\n' "$PROG" "$*" >&2; exit "$SKIP"; }

[[ $# -eq 1 ]] || { echo "usage: $0 MQTTIDS_SENSOR_BINARY" >&2; exit 2; }
BIN=$1
[[ -x $BIN ]] || die "'$BIN' not found or not executable"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

PATH=$PATH:/usr/sbin:/usr/local/sbin:/sbin
for t in mosquitto mosquitto_sub mosquitto_passwd; do
    command -v "$t" >/dev/null || skip "$t not installed (apt-get install mosquitto mosquitto-clients)"
done
command -v python3 >/dev/null || skip "python3 not installed"

# ------------------------------------------------------------------ cleanup
T=$(mktemp -d "${TMPDIR:-/tmp}/mqttids-sensor-e2e.XXXXXX")
DEV_PIDS=()
REC_PID=
BROKER_PID=

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    ((${#DEV_PIDS[@]})) && kill_wait TERM "${DEV_PIDS[@]}"
    [[ -n $REC_PID ]] && kill_wait TERM "$REC_PID"
    [[ -n $BROKER_PID ]] && kill_wait TERM "$BROKER_PID"
    if [[ ${E2E_KEEP:-0} == 1 ]]; then
        log "kept $T"
    else
        rm -rf "$T"
        ((rc != 0 && rc != SKIP)) && log "(set E2E_KEEP=1 to keep the recording and logs)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ broker
: >"$T/passwd"
for up in admin:adm1n-pw sensor:s3ns0r-pw z2m:z1gb33-pw; do
    mosquitto_passwd -b "$T/passwd" "${up%%:*}" "${up#*:}" >/dev/null 2>&1 ||
        die "mosquitto_passwd failed"
done
chmod 600 "$T/passwd"

start_broker false
log "mosquitto on 127.0.0.1:$PORT (pid $BROKER_PID), temp dir $T"

H=(-h 127.0.0.1 -p "$PORT")
FMT='%U %r %q %t %p'
mosquitto_sub "${H[@]}" -u admin -P adm1n-pw -i e2e-recorder -t '#' -F "$FMT" >"$T/rec.out" 2>"$T/rec.err" &
REC_PID=$!
wait_for "$T/broker.log" "Sending SUBACK to e2e-recorder$" 10 "$REC_PID" ||
    die "the recorder did not subscribe: $(cat "$T/rec.err")"

# ------------------------------------------------------------------ devices
printf '# device keys for sensor_e2e\nesp32-office 5f1c0e8a9b2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a\n' >"$T/keys"
chmod 600 "$T/keys"
L=$T/labels.jsonl
S=(--broker 127.0.0.1 --port "$PORT" --interval 1)

start_dev() {       # start_dev NAME ARGS...: stdout NAME.out, stderr NAME.err
    local name=$1
    shift
    "$BIN" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    DEV_PIDS+=($!)
    eval "PID_$name=\$!"
}
T0=$(date +%s)
start_dev kitchen "${S[@]}" --device esp32-kitchen --room kitchen --bind 127.77.0.11 \
    --username sensor --password s3ns0r-pw --security key --shared-key k1tch3n-s3cret \
    --drop-every 3 --seed 11 --silence-at 4 --silence-for 4 --label "$L"
start_dev office "${S[@]}" --device esp32-office --room office --model dht22 --bind 127.77.0.12 \
    --username sensor --password s3ns0r-pw --mqtt-version 5 --security hmac --key-file "$T/keys" \
    --tamper-at 3 --tamper-for 8 --tamper-delta 15 --label "$L"
start_dev z2m --z2m "${S[@]}" --bind 127.77.0.13 --username z2m --password z1gb33-pw \
    --z2m-offline kitchen_air --z2m-offline-at 1 \
    --z2m-offline front_door_lock --z2m-offline-at 2 --z2m-offline-for 3 --label "$L"
start_dev dash --dashboard --broker 127.0.0.1 --port "$PORT" --bind 127.77.0.14 \
    --username admin --password adm1n-pw

for name in kitchen office z2m dash; do
    pid_var=PID_$name
    wait_for "$T/$name.out" "^mqttids-sensor: " 5 "${!pid_var}" ||
        die "$name did not start: $(cat "$T/$name.err")"
done
log "devices running"

# kitchen_air's availability turns offline 10 s after it was last seen (<= 1.5 s).
wait_for "$T/rec.out" "zigbee2mqtt/kitchen_air/availability offline$" 20 ||
    die "kitchen_air's availability did not turn offline within 20 s"
while (($(date +%s) < T0 + 14)); do sleep 0.2; done
for name in kitchen office z2m dash; do
    pid_var=PID_$name
    kill -0 "${!pid_var}" 2>/dev/null || die "$name exited early: $(cat "$T/$name.err")"
done

mosquitto_sub "${H[@]}" -u admin -P adm1n-pw -i e2e-retained -t 'sensors/#' -t 'zigbee2mqtt/#' \
    --retained-only -W 5 -F "$FMT" >"$T/retained.out" 2>&1 || true

# ------------------------------------------------------------------ stop
for name in kitchen office z2m dash; do
    pid_var=PID_$name
    kill -TERM "${!pid_var}"
done
for name in kitchen office z2m dash; do
    pid_var=PID_$name
    rc=0
    wait_pid "${!pid_var}" 10 || rc=$?
    ((rc == 0)) || die "$name: exit status $rc after SIGTERM (124: still running): $(cat "$T/$name.err")"
done
DEV_PIDS=()
log "all devices exited 0 on SIGTERM"
mosquitto_sub "${H[@]}" -u admin -P adm1n-pw -i e2e-retained2 -t 'zigbee2mqtt/bridge/state' \
    --retained-only -C 1 -W 3 -F "$FMT" >"$T/retained2.out" 2>&1 || true
sleep 0.3
kill_wait TERM "$REC_PID"
REC_PID=

python3 "$HERE/sensor_e2e_check.py" "$T" "$PORT" || die "checks failed (see above)"
echo "== $PROG: pass"

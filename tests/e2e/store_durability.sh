#!/usr/bin/env bash
# store_durability.sh - the alert store loses nothing silently (issue 14,
# "The store loses nothing silently"):
#  - locked by another process for 8 s while read runs (longer than read's
#    5 s busy timeout): every alert is stored once the lock goes, exit 0,
#    the wait is reported;
#  - locked for longer than outputs.sqlite.lock-wait: the alerts not stored
#    are counted and named, exit 1;
#  - read-only to the process (run as nobody, root's 0644 file): refused at
#    start, exit 1;
#  - damaged pages: refused at start, exit 1;
#  - kill -9 during live, three times: every alert in EVE is in the store.
# usage: store_durability.sh MQTTIDS
set -uo pipefail
MQTTIDS=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
W=$(mktemp -d)
chmod 755 "$W"
cleanup() {
	for p in ${pids:-}; do kill "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; cat "$W"/*.err >&2 2>/dev/null; exit 1; }
cp "$ROOT/tests/pcap/sensors/input.pcap" "$W/in.pcap"
# Every MQTT message alerts: 35 alerts from the capture.
printf 'mqtt any -> any; name: every message; cooldown: 0; sid: 9000001\n' > "$W/every.rules"
chmod 644 "$W/in.pcap" "$W/every.rules"
count() { "$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from alerts").fetchone()[0])' "$1"; }
read_db() { "$MQTTIDS" read -r "$W/every.rules" --no-console --db "$1" "${@:2}" "$W/in.pcap"; }

# Holds an exclusive lock on $1 for $2 seconds; returns once it holds it.
lock_for() {
	rm -f "$W/locked"
	"$PY" - "$1" "$2" "$W/locked" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
open(sys.argv[3], "w").close()
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")
PY
	lockpid=$!
	for _ in $(seq 100); do [[ -e $W/locked ]] && return 0; sleep 0.05; done
	fail "the lock holder did not start"
}

# --- locked for 8 s: all stored after the wait ---
read_db "$W/a.db" --eve "$W/a0.json" 2>"$W/create.err" || fail "creating the store"
"$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("delete from alerts"); c.commit()' "$W/a.db"
lock_for "$W/a.db" 8
read_db "$W/a.db" --eve "$W/a.json" 2>"$W/locked.err" || fail "read with a store locked for 8 s exited non-zero"
wait "$lockpid"
n=$(count "$W/a.db"); e=$(grep -c '"event_type":"alert"' "$W/a.json")
[[ $n == 35 && $e == 35 ]] || fail "locked 8 s: $n of $e alerts stored"
grep -q "cannot write (database is locked); alerts wait in memory" "$W/locked.err" || fail "the lock was not reported"
grep -q "writing again after" "$W/locked.err" || fail "the recovery was not reported"
echo "ok   store locked 8 s: 35 of 35 alerts stored after the wait, exit 0"

# --- locked past lock-wait: named, exit 1 ---
"$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("delete from alerts"); c.commit()' "$W/a.db"
lock_for "$W/a.db" 10
read_db "$W/a.db" --set outputs.sqlite.lock-wait=1 2>"$W/lost.err" && fail "alerts lost to a lock, yet exit 0"
wait "$lockpid"
grep -qE "a.db: 35 alerts NOT stored, raised 20[0-9-]+T[0-9:.+-]+ to 20[0-9-]+T[0-9:.+-]+ \(0 stored\): database is locked" "$W/lost.err" \
	|| fail "the lost alerts are not named"
echo "ok   store locked past outputs.sqlite.lock-wait: '35 alerts NOT stored ...', exit 1"

# --- read-only to the process: refused at start ---
if [[ $(id -u) -eq 0 ]] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	mkdir -m 777 "$W/ro"
	cp "$W/a.db" "$W/ro/ro.db"
	chmod 644 "$W/ro/ro.db"
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$MQTTIDS" read -r "$W/every.rules" --no-console --db "$W/ro/ro.db" "$W/in.pcap" \
		2>"$W/ro.err" && fail "a read-only store was accepted"
	grep -q "ro.db: the alert store is read-only to this process: no alert could be stored" "$W/ro.err" \
		|| fail "no message for the read-only store"
	echo "ok   read-only store: refused at start, exit 1"
else
	echo "skip read-only store: needs root, the user nobody and setpriv"
fi

# --- damaged pages: refused at start ---
read_db "$W/d.db" 2>"$W/d0.err" || fail "creating the store to damage"
# 2,000 more rows, so that the table spans many pages
"$PY" - "$W/d.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO alerts (uuid, ts_us, datetime, first_violation, total_violation, priority,
  priority_name, classification, src, sid, rev, record, eve)
SELECT printf('%032x', i), ts_us, datetime, first_violation, total_violation, priority,
  priority_name, classification, src, sid, rev, record, eve FROM n, (SELECT * FROM alerts LIMIT 1)""")
c.commit()
PY
"$PY" -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("pragma wal_checkpoint(TRUNCATE)")' "$W/d.db"
pages=$(( $(stat -c %s "$W/d.db") / 4096 ))
((pages >= 4)) || fail "the store to damage has only $pages pages"
# a page of the table overwritten with a fixed pattern (not a valid b-tree page)
head -c 4096 /dev/zero | tr '\0' 'Z' | dd of="$W/d.db" bs=4096 seek=$((pages - 2)) count=1 conv=notrunc status=none
read_db "$W/d.db" 2>"$W/damaged.err" && fail "a damaged store was accepted"
grep -q "d.db: the alert store is damaged (" "$W/damaged.err" || fail "no message for the damaged store"
echo "ok   damaged store: refused at start, exit 1"

# --- kill -9 during live, three times ---
command -v mosquitto >/dev/null && command -v mosquitto_pub >/dev/null \
	|| { echo "skip kill -9: mosquitto not installed"; exit 0; }
port=$(( 20000 + RANDOM % 20000 ))
printf 'listener %d 127.0.0.1\nallow_anonymous true\n' "$port" > "$W/mosq.conf"
mosquitto -c "$W/mosq.conf" 2>"$W/mosq.err" &
pids="$!"
for _ in $(seq 50); do mosquitto_pub -p "$port" -t probe -m x 2>/dev/null && break; sleep 0.1; done
for run in 1 2 3; do
	db=$W/k$run.db eve=$W/k$run.json
	"$MQTTIDS" live -i lo --filter "tcp port $port" -r "$W/every.rules" --no-detectors \
		--no-console --db "$db" --eve "$eve" \
		--set detect.rule-alert-rate=10000000 --set detect.alert-rate=10000000 \
		2>"$W/live$run.err" &
	live=$!
	pids="$pids $live"
	for _ in $(seq 100); do grep -q "capturing on lo" "$W/live$run.err" && break; sleep 0.05; done
	grep -q "capturing on lo" "$W/live$run.err" || {
		grep -qiE 'permission|not permitted' "$W/live$run.err" && { echo "skip kill -9: cannot capture on lo"; exit 0; }
		fail "live did not start"; }
	seq 1 1000000 | mosquitto_pub -p "$port" -t "sensors/k$run" -l 2>/dev/null &
	pub=$!
	pids="$pids $pub"
	# Kill it in the middle of the stream, at a point that differs per run.
	want=$(( 200 + run * 150 ))
	for _ in $(seq 400); do
		c=$(grep -c '"event_type":"alert"' "$eve" 2>/dev/null)
		(( ${c:-0} >= want )) && break
		sleep 0.05
	done
	kill -9 "$live"
	wait "$live" 2>/dev/null
	kill "$pub" 2>/dev/null; wait "$pub" 2>/dev/null
	"$PY" - "$eve" "$db" "$run" <<'PY' || fail "kill -9 run $run: the store lacks alerts EVE holds"
import json, sqlite3, sys
eve, db, run = sys.argv[1:]
uuids = []
with open(eve, "rb") as f:
    for line in f:
        if not line.endswith(b"\n"):
            break  # a line cut by the kill
        r = json.loads(line)
        if r.get("event_type") == "alert":
            uuids.append(r["mqttids"]["uuid"])
c = sqlite3.connect(db)  # a restart: SQLite recovers the WAL on open
stored = {u for (u,) in c.execute("select uuid from alerts")}
missing = [u for u in uuids if u not in stored]
print("ok   kill -9 during live, run %s: %d alerts in EVE, %d in the store, %d missing"
      % (run, len(uuids), len(stored), len(missing)))
sys.exit(1 if missing or len(uuids) < 20 else 0)
PY
done

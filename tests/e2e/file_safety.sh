#!/usr/bin/env bash
# file_safety.sh - what mqttids writes and reads as root can't be turned against the
# system (issue 14, "Files"):
#  1. the state file is written through a fresh temporary file: a symlink planted at
#     STATE.tmp (the old fixed name) is not followed, its target stays untouched;
#  2. EVE, the alert store and its journal are created 0640 by default, and with
#     outputs.file-mode when set; an existing file keeps its mode;
#  3. an ACL file or a known-devices file that others can write is read with a warning
#     naming the file and the fix;
#  4. a damaged state file is kept beside it (STATE.damaged-TIME), not overwritten;
#  5. live -w creates its pcap 0640 (0600 with outputs.file-mode).
# usage: file_safety.sh MQTTIDS   (reads ../shared nothing; uses tests/pcap/sensors)
set -euo pipefail
MQTTIDS=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PCAP=$ROOT/tests/pcap/sensors/input.pcap
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
mode_of() { stat -c %a "$1"; }
umask 022

# 1. The symlink planted at the old temporary name.
echo "precious" > "$W/victim"
ln -s "$W/victim" "$W/state.json.tmp"
"$MQTTIDS" read -r "$ROOT/rules" --no-console --state "$W/state.json" "$PCAP" 2>"$W/read1.err" \
	|| { cat "$W/read1.err"; fail "read with --state failed"; }
[[ $(cat "$W/victim") == precious ]] || fail "the symlink's target was overwritten"
[[ -f $W/state.json && ! -L $W/state.json ]] || fail "no state file written"
[[ $(mode_of "$W/state.json") == 600 ]] || fail "state file mode $(mode_of "$W/state.json"), want 600"
ls "$W"/state.json.?????? 2>/dev/null && fail "a temporary state file was left behind"
echo "ok   state: the planted symlink was not followed; state.json written 0600"

# 2. Modes of new output files: the default, then outputs.file-mode.
"$MQTTIDS" read -r "$ROOT/rules" --no-console --eve "$W/eve.json" \
	--set "outputs.sqlite.filename=$W/alerts.db" "$PCAP" 2>"$W/read2.err" \
	|| { cat "$W/read2.err"; fail "read with EVE and store failed"; }
for f in eve.json alerts.db; do
	[[ $(mode_of "$W/$f") == 640 ]] || fail "$f created $(mode_of "$W/$f"), want 640"
done
"$MQTTIDS" read -r "$ROOT/rules" --no-console --eve "$W/eve2.json" \
	--set "outputs.sqlite.filename=$W/alerts2.db" --set outputs.file-mode=0600 \
	"$PCAP" 2>"$W/read3.err" || { cat "$W/read3.err"; fail "read with file-mode failed"; }
for f in eve2.json alerts2.db; do
	[[ $(mode_of "$W/$f") == 600 ]] || fail "$f created $(mode_of "$W/$f") with file-mode 0600"
done
for f in "$W"/alerts2.db-*; do
	[[ -e $f ]] || continue
	[[ $(mode_of "$f") == 600 ]] || fail "$(basename "$f") is $(mode_of "$f"), want the store's 600"
done
chmod 0644 "$W/eve.json"
"$MQTTIDS" read -r "$ROOT/rules" --no-console --eve "$W/eve.json" "$PCAP" 2>/dev/null
[[ $(mode_of "$W/eve.json") == 644 ]] || fail "an existing EVE file's mode was changed"
if "$MQTTIDS" read -r "$ROOT/rules" --no-console --set outputs.file-mode=0755 "$PCAP" 2>"$W/bad.err"; then
	fail "outputs.file-mode=0755 accepted"
fi
grep -q "outputs.file-mode" "$W/bad.err" || { cat "$W/bad.err"; fail "no message naming outputs.file-mode"; }
echo "ok   modes: EVE and store 0640 by default, 0600 with outputs.file-mode, existing kept, 0755 refused"

# 3. Files others can write: a warning that names the file and the fix.
printf 'topic readwrite sensors/#\n' > "$W/acl"
chmod 0666 "$W/acl"
printf '[]\n' > "$W/known.json"
chmod 0664 "$W/known.json"
"$MQTTIDS" read -r "$ROOT/rules" --no-console --set "detectors.authz.acl-file=$W/acl" \
	--set "detectors.inventory.file=$W/known.json" "$PCAP" 2>"$W/read4.err" \
	|| { cat "$W/read4.err"; fail "read with the ACL and known-devices files failed"; }
grep -q "warning: ACL file $W/acl is writable by every user" "$W/read4.err" \
	|| { cat "$W/read4.err"; fail "no warning about the world-writable ACL file"; }
grep -q "warning: known-devices file $W/known.json is writable by its group" "$W/read4.err" \
	|| { cat "$W/read4.err"; fail "no warning about the group-writable known-devices file"; }
chmod 0644 "$W/acl" "$W/known.json"
"$MQTTIDS" read -r "$ROOT/rules" --no-console --set "detectors.authz.acl-file=$W/acl" \
	--set "detectors.inventory.file=$W/known.json" "$PCAP" 2>"$W/read5.err"
grep -q "warning:" "$W/read5.err" && { cat "$W/read5.err"; fail "a warning about safe files"; }
echo "ok   trusted files: world- and group-writable ones are named with the fix; safe ones are quiet"

# 4. A damaged state file is set aside, not overwritten by the save at exit.
printf '{"version": 1, "telemetry": {"series": [' > "$W/bad-state.json"
"$MQTTIDS" read -r "$ROOT/rules" --no-console --state "$W/bad-state.json" "$PCAP" 2>"$W/read6.err" \
	|| { cat "$W/read6.err"; fail "read with a damaged state file failed"; }
aside=$(ls "$W"/bad-state.json.damaged-* 2>/dev/null | head -1)
[[ -n $aside ]] || { cat "$W/read6.err"; fail "the damaged state file was not kept"; }
[[ $(cat "$aside") == '{"version": 1, "telemetry": {"series": [' ]] || fail "the kept copy differs from the damaged file"
grep -qF "state $W/bad-state.json: not a JSON object (damaged?); kept as $aside, starting without it" "$W/read6.err" \
	|| { cat "$W/read6.err"; fail "no message naming the kept copy"; }
/usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$W/bad-state.json" || fail "no new state written"
printf 'not json' > "$W/ro-state.json"
"$MQTTIDS" inventory list --state "$W/ro-state.json" >/dev/null 2>"$W/inv.err" || true
[[ $(cat "$W/ro-state.json") == 'not json' ]] && ! ls "$W"/ro-state.json.damaged-* >/dev/null 2>&1 \
	|| fail "mqttids inventory (which never saves) moved the state file aside"
echo "ok   damaged state file: kept as $(basename "$aside"), a new one written; inventory leaves it"

# 5. live -w: the capture holds CONNECT passwords, so it is created 0640 (0600 with
#    outputs.file-mode). Skipped when capturing on lo is not permitted.
cap() { "$MQTTIDS" live -i lo --duration 1 --filter 'tcp port 1 and tcp port 2' --no-detectors \
	--no-console -w "$1" "${@:2}" 2>"$W/live.err"; }
if cap "$W/cap.pcap"; then
	[[ $(mode_of "$W/cap.pcap") == 640 ]] || fail "-w pcap mode $(mode_of "$W/cap.pcap"), want 640"
	cap "$W/cap2.pcap" --set outputs.file-mode=0600 || { cat "$W/live.err"; fail "live -w with file-mode 0600"; }
	[[ $(mode_of "$W/cap2.pcap") == 600 ]] || fail "-w pcap mode $(mode_of "$W/cap2.pcap"), want 600"
	echo "ok   live -w: the pcap is created 0640, 0600 with outputs.file-mode"
elif grep -qiE 'permission|not permitted|operation not' "$W/live.err"; then
	echo "skip live -w: cannot capture on lo"
else
	cat "$W/live.err"; fail "live -w failed"
fi

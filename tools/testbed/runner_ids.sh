#!/usr/bin/env bash
# runner_ids.sh - the runner's --ids hook (ctest testbed_runner_ids), with a
# stand-in IDS (a shell script) on a 3-second loopback run of one sensor:
#  1. a well-behaved IDS: started with `live -i lo --filter ... -c ids.yaml
#     --eve eve.json --db alerts.db ARGS`, before second 0, after "capturing
#     on"; stopped with SIGINT after the capture; its stdout reaches the
#     runner's with --ids-console; ids.yaml names the loopback networks and the
#     broker's port; run.json records its exit;
#  2. an IDS that exits before it captures: the run fails at once, saying so;
#  3. an IDS that dies mid-run: the run stops early and fails.
# usage: runner_ids.sh TESTBED. Exit 0 pass, 1 fail, 77 skip (not root, no mosquitto).
set -euo pipefail
PROG=runner_ids
die()  { printf '%s: FAIL: %s\n' "$PROG" "$*" >&2; exit 1; }
skip() { printf '%s: SKIPPED: %s\n' "$PROG" "$*" >&2; exit 77; }
TB=${1:?usage: runner_ids.sh TESTBED}
PATH=$PATH:/usr/sbin:/sbin:/usr/local/sbin
for t in mosquitto mosquitto_passwd python3; do
    command -v "$t" >/dev/null || skip "$t not installed"
done
[[ $(id -u) -eq 0 ]] || skip "capturing on lo needs root"
[[ -x $(dirname "$TB")/../sensor/mqttids-sensor ]] || skip "mqttids-sensor not built"
W=$(mktemp -d "${TMPDIR:-/tmp}/mqttids-runner-ids.XXXXXX")
trap 'rm -rf "$W"' EXIT

cat >"$W/tiny.scn" <<'EOF'
name tiny
duration 3
sensors 1
interval 1
EOF
cat >"$W/good-ids" <<'EOF'
#!/bin/bash
printf '%s\n' "$@" > "${0%/*}/argv"
trap 'echo "IDS-STDOUT: got SIGINT"; exit 0' INT
echo "mqttids: capturing on $3" >&2
echo "IDS-STDOUT: alert line"
while :; do sleep 0.1; done
EOF
cat >"$W/early-ids" <<'EOF'
#!/bin/bash
echo "early-ids: cannot open the interface" >&2
exit 4
EOF
cat >"$W/dying-ids" <<'EOF'
#!/bin/bash
echo "mqttids: capturing on lo" >&2
sleep 1
echo "dying-ids: out of memory" >&2
exit 3
EOF
chmod +x "$W"/*-ids

# 1. well-behaved
rc=0
"$TB" run "$W/tiny.scn" -o "$W/r1" --loopback --ids "$W/good-ids" --ids-arg --no-console \
    --ids-arg=-v --ids-console >"$W/r1.out" 2>"$W/r1.err" || rc=$?
cat "$W/r1.out" "$W/r1.err"
[[ $rc -eq 0 ]] || die "run 1 exited $rc"
grep -q '^IDS-STDOUT: alert line$' "$W/r1.out" || die "--ids-console: IDS stdout not on the runner's"
grep -q '^IDS-STDOUT: got SIGINT$' "$W/r1.out" || die "the IDS was not stopped with SIGINT"
grep -q 'capturing on lo' "$W/r1/ids.log" || die "IDS stderr not in ids.log"
# ready before second 0, stopped after the capture
python3 - "$W" <<'PY' || die "run 1: checks above"
import json, re, sys
w = sys.argv[1]
argv = open(f"{w}/argv").read().split("\n")[:-1]
run = json.load(open(f"{w}/r1/run.json"))
port = run["broker"]["port"]
want = ["live", "-i", "lo", "--filter", f"net 127.77.0.0/16 and tcp port {port}",
        "-c", f"{w}/r1/ids.yaml", "--eve", f"{w}/r1/eve.json", "--db", f"{w}/r1/alerts.db",
        "--no-console", "-v"]
import os
want = [x.replace(w, os.path.realpath(w)) for x in want]
bad = []
if argv != want:
    bad.append(f"argv {argv}, expected {want}")
ids = run.get("ids") or {}
if ids.get("exit") != 0 or ids.get("failed") or ids.get("killed"):
    bad.append(f"run.json ids: {ids}")
if not (ids.get("started", 1) < 0 < run["duration"] < ids.get("ended", 0)):
    bad.append(f"IDS started {ids.get('started')} / ended {ids.get('ended')}: not around the run")
if ids.get("args") != ["--no-console", "-v"] or ids.get("console") is not True:
    bad.append(f"run.json ids args/console: {ids}")
y = open(f"{w}/r1/ids.yaml").read()
for s in ('HOME_NET: "[127.77.0.0/24]"', 'EXTERNAL_NET: "!$HOME_NET"', 'SELF: "[127.77.0.1]"',
          'ADMIN_HOSTS: "[127.77.0.5]"', f"ports: [{port}]"):
    if s not in y:
        bad.append(f"ids.yaml lacks {s}")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
echo "ok: well-behaved IDS started, fed its arguments, stopped with SIGINT, recorded"

# 2. ends before it captures
rc=0
"$TB" run "$W/tiny.scn" -o "$W/r2" --loopback --ids "$W/early-ids" >"$W/r2.out" 2>"$W/r2.err" || rc=$?
cat "$W/r2.err"
[[ $rc -eq 1 ]] || die "run 2 (IDS ends at once) exited $rc, expected 1"
grep -q "ended before it captured (exit 4)" "$W/r2.err" || die "run 2: no clear message"
grep -q "cannot open the interface" "$W/r2.err" || die "run 2: the IDS's own words are not shown"
echo "ok: an IDS that never captures fails the run at once, with its log"

# 3. dies mid-run
rc=0
"$TB" run "$W/tiny.scn" -o "$W/r3" --loopback --ids "$W/dying-ids" >"$W/r3.out" 2>"$W/r3.err" || rc=$?
cat "$W/r3.err"
[[ $rc -eq 1 ]] || die "run 3 (IDS dies) exited $rc, expected 1"
grep -q "the IDS ended before the end of the run" "$W/r3.err" || die "run 3: no clear message"
grep -Eq '^ +ids +lo +exit 3 +FAILED' "$W/r3.out" || die "run 3: summary does not show the IDS failed"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["ids"]["exit"]==3 and r["ids"]["failed"] and not r["ok"] else 1)' \
    "$W/r3/run.json" || die "run 3: run.json does not record the IDS's exit 3"
echo "ok: an IDS that dies mid-run stops and fails the run"
echo "$PROG: all checks passed"

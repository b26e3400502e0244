#!/usr/bin/env bash
# live_privdrop.sh - live gives up root once the capture is open (issue 14,
# "Privileges"): started as root with --user nobody, /proc/PID/status shows
# Uid 65534 (nobody) and no effective capability while it captures; the EVE
# file, the store and the state it writes later belong to nobody. Started as
# root without --user, it warns once that it keeps root. An unknown user, or
# a state directory nobody cannot write, stops it at start with a message.
# Usage: live_privdrop.sh MQTTIDS. Exit 77 (skip) without root or capture on lo.
set -uo pipefail
mqttids=$1
[[ $(id -u) -eq 0 ]] || { echo "live_privdrop: needs root; skipped"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "live_privdrop: no user nobody; skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null' EXIT
fail() { echo "live_privdrop: FAIL $*"; cat "$tmp"/*.err 2>/dev/null; exit 1; }
mkdir "$tmp/var"
chown nobody "$tmp/var"
chmod 755 "$tmp"
filter='tcp port 1 and tcp port 2'   # nothing matches: the clock drives it

"$mqttids" live -i lo --duration 10 --filter "$filter" --user nobody \
	--eve "$tmp/var/eve.json" --db "$tmp/var/alerts.db" --state "$tmp/var/state.json" \
	2>"$tmp/run.err" &
pid=$!
# Wait (up to the run's 10 s) for the drop, then read what the kernel says.
uid=""
for _ in $(seq 100); do
	uid=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status" 2>/dev/null)
	[[ $uid == "65534 65534 65534 65534" ]] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
wait "$pid"; rc=$?; pid=
if ((rc != 0)) && grep -qiE 'permission|not permitted|operation not' "$tmp/run.err" \
	&& ! grep -q "running as" "$tmp/run.err"; then
	echo "live_privdrop: cannot capture on lo; skipped"; exit 77
fi
((rc == 0)) || fail "live --user nobody exited $rc"
[[ $uid == "65534 65534 65534 65534" ]] || fail "Uid while capturing: '$uid', want nobody's 65534 x4"
[[ $capeff == 0000000000000000 ]] || fail "CapEff while capturing: $capeff, want none"
grep -q "running as nobody" "$tmp/run.err" || fail "no message saying it runs as nobody"
for f in eve.json alerts.db state.json; do
	[[ -e $tmp/var/$f ]] || fail "no $f written"
	[[ $(stat -c %U "$tmp/var/$f") == nobody ]] || fail "$f belongs to $(stat -c %U "$tmp/var/$f")"
done
echo "live_privdrop: ok   while capturing: Uid $uid, CapEff $capeff; eve, store, state belong to nobody"

# Root without --user: one warning.
"$mqttids" live -i lo --duration 1 --filter "$filter" --no-detectors --no-console 2>"$tmp/root.err" \
	|| fail "live as root exited non-zero"
[[ $(grep -c "warning: live keeps root" "$tmp/root.err") == 1 ]] || fail "no single keeps-root warning"
echo "live_privdrop: ok   as root without --user: warned once"

# Unknown user; a state directory nobody cannot write: stopped at start.
if "$mqttids" live -i lo --duration 1 --filter "$filter" --user no-such-user-x 2>"$tmp/u.err"; then
	fail "an unknown run-as user was accepted"
fi
grep -q "run-as user 'no-such-user-x': no such user" "$tmp/u.err" || fail "no message for the unknown user"
mkdir "$tmp/rootonly"
if "$mqttids" live -i lo --duration 2 --filter "$filter" --user nobody \
	--state "$tmp/rootonly/state.json" --no-console 2>"$tmp/d.err"; then
	fail "a state directory nobody cannot write was accepted"
fi
grep -q "$tmp/rootonly: not writable by nobody" "$tmp/d.err" || fail "no message naming the directory"
echo "live_privdrop: ok   unknown user and unwritable state directory stop it at start"

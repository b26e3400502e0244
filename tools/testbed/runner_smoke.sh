#!/usr/bin/env bash
# runner_smoke.sh - end-to-end test of mqttids-testbed (ctest testbed_runner_smoke
# and testbed_runner_loopback): runs a scenario, then checks OUTDIR.
#
# usage: runner_smoke.sh TESTBED MQTTIDS SCENARIO netns|loopback
#
# Checks: the runner exits 0 and says "result: ok"; every output file is
# there; run.json parses and describes the mode, broker and hosts (MACs in
# netns mode, null on loopback); capture.pcap decodes with `mqttids decode`
# to EVE lines holding an accepted CONNECT from every host with its client
# id and address; broker.log has a connection line for every client; the
# labels are sorted by start_us and hold the scenario's events (smoke.scn:
# tamper, silence, z2m-offline); no namespace with the run's prefix is left.
# Exit: 0 pass, 1 fail, 77 skip (not root for netns mode, mosquitto, python3
# or mqttids-sensor missing). TESTBED_KEEP=1 keeps the output directory.
set -euo pipefail

SKIP=77
PROG=runner_smoke
die()  { printf '%s: FAIL: %s\n' "$PROG" "$*" >&2; exit 1; }
skip() { printf '%s: SKIPPED: %s\n' "$PROG" "$*" >&2; exit "$SKIP"; }

[[ $# -eq 4 ]] || { echo "usage: $0 TESTBED MQTTIDS SCENARIO netns|loopback" >&2; exit 2; }
TB=$1 MQ=$2 SCN=$3 MODE=$4
PATH=$PATH:/usr/sbin:/sbin:/usr/local/sbin
for t in mosquitto mosquitto_passwd python3; do
    command -v "$t" >/dev/null || skip "$t not installed"
done
[[ -x $TB && -x $MQ ]] || die "missing $TB or $MQ"
SENSOR=$(dirname "$TB")/../sensor/mqttids-sensor
[[ -x $SENSOR ]] || skip "mqttids-sensor not built ($SENSOR)"
ARGS=(run "$SCN")
case $MODE in
netns)
    [[ $(id -u) -eq 0 ]] || skip "netns mode needs root"
    command -v ip >/dev/null || skip "iproute2 (ip) not installed" ;;
loopback)
    [[ $(id -u) -eq 0 ]] || skip "capturing on lo needs root"
    ARGS+=(--loopback) ;;
*) die "mode must be netns or loopback" ;;
esac

OUT=$(mktemp -d "${TMPDIR:-/tmp}/mqttids-testbed.XXXXXX")
cleanup() {
    if [[ ${TESTBED_KEEP:-0} == 1 ]]; then
        echo "$PROG: output kept in $OUT" >&2
    else
        rm -rf "$OUT"
    fi
}
trap cleanup EXIT

rc=0
"$TB" "${ARGS[@]}" -o "$OUT/run" >"$OUT/stdout" 2>"$OUT/stderr" || rc=$?
cat "$OUT/stdout"
cat "$OUT/stderr" >&2
[[ $rc -eq 0 ]] || die "mqttids-testbed exited $rc"
grep -q '^result: ok$' "$OUT/stdout" || die "no 'result: ok' in the summary"
if [[ $MODE == netns ]]; then
    grep -q 'using loopback' "$OUT/stderr" && die "fell back to loopback in netns mode"
fi

R=$OUT/run
for f in capture.pcap broker.log labels.jsonl mosquitto.conf passwd acl scenario run.json \
         hosts/broker.log hosts/admin.log; do
    [[ -s $R/$f || $f == labels.jsonl ]] || die "$f missing or empty"
done

PORT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["broker"]["port"])' "$R/run.json") \
    || die "run.json does not parse"
"$MQ" decode --mqtt-port "$PORT" "$R/capture.pcap" >"$OUT/decode.json" 2>"$OUT/decode.err" \
    || die "mqttids decode failed: $(cat "$OUT/decode.err")"

python3 - "$R" "$OUT/decode.json" "$MODE" "$SCN" <<'EOF' || die "checks failed (above)"
import json, os, re, sys
run, decode, mode, scn = sys.argv[1:5]
bad = []
def check(cond, msg):
    if not cond:
        bad.append(msg)

rj = json.load(open(os.path.join(run, "run.json")))
check(rj["mode"] == mode, "run.json mode %r, want %r" % (rj["mode"], mode))
net = "10.77." if mode == "netns" else "127.77."
check(rj["broker"]["ip"] == net + "0.1", "broker ip %r" % rj["broker"]["ip"])
check(rj["home_net"] == net + "0.0/24", "home_net %r" % rj["home_net"])
check(rj["pcap"]["dropped"] == 0, "pcap drops %r" % rj["pcap"]["dropped"])
check(rj["pcap"]["packets"] > 0, "no packets")
check(rj["ok"] is True, "run.json ok is not true")
hosts = rj["hosts"]
roles = sorted(h["role"] for h in hosts)
check(roles.count("broker") == 1 and roles.count("attacker") == 1 and
      roles.count("dashboard") == 1, "roles %r" % roles)
for h in hosts:
    if mode == "netns":
        want = "02:4d:51:00:%02x:%02x" % tuple(int(x) for x in h["ip"].split(".")[2:])
        check(h["mac"] == want, "%s mac %r, want %r" % (h["name"], h["mac"], want))
    else:
        check(h["mac"] is None, "%s mac %r on loopback" % (h["name"], h["mac"]))
    check(h["ip"].startswith(net), "%s ip %r" % (h["name"], h["ip"]))
    if h["role"] not in ("attacker",):
        check(h.get("status") == "exit 0", "%s status %r" % (h["name"], h.get("status")))

# Every client host CONNECTs (accepted) from its own address with its client id.
connects = {}
n = 0
for line in open(decode):
    e = json.loads(line)
    n += 1
    m = e.get("mqtt") or {}
    if e.get("event_type") == "mqtt" and "connect" in m:
        ok = (m.get("connack") or {}).get("return_code") == 0
        connects.setdefault((e["src_ip"], m["connect"]["client_id"]), []).append(ok)
check(n > 0, "no EVE lines")
for h in hosts:
    if not h["client_id"]:
        continue
    got = connects.get((h["ip"], h["client_id"]))
    check(got and any(got), "no accepted CONNECT from %s as %s (seen: %r)" %
          (h["ip"], h["client_id"], sorted(connects)))

log = open(os.path.join(run, "broker.log")).read()
for h in hosts:
    if h["client_id"]:
        pat = r"New client connected from %s:\d+ as %s " % (re.escape(h["ip"]), re.escape(h["client_id"]))
        check(re.search(pat, log), "broker.log: no connection line for %s" % h["client_id"])
check("Opening ipv4 listen socket on port %d" % rj["broker"]["port"] in log, "broker.log: no listener line")

labels = [json.loads(l) for l in open(os.path.join(run, "labels.jsonl")) if l.strip()]
starts = [l["start_us"] for l in labels]
check(starts == sorted(starts), "labels not sorted by start_us")
check(len(labels) == rj["labels"], "run.json labels %r, file %d" % (rj["labels"], len(labels)))
if os.path.basename(scn) == "smoke.scn":
    kinds = sorted(l["kind"] for l in labels)
    check(kinds == ["silence", "tamper", "z2m-offline"], "label kinds %r" % kinds)

if mode == "netns":
    prefix = rj["netns_prefix"]
    left = [x for x in os.listdir("/run/netns") if x.startswith(prefix)] if os.path.isdir("/run/netns") else []
    check(not left, "namespaces left: %r" % left)
else:
    check(rj["netns_prefix"] is None, "netns_prefix on loopback")

for b in bad:
    print("runner_smoke: " + b, file=sys.stderr)
print("runner_smoke: %d EVE lines, %d clients connected, %d labels" % (n, len(connects), len(labels)))
sys.exit(1 if bad else 0)
EOF
echo "$PROG: PASS ($MODE)"

#!/usr/bin/env python3
"""eve_checks.py - EVE checks for the broker end-to-end test (stdlib only).

  eve_checks.py same [--ignore KEY]... LIVE_JSONL DECODE_JSONL
      The live run and the offline decode of the pcap it wrote must hold the
      same mqtt and anomaly records (as multisets) once top-level `timestamp`
      (and any --ignore KEY) is dropped.  Prints the records found on one side
      only.

  eve_checks.py expect EVE_JSONL BIG_PAYLOAD_FILE
      The traffic broker_e2e.sh generates must show up in the EVE records:
      every client's CONNECT, username/password, protocol versions 3/4/5, the
      will, the 250000-byte publish (twice: to and from the broker), the
      retained message, QoS 0/1/2 flows, the wildcard subscriptions, the
      unsubscribes, a ping, a v5 property, and no anomaly records (all of the
      traffic is valid).  Keep this list in step with broker_e2e.sh.

Exit status 0 when all checks pass, 1 otherwise, 2 on unreadable input.
"""

import collections
import json
import sys

MAX_SHOW = 300


def load(path):
    recs = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        recs.append(json.loads(line))
                    except ValueError as e:
                        print("eve_checks: ERROR: %s:%d: %s" % (path, n, e))
                        sys.exit(2)
    except OSError as e:
        print("eve_checks: ERROR: %s" % e)
        sys.exit(2)
    return recs


def short(s):
    return s if len(s) <= MAX_SHOW else s[:MAX_SHOW] + "...(%d chars)" % len(s)


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


# ------------------------------------------------------------------ same

def cmd_same(argv):
    ignore = {"timestamp"}
    args = []
    it = iter(argv)
    for a in it:
        if a == "--ignore":
            ignore.add(next(it))
        else:
            args.append(a)
    if len(args) != 2:
        print(__doc__)
        return 2
    kinds = ("mqtt", "anomaly")

    def canon(path):
        c = collections.Counter()
        for r in load(path):
            if r.get("event_type") in kinds:
                # The data detectors' findings run with detection only (read,
                # live), never in decode: compared elsewhere (alerts_check.py).
                if (r.get("anomaly") or {}).get("type") == "detector":
                    continue
                r = {k: v for k, v in r.items() if k not in ignore}
                c[json.dumps(r, sort_keys=True, separators=(",", ":"))] += 1
        return c

    live, dec = canon(args[0]), canon(args[1])
    only_l, only_d = live - dec, dec - live
    for s in sorted(only_l.elements()):
        print("ONLY IN LIVE:   %s" % short(s))
    for s in sorted(only_d.elements()):
        print("ONLY IN DECODE: %s" % short(s))
    nl, nd = sum(live.values()), sum(dec.values())
    if nl == 0 or nd == 0:
        print("eve_checks same: FAIL: no mqtt records (live %d, decode %d)" % (nl, nd))
        return 1
    if only_l or only_d:
        print("eve_checks same: FAIL: live %d records, decode %d; %d only in live, %d only in decode"
              % (nl, nd, sum(only_l.values()), sum(only_d.values())))
        return 1
    print("eve_checks same: OK: live and decode agree on %d mqtt/anomaly records "
          "(ignoring %s)" % (nl, ", ".join(sorted(ignore))))
    return 0


# ------------------------------------------------------------------ expect

CLIENTS = [
    "e2e-sub-all", "e2e-sub-temp", "e2e-ping", "e2e-will", "e2e-pub-q0",
    "e2e-pub-auth", "e2e-pub-retain", "e2e-pub-v5", "e2e-pub-v5q2",
    "e2e-pub-big", "e2e-pub-v31", "e2e-pub-alert", "e2e-unsub",
    "e2e-sub-retained",
]


def messages(recs, mtype):
    """All message objects of one type, each with its record."""
    out = []
    for r in recs:
        if r.get("event_type") != "mqtt" or not isinstance(r.get("mqtt"), dict):
            continue
        for m in as_list(r["mqtt"].get(mtype)):
            if isinstance(m, dict):
                out.append((m, r))
    return out


def contains_value(obj, want):
    if obj == want:
        return True
    if isinstance(obj, dict):
        return any(contains_value(k, want) or contains_value(v, want) for k, v in obj.items())
    if isinstance(obj, list):
        return any(contains_value(v, want) for v in obj)
    return False


def cmd_expect(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    recs = load(argv[0])
    try:
        with open(argv[1], "rb") as f:
            big = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        print("eve_checks: ERROR: %s" % e)
        return 2
    fails = []
    passed = [0]

    def check(ok, what):
        if ok:
            passed[0] += 1
        else:
            fails.append(what)

    connects = messages(recs, "connect")
    by_id = collections.defaultdict(list)
    for m, _ in connects:
        by_id[m.get("client_id")].append(m)
    for cid in CLIENTS:
        check(len(by_id.get(cid, [])) == 1,
              "exactly one CONNECT from client_id %s (found %d)" % (cid, len(by_id.get(cid, []))))

    def conn(cid):
        lst = by_id.get(cid) or [{}]
        return lst[0]

    a = conn("e2e-pub-auth")
    check(a.get("username") == "sensor" and a.get("password") == "s3cret",
          "e2e-pub-auth CONNECT has username sensor and password s3cret (--passwords): %s"
          % short(json.dumps(a)))
    check((a.get("flags") or {}).get("username") is True
          and (a.get("flags") or {}).get("password") is True,
          "e2e-pub-auth CONNECT flags.username/password true")
    for cid, ver in (("e2e-pub-v31", 3), ("e2e-pub-q0", 4), ("e2e-pub-v5", 5)):
        check(conn(cid).get("protocol_version") == ver,
              "%s CONNECT protocol_version %d (got %r)" % (cid, ver, conn(cid).get("protocol_version")))
    w = conn("e2e-will")
    check((w.get("flags") or {}).get("will") is True
          and (w.get("will") or {}).get("topic") == "sensors/will/status"
          and (w.get("will") or {}).get("message") == "offline",
          "e2e-will CONNECT carries will sensors/will/status = offline: %s" % short(json.dumps(w)))
    check(contains_value(conn("e2e-pub-v5").get("properties"), 60),
          "e2e-pub-v5 CONNECT properties hold session expiry interval 60")

    connacks = messages(recs, "connack")
    check(len(connacks) == len(connects) and all(m.get("return_code") == 0 for m, _ in connacks),
          "one CONNACK with return_code 0 per CONNECT (%d connects, %d connacks)"
          % (len(connects), len(connacks)))

    pubs = messages(recs, "publish")
    blob = [m for m, _ in pubs if m.get("topic") == "sensors/lab/blob"]
    check(len(blob) == 2, "2 PUBLISH on sensors/lab/blob (client->broker, broker->subscriber), got %d"
          % len(blob))
    check(all(m.get("message") == big for m in blob),
          "sensors/lab/blob PUBLISH message equals the %d-byte payload file (lengths %s)"
          % (len(big), [len(m.get("message") or "") for m in blob]))
    ret = [m for m, _ in pubs if m.get("topic") == "sensors/garage/status" and m.get("retain") is True]
    check(len(ret) == 2, "2 retained PUBLISH on sensors/garage/status (publisher, retained delivery), got %d"
          % len(ret))
    for q in (0, 1, 2):
        check(any(m.get("qos") == q for m, _ in pubs), "a PUBLISH with qos %d" % q)
    check(all(m.get("message_id") is not None for m, _ in pubs if m.get("qos") in (1, 2)),
          "every QoS 1/2 PUBLISH has a message_id")
    for t in ("puback", "pubrec", "pubrel", "pubcomp", "suback", "unsuback", "pingreq",
              "pingresp", "disconnect"):
        check(len(messages(recs, t)) > 0, "at least one %s" % t.upper())
    check(any(m.get("topic") == "sensors/will/status" and m.get("message") == "offline"
              for m, _ in pubs), "the will PUBLISH sensors/will/status = offline from the broker")
    check(any(m.get("topic") == "sensors/lab/temp" and contains_value(m.get("properties"), "text/plain")
              for m, _ in pubs), "a v5 PUBLISH on sensors/lab/temp with content type text/plain")

    subs = messages(recs, "subscribe")
    sub_topics = [[t.get("topic") for t in as_list(m.get("topics")) if isinstance(t, dict)]
                  for m, _ in subs]
    check(["sensors/+/temp", "alerts/#"] in sub_topics,
          "one SUBSCRIBE with topics sensors/+/temp and alerts/# (got %s)" % sub_topics)
    check(["sensors/#"] in sub_topics, "a SUBSCRIBE to sensors/#")
    unsubs = [as_list(m.get("topics")) for m, _ in messages(recs, "unsubscribe")]
    check(["a/b"] in unsubs and ["c/#"] in unsubs,
          "UNSUBSCRIBE a/b and UNSUBSCRIBE c/# (got %s)" % unsubs)
    check(len(messages(recs, "unsuback")) == 2, "2 UNSUBACK (got %d)" % len(messages(recs, "unsuback")))

    anomalies = [r for r in recs if r.get("event_type") == "anomaly"]
    for r in anomalies:
        print("UNEXPECTED ANOMALY: %s" % json.dumps(r))
    check(not anomalies, "no anomaly records for valid traffic (got %d)" % len(anomalies))

    for f in fails:
        print("EXPECTATION FAILED: %s" % f)
    if fails:
        print("eve_checks expect: FAIL: %d of %d checks failed" % (len(fails), len(fails) + passed[0]))
        return 1
    print("eve_checks expect: OK: %d checks" % passed[0])
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] not in ("same", "expect"):
        print(__doc__)
        return 2
    return (cmd_same if argv[1] == "same" else cmd_expect)(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

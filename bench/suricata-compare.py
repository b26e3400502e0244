#!/usr/bin/env python3
"""suricata-compare.py - compare Suricata's EVE with mqttids' on the same capture.

usage: bench/suricata-compare.py records SURICATA_EVE MQTTIDS_EVE [--json OUT]
       bench/suricata-compare.py alerts SURICATA_EVE MQTTIDS_EVE --rules SURICATA.rules [--json OUT]

records: counts the `mqtt` records of both files, by the message types a record holds
(`connect+connack`, `publish+puback`, ...: Suricata and mqttids both log one record per
transaction), and when the totals differ, lists the connections (address/port 4-tuples;
loopback reuses ports, so one tuple may be several connections) whose counts differ.
alerts: counts the `alert` records per mqttids sid (a Suricata sid maps back through the
`metadata:mqttids_sid N` of bench/suricata-rules.py's output); mqttids' `alert_update`
records are counted apart, Suricata has none.

Prints a markdown table; exit status 0 (the comparison is a report, not a test).
"""
import argparse
import collections
import json
import re
import sys


def records(path, want):
    with open(path, "rb") as f:
        for line in f:
            # cheap filter before parsing: most lines of an EVE file are mqtt records
            if want.encode() not in line[:200]:
                continue
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("event_type") == want:
                yield d


def tuple_of(d):
    a = (d.get("src_ip"), d.get("src_port"))
    b = (d.get("dest_ip"), d.get("dest_port"))
    return tuple(sorted([a, b], key=str))


def kinds(d):
    m = d.get("mqtt", {})
    return "+".join(k for k in m if isinstance(m[k], dict)) or "?"


def cmp_records(a):
    sc, mc = collections.Counter(), collections.Counter()
    sf, mf = collections.Counter(), collections.Counter()
    for d in records(a.suricata, "mqtt"):
        sc[kinds(d)] += 1
        sf[tuple_of(d)] += 1
    for d in records(a.mqttids, "mqtt"):
        mc[kinds(d)] += 1
        mf[tuple_of(d)] += 1
    st, mt = sum(sc.values()), sum(mc.values())
    print("| record (message types) | Suricata | mqttids | difference |")
    print("| --- | ---: | ---: | ---: |")
    for k in sorted(set(sc) | set(mc), key=lambda k: -(sc[k] + mc[k])):
        print("| %s | %d | %d | %+d |" % (k, sc[k], mc[k], mc[k] - sc[k]))
    print("| **all mqtt records** | **%d** | **%d** | **%+d** |" % (st, mt, mt - st))
    diff = {t: (sf[t], mf[t]) for t in set(sf) | set(mf) if sf[t] != mf[t]}
    print()
    print("connections (address/port pairs): %d in Suricata's records, %d in mqttids'; %d differ%s"
          % (len(sf), len(mf), len(diff), ":" if diff else "."))
    for t, (s, m) in sorted(diff.items(), key=lambda x: -abs(x[1][1] - x[1][0]))[:20]:
        print("  %s:%s <-> %s:%s  Suricata %d, mqttids %d" % (t[0][0], t[0][1], t[1][0], t[1][1], s, m))
    out = {"suricata": st, "mqttids": mt, "equal": st == mt, "by_kind": {k: [sc[k], mc[k]] for k in set(sc) | set(mc)},
           "tuples_differing": len(diff)}
    return out


def cmp_alerts(a):
    sidmap = {}
    with open(a.rules) as f:
        for line in f:
            m = re.search(r"metadata:mqttids_sid (\d+).*?sid:(\d+);", line)
            if m:
                sidmap[int(m.group(2))] = int(m.group(1))
    sc, mc, mu, names = collections.Counter(), collections.Counter(), collections.Counter(), {}
    for d in records(a.suricata, "alert"):
        sid = d["alert"]["signature_id"]
        sc[sidmap.get(sid, sid)] += 1
        names[sidmap.get(sid, sid)] = d["alert"].get("signature", "")
    for d in records(a.mqttids, "alert"):
        mc[d["alert"]["signature_id"]] += 1
        names[d["alert"]["signature_id"]] = d["alert"].get("signature", "")
    for d in records(a.mqttids, "alert_update"):
        mu[d["alert"]["signature_id"]] += 1
    print("| mqttids sid | rule | Suricata alerts | mqttids alerts | mqttids updates |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for s in sorted(set(sc) | set(mc) | set(mu)):
        print("| %d | %s | %d | %d | %d |" % (s, names.get(s, ""), sc[s], mc[s], mu[s]))
    print("| | **all** | **%d** | **%d** | **%d** |" % (sum(sc.values()), sum(mc.values()), sum(mu.values())))
    return {"suricata": dict(sc), "mqttids": dict(mc), "mqttids_updates": dict(mu)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["records", "alerts"])
    ap.add_argument("suricata")
    ap.add_argument("mqttids")
    ap.add_argument("--rules")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.what == "alerts" and not a.rules:
        ap.error("alerts needs --rules")
    out = cmp_records(a) if a.what == "records" else cmp_alerts(a)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    sys.exit(main())

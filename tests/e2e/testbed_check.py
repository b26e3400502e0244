#!/usr/bin/env python3
"""testbed_check.py - checks a testbed run against its ground truth.

For every record in labels.jsonl it looks for the attack's evidence in the
capture, as decoded by `mqttids decode` (EVE JSON) and, for the SYN flood,
in the raw pcap: the attack really happened, from the labelled address, in
the labelled time window. With --benign it also checks the benign traffic:
no anomaly from any host but the attacker's, readings at the scenario's
interval, and no client silent for longer than its keepalive.

usage: testbed_check.py --eve EVE --labels LABELS --pcap PCAP
                        [--keys KEYS] [--interval S] [--benign]
                        [--min-slowite N]
Prints one line per check and exits 1 if any failed.
"""
import argparse
import collections
import datetime
import hashlib
import hmac
import json
import re
import statistics
import struct
import sys

SLACK_BEFORE = 1.0   # seconds before a label's start that evidence may carry
SLACK_AFTER = 3.0    # and after its end (answers, closes)


def ts_of(s):
    """EVE timestamp ("2025-01-01T00:00:17.709033+0000") to epoch seconds."""
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def load_eve(path):
    recs = []
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            e["_t"] = ts_of(e["timestamp"])
            recs.append(e)
    return recs


def pcap_syns(path, src, dport):
    """Times of TCP SYNs (without ACK) from src to dport, Ethernet or raw IPv4."""
    out = []
    with open(path, "rb") as f:
        hdr = f.read(24)
        magic, = struct.unpack("<I", hdr[:4])
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
        link, = struct.unpack(endian + "I", hdr[20:24])
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                break
            sec, frac, incl, _ = struct.unpack(endian + "IIII", rh)
            fr = f.read(incl)
            off = {1: 14, 101: 0, 113: 16, 276: 20}.get(link)
            if off is None:
                continue
            if link == 1:
                et = fr[12:14]
                if et == b"\x81\x00":
                    off, et = 18, fr[16:18]
                if et != b"\x08\x00":
                    continue
            ip = fr[off:]
            if len(ip) < 40 or ip[0] >> 4 != 4 or ip[9] != 6:
                continue
            ihl = (ip[0] & 15) * 4
            s = ".".join(str(b) for b in ip[12:16])
            tcp = ip[ihl:]
            if s != src or len(tcp) < 14:
                continue
            dp, = struct.unpack(">H", tcp[2:4])
            if dp == dport and tcp[13] & 0x02 and not tcp[13] & 0x10:
                out.append(sec + frac / (1e9 if nano else 1e6))
    return out


class Checker:
    def __init__(self, eve, pcap, keys):
        self.eve = eve
        self.pcap = pcap
        self.keys = keys
        self.failed = 0

    def report(self, ok, what, detail):
        print(f"{'ok  ' if ok else 'FAIL'} {what:<16} {detail}")
        if not ok:
            self.failed += 1

    def window(self, lab, src=None):
        """Records in the label's window; from src (and then from the
        label's own source ports, so back-to-back attacks stay apart)."""
        t0 = lab["start_us"] / 1e6 - SLACK_BEFORE
        t1 = lab["end_us"] / 1e6 + SLACK_AFTER
        ranges = lab.get("src_ports") or []
        for e in self.eve:
            if not t0 <= e["_t"] <= t1:
                continue
            if src is not None:
                if e.get("src_ip") != src:
                    continue
                if src == lab["attacker"] and ranges and not lab.get("src_ports_truncated") \
                        and not any(a <= e.get("src_port", -1) <= b for a, b in ranges):
                    continue
            yield e

    def mqtt(self, lab, kind, src=None):
        src = lab["attacker"] if src is None else src
        for e in self.window(lab, src):
            if e["event_type"] == "mqtt" and kind in e["mqtt"]:
                yield e

    # ---- one function per attack kind ----

    def brute_force(self, lab):
        d = lab["detail"]
        refused = [e for e in self.mqtt(lab, "connect")
                   if e["mqtt"]["connect"].get("username") == d["username"]
                   and e["mqtt"].get("connack", {}).get("return_code") in (4, 5, 0x86, 0x87)]
        need = max(1, d["refused"])
        return len(refused) >= need, f"{len(refused)} CONNACKs refusing {d['username']} (need {need})"

    def discovery(self, lab):
        filters = set()
        for e in self.mqtt(lab, "subscribe"):
            filters.update(t["topic"] for t in e["mqtt"]["subscribe"]["topics"])
        need = {"#", "$SYS/#", "$SYS/broker/version"}
        return need <= filters, f"subscribed to {sorted(filters & need)}"

    def publishes(self, lab, topic_re, src=None):
        rx = re.compile(topic_re)
        return [e for e in self.mqtt(lab, "publish", src)
                if rx.fullmatch(e["mqtt"]["publish"].get("topic", ""))]

    def unauth_publish(self, lab):
        n = len(self.publishes(lab, re.escape(lab["topic"])))
        need = lab["detail"]["published"]
        return n >= need and n > 0, f"{n} PUBLISH on {lab['topic']} (need {need})"

    def unauth_subscribe(self, lab):
        subs = [e for e in self.mqtt(lab, "subscribe")
                if any(t["topic"] == lab["topic"] for t in e["mqtt"]["subscribe"]["topics"])]
        return len(subs) > 0, f"{len(subs)} SUBSCRIBE to {lab['topic']}"

    def malformed(self, lab):
        events = collections.Counter(
            e["anomaly"]["event"] for e in self.window(lab, lab["attacker"])
            if e["event_type"] == "anomaly")
        ids = {e["mqtt"]["connect"].get("client_id", "") for e in self.mqtt(lab, "connect")}
        kas = {e["mqtt"]["connect"].get("keepalive") for e in self.mqtt(lab, "connect")}
        need_ev = {"invalid_qos_level", "invalid_utf8", "reserved_flags", "wildcard_in_publish_topic"}
        ok = (need_ev <= set(events) and "" in ids and "$" in ids
              and any(len(i) == 680 for i in ids) and {0, 65535} <= kas)
        return ok, (f"anomalies {dict(events)}; empty/$/680-char ids "
                    f"{'' in ids}/{'$' in ids}/{any(len(i) == 680 for i in ids)}; keepalive 0/65535 "
                    f"{0 in kas}/{65535 in kas}")

    def connect_flood(self, lab):
        n = sum(1 for e in self.mqtt(lab, "connect")
                if e["mqtt"]["connect"].get("client_id", "").startswith("flood-"))
        need = lab["detail"]["accepted"] + lab["detail"]["refused"]
        return n >= need and n > 0, f"{n} CONNECTs (need {need})"

    def flood_malaria(self, lab):
        p = self.publishes(lab, r"mqtt-malaria/.+/data/\d+/\d+")
        q1 = sum(1 for e in p if e["mqtt"]["publish"]["qos"] == 1)
        need = lab["detail"]["published"]
        return q1 >= need and need > 0, f"{q1} QoS 1 PUBLISH on mqtt-malaria/... (need {need})"

    def flood_flock(self, lab):
        p = self.publishes(lab, re.escape(lab["topic"]))
        need = lab["detail"]["published"]
        return len(p) >= need and need > 0, f"{len(p)} PUBLISH on {lab['topic']} (need {need})"

    def big_will(self, lab):
        size = lab["detail"]["will_bytes"]
        n = sum(1 for e in self.mqtt(lab, "connect")
                if e.get("mqtt_session", {}).get("will", {}).get("message_length", 0) >= size)
        need = lab["detail"]["connects"]
        return n >= need and n > 0, f"{n} CONNECTs with a {size}-byte will (need {need})"

    def idle(self, lab, min_conn):
        d = lab["detail"]
        conns = [e for e in self.mqtt(lab, "connect")
                 if e["mqtt"]["connect"].get("keepalive") == d["keepalive"]]
        need = max(min_conn, d["held"])
        ok = len(conns) >= need
        msg = f"{len(conns)} connections with keepalive {d['keepalive']} (need {need})"
        if lab["kind"] == "slowite":
            pub = sum(1 for e in self.window(lab, lab["attacker"])
                      if e["event_type"] == "mqtt" and ("publish" in e["mqtt"] or "pingreq" in e["mqtt"]))
            ok = ok and pub == 0
            msg += f", {pub} publish/ping on them"
        else:
            pings = sum(1 for _ in self.mqtt(lab, "pingreq"))
            ok = ok and pings >= d["pings"]
            msg += f", {pings} PINGREQ (need {d['pings']})"
        return ok, msg

    def forged(self, lab):
        p = self.publishes(lab, re.escape(lab["topic"]))
        need = lab["detail"]["published"]
        ok = len(p) >= need and need > 0
        msg = f"{len(p)} PUBLISH on {lab['topic']}"
        bodies = [e["mqtt"]["publish"].get("message", "") for e in p]
        if lab["kind"] == "no-key":
            bad = [b for b in bodies if '"key"' in b or '"hmac"' in b]
            ok = ok and not bad
            msg += ", none with a key or signature" if not bad else ", some carry a key"
        if lab["kind"] == "bad-hmac":
            wrong = sum(1 for b in bodies if '"hmac":"' in b and not self.hmac_ok(lab["device"], b))
            ok = ok and wrong >= need
            msg += f", {wrong} with a signature that does not verify"
        if lab["kind"] in ("spoof", "takeover"):
            v = lab["detail"]["value"]
            hits = sum(1 for b in bodies if f'"temperature":{v:.1f}' in b)
            ok = ok and hits >= need
            msg += f", {hits} reporting {v:.1f} degC"
        if lab["kind"] == "takeover":
            ids = {e["mqtt"]["connect"].get("client_id") for e in self.mqtt(lab, "connect")}
            ok = ok and lab["device"] in ids
            msg += f", CONNECT as {lab['device']}: {lab['device'] in ids}"
        return ok, msg

    def hmac_ok(self, device, body):
        key = self.keys.get(device)
        m = re.fullmatch(r'(.*),"hmac":"([0-9a-f]{64})"\}', body, re.S)
        if key is None or not m:
            return False
        want = hmac.new(key, (m.group(1) + "}").encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, m.group(2))

    def replay(self, lab):
        p = self.publishes(lab, re.escape(lab["topic"]))
        mine = {e["mqtt"]["publish"].get("message") for e in p}
        t0 = lab["start_us"] / 1e6 - 600
        orig = {e["mqtt"]["publish"].get("message") for e in self.eve
                if e["event_type"] == "mqtt" and "publish" in e["mqtt"]
                and e.get("src_ip") != lab["attacker"] and t0 <= e["_t"] <= lab["end_us"] / 1e6
                and e["mqtt"]["publish"].get("topic") == lab["topic"]}
        same = mine & orig
        need = lab["detail"]["replayed"]
        return len(p) >= need and len(same) >= 1, (
            f"{len(p)} PUBLISH on {lab['topic']}, {len(same)} byte-identical to the device's own")

    def syn_flood(self, lab):
        t0 = lab["start_us"] / 1e6 - SLACK_BEFORE
        t1 = lab["end_us"] / 1e6 + SLACK_AFTER
        port = int(lab["target"].rsplit(":", 1)[1])
        syns = [t for t in pcap_syns(self.pcap, lab["attacker"], port) if t0 <= t <= t1]
        need = lab["detail"]["syn_sent"]
        return len(syns) >= need, f"{len(syns)} SYNs to port {port} (need {need})"

    def readings(self, topic, t0, t1, src=None):
        out = []
        for e in self.eve:
            if e["event_type"] != "mqtt" or "publish" not in e["mqtt"]:
                continue
            if e["mqtt"]["publish"].get("topic") != topic or not (t0 <= e["_t"] <= t1):
                continue
            if src and e.get("src_ip") != src:
                continue
            try:
                out.append((e["_t"], json.loads(e["mqtt"]["publish"]["message"])))
            except (ValueError, KeyError):
                pass
        return out

    def device_ip(self, device):
        for e in self.eve:
            if e["event_type"] == "mqtt" and e["mqtt"].get("connect", {}).get("client_id") == device:
                return e["src_ip"]
        return None

    def tamper(self, lab):
        ip = self.device_ip(lab["device"])
        s0, s1 = lab["start_us"] / 1e6, lab["end_us"] / 1e6
        before = [r["temperature"] for _, r in self.readings(lab["topic"], s0 - 120, s0, ip)]
        during = [r["temperature"] for _, r in self.readings(lab["topic"], s0, s1 + 1, ip)]
        if not before or not during:
            return False, f"readings before/during: {len(before)}/{len(during)}"
        base = statistics.median(before)
        delta = lab["detail"]["delta"]
        peak = max(during) if delta > 0 else min(during)
        ok = abs(peak - base) >= 0.6 * abs(delta)
        return ok, f"temperature {base:.1f} -> {peak:.1f} degC (delta {delta:+g})"

    def silence(self, lab):
        ip = self.device_ip(lab["device"])
        s0, s1 = lab["start_us"] / 1e6, lab["end_us"] / 1e6
        inside = self.readings(lab["topic"], s0 + 1, s1 - 1, ip)
        before = self.readings(lab["topic"], s0 - 120, s0, ip)
        return not inside and before != [], f"{len(before)} readings before, {len(inside)} during"

    def z2m_offline(self, lab):
        t0, t1 = lab["start_us"] / 1e6, lab["end_us"] / 1e6 + 30
        seen = []
        for e in self.eve:
            if e["event_type"] == "mqtt" and "publish" in e["mqtt"] and t0 <= e["_t"] <= t1:
                p = e["mqtt"]["publish"]
                if p.get("topic") == lab["topic"] + "/availability" and "offline" in p.get("message", ""):
                    seen.append(p["message"])
        return bool(seen), f"availability offline published: {seen[:2]}"

    def check(self, lab, min_slowite):
        k = lab["kind"]
        fn = {
            "brute-force": self.brute_force, "discovery": self.discovery,
            "unauth-publish": self.unauth_publish, "unauth-subscribe": self.unauth_subscribe,
            "malformed": self.malformed, "connect-flood": self.connect_flood,
            "flood-malaria": self.flood_malaria, "flood-flock": self.flood_flock,
            "big-will": self.big_will, "spoof": self.forged, "no-key": self.forged,
            "bad-hmac": self.forged, "takeover": self.forged, "replay": self.replay,
            "syn-flood": self.syn_flood, "tamper": self.tamper, "silence": self.silence,
            "z2m-offline": self.z2m_offline,
            "slowite": lambda l: self.idle(l, min_slowite),
            "slow-ping": lambda l: self.idle(l, 1),
        }.get(k)
        if fn is None:
            self.report(False, k, "no check for this kind")
            return
        ok, msg = fn(lab)
        self.report(ok, k, msg)

    def benign(self, attacker, interval, silences):
        bad = collections.Counter(
            (e["src_ip"], e["anomaly"]["event"]) for e in self.eve
            if e["event_type"] == "anomaly" and e.get("src_ip") != attacker
            and e.get("dest_ip") != attacker)
        self.report(not bad, "benign anomalies", f"{sum(bad.values())} from non-attacker hosts {dict(bad)}")
        # Readings per device, and the gaps between a client's packets.
        per_dev = collections.defaultdict(list)
        sess = {}
        for e in self.eve:
            if e["event_type"] != "mqtt" or not e.get("src_ip", "").startswith(("10.77.0.", "127.77.0.")):
                continue
            p = e["mqtt"].get("publish")
            own = e.get("mqtt_session", {}).get("client_id")
            if p and re.fullmatch(r"sensors/[^/]+/[^/]+", p.get("topic", "")) \
                    and p["topic"].rsplit("/", 1)[1] == own:
                per_dev[p["topic"]].append(e["_t"])
            s = e.get("mqtt_session", {})
            if s.get("client_id") and s.get("keepalive"):
                sess.setdefault((e["flow_id"], s["client_id"], s["keepalive"]), []).append(e["_t"])
        for topic, ts in sorted(per_dev.items()):
            ts = [t for t in ts if not any(a - 1 <= t <= b + 1 for a, b in silences.get(topic, []))]
            gaps = [b - a for a, b in zip(ts, ts[1:]) if b - a < 3 * interval]
            med = statistics.median(gaps) if gaps else 0
            ok = len(ts) >= 3 and abs(med - interval) <= 0.25 * interval
            self.report(ok, "reading rate", f"{topic}: {len(ts)} readings, median spacing {med:.2f}s (interval {interval}s)")
        worst = 0.0
        for (fid, cid, ka), ts in sess.items():
            ts.sort()
            for a, b in zip(ts, ts[1:]):
                worst = max(worst, (b - a) / ka)
        self.report(worst <= 1.5, "keepalive", f"longest silence of a client is {worst:.2f} x its keepalive (broker limit 1.5)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eve", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--keys")
    ap.add_argument("--interval", type=float, default=5)
    ap.add_argument("--benign", action="store_true")
    ap.add_argument("--min-slowite", type=int, default=1)
    ap.add_argument("--expect", help="comma-separated kinds that must all be labelled")
    a = ap.parse_args()
    keys = {}
    if a.keys:
        for line in open(a.keys):
            if line.strip() and not line.startswith("#"):
                dev, hx = line.split()
                keys[dev] = bytes.fromhex(hx)
    labels = [json.loads(l) for l in open(a.labels) if l.strip()]
    c = Checker(load_eve(a.eve), a.pcap, keys)
    attacker = None
    silences = collections.defaultdict(list)
    for lab in labels:
        c.check(lab, a.min_slowite)
        if lab["attacker"] not in ("physical", ""):
            attacker = lab["attacker"]
        if lab["kind"] == "silence":
            silences[lab["topic"]].append((lab["start_us"] / 1e6, lab["end_us"] / 1e6))
    if a.expect:
        missing = set(a.expect.split(",")) - {l["kind"] for l in labels}
        c.report(not missing, "labels", f"missing kinds: {sorted(missing)}" if missing else "every expected kind labelled")
    if a.benign:
        c.benign(attacker, a.interval, silences)
    print(f"{len(labels)} labels, {c.failed} checks failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())

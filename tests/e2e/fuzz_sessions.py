#!/usr/bin/env python3
"""fuzz_sessions.py - fuzzing sessions are reported, early publishers are not.

Usage: fuzz_sessions.py MQTTIDS

Writes a capture (synthetic time, stdlib only) of two hosts talking to a
broker at 10.0.0.1:1883, runs `mqttids read` on it with the default rules,
and checks the alerts:

- 10.0.0.50, a benign client that publishes right after its CONNECT without
  waiting for the CONNACK (MQTT 3.1.1 §3.1.4 allows it; some Paho versions
  do), reconnecting every 5 s for 200 s: 40 sessions, each an
  unintroduced_message anomaly. It must raise no alert at all.
- 10.77.99.66, an MQTTSA-style fuzzer: six sessions in six seconds with odd
  client ids ('$', '$topic', empty without clean session, 300 bytes, a
  control character, and one ordinary), each publishing before the CONNACK.
  It must raise exactly one alert, "Malformed or fuzzing MQTT sessions"
  (sid 1000037), raised at the third odd session (its metadata says 3),
  and nothing else.

Exit status: 0 when both hold, 1 otherwise (what differs is printed).
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

BROKER = "10.0.0.1"
T0 = 1735689600.0  # 2025-01-01T00:00:00Z


def ip_bytes(a):
    return bytes(int(x) for x in a.split("."))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Pcap:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def frame(self, ts, src, dst, sport, dport, seq, ack, flags, payload=b""):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
        pseudo = ip_bytes(src) + ip_bytes(dst) + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
        tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp + payload)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0,
                         ip_bytes(src), ip_bytes(dst))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        eth = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
        pkt = eth + ip + tcp + payload
        sec = int(ts)
        self.f.write(struct.pack("<IIII", sec, int(round((ts - sec) * 1e6)), len(pkt), len(pkt)))
        self.f.write(pkt)

    def close(self):
        self.f.close()


def rl(n):
    out = b""
    while True:
        d = n % 128
        n //= 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def mqtt_str(b):
    return struct.pack("!H", len(b)) + b


def connect(cid, clean=True):
    body = mqtt_str(b"MQTT") + bytes([4, 0x02 if clean else 0]) + struct.pack("!H", 60) + mqtt_str(cid)
    return b"\x10" + rl(len(body)) + body


def publish(topic, payload):
    body = mqtt_str(topic) + payload
    return b"\x30" + rl(len(body)) + body


CONNACK = b"\x20\x02\x00\x00"
DISCONNECT = b"\xe0\x00"


def session(p, ts, cli, cport, cid, clean, topic):
    """One connection: handshake, CONNECT and PUBLISH before the CONNACK, DISCONNECT, FIN."""
    cs, ss = 1000, 5000
    p.frame(ts, cli, BROKER, cport, 1883, cs, 0, 0x02)
    p.frame(ts + 0.0001, BROKER, cli, 1883, cport, ss, cs + 1, 0x12)
    cs += 1
    ss += 1
    p.frame(ts + 0.0002, cli, BROKER, cport, 1883, cs, ss, 0x10)
    first = connect(cid, clean) + publish(topic, b'{"temperature": 21.5}')
    p.frame(ts + 0.0003, cli, BROKER, cport, 1883, cs, ss, 0x18, first)
    cs += len(first)
    p.frame(ts + 0.0010, BROKER, cli, 1883, cport, ss, cs, 0x18, CONNACK)
    ss += len(CONNACK)
    p.frame(ts + 0.0020, cli, BROKER, cport, 1883, cs, ss, 0x18, DISCONNECT)
    cs += len(DISCONNECT)
    p.frame(ts + 0.0021, cli, BROKER, cport, 1883, cs, ss, 0x11)
    p.frame(ts + 0.0022, BROKER, cli, 1883, cport, ss, cs + 1, 0x11)
    p.frame(ts + 0.0023, cli, BROKER, cport, 1883, cs + 1, ss + 1, 0x10)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    mqttids = argv[1]
    with tempfile.TemporaryDirectory() as w:
        pcap = os.path.join(w, "fuzz.pcap")
        p = Pcap(pcap)
        for i in range(40):
            session(p, T0 + 5 * i, "10.0.0.50", 40000 + i, b"paho-early", True, b"home/paho/temperature")
        odd = [(b"$", True), (b"$topic", True), (b"", False), (b"A" * 300, True), (b"dev\x01ce", True),
               (b"mqttsa-plain", True)]
        for i, (cid, clean) in enumerate(odd):
            session(p, T0 + 30 + i, "10.77.99.66", 50000 + i, cid, clean, b"test/fuzz")
        p.close()
        eve = os.path.join(w, "eve.json")
        r = subprocess.run([mqttids, "read", "--no-console", "--eve", eve, pcap],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            print("FAIL: mqttids read exited %d:\n%s" % (r.returncode, r.stderr))
            return 1
        alerts, early = [], 0
        with open(eve) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("event_type") == "alert":
                    alerts.append(rec)
                elif rec.get("event_type") == "anomaly" and rec["anomaly"].get("event") == "unintroduced_message" \
                        and rec.get("src_ip") == "10.0.0.50":
                    early += 1
    bad = 0
    if early != 40:
        print("FAIL: %d unintroduced_message anomalies from the early publisher, want 40" % early)
        bad += 1
    benign = [a for a in alerts if a.get("src_ip") == "10.0.0.50" or a["mqttids"].get("src") == "10.0.0.50"]
    if benign:
        print("FAIL: the early publisher raised %d alerts: %s" % (len(benign), sorted({a["alert"]["signature"] for a in benign})))
        bad += 1
    fuzz = [a for a in alerts if a["alert"]["signature_id"] == 1000037]
    others = [a for a in alerts if a["alert"]["signature_id"] != 1000037]
    if len(fuzz) != 1 or fuzz[0]["mqttids"]["src"] != "10.77.99.66":
        print("FAIL: %d 'Malformed or fuzzing MQTT sessions' alerts, want 1 from 10.77.99.66" % len(fuzz))
        bad += 1
    elif fuzz[0]["mqttids"]["metadata"].get("detector", {}).get("suspicious_sessions") != 3:
        print("FAIL: the alert's metadata.detector: %s, want suspicious_sessions 3 (it fires at the third)"
              % fuzz[0]["mqttids"]["metadata"].get("detector"))
        bad += 1
    if others:
        print("FAIL: other alerts: %s" % sorted({(a["alert"]["signature"], a["mqttids"]["src"]) for a in others}))
        bad += 1
    if bad:
        return 1
    print("fuzz_sessions: ok   40 early-publishing sessions: 40 unintroduced_message, no alert; "
          "the fuzzer's 5 odd sessions: one sid 1000037 alert (%s)" % fuzz[0]["alert"]["category"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

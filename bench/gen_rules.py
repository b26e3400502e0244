#!/usr/bin/env python3
"""gen_rules.py - a deterministic set of benchmark rules that mostly do not match.

usage: bench/gen_rules.py [-n 1000] [--seed 1] [--matching 10] [--only KIND] [-o FILE]

Writes N rules in the seed-004 language (docs/rules.md) for bench/run.sh: the
"1,000 rules" measurement loads them next to the default rules and reads the
benchmark capture (bench/make_capture.sh), to show what rules cost when they
are tried but do not fire. The mix is what a site with many hand-written rules
has, aimed at traffic that is not in the capture:

  share  kind
   25%   publish/unsubscribe topics under first levels the capture never uses
         (factory/..., hvac/..., zigbee2mqtt/..., homeassistant/...)
   15%   topics under the capture's own first levels (sensors, devices,
         cameras, alarms) whose deeper levels do not match
         (sensors/attic/#, sensors/+/+/config, devices/+/ota/#, ...)
   10%   client-id globs (plc-*, esp32-attic-*, *-rogue, ...)
    5%   user names (admin, root, ...)
   10%   CONNACK return codes other than 0 (the capture's only code)
   10%   TCP flag rules (SYN, FIN, RST, ...) on ports the capture does not use
   10%   anomaly rules, by name or glob, for events the capture does not raise
   10%   address rules: CIDRs (IPv4 and IPv6) that hold no address of the
         capture (127.0.0.1 only)
    5%   other MQTT options: QoS, protocol version, payload size, keepalive,
         each combined with something the capture does not have

plus --matching (10) rules that do match the capture's traffic, with high
thresholds, so that the matching, threshold and alert paths are exercised too
(they raise a known handful of alerts). Thresholds, intervals, cooldowns and
priorities vary. sids are 2000001 and up. The same seed gives the same file.

--only KIND makes every non-matching rule of one kind (foreign-topic,
shared-topic, client-id, username, retcode, tcp-port, anomaly, address, misc):
bench/rule_kinds.sh uses it to show what each kind of rule costs.

The capture's traffic (bench/README.md): 127.0.0.1 only, broker port from
the capture's .meta; topics sensors/ROOM/DEVICE/telemetry,
sensors/bridge/gw-N/telemetry, cameras/ROOM/DEVICE/snapshot,
devices/DEVICE/firmware/report, devices/DEVICE/status (wills) and
alarms/ROOM/DEVICE; client ids TYPE-ROOM-N (TYPE esp32, esp8266, shelly,
zigbee, tasmota, rpi), gateway-N, logger-all, dashboard-v5,
automation-kitchen; user names dev-N and dashboard; CONNACK code 0 only;
keepalives 30-120 s; payloads up to ~350 kB; one anomaly
(too_many_transactions).
"""
import argparse
import random
import sys

ROOMS_NOT_IN_CAPTURE = ["attic", "basement", "cellar", "porch", "loft", "pantry", "laundry",
                        "nursery", "study", "sauna", "shed", "greenhouse", "workshop", "carport"]
CAPTURE_ROOMS = ["kitchen", "livingroom", "bedroom", "garage", "garden", "office", "bathroom",
                 "hallway"]
FOREIGN_FIRST = ["factory", "hvac", "zigbee2mqtt", "homeassistant", "tele", "stat", "cmnd",
                 "shellies", "energy", "building", "plant", "fleet", "lora", "ttn", "owntracks",
                 "frigate", "octoprint", "valetudo", "esphome", "modbus", "bacnet", "opcua",
                 "scada", "robot", "elevator", "parking", "water", "solar", "weather", "irrigation"]
FOREIGN_SECOND = ["line", "zone", "floor", "unit", "cell", "bay", "station", "node", "meter",
                  "pump", "valve", "inverter", "door", "lock", "relay", "camera", "sensor"]
FOREIGN_LEAF = ["set", "state", "cmd", "config", "availability", "status", "power", "energy",
                "position", "alarm", "fault", "setpoint", "mode", "reboot", "ota", "attributes"]
DEVICE_TYPES = ["esp32", "esp8266", "shelly", "zigbee", "tasmota", "rpi"]
# Anomaly names the capture does not raise (it raises too_many_transactions once).
ANOMALIES = ["invalid_qos_level", "reserved_flags", "connect_reserved_flag", "invalid_utf8",
             "utf8_null_character", "wildcard_in_publish_topic", "malformed_traffic",
             "unassigned_msg_type", "overlong_length_encoding", "trailing_bytes",
             "invalid_protocol_name", "invalid_protocol_version", "invalid_connect_flags",
             "invalid_topic_filter", "empty_topic", "no_topics", "zero_packet_id",
             "invalid_subscription_options", "missing_connect", "double_connect",
             "missing_publish", "missing_subscribe", "missing_unsubscribe", "duplicate_ack",
             "client_id_takeover", "duplicate_property", "misplaced_property",
             "unknown_property", "topic_alias_zero", "too_many_topics",
             "too_many_properties", "unintroduced_message", "mqtt_resync_failed",
             "reassembly_seq_gap", "ipv4.trunc_pkt", "ipv4.wrong_ip_version",
             "ipv6.exthdr_invalid_len", "tcp.hlen_invalid", "vlan.too_many_layers"]
ANOMALY_GLOBS = ["ipv4.*", "ipv6.*", "tcp.*", "vlan.*", "ipraw.*", "*utf8*", "invalid_*",
                 "missing_*", "topic_alias_*", "reassembly_*"]
# Ports the capture does not use (its broker port is 18883, clients are ephemeral
# 32768-60999 on Linux): well-known IoT and admin ports below 10000.
PORTS = [21, 22, 23, 25, 80, 102, 443, 502, 554, 1883, 1884, 2323, 4840, 5683, 8080, 8443,
         8883, 9001, 20000, 47808]
TCP_FLAGS = ["S", "F", "R", "SA", "FA", "RA", "P", "U", "SF", "FPU", "0"]
# Documentation, private and benchmarking networks: none holds 127.0.0.1.
CIDRS4 = ["10.0.0.0/8", "10.20.0.0/16", "172.16.0.0/12", "172.20.5.0/24", "192.168.0.0/16",
          "192.168.50.0/24", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
          "198.18.0.0/15", "100.64.0.0/10", "169.254.0.0/16", "192.0.2.17", "203.0.113.99",
          "128.0.0.0/1", "64.0.0.0/3"]
CIDRS6 = ["2001:db8::/32", "2001:db8:1::/48", "fd00:1::/64", "fe80::/10", "2001:db8::1"]
PRIO_NAMES = {0: "Info", 1: "Low", 2: "Medium", 3: "High", 4: "Critical"}


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def pick(self, seq, k=None):
        if k is None:
            return self.r.choice(seq)
        return self.r.sample(seq, k)

    def general(self):
        """threshold/interval/cooldown options: a third alert on each match."""
        r = self.r.random()
        if r < 0.33:
            return ["cooldown: %d" % self.pick([0, 10, 60, 300])]
        thr = self.pick([3, 5, 10, 20, 50, 100, 500])
        opts = ["threshold: %d" % thr, "interval: %d" % self.pick([5, 10, 30, 60, 300])]
        if self.r.random() < 0.5:
            opts.append("cooldown: %d" % self.pick([0, 10, 60, 600]))
        return opts

    def header(self, proto="mqtt"):
        src = self.pick(["any", "any", "$EXTERNAL_NET", "$HOME_NET", "!$ADMIN_HOSTS"])
        if src == "any" and self.r.random() < 0.2:
            return "%s $SELF -> any dst" % proto
        return "%s %s -> $SELF src" % (proto, src)

    # --- kinds ---------------------------------------------------------------------------
    def foreign_topic(self):
        first = self.pick(FOREIGN_FIRST)
        n = self.r.random()
        if n < 0.3:
            return "%s/#" % first
        if n < 0.6:
            return "%s/%s%d/+/%s" % (first, self.pick(FOREIGN_SECOND), self.r.randint(1, 40),
                                      self.pick(FOREIGN_LEAF))
        if n < 0.8:
            return "%s/+/%s" % (first, self.pick(FOREIGN_LEAF))
        if n < 0.9:
            return "%s/%s%d/%s" % (first, self.pick(FOREIGN_SECOND), self.r.randint(1, 40),
                                   self.pick(FOREIGN_LEAF))
        # A wildcard first level: a candidate for every PUBLISH (not in the first-level
        # index), with a depth or a leaf the capture's topics do not have.
        return self.pick(["+/+/%s" % self.pick(FOREIGN_LEAF), "+/+/+/%s" % self.pick(FOREIGN_LEAF),
                          "+/%s/#" % self.pick(FOREIGN_LEAF)])

    def shared_topic(self):
        # Same first level as the capture, a deeper level that never matches.
        t = self.r.randint(0, 9)
        room = self.pick(ROOMS_NOT_IN_CAPTURE)
        croom = self.pick(CAPTURE_ROOMS)
        dev = "%s-%s-%d" % (self.pick(DEVICE_TYPES), croom, self.r.randint(1000, 9999))
        return [
            "sensors/%s/#" % room,
            "sensors/+/+/%s" % self.pick(["config", "set", "cmd", "state", "calibration"]),
            "sensors/%s/+/%s" % (croom, self.pick(["set", "config", "ota"])),
            "sensors/%s/%s/telemetry" % (croom, dev),   # a device id the capture never uses
            "sensors/bridge/gw-%d/#" % self.r.randint(10, 99),
            "devices/+/%s/#" % self.pick(["ota", "update", "cmd", "config"]),
            "devices/+/firmware/%s" % self.pick(["update", "download", "rollback"]),
            "cameras/+/+/%s" % self.pick(["stream", "ptz", "motion"]),
            "cameras/%s/#" % room,
            "alarms/+/+/%s" % self.pick(["ack", "silence", "test"]),
        ][t]

    def topic_rule(self, shared):
        n = 1 if self.r.random() < 0.7 else self.r.randint(2, 4)
        topics = [self.shared_topic() if shared else self.foreign_topic() for _ in range(n)]
        # PUBLISH, and now and then UNSUBSCRIBE (none in the capture). SUBSCRIBE is left
        # out: the capture's logger subscribes to '#', which overlaps every filter.
        mt = "publish" if self.r.random() < 0.85 else self.pick(["unsubscribe", "publish, unsubscribe"])
        opts = ["msg_type: %s" % mt, "topics: %s" % ", ".join(dict.fromkeys(topics))]
        if self.r.random() < 0.2 and "publish" in mt:
            opts.append("qos: %s" % self.pick(["0", "1", "2", "1, 2"]))
        what = "shared-level topic" if shared else "foreign topic"
        return self.header(), "%s %s" % (what, topics[0]), opts + self.general()

    def client_id_rule(self):
        g = self.r.randint(0, 5)
        glob = [
            "plc-*", "%s-%s-*" % (self.pick(DEVICE_TYPES), self.pick(ROOMS_NOT_IN_CAPTURE)),
            "*-rogue", "mqtt-pwn*", "%s-*-?" % self.pick(["sonoff", "tuya", "hue", "ikea"]),
            "%s-%s-%d" % (self.pick(DEVICE_TYPES), self.pick(CAPTURE_ROOMS), self.r.randint(5000, 9999)),
        ][g]
        mt = self.pick(["connect", "publish", "connect, publish", "subscribe"])
        return self.header(), "client id %s" % glob, ["msg_type: %s" % mt, "client_id: %s" % glob] + self.general()

    def username_rule(self):
        names = self.pick(["admin", "root", "guest", "test", "mqtt", "pi", "homeassistant", "user",
                           "operator", "backup", "service", "installer"], self.r.randint(1, 3))
        mt = self.pick(["connect", "publish", "subscribe"])
        return self.header(), "user name %s" % names[0], ["msg_type: %s" % mt, "username: %s" % ", ".join(names)] + self.general()

    def retcode_rule(self):
        codes = self.pick(["1", "2", "3", "4", "5", "0x80", "0x81", "0x84", "0x85", "0x86",
                           "0x87", "0x88", "0x89", "0x8A", "0x8C", "0x90", "0x95", "0x97", "0x9F",
                           "not_authorized", "bad_user_name_or_password", "identifier_rejected",
                           "server_unavailable", "banned", "server_busy"],
                          self.r.randint(1, 3))
        return "mqtt $SELF -> any dst", "connack refusal %s" % codes[0], ["msg_type: connack", "retcode: %s" % ", ".join(codes)] + self.general()

    def tcp_rule(self):
        ports = self.pick(PORTS, self.r.randint(1, 3))
        port = ports[0] if len(ports) == 1 else "[%s]" % ",".join(str(p) for p in ports)
        src = self.pick(["any", "$EXTERNAL_NET", "$HOME_NET"])
        flags = self.pick(TCP_FLAGS)
        hdr = "tcp %s any -> any %s src" % (src, port)
        return hdr, "tcp %s to %s" % (flags, port), ["flags: %s" % flags] + self.general()

    def anomaly_rule(self):
        if self.r.random() < 0.25:
            names = [self.pick(ANOMALY_GLOBS)]
        else:
            names = self.pick(ANOMALIES, self.r.randint(1, 4))
        return self.header(), "anomaly %s" % names[0], ["anomaly: %s" % ", ".join(names)] + self.general()

    def address_rule(self):
        nets = self.pick(CIDRS4, self.r.randint(1, 3))
        if self.r.random() < 0.3:
            nets.append(self.pick(CIDRS6))
        addr = nets[0] if len(nets) == 1 else "[%s]" % ",".join(nets)
        if self.r.random() < 0.3:
            flags = self.pick(["S", "R", "F"])
            return "tcp %s -> any src" % addr, "tcp %s from %s" % (flags, nets[0]), ["flags: %s" % flags] + self.general()
        mt = self.pick(["publish", "connect", "subscribe", "publish, subscribe", "pingreq"])
        if self.r.random() < 0.5:
            return "mqtt %s -> $SELF src" % addr, "%s from %s" % (mt, nets[0]), ["msg_type: %s" % mt] + self.general()
        return "mqtt $SELF -> %s dst" % addr, "%s to %s" % (mt, nets[0]), ["msg_type: %s" % mt] + self.general()

    def misc_rule(self):
        k = self.r.randint(0, 3)
        if k == 0:  # QoS 2 publish on a foreign topic
            t = self.foreign_topic()
            return self.header(), "qos 2 on %s" % t, ["msg_type: publish", "qos: 2", "topics: %s" % t] + self.general()
        if k == 1:  # huge payloads: the capture's largest is ~350 kB
            return self.header(), "huge payload", ["msg_type: publish", "payload_size: >%d" % self.pick([1048576, 4194304, 16777216])] + self.general()
        if k == 2:  # long keepalive: the capture's are 30-120 s
            return self.header(), "long keepalive", ["msg_type: connect", "keepalive: >=%d" % self.pick([1800, 3600, 7200, 65535])] + self.general()
        # an MQTT 3.1 client on a foreign topic (the capture has 3.1 clients, not these topics)
        return self.header(), "v3.1 client", ["msg_type: publish", "protocol_version: 3.1", "topics: %s" % self.foreign_topic()] + self.general()

    def matching_rule(self, i):
        # Matches the capture, with thresholds high enough to raise a few alerts.
        k = i % 4
        if k == 0:
            return "mqtt any -> $SELF src", "match: kitchen publishes", ["msg_type: publish", "topics: sensors/kitchen/#", "threshold: 5000", "interval: 60", "cooldown: 60"]
        if k == 1:
            return "mqtt any -> $SELF src", "match: gateway publishes", ["msg_type: publish", "client_id: gateway-*", "threshold: 20000", "interval: 60", "cooldown: 60"]
        if k == 2:
            return "tcp any -> $SELF src", "match: connection attempts", ["flags: S", "threshold: 2000", "interval: 60", "cooldown: 60"]
        return "mqtt any -> $SELF src", "match: v5 connects", ["msg_type: connect", "protocol_version: 5", "threshold: 500", "interval: 60", "cooldown: 60"]


KINDS = [  # (name, share in percent, method)
    ("foreign-topic", 25, lambda g: g.topic_rule(False)),
    ("shared-topic", 15, lambda g: g.topic_rule(True)),
    ("client-id", 10, Gen.client_id_rule),
    ("username", 5, Gen.username_rule),
    ("retcode", 10, Gen.retcode_rule),
    ("tcp-port", 10, Gen.tcp_rule),
    ("anomaly", 10, Gen.anomaly_rule),
    ("address", 10, Gen.address_rule),
    ("misc", 5, Gen.misc_rule),
]
KIND_NAMES = [k[0] for k in KINDS]


def generate(n, seed, matching, only=None):
    g = Gen(seed)
    rest = max(n - matching, 0)
    # Exact counts per kind (largest remainder), then shuffled so kinds interleave.
    shares = [(s if only in (None, name) else 0) for name, s, _ in KINDS]
    quotas = [rest * s // sum(shares) for s in shares]
    for j in range(rest - sum(quotas)):
        quotas[KIND_NAMES.index(only) if only else j % len(quotas)] += 1
    plan = [k for k, q in enumerate(quotas) for _ in range(q)]
    g.r.shuffle(plan)
    lines = []
    sid = 2000001
    for k in plan:
        hdr, what, opts = KINDS[k][2](g)
        prio = g.r.randint(0, 4)
        lines.append("%s; name: Bench %s: %s; priority: %d; %s; sid: %d" %
                     (hdr, PRIO_NAMES[prio], what, prio, "; ".join(opts), sid))
        sid += 1
    for i in range(min(matching, n)):
        hdr, what, opts = g.matching_rule(i)
        lines.append("%s; name: Bench %s; priority: 1; %s; sid: %d" % (hdr, what, "; ".join(opts), sid))
        sid += 1
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=1000, help="number of rules (default 1000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--matching", type=int, default=10,
                    help="how many of them match the capture (default 10)")
    ap.add_argument("--only", choices=KIND_NAMES,
                    help="every non-matching rule of this kind (to see what each kind costs)")
    ap.add_argument("-o", "--output", help="file to write (default stdout)")
    a = ap.parse_args()
    lines = generate(a.n, a.seed, a.matching, a.only)
    text = ("# Generated by bench/gen_rules.py -n %d --seed %d --matching %d%s; do not edit.\n"
            "# Mostly non-matching rules for the benchmark capture (bench/README.md).\n"
            % (a.n, a.seed, a.matching, " --only " + a.only if a.only else "")) + "\n".join(lines) + "\n"
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()

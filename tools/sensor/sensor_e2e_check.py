#!/usr/bin/env python3
"""sensor_e2e_check.py - checks what sensor_e2e.sh recorded from live mqttids-sensor devices.

Usage: sensor_e2e_check.py DIR PORT

DIR holds (written by sensor_e2e.sh):
  rec.out        every message on '#', as mosquitto_sub -F '%U %r %q %t %p'
  retained.out   the retained messages while the devices ran (same format)
  retained2.out  zigbee2mqtt/bridge/state after they stopped
  labels.jsonl   the devices' ground-truth labels
  keys           the HMAC key file ("<device> <hex key>")
  broker.log     mosquitto's log (log_type all)
  kitchen.out, office.out, z2m.out, dash.out   each device's stdout

Prints one line per check and exits 1 when any fails.
"""
import hashlib
import hmac
import json
import os
import re
import sys

FAILS = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILS.append(what)
    return ok


def read_msgs(path):
    """Lines '%U %r %q %t %p' -> list of (time, retain, qos, topic, payload)."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split(" ", 4)
            if len(parts) < 4:
                continue
            payload = parts[4] if len(parts) == 5 else ""
            out.append((float(parts[0]), parts[1] == "1", int(parts[2]), parts[3], payload))
    return out


def hmac_tail_ok(payload, key):
    """The tail-signature rule of tools/common/tb_payload.h: the MAC is
    HMAC-SHA256(key, B) where B is the payload up to (not including)
    ,"hmac": followed by "}", and the payload ends ,"hmac":"<64 hex>"}."""
    m = re.fullmatch(r'(.*),"hmac":"([0-9a-f]{64})"\}', payload, re.S)
    if not m:
        return False
    body = (m.group(1) + "}").encode()
    want = hmac.new(key, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, m.group(2))


def main():
    d, port = sys.argv[1], sys.argv[2]
    rec = read_msgs(os.path.join(d, "rec.out"))
    ret = read_msgs(os.path.join(d, "retained.out"))
    ret2 = read_msgs(os.path.join(d, "retained2.out"))
    with open(os.path.join(d, "broker.log"), encoding="utf-8", errors="replace") as f:
        blog = f.read()
    labels = []
    with open(os.path.join(d, "labels.jsonl"), encoding="utf-8") as f:
        for line in f:
            labels.append(json.loads(line))
    keys = {}
    with open(os.path.join(d, "keys"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, hx = line.split()
                keys[name] = bytes.fromhex(hx)

    def out_of(name):
        with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
            return f.read()

    by_kind = {}
    for lab in labels:
        by_kind.setdefault(lab["kind"], []).append(lab)

    # ---------------------------------------------------------------- labels
    check(sorted(l["kind"] for l in labels) == ["silence", "tamper", "z2m-offline", "z2m-offline"],
          "labels: one tamper, one silence, two z2m-offline (got %s)" % [l["kind"] for l in labels])
    for lab in labels:
        check(lab["mode"] == "live" and lab["attacker"] == "physical"
              and lab["target"] == "127.0.0.1:" + port and lab["end_us"] >= lab["start_us"],
              "label %s: mode live, attacker physical, target 127.0.0.1:%s, end >= start" % (lab["kind"], port))
    tamper = by_kind.get("tamper", [None])[0]
    silence = by_kind.get("silence", [None])[0]
    z2moff = next((l for l in by_kind.get("z2m-offline", []) if l.get("device") == "kitchen_air"), None)
    z2mlock = next((l for l in by_kind.get("z2m-offline", []) if l.get("device") == "front_door_lock"), None)
    if tamper:
        check(tamper.get("device") == "esp32-office" and tamper.get("topic") == "sensors/office/esp32-office"
              and tamper.get("detail", {}).get("delta") == 15
              and abs((tamper["end_us"] - tamper["start_us"]) / 1e6 - 8) < 0.01,
              "tamper label: esp32-office, its topic, delta 15, 8 s")
    if silence:
        check(silence.get("device") == "esp32-kitchen" and silence.get("topic") == "sensors/kitchen/esp32-kitchen"
              and abs((silence["end_us"] - silence["start_us"]) / 1e6 - 4) < 0.01,
              "silence label: esp32-kitchen, its topic, 4 s")
    check(z2moff is not None and z2moff.get("topic") == "zigbee2mqtt/kitchen_air"
          and (z2moff["end_us"] - z2moff["start_us"]) / 1e6 > 5,
          "z2m-offline label: kitchen_air, zigbee2mqtt/kitchen_air, until the end of the run")
    check(z2mlock is not None and z2mlock.get("topic") == "zigbee2mqtt/front_door_lock"
          and abs((z2mlock["end_us"] - z2mlock["start_us"]) / 1e6 - 3) < 0.01,
          "z2m-offline label: front_door_lock, zigbee2mqtt/front_door_lock, 3 s")

    # ---------------------------------------------------------------- readings, key mode (DHT11)
    kt = "sensors/kitchen/esp32-kitchen"
    kr = [m for m in rec if m[3] == kt]
    check(len(kr) >= 3, "esp32-kitchen: %d readings on %s (>= 3; drops and the silence cost some)" % (len(kr), kt))
    shape = True
    for m in kr:
        try:
            j = json.loads(m[4])
        except ValueError:
            shape = False
            break
        shape &= list(j) == ["device", "temperature", "humidity", "key"]
        shape &= j.get("device") == "esp32-kitchen" and j.get("key") == "k1tch3n-s3cret"
        # DHT11: whole degrees written as 22.0, whole %RH written as 41.
        shape &= bool(re.search(r'"temperature":-?\d+\.0,"humidity":\d+,', m[4]))
        shape &= 0 <= j["temperature"] <= 50 and 20 <= j["humidity"] <= 90
        shape &= m[2] == 0 and not m[1]
    check(shape, "esp32-kitchen: DHT11 JSON {device,temperature,humidity,key}, the shared key, QoS 0")

    # ---------------------------------------------------------------- readings, HMAC mode (DHT22)
    ot = "sensors/office/esp32-office"
    orr = [m for m in rec if m[3] == ot]
    check(len(orr) >= 5, "esp32-office: %d readings on %s (>= 5)" % (len(orr), ot))
    key = keys.get("esp32-office", b"")
    shape, macs, ctrs = True, True, []
    for m in orr:
        try:
            j = json.loads(m[4])
        except ValueError:
            shape = False
            break
        shape &= list(j) == ["device", "temperature", "humidity", "ctr", "ts", "hmac"]
        shape &= bool(re.search(r'"temperature":-?\d+\.\d,"humidity":\d+\.\d,', m[4]))
        shape &= abs(j["ts"] - m[0]) < 3
        macs &= hmac_tail_ok(m[4], key)
        ctrs.append(j["ctr"])
    check(shape, "esp32-office: DHT22 JSON {device,temperature,humidity,ctr,ts,hmac}, ts = arrival time")
    check(bool(orr) and macs, "esp32-office: every HMAC tail signature verifies with the key file's key")
    check(ctrs == list(range(1, len(ctrs) + 1)), "esp32-office: ctr runs 1, 2, 3, ... (%s)" % ctrs[:12])
    if orr:
        bad = orr[0][4].replace('"ctr":1,', '"ctr":2,')
        check(not hmac_tail_ok(bad, key) and not hmac_tail_ok(orr[0][4], b"wrong key"),
              "the HMAC check rejects a changed payload and a wrong key")

    # ---------------------------------------------------------------- tamper: the part heats up
    if tamper and orr:
        t0, t1 = tamper["start_us"] / 1e6, tamper["end_us"] / 1e6
        before = [json.loads(m[4])["temperature"] for m in orr if m[0] < t0]
        late = [json.loads(m[4])["temperature"] for m in orr if t0 + 4 <= m[0] <= t1 + 0.5]
        ok = bool(before) and bool(late) and max(late) >= sum(before) / len(before) + 3
        check(ok, "tamper: esp32-office reads >= 3 degC above its pre-tamper mean (before %s, late %s)"
              % (before, late))

    # ---------------------------------------------------------------- silence: no readings, connection kept
    if silence and kr:
        s0, s1 = silence["start_us"] / 1e6, silence["end_us"] / 1e6
        inside = [m[0] for m in kr if s0 + 0.2 < m[0] < s1 - 0.2]
        check(not inside, "silence: no esp32-kitchen reading inside the window (%d found)" % len(inside))
        check(any(m[0] < s0 for m in kr) and any(m[0] > s1 for m in kr),
              "silence: esp32-kitchen publishes before and after the window")

    # ---------------------------------------------------------------- will after a Wi-Fi drop, then back
    ks = [m for m in rec if m[3] == kt + "/status"]
    first_off = next((i for i, m in enumerate(ks) if m[4] == "offline"), None)
    check(first_off is not None, "esp32-kitchen: the broker published the will 'offline' after a drop")
    check(first_off is not None and any(m[4] == "online" for m in ks[first_off + 1:]),
          "esp32-kitchen: reconnected afterwards (a later 'online' birth)")
    check("Client esp32-kitchen closed its connection" in blog,
          "broker log: esp32-kitchen's connection closed without DISCONNECT")
    check(len(re.findall(r"New client connected from 127\.77\.0\.11:\d+ as esp32-kitchen \(p2, c1, k15, u'sensor'\)",
                         blog)) >= 2,
          "broker log: esp32-kitchen connected >= 2 times from 127.77.0.11 (MQTT 3.1.1, clean, keepalive 15)")
    check(re.search(r"New client connected from 127\.77\.0\.12:\d+ as esp32-office \(p5, c1, k15, u'sensor'\)",
                    blog) is not None, "broker log: esp32-office connected from 127.77.0.12 with MQTT 5")
    check(re.search(r"Will message specified \(7 bytes\) \(r1, q1\)\.\n[^\n]*\tsensors/kitchen/esp32-kitchen/status",
                    blog) is not None, "broker log: esp32-kitchen's will is 7 bytes, retained, QoS 1, on its status topic")
    m = re.search(r"drops=(\d+)", out_of("kitchen.out"))
    c = re.search(r"connects=(\d+)", out_of("kitchen.out"))
    check(m is not None and c is not None and int(m.group(1)) >= 1 and int(c.group(1)) >= 2,
          "esp32-kitchen summary: drops >= 1, connects >= 2")
    os_ = [m[4] for m in rec if m[3] == ot + "/status"]
    check(os_ and all(p == "online" for p in os_),
          "esp32-office: only 'online' on its status topic (a graceful DISCONNECT publishes no will)")

    # ---------------------------------------------------------------- retained birth and info
    rmap = {m[3]: m[4] for m in ret if m[1]}
    for dev, topic, ip, sensor in (("esp32-kitchen", kt, "127.77.0.11", "DHT11"),
                                   ("esp32-office", ot, "127.77.0.12", "DHT22")):
        check(rmap.get(topic + "/status") == "online", "retained %s/status = online" % topic)
        try:
            info = json.loads(rmap.get(topic + "/info", ""))
        except ValueError:
            info = {}
        need = {"device", "board", "sensor", "firmware", "ip", "room", "interval", "keepalive", "qos"}
        check(need <= set(info) and info.get("device") == dev and info.get("ip") == ip
              and info.get("sensor") == sensor and info.get("interval") == 1 and info.get("keepalive") == 15,
              "retained %s/info: %s, ip %s, %s, interval 1, keepalive 15" % (topic, dev, ip, sensor))

    # ---------------------------------------------------------------- Zigbee2MQTT bridge
    check(rmap.get("zigbee2mqtt/bridge/state") == '{"state":"online"}',
          "retained zigbee2mqtt/bridge/state = {\"state\":\"online\"} while running")
    try:
        binfo = json.loads(rmap.get("zigbee2mqtt/bridge/info", ""))
    except ValueError:
        binfo = {}
    check(binfo.get("version") == "1.35.1" and "coordinator" in binfo and "config" in binfo,
          "retained zigbee2mqtt/bridge/info: version 1.35.1, coordinator, config")
    try:
        devs = json.loads(rmap.get("zigbee2mqtt/bridge/devices", ""))
    except ValueError:
        devs = []
    names = [x.get("friendly_name") for x in devs]
    check(names == ["Coordinator", "living_room_lamp", "front_door_lock", "hallway_motion", "kitchen_air"],
          "retained zigbee2mqtt/bridge/devices: Coordinator and the four devices (%s)" % names)
    good = True
    for x in devs[1:]:
        good &= bool(re.fullmatch(r"0x00158d000[0-9a-f]{7}", x.get("ieee_address", "")))
        good &= (x.get("type"), x.get("power_source")) in (("Router", "Mains (single phase)"),
                                                          ("EndDevice", "Battery"))
        dfn = x.get("definition") or {}
        good &= bool(x.get("model_id")) and all(dfn.get(k) for k in ("model", "vendor", "description"))
    check(bool(devs) and good, "bridge/devices: ieee_address 0x00158d000..., type/power_source pairs, model_id, definition")
    av = {n: rmap.get("zigbee2mqtt/%s/availability" % n) for n in names[1:]}
    check(av.get("living_room_lamp") == '{"state":"online"}' and av.get("hallway_motion") == '{"state":"online"}'
          and av.get("front_door_lock") == "online",
          "retained availability in both formats: JSON for the 1st and 3rd device, legacy for the 2nd (%s)" % av)
    check(av.get("kitchen_air") == "offline", "retained zigbee2mqtt/kitchen_air/availability = offline")
    iso = r'"last_seen":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\}$'
    lamp = [m for m in rec if m[3] == "zigbee2mqtt/living_room_lamp"]
    check(len(lamp) >= 5 and all(re.search(iso, m[4]) and {"state", "brightness", "linkquality"} <= set(json.loads(m[4]))
                                 for m in lamp),
          "living_room_lamp: %d state reports with state, brightness, linkquality, ISO-8601 last_seen" % len(lamp))
    mot = [m for m in rec if m[3] == "zigbee2mqtt/hallway_motion"]
    check(len(mot) >= 2 and all(re.search(iso, m[4]) and {"occupancy", "battery", "voltage"} <= set(json.loads(m[4]))
                                for m in mot),
          "hallway_motion (battery, 3x interval): %d reports with occupancy, battery, voltage, last_seen" % len(mot))
    if z2moff:
        off0 = z2moff["start_us"] / 1e6
        air_after = [m for m in rec if m[3] == "zigbee2mqtt/kitchen_air" and m[0] > off0 + 0.2]
        check(not air_after, "kitchen_air: no state report after it left (%d found)" % len(air_after))
        offs = [m for m in rec if m[3] == "zigbee2mqtt/kitchen_air/availability" and m[4] == "offline"]
        check(len(offs) == 1 and 8 <= offs[0][0] - off0 <= 11.5,
              "kitchen_air availability offline once, after the 10 s timeout (%s s after it left)"
              % [round(m[0] - off0, 2) for m in offs])
    if z2mlock:
        l0, l1 = z2mlock["start_us"] / 1e6, z2mlock["end_us"] / 1e6
        lock = [m[0] for m in rec if m[3] == "zigbee2mqtt/front_door_lock"]
        check(not [t for t in lock if l0 + 0.2 < t < l1 - 0.2] and any(l1 - 0.05 <= t <= l1 + 0.5 for t in lock),
              "front_door_lock: no report while away, one as soon as it is back (%s)"
              % [round(t - l0, 2) for t in lock])
        check(not [m for m in rec if m[3] == "zigbee2mqtt/front_door_lock/availability" and m[4] == "offline"],
              "front_door_lock: availability stays online (back before the 30 s battery timeout)")
    check([m[4] for m in ret2 if m[3] == "zigbee2mqtt/bridge/state"] == ['{"state":"offline"}'],
          "after the graceful stop: retained zigbee2mqtt/bridge/state = {\"state\":\"offline\"}")

    # ---------------------------------------------------------------- graceful ends
    for cid in ("esp32-office", "zigbee2mqtt", "dashboard"):
        check("Received DISCONNECT from %s\n" % cid in blog, "broker log: DISCONNECT from %s at SIGTERM" % cid)
    m = re.search(r"received (\d+) messages", out_of("dash.out"))
    check(m is not None and int(m.group(1)) >= 30, "dashboard: counted %s messages (>= 30)" % (m.group(1) if m else None))

    print("%d checks failed" % len(FAILS) if FAILS else "all checks passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""tshark_compare.py - compare MQTT control packets seen by tshark with mqttids EVE records.

Usage: tshark_compare.py [--dump] TSHARK_JSON EVE_JSONL

TSHARK_JSON is the output of
    tshark -r CAP -d tcp.port==PORT,mqtt -o tcp.reassemble_out_of_order:TRUE \
           -Y mqtt -T json [--no-duplicate-keys] [-J "frame ip tcp mqtt _ws.malformed"]
EVE_JSONL is what `mqttids decode` (or `live`) wrote: one JSON object a line.

Both sides are reduced to one *item* per MQTT control packet:
    (type, client id of the flow, fixed-header qos/retain/dup, packet id,
     plus a few per-type fields: publish topic and payload length+digest,
     subscribe topics with requested QoS, suback granted list, unsubscribe
     topics, connect version/username/password/will, connack flags/code,
     disconnect reason code)
The client id of a flow comes from the CONNECT of the same TCP stream
(tshark: tcp.stream; EVE: the record whose mqtt.connect shares the flow's
address/port pair, in either order).  The two multisets must be equal and
non-empty; every item found on one side only is printed.  Exit status: 0 equal,
1 different (or nothing to compare), 2 unreadable input.

--dump prints the items of each side as well (useful while developing).

tshark 4.0 field names relied on (see the e2e README in broker_e2e.sh):
  tcp.stream tcp.srcport tcp.dstport frame.number
  mqtt.hdrflags (whole first byte; type = >>4, dup = bit 3, qos = bits 2-1, retain = bit 0)
  mqtt.msgid mqtt.topic mqtt.msg (hex bytes "aa:bb:..")
  mqtt.sub.qos (v3.x)  mqtt.subscription_options (v5, raw options byte)
  mqtt.suback.qos (v3.x)  mqtt.suback.reason_code (v5)
  mqtt.clientid mqtt.ver mqtt.username mqtt.passwd mqtt.willtopic mqtt.willmsg
  mqtt.conack.flags (bit 0 = session present)  mqtt.conack.val (v3.x)
  mqtt.connack.reason_code (v5)  mqtt.disconnect.reason_code (v5)
Only stdlib is used.
"""

import collections
import hashlib
import json
import sys

TYPES = {
    1: "connect", 2: "connack", 3: "publish", 4: "puback", 5: "pubrec",
    6: "pubrel", 7: "pubcomp", 8: "subscribe", 9: "suback", 10: "unsubscribe",
    11: "unsuback", 12: "pingreq", 13: "pingresp", 14: "disconnect", 15: "auth",
}
EVE_TYPES = set(TYPES.values())
# Types that carry a packet identifier (publish only when qos > 0).
WITH_ID = {"puback", "pubrec", "pubrel", "pubcomp", "subscribe", "suback",
           "unsubscribe", "unsuback"}

MAX_SHOW = 240


class InputError(Exception):
    pass


# ---------------------------------------------------------------- helpers

def merge_dups(pairs):
    """json object_pairs_hook: duplicate keys become a list of all values.

    tshark -T json without --no-duplicate-keys writes repeated keys (two MQTT
    messages in one frame, several topics in one SUBSCRIBE); this keeps them all.
    """
    out = {}
    for k, v in pairs:
        if k in out:
            prev = out[k]
            if isinstance(prev, list) and getattr(prev, "_dup", False):
                prev.append(v)
            else:
                lst = _DupList([prev, v])
                out[k] = lst
        else:
            out[k] = v
    return out


class _DupList(list):
    _dup = True


def as_list(v):
    if v is None:
        return []
    if isinstance(v, list):
        return list(v)
    return [v]


def first(v):
    lst = as_list(v)
    return lst[0] if lst else None


def to_int(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    s = str(v).strip()
    try:
        return int(s, 0)
    except ValueError:
        return int(s, 16)


def hexbytes(s):
    """tshark FT_BYTES value "6f:66:66" (or "6f6666") -> bytes."""
    if s is None:
        return None
    s = str(s).replace(":", "").strip()
    return bytes.fromhex(s)


def digest(b):
    """Length and short digest of a payload, so big payloads stay readable."""
    if b is None:
        return None
    return "%d:%s" % (len(b), hashlib.sha256(b).hexdigest()[:12])


def show(item):
    s = " ".join("%s=%s" % (k, json.dumps(v, separators=(",", ":")))
                 for k, v in item)
    return s if len(s) <= MAX_SHOW else s[:MAX_SHOW] + "..."


def make_item(mtype, client, qos, retain, dup, msgid, extra):
    d = [("type", mtype), ("client", client), ("qos", qos),
         ("retain", retain), ("dup", dup), ("id", msgid)]
    d.extend(sorted(extra.items()))
    # Freeze lists so the item is hashable.
    return tuple((k, freeze(v)) for k, v in d)


def freeze(v):
    if isinstance(v, list):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, freeze(x)) for k, x in v.items()))
    return v


# ---------------------------------------------------------------- tshark side

def tshark_messages(path):
    """Yield (frame, stream, layers, mqtt_msg_dict) for every MQTT message."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f, object_pairs_hook=merge_dups)
    except (OSError, ValueError) as e:
        raise InputError("%s: %s" % (path, e))
    if not isinstance(data, list):
        raise InputError("%s: not a tshark -T json array" % path)
    for pkt in data:
        layers = pkt.get("_source", {}).get("layers", {})
        tcp = first(layers.get("tcp")) or {}
        frame = first(layers.get("frame")) or {}
        stream = tcp.get("tcp.stream")
        for m in as_list(layers.get("mqtt")):
            if isinstance(m, dict):
                yield frame.get("frame.number"), stream, layers, tcp, m


def tshark_items(path, notes):
    msgs = list(tshark_messages(path))
    # Pass 1: client id per TCP stream, from its CONNECT.
    client_of = {}
    for fnum, stream, layers, tcp, m in msgs:
        hdr = to_int(first(m.get("mqtt.hdrflags")))
        if hdr is not None and hdr >> 4 == 1 and "mqtt.clientid" in m:
            cid = first(m.get("mqtt.clientid"))
            if stream in client_of and client_of[stream] != cid:
                notes.append("tshark: tcp.stream %s has two CONNECTs (%r, %r)"
                             % (stream, client_of[stream], cid))
            client_of.setdefault(stream, cid)
    # Pass 2: one item per message.
    items = []
    for fnum, stream, layers, tcp, m in msgs:
        if any("_ws.malformed" in k for k in m) or "_ws.malformed" in layers:
            notes.append("tshark: frame %s marked malformed" % fnum)
        hdr = to_int(first(m.get("mqtt.hdrflags")))
        if hdr is None:
            notes.append("tshark: frame %s: mqtt without mqtt.hdrflags" % fnum)
            continue
        mtype = TYPES.get(hdr >> 4, "reserved%d" % (hdr >> 4))
        qos, retain, dup = (hdr >> 1) & 3, hdr & 1, (hdr >> 3) & 1
        msgid = to_int(first(m.get("mqtt.msgid")))
        extra = {}
        if mtype == "publish":
            extra["topic"] = first(m.get("mqtt.topic"))
            extra["payload"] = digest(hexbytes(first(m.get("mqtt.msg"))) or b"")
        elif mtype == "subscribe":
            topics = as_list(m.get("mqtt.topic"))
            if "mqtt.subscription_options" in m:          # MQTT 5
                qs = [to_int(x) & 3 for x in as_list(m.get("mqtt.subscription_options"))]
            else:                                         # MQTT 3.1/3.1.1
                qs = [to_int(x) for x in as_list(m.get("mqtt.sub.qos"))]
            if len(qs) != len(topics):
                notes.append("tshark: frame %s: %d topics but %d qos"
                             % (fnum, len(topics), len(qs)))
            extra["topics"] = [[t, q] for t, q in zip(topics, qs)]
        elif mtype == "suback":
            g = m.get("mqtt.suback.qos")
            if g is None:
                g = m.get("mqtt.suback.reason_code")
            extra["granted"] = [to_int(x) for x in as_list(g)]
        elif mtype == "unsubscribe":
            extra["topics"] = as_list(m.get("mqtt.topic"))
        elif mtype == "connect":
            extra["version"] = to_int(first(m.get("mqtt.ver")))
            extra["username"] = first(m.get("mqtt.username"))
            extra["password"] = first(m.get("mqtt.passwd"))
            extra["will_topic"] = first(m.get("mqtt.willtopic"))
            wm = m.get("mqtt.willmsg")
            extra["will_message"] = digest(hexbytes(first(wm))) if wm is not None else None
        elif mtype == "connack":
            fl = to_int(first(m.get("mqtt.conack.flags"))) or 0
            extra["session_present"] = fl & 1
            rc = m.get("mqtt.conack.val")
            if rc is None:
                rc = m.get("mqtt.connack.reason_code")
            extra["return_code"] = to_int(first(rc))
        elif mtype == "disconnect":
            rc = to_int(first(m.get("mqtt.disconnect.reason_code")))
            extra["reason_code"] = rc if rc is not None else 0
        if mtype == "publish" and qos == 0:
            msgid = None
        if mtype not in WITH_ID and mtype != "publish":
            msgid = None
        cid = client_of.get(stream, "?no-connect-in-stream-%s" % stream)
        items.append(make_item(mtype, cid, qos, retain, dup, msgid, extra))
    return items


# ---------------------------------------------------------------- EVE side

def eve_records(path):
    recs = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    recs.append(json.loads(line))
                except ValueError as e:
                    raise InputError("%s:%d: bad JSON: %s" % (path, n, e))
    except OSError as e:
        raise InputError("%s: %s" % (path, e))
    return recs


def flow_key(r):
    a = (r.get("src_ip"), r.get("src_port"))
    b = (r.get("dest_ip"), r.get("dest_port"))
    return tuple(sorted([a, b], key=repr))


def eve_str_digest(s):
    if s is None:
        return None
    if not isinstance(s, str):
        s = json.dumps(s)
    return digest(s.encode("utf-8"))


def eve_items(path, notes):
    recs = [r for r in eve_records(path) if r.get("event_type") == "mqtt"]
    # Client id per flow; if a 4-tuple were reused, take the latest CONNECT
    # at or before the record's pcap_cnt.
    connects = collections.defaultdict(list)
    for r in recs:
        mq = r.get("mqtt") or {}
        for c in as_list(mq.get("connect")):
            if isinstance(c, dict):
                connects[flow_key(r)].append((to_int(r.get("pcap_cnt")) or 0,
                                              c.get("client_id")))
    for v in connects.values():
        v.sort(key=lambda x: x[0])

    def client_for(r):
        lst = connects.get(flow_key(r))
        if not lst:
            return "?no-connect-in-flow-%s:%s-%s:%s" % (
                r.get("src_ip"), r.get("src_port"), r.get("dest_ip"), r.get("dest_port"))
        cnt = to_int(r.get("pcap_cnt")) or 0
        best = lst[0][1]
        for c, cid in lst:
            if c <= cnt:
                best = cid
        return best

    items = []
    for r in recs:
        mq = r.get("mqtt")
        if not isinstance(mq, dict):
            notes.append("eve: mqtt record without mqtt object: %s" % json.dumps(r)[:MAX_SHOW])
            continue
        cid = client_for(r)
        for key, val in mq.items():
            if key not in EVE_TYPES:
                # e.g. {"truncated":true,"skipped_length":N}: kept as an item
                # so that it shows up as a difference.
                items.append(make_item("?" + key, cid, None, None, None, None,
                                       {"value": json.dumps(val)[:80]}))
                continue
            for m in as_list(val):
                if not isinstance(m, dict):
                    notes.append("eve: mqtt.%s is not an object" % key)
                    continue
                items.append(eve_item(key, m, cid))
    return items


def b2i(v):
    if v is None:
        return None
    return 1 if v else 0


def eve_item(mtype, m, cid):
    qos, retain, dup = to_int(m.get("qos")), b2i(m.get("retain")), b2i(m.get("dup"))
    msgid = to_int(m.get("message_id"))
    extra = {}
    if mtype == "publish":
        extra["topic"] = m.get("topic")
        extra["payload"] = eve_str_digest(m.get("message", ""))
    elif mtype == "subscribe":
        extra["topics"] = [[t.get("topic"), (to_int(t.get("qos")) or 0) & 3]
                           if isinstance(t, dict) else [t, None]
                           for t in as_list(m.get("topics"))]
    elif mtype == "suback":
        extra["granted"] = [to_int(x) for x in as_list(m.get("qos_granted"))]
    elif mtype == "unsubscribe":
        extra["topics"] = as_list(m.get("topics"))
    elif mtype == "connect":
        extra["version"] = to_int(m.get("protocol_version"))
        extra["username"] = m.get("username")
        extra["password"] = m.get("password")
        will = m.get("will") or {}
        extra["will_topic"] = will.get("topic")
        extra["will_message"] = eve_str_digest(will.get("message")) if "message" in will else None
    elif mtype == "connack":
        extra["session_present"] = b2i(m.get("session_present"))
        extra["return_code"] = to_int(m.get("return_code"))
    elif mtype == "disconnect":
        rc = to_int(m.get("reason_code"))
        extra["reason_code"] = rc if rc is not None else 0
    if mtype == "publish" and qos == 0:
        msgid = None
    if mtype not in WITH_ID and mtype != "publish":
        msgid = None
    return make_item(mtype, cid, qos, retain, dup, msgid, extra)


# ---------------------------------------------------------------- main

def summary(items):
    c = collections.Counter(dict(i)["type"] for i in items)
    return ", ".join("%s=%d" % (k, c[k]) for k in sorted(c))


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    dump = "--dump" in argv[1:]
    if len(args) != 2:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    notes = []
    try:
        ts = tshark_items(args[0], notes)
        ev = eve_items(args[1], notes)
    except InputError as e:
        print("tshark_compare: ERROR: %s" % e)
        return 2
    if dump:
        for name, items in (("tshark", ts), ("eve", ev)):
            for it in sorted(items, key=repr):
                print("%s: %s" % (name, show(it)))
    for n in notes:
        print("tshark_compare: note: %s" % n)
    print("tshark_compare: tshark %d messages (%s)" % (len(ts), summary(ts)))
    print("tshark_compare: eve    %d messages (%s)" % (len(ev), summary(ev)))
    ct, ce = collections.Counter(ts), collections.Counter(ev)
    only_t = ct - ce
    only_e = ce - ct
    for it in sorted(only_t.elements(), key=repr):
        print("ONLY IN TSHARK: %s" % show(it))
    for it in sorted(only_e.elements(), key=repr):
        print("ONLY IN EVE:    %s" % show(it))
    if not ts or not ev:
        print("tshark_compare: FAIL: nothing to compare (tshark %d, eve %d)" % (len(ts), len(ev)))
        return 1
    if only_t or only_e:
        print("tshark_compare: FAIL: %d only in tshark, %d only in eve"
              % (sum(only_t.values()), sum(only_e.values())))
        return 1
    print("tshark_compare: OK: %d messages agree" % len(ts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

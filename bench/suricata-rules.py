#!/usr/bin/env python3
"""suricata-rules.py - translate mqttids rules into Suricata 7 rules (mqtt.* keywords).

usage: bench/suricata-rules.py [RULES_FILE_OR_DIR ...] [-o OUT.rules] [--mqttids-out SUBSET.rules]
                               [--report]

Default input: rules/ (every *.rules file, in name order, as mqttids loads them).
Writes:
  -o OUT.rules            the Suricata rules; their header lists every input rule with how it
                          was translated (exact, approximate and why, or not at all and why)
  --mqttids-out FILE      the mqttids rules that were translated (exactly or approximately),
                          unchanged, so that `mqttids read --rules FILE` and Suricata run the
                          same rule set (bench/run.sh does this)
  --report                print the translation table (markdown) to stdout

The translation (docs/rules.md is the mqttids language; Suricata 7.0's MQTT keywords are
mqtt.type, mqtt.flags, mqtt.qos, mqtt.reason_code / mqtt.connack.return_code,
mqtt.protocol_version, mqtt.connect.{clientid,username,flags,willtopic,willmessage},
mqtt.publish.{topic,message}, mqtt.subscribe.topic, mqtt.unsubscribe.topic and the MQTT
app-layer events):

  header            mqtt -> `alert mqtt`, tcp -> `alert tcp`. $HOME_NET and $EXTERNAL_NET are
                    kept (bench/suricata.yaml defines them as mqttids' defaults). $SELF (the
                    broker, the server end of the connection) has no address in Suricata: it
                    becomes `any`, and says who sends the rule's messages, hence `flow:` and
                    the header's orientation (see "direction" below).
                    !$ADMIN_HOSTS with the default ADMIN_HOSTS ([]) is `any`.
  msg_type          mqtt.type. Suricata has no "or" between keyword values: a list becomes one
                    Suricata rule per type (sids sid, sid+100000, ...; metadata mqttids_sid).
  topics            PUBLISH: mqtt.publish.topic with a pcre built from the MQTT filters
                    (`a/#` also matches `a`; a first-level wildcard never matches a `$` topic).
                    SUBSCRIBE/UNSUBSCRIBE: mqtt.subscribe.topic / mqtt.unsubscribe.topic with a
                    pcre that accepts exactly the filters that overlap the rule's (mqttids'
                    overlap semantics, `$share/GROUP/` stripped). CONNECT: mqtt.connect.willtopic.
  filter            mqtt.subscribe.topic / mqtt.unsubscribe.topic, fnmatch globs as a pcre.
  retcode           numbers: mqtt.connack.return_code (one rule per code); names: not translated
                    (their code depends on the MQTT version).
  client_id,        mqtt.connect.clientid / mqtt.connect.username + pcre, only for rules that
  username          match CONNECT alone: mqttids also matches the session's id on later packets,
                    Suricata 7 has no such buffer. A user-name rule the empty name satisfies
                    gets `mqtt.connect.flags:!username` too (Suricata's buffer is absent then).
  protocol_version  mqtt.protocol_version (the session's, as in mqttids).
  qos               mqtt.qos (PUBLISH only: Suricata's qos is the fixed header's).
                    mqtt.qos, mqtt.protocol_version, mqtt.flags, mqtt.publish.message,
                    mqtt.unsubscribe.topic and mqtt.connect.* are client-to-server keywords in
                    Suricata 7: on the broker's PUBLISH (a server-to-client transaction) they
                    cannot match, so such rules are not translated.
  payload_size      PUBLISH: mqtt.publish.message + bsize; CONNECT: mqtt.connect.willmessage +
                    bsize.
  keepalive         no Suricata 7 keyword: rule not translated.
  anomaly           the names Suricata's MQTT parser also raises (malformed_traffic,
                    unassigned_msg_type, invalid_qos_level, missing_*, double_connect,
                    unintroduced_message, too_many_transactions) -> app-layer-event:mqtt.NAME,
                    one rule per name; wildcard_in_publish_topic -> a pcre on
                    mqtt.publish.topic; the rest (the parser's other checks, the detectors'
                    findings, client_id_takeover) have no Suricata equivalent.
  flags (tcp)       flags:X,CE (mqttids ignores ECE/CWR unless listed).
  threshold,        per target (src -> track by_src, dst -> by_dst, but see "direction"):
  interval,           threshold 1, cooldown 0      -> nothing (every match alerts)
  cooldown            threshold 1, cooldown C      -> threshold: type limit, count 1, seconds C
                      threshold N, cooldown 0      -> threshold: type threshold, count N, seconds I
                      threshold N, cooldown C      -> threshold: type both, count N, seconds I
                    Suricata's windows are fixed (they start at the first match and last
                    `seconds`), mqttids' slide, and mqttids stays quiet for `cooldown` after the
                    alert (then starts afresh) where `both` is quiet until the window ends. So
                    a steady stream of matches alerts every ~I s in Suricata and every
                    ~(C + time to N matches) s in mqttids: those rules are "approximate".
  name, priority,   msg, priority (mqttids priority 4..0 -> Suricata 1,2,3,4,4, as in EVE
  sid, rev,         severity), sid, rev; classtype goes to metadata (bench/suricata.yaml loads
  classtype         no classification file).

direction: Suricata inspects an MQTT transaction only in the direction of the message that
opened it (AppLayerTxData::for_direction), on packets of that direction, and a request and its
answers are one transaction (TXDIR below). So the broker's CONNACK, SUBACK, PUBACK... are matched
in the client's transaction, on the client's packets: `flow:to_server`, and the rule's header
and target are swapped (an mqttids `$SELF -> any dst` rule on CONNACK, whose target is the
client, becomes `any -> any ... track by_src`). Likewise the client's PUBACK/PUBREC/PUBCOMP to
the broker's PUBLISH: `flow:to_client`, swapped. bench/suricata-directions.rules checks this on
the benchmark capture.
"""
import argparse
import os
import re
import sys

SEVERITY = {4: 1, 3: 2, 2: 3, 1: 4, 0: 4}
PRIO_NAMES = {"informational": 0, "info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
TYPES = ["connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "subscribe",
         "suback", "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth"]
# MQTT app-layer events of Suricata 7 (rust/src/mqtt/mqtt.rs, MQTTEvent) that mqttids names the same
SURI_EVENTS = {"missing_connect", "missing_publish", "missing_subscribe", "missing_unsubscribe",
               "double_connect", "unintroduced_message", "invalid_qos_level",
               "unassigned_msg_type", "too_many_transactions", "malformed_traffic"}
# Findings of mqttids' data detectors (docs/sensors.md) and of its takeover check: state kept
# across messages and connections (baselines, keys, ACLs, inventories, timers, who holds a client
# id) that Suricata 7 has no counterpart for.
DETECTOR_FINDINGS = {"value_jump", "value_out_of_range", "value_rate_exceeded", "value_stuck",
                     "value_spoofed", "payload_unparsed", "key_missing", "key_wrong",
                     "hmac_missing", "hmac_wrong", "replay", "unknown_device",
                     "unauthorised_publish", "unauthorised_subscribe", "new_mac", "new_ip",
                     "new_client_id", "client_id_new_address", "mac_ip_changed", "device_silent",
                     "z2m_device_offline", "device_recovered"}
WHY_NOT = {
    "client_id_takeover": "client_id_takeover needs who holds each client id across connections; "
                          "Suricata's MQTT state is per flow",
    "broker_denied_publish": "broker_denied_publish/subscribe: Suricata 7 exposes the v5 PUBACK/PUBREC "
                             "reason codes (mqtt.reason_code) but no SUBACK return codes",
    "broker_denied_subscribe": None,
}
# Which transaction a message of each type sits in, by its sender. Suricata 7 makes one
# transaction of a request and its answers (CONNECT+CONNACK, SUBSCRIBE+SUBACK,
# PUBLISH+PUBACK, PUBLISH+PUBREC+PUBREL+PUBCOMP) and PINGREQ, PINGRESP, DISCONNECT and AUTH
# transactions of their own, and inspects a transaction only in the direction of the message
# that opened it (AppLayerTxData::for_direction): "ts" = client to server, "tc" = server to
# client. The packet an alert is raised on runs in that direction.
TXDIR = {
    "client": {"connect": "ts", "publish": "ts", "subscribe": "ts", "unsubscribe": "ts",
               "pingreq": "ts", "disconnect": "ts", "auth": "ts", "pubrel": "ts",
               "puback": "tc", "pubrec": "tc", "pubcomp": "tc"},
    "broker": {"connack": "ts", "suback": "ts", "unsuback": "ts", "puback": "ts", "pubrec": "ts",
               "pubcomp": "ts", "publish": "tc", "pubrel": "tc", "pingresp": "tc",
               "disconnect": "tc", "auth": "tc"},
}
# Keywords Suricata 7 registers for client-to-server inspection only (src/detect-mqtt-*.c):
# a rule that needs one of them on a server-to-client transaction cannot match.
TS_ONLY = ("mqtt.qos:", "mqtt.protocol_version:", "mqtt.flags:", "mqtt.publish.message;",
           "mqtt.unsubscribe.topic;", "mqtt.connect.")
# Variables and their defaults (docs/rules.md §4); bench/suricata.yaml has the same two nets.
SURI_VARS = {"HOME_NET", "EXTERNAL_NET"}


class Untranslatable(Exception):
    pass


# --- reading mqttids rule files (docs/rules.md §2, §5) ---------------------------------
def read_rules(path):
    """(file, line, text) for each rule, continuations joined."""
    out = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r")
        start = i + 1
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.rstrip().endswith("\\") and i < len(lines) and lines[i].strip():
            line = line.rstrip()[:-1] + " " + lines[i].rstrip("\r")
            i += 1
        out.append((path, start, " ".join(line.split())))
    return out


def split_options(text):
    """Split 'a: b; c: "d;e"' into [(key, value)], honouring quotes."""
    opts, cur, q, i = [], "", False, 0
    while i < len(text):
        c = text[i]
        if q and c == "\\" and i + 1 < len(text):
            cur += text[i + 1]
            i += 2
            continue
        if c == '"':
            q = not q
        elif c == ";" and not q:
            opts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    if cur.strip():
        opts.append(cur)
    out = []
    for o in opts:
        o = o.strip()
        if not o:
            continue
        k, _, v = o.partition(":")
        out.append((k.strip().lower(), v.strip()))
    return out


def parse_rule(text):
    header, _, rest = text.partition(";")
    h = header.split()
    proto = h[0].lower()
    # PROTO SRC [SPORT] DIR DST [DPORT] [TARGET]; addresses may be bracketed lists with spaces
    toks = []
    buf, depth = "", 0
    for t in h[1:]:
        buf = (buf + " " + t).strip() if buf else t
        depth += t.count("[") - t.count("]")
        if depth <= 0:
            toks.append(buf)
            buf, depth = "", 0
    di = next(i for i, t in enumerate(toks) if t in ("->", "<>"))
    src = toks[0]
    sport = toks[1] if di == 2 else "any"
    d = toks[di]
    after = toks[di + 1:]
    dst = after[0]
    dport, target = "any", "src"
    for t in after[1:]:
        if t.lower() in ("src", "dst"):
            target = t.lower()
        else:
            dport = t
    opts = dict(split_options(rest))
    return dict(proto=proto, src=src, sport=sport, dir=d, dst=dst, dport=dport, target=target,
                opts=opts)


def items(v):
    return [x.strip() for x in v.split(",") if x.strip()]


# --- regular expressions -----------------------------------------------------------------
def rx_lit(s):
    return re.escape(s).replace("/", "\\/")


def topic_match_rx(filt):
    """pcre body matching the topic names an MQTT filter matches."""
    lv = filt.split("/")
    out = ""
    for i, l in enumerate(lv):
        sep = "\\/" if i else ""
        if l == "#":
            # 'a/#' also matches the parent 'a'; '#' alone matches everything
            out = out + "(?:\\/.*)?" if i else ".*"
            break
        if l == "+":
            out += sep + "[^\\/]*"
        else:
            out += sep + rx_lit(l)
    if lv[0] in ("+", "#"):
        out = "(?!\\$)" + out      # a first-level wildcard never matches a $ topic
    return out


def topic_overlap_rx(filt):
    """pcre body matching the subscription filters that overlap an MQTT filter (mqttids §5.4:
    some topic name matches both)."""
    lv = filt.split("/")

    def level(i):
        l = lv[i]
        if l == "#":
            return "(?!\\$).*" if i == 0 else ".*"   # '#' alone does not reach $ topics
        last = i == len(lv) - 1
        if last:
            cont = "(?:\\/#)?"          # 'x/#' also matches 'x'
        elif lv[i + 1] == "#":
            cont = "(?:\\/.*)?"         # 'a/#' matches 'a' too, so a filter may stop here
        else:
            cont = "\\/" + level(i + 1)
        mine = "[^\\/]*" if l == "+" else rx_lit(l)
        if i == 0 and l.startswith("$"):
            return "(?:" + mine + cont + ")"   # a wildcard does not reach a $ topic
        alts = ["#", "(?:" + mine + "|\\+)" + cont] if l != "+" else ["#", mine + cont]
        body = "(?:" + "|".join(alts) + ")"
        if i == 0 and l in ("+", "#"):
            body = "(?!\\$)" + body
        return body

    return level(0)


def glob_rx(g):
    """fnmatch(3) with flags 0 (mqttids §5.5) as a pcre body."""
    out, i = "", 0
    while i < len(g):
        c = g[i]
        if c == "*":
            out += ".*"
        elif c == "?":
            out += "."
        elif c == "\\":
            if i + 1 >= len(g):
                raise Untranslatable("glob ends in a lone '\\'")
            out += rx_lit(g[i + 1])
            i += 1
        elif c == "[":
            j = i + 1
            if j < len(g) and g[j] in "!^":
                j += 1
            if j < len(g) and g[j] == "]":
                j += 1
            while j < len(g) and g[j] != "]":
                j += 1
            if j >= len(g):
                out += "\\["            # an unclosed '[' is an ordinary byte
            else:
                body = g[i + 1:j]
                neg = body[:1] in ("!", "^")
                if neg:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("]", "\\]").replace("/", "\\/")
                out += "[" + ("^" if neg else "") + body + "]"
                i = j
        else:
            out += rx_lit(c)
        i += 1
    return out


def pcre(body, anchored=True):
    b = "^(?:" + body + ")$" if anchored else body
    # Suricata option values: escape ';' and '"' (the '/' are escaped already)
    b = b.replace(";", "\\;").replace('"', '\\"')
    return 'pcre:"/%s/";' % b


def content_lit(s):
    out = ""
    for ch in s.encode():
        c = chr(ch)
        if c in ';"\\|:' or ch < 0x20 or ch > 0x7e:
            out += "|%02X|" % ch
        else:
            out += c
    return out


# --- translation -----------------------------------------------------------------------
def addr(a):
    if a == "any":
        return "any"
    if a == "!$ADMIN_HOSTS":
        return "any"       # ADMIN_HOSTS defaults to [] (nobody), so this is everybody
    m = re.fullmatch(r"(!?)\$([A-Za-z0-9_]+)", a)
    if m and m.group(2) in SURI_VARS:
        return a
    if m:
        raise Untranslatable("address variable %s has no Suricata equivalent here" % a)
    if "$" in a:
        raise Untranslatable("address %s uses a variable Suricata has not" % a)
    return a.replace(" ", "")


def comparison(v, units=None):
    m = re.fullmatch(r"\s*(==|=|!=|<=|>=|<|>)?\s*(\d+)\s*([a-zA-Z]*)\s*", v)
    if not m:
        raise Untranslatable("comparison %r" % v)
    op, n, unit = m.group(1) or "=", int(m.group(2)), m.group(3).lower()
    mult = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1 << 20, "mb": 1 << 20,
            "mib": 1 << 20}
    if unit not in mult:
        raise Untranslatable("unit %r" % unit)
    n *= mult[unit]
    # bsize takes '=N', '<N', '>N' or an exclusive range
    if op in ("=", "=="):
        return "%d" % n
    if op == "<":
        return "<%d" % n
    if op == ">":
        return ">%d" % n
    if op == "<=":
        return "<%d" % (n + 1)
    if op == ">=":
        return ">%d" % (n - 1) if n > 0 else ">=0"
    raise Untranslatable("'!=' has no bsize form")


def translate(rule, raw):
    """-> (list of Suricata rule strings, status, notes). status: exact|approx; raises
    Untranslatable."""
    o = rule["opts"]
    notes = []
    approx = False
    sid = int(o.get("sid", "0") or 0)
    if not sid:
        raise Untranslatable("no sid")
    name = o.get("name", "")
    pr = o.get("priority", "2").lower()
    prio = PRIO_NAMES.get(pr, None)
    if prio is None:
        prio = int(pr)
    rev = o.get("rev", "1")
    thr = int(o.get("threshold", "1"))
    interval = int(o.get("interval", "60"))
    cooldown = int(o.get("cooldown", str(interval)))

    # who is the broker: the sender of the rule's packets is the client or the broker
    src, dst = rule["src"], rule["dst"]
    sender = None
    if dst == "$SELF" and src != "$SELF":
        sender = "client"
        dst = "any"
    elif src == "$SELF" and dst != "$SELF":
        sender = "broker"
        src = "any"
    elif "$SELF" in (src, dst):
        raise Untranslatable("$SELF on both sides")
    if "SELF" in src or "SELF" in dst:
        raise Untranslatable("$SELF inside a list")
    s_src, s_dst = addr(src), addr(dst)
    sport = "any" if rule["sport"] == "any" else rule["sport"]
    dport = "any" if rule["dport"] == "any" else rule["dport"]
    if "$" in sport + dport:
        raise Untranslatable("port variables")
    if rule["dir"] == "<>" and sender:
        raise Untranslatable("'<>' with $SELF")
    if not sender and rule["proto"] == "mqtt":
        approx = True
        notes.append("no $SELF: Suricata raises the alert on a packet of the transaction's direction, "
                     "which may run against the rule's header")
    # the transaction direction of a variant travels as a marker element, stripped on output
    own_dir = {"client": "\0ts", "broker": "\0tc", None: "\0"}[sender]

    body_variants = [[]]   # each variant becomes one Suricata rule

    def fork(alternatives):
        nonlocal body_variants
        body_variants = [v + a for v in body_variants for a in alternatives]

    unknown = set(o) - {"name", "priority", "sid", "rev", "classtype", "threshold", "interval",
                        "cooldown", "msg_type", "topics", "filter", "retcode", "client_id",
                        "username", "protocol_version", "qos", "payload_size", "keepalive",
                        "anomaly", "flags"}
    if unknown:
        raise Untranslatable("options %s" % ", ".join(sorted(unknown)))
    if "keepalive" in o:
        raise Untranslatable("keepalive: Suricata 7 has no keyword for the CONNECT keepalive")

    if rule["proto"] == "tcp":
        if "flags" in o:
            f = o["flags"].upper()
            m = re.fullmatch(r"([FSRPAUEC0]+)([+*!]?)", f)
            if not m:
                raise Untranslatable("flags %r" % f)
            letters, mod = m.groups()
            ign = "" if ("E" in letters or "C" in letters or mod) else ",CE"
            fork([["flags:%s%s%s;" % (letters, mod, ign)]])
        fork([[own_dir]])
        if "anomaly" in o:
            raise Untranslatable("tcp anomaly rules (decoder/stream events)")
    else:
        types = [t.lower() for t in items(o.get("msg_type", ""))]
        anomalies = items(o.get("anomaly", ""))
        if anomalies:
            alts = []
            dropped = []
            for a in anomalies:
                if a == "wildcard_in_publish_topic":
                    alts.append([own_dir, "mqtt.type:PUBLISH;", "mqtt.publish.topic;", pcre("[+#]", False)])
                elif a in SURI_EVENTS:
                    alts.append([own_dir, "app-layer-event:mqtt.%s;" % a])
                else:
                    dropped.append(a)
            if not alts:
                why = []
                det = [x for x in dropped if x in DETECTOR_FINDINGS]
                if det:
                    why.append("%s: finding%s of mqttids' data detectors (docs/sensors.md), which "
                               "Suricata has no counterpart for" % (", ".join(det), "s" if len(det) > 1 else ""))
                why += [WHY_NOT[x] for x in dropped if WHY_NOT.get(x)]
                rest = [x for x in dropped if x not in DETECTOR_FINDINGS and x not in WHY_NOT]
                if rest:
                    why.append("%s: no Suricata 7 MQTT event or keyword checks %s" % (
                        ", ".join(rest), "this" if len(rest) == 1 else "these"))
                raise Untranslatable("; ".join(why))
            if dropped:
                approx = True
                notes.append("without %s (no Suricata equivalent)" % ", ".join(dropped))
            if len(alts) > 1:
                approx = True
                notes.append("one Suricata rule per anomaly name, each with its own threshold")
            if any(a.startswith("app-layer-event") for alt in alts for a in alt):
                notes.append("Suricata raises these on its own parser's terms (it stops parsing a "
                             "direction at a malformed message, mqttids goes on), on the transaction "
                             "they belong to")
                approx = True
            fork(alts)
        if not types:
            # types implied by the options (docs/rules.md §6)
            if "topics" in o:
                types = ["publish", "subscribe", "unsubscribe", "connect"]
            elif "filter" in o:
                types = ["subscribe", "unsubscribe"]
            elif "retcode" in o:
                raise Untranslatable("retcode without msg_type")
            elif "payload_size" in o:
                types = ["publish", "connect"]
            elif "qos" in o:
                types = ["publish", "subscribe", "connect"]
        if anomalies:
            for key in ("client_id", "username"):
                if key in o:
                    raise Untranslatable("%s on anomaly events: Suricata 7 only has the CONNECT's" % key)
            if "protocol_version" in o:
                vmap = {"3": 3, "4": 4, "5": 5, "3.1": 3, "3.1.1": 4, "5.0": 5}
                vs = sorted({vmap[v] for v in items(o["protocol_version"])})
                if len(vs) > 1:
                    approx = True
                    notes.append("one Suricata rule per protocol version")
                fork([["mqtt.protocol_version:%d;" % v] for v in vs])
        elif not types:
            types = [None]      # every message type: no mqtt.type
        if len(types) > 1:
            approx = approx or thr > 1 or cooldown > 0
            notes.append("one Suricata rule per message type (%s)%s" % (
                ", ".join(types), ", each with its own threshold" if thr > 1 or cooldown > 0 else ""))
        # each type gives one Suricata rule per combination of the multi-valued options
        vmap = {"3": 3, "4": 4, "5": 5, "3.1": 3, "3.1.1": 4, "5.0": 5}
        split_notes = set()
        alts = []
        for t in types:
            if t is not None and t not in TYPES:
                raise Untranslatable("msg_type %s" % t)
            if t is None:
                parts = [own_dir]
                if sender:
                    approx = True
                    notes.append({"client": "the client's PUBACK/PUBREC/PUBCOMP to the broker's PUBLISH "
                                            "sit in the broker's transactions: not covered",
                                  "broker": "the broker's answers to the client's requests (CONNACK, "
                                            "SUBACK, UNSUBACK, PUBACK, PUBREC, PUBCOMP) sit in the "
                                            "client's transactions: not covered"}[sender])
                if thr > 1:
                    approx = True
                    notes.append("counts transactions, mqttids counts messages")
            else:
                if sender and t not in TXDIR[sender]:
                    raise Untranslatable("the %s does not send %s" % (sender, t.upper()))
                parts = ["\0" + TXDIR[sender][t] if sender else own_dir, "mqtt.type:%s;" % t.upper()]
            multi = []      # lists of alternatives, one list per multi-valued option
            if "topics" in o:
                filters = items(o["topics"])
                if t == "publish":
                    firsts = {f.split("/")[0] for f in filters}
                    if len(firsts) == 1 and next(iter(firsts)) not in ("+", "#"):
                        parts += ["mqtt.publish.topic;", 'content:"%s";' % content_lit(next(iter(firsts))),
                                  "startswith;"]
                    else:
                        parts += ["mqtt.publish.topic;"]
                    parts.append(pcre("|".join(topic_match_rx(f) for f in filters)))
                elif t in ("subscribe", "unsubscribe"):
                    parts += ["mqtt.%s.topic;" % t,
                              pcre("(?:\\$share\\/[^\\/]*\\/)?(?:%s)" %
                                   "|".join(topic_overlap_rx(f) for f in filters))]
                elif t == "connect":
                    parts += ["mqtt.connect.willtopic;",
                              pcre("|".join(topic_match_rx(f) for f in filters))]
                else:
                    continue        # other types never match a topics rule
            if "filter" in o:
                if t not in ("subscribe", "unsubscribe"):
                    continue
                parts += ["mqtt.%s.topic;" % t,
                          pcre("(?:\\$share\\/[^\\/]*\\/)?(?:%s)" % "|".join(glob_rx(g) for g in items(o["filter"])))]
            if "retcode" in o:
                codes = []
                for c in items(o["retcode"]):
                    if re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", c):
                        codes.append(int(c, 0))
                    else:
                        raise Untranslatable("retcode name %s: its code depends on the MQTT version" % c)
                if t != "connack":
                    raise Untranslatable("retcode on %s" % (t or "every message type"))
                codes = sorted(set(codes))
                multi.append([["mqtt.connack.return_code:%d;" % c] for c in codes])
                if len(codes) > 1:
                    split_notes.add("one Suricata rule per return code (%s)" % ", ".join(str(c) for c in codes))
            if "payload_size" in o:
                cmpv = comparison(o["payload_size"])
                if t == "publish":
                    parts += ["mqtt.publish.message;", "bsize:%s;" % cmpv]
                elif t == "connect":
                    parts += ["mqtt.connect.willmessage;", "bsize:%s;" % cmpv]
                else:
                    continue
            if "qos" in o:
                if t != "publish":
                    raise Untranslatable("qos on %s (Suricata's mqtt.qos is the fixed header's)" % (t or "every message type"))
                qs = sorted({int(q) for q in items(o["qos"])})
                multi.append([["mqtt.qos:%d;" % q] for q in qs])
                if len(qs) > 1:
                    split_notes.add("one Suricata rule per QoS")
            for key, kw in (("client_id", "mqtt.connect.clientid"), ("username", "mqtt.connect.username")):
                if key not in o:
                    continue
                if types != ["connect"]:
                    raise Untranslatable("%s on %s: Suricata 7 only has the CONNECT's" % (
                        key, ", ".join(x or "every message type" for x in types if x != "connect")))
                globs = items(o[key])
                pos = [g for g in globs if not g.startswith("!")]
                neg = [g[1:] for g in globs if g.startswith("!")]
                buf = ["%s;" % kw]
                if pos:
                    buf.append(pcre("|".join(glob_rx(g) for g in pos)))
                buf += [pcre(glob_rx(g)).replace('pcre:"', 'pcre:!"') for g in neg]
                empty_ok = (not pos or any(re.match("^(?:%s)$" % glob_rx(g), "") for g in pos)) and \
                    not any(re.match("^(?:%s)$" % glob_rx(g), "") for g in neg)
                if key == "username" and empty_ok:
                    # mqttids matches a CONNECT without a user name as the empty one; Suricata's
                    # buffer is then absent and nothing on it matches
                    alts_u = [["mqtt.connect.flags:!username;"]]
                    if pos or any(not re.match("^(?:%s)$" % glob_rx(g), "x" * 300) for g in neg):
                        alts_u.append(buf)
                    multi.append(alts_u)
                    if len(alts_u) > 1:
                        split_notes.add("without and with a user name: two Suricata rules")
                else:
                    parts += buf
            if "protocol_version" in o:
                vs = sorted({vmap[v] for v in items(o["protocol_version"])})
                multi.append([["mqtt.protocol_version:%d;" % v] for v in vs])
                if len(vs) > 1:
                    split_notes.add("one Suricata rule per protocol version")
            combos = [parts]
            for m in multi:
                combos = [c + a for c in combos for a in m]
            alts += combos
        if split_notes:
            approx = approx or thr > 1 or cooldown > 0
            for n_ in sorted(split_notes):
                notes.append(n_ + (", each with its own threshold" if thr > 1 or cooldown > 0 else ""))
        if types:
            if not alts:
                raise Untranslatable("no message type the options can match")
            fork(alts)

    # thresholds and the header, per variant: the alert's packet runs in the direction of the
    # transaction (see TXDIR); when that is against the rule's sender, the header's sides and the
    # target swap.
    def threshold_kw(track):
        if thr == 1 and cooldown == 0:
            return None
        if thr == 1:
            return "threshold: type limit, track %s, count 1, seconds %d;" % (track, cooldown)
        if cooldown == 0:
            return "threshold: type threshold, track %s, count %d, seconds %d;" % (track, thr, interval)
        return "threshold: type both, track %s, count %d, seconds %d;" % (track, thr, interval)

    if thr > 1 and cooldown == 0:
        approx = True
        notes.append("fixed window, not sliding")
    elif thr > 1:
        approx = True
        notes.append("fixed %d s window from the first match, not a sliding one followed by a %d s cooldown"
                     % (interval, cooldown))
    proto = "tcp" if rule["proto"] == "tcp" else "mqtt"
    meta = "metadata:mqttids_sid %d%s;" % (sid, ", mqttids_classtype %s" % o["classtype"]
                                            if "classtype" in o else "")
    out = []
    swapped = set()
    dropped_tc = set()
    k = -1
    for v in body_variants:
        mark = [x for x in v if x.startswith("\0")]
        v = [x for x in v if not x.startswith("\0")]
        txdir = mark[0][1:] if mark and mark[0][1:] else None
        if txdir == "tc":
            bad = [x.split(":")[0].rstrip(";") for x in v if x.startswith(TS_ONLY)]
            if bad:
                dropped_tc.add("%s on the broker's %s" % (", ".join(sorted(set(bad))), next(
                    (x.split(":")[1].rstrip(";") for x in v if x.startswith("mqtt.type:")), "messages")))
                continue
        k += 1
        swap = bool(sender and txdir and (sender == "client") != (txdir == "ts"))
        h_src, h_sport, h_dst, h_dport = s_src, sport, s_dst, dport
        target = rule["target"]
        if swap:
            h_src, h_sport, h_dst, h_dport = s_dst, dport, s_src, sport
            target = {"src": "dst", "dst": "src"}[target]
            swapped.add(next((x.split(":")[1].rstrip(";") for x in v if x.startswith("mqtt.type:")), "?"))
        parts = ['msg:"%s";' % name.replace("\\", "\\\\").replace('"', '\\"').replace(";", "\\;")]
        if txdir:
            parts.append("flow:%s;" % {"ts": "to_server", "tc": "to_client"}[txdir])
        parts += v
        tk = threshold_kw("by_" + target)
        if tk:
            parts.append(tk)
        parts += [meta, "priority:%d;" % SEVERITY[prio], "sid:%d;" % (sid + 100000 * k), "rev:%s;" % rev]
        out.append("alert %s %s %s %s %s %s (%s)" % (proto, h_src, h_sport, rule["dir"], h_dst,
                                                     h_dport, " ".join(parts)))
    if swapped:
        notes.append("%s: in the other side's transaction, matched on its packets (header and target swapped)"
                     % ", ".join(sorted(swapped)))
    if dropped_tc:
        why = "; ".join(sorted(dropped_tc)) + ": Suricata 7 inspects these keywords in client-to-server transactions only"
        if not out:
            raise Untranslatable(why)
        approx = True
        notes.append("without " + why)
    return out, ("approx" if approx else "exact"), notes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="*")
    ap.add_argument("-o", "--output")
    ap.add_argument("--mqttids-out")
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    inputs = a.inputs or [os.path.join(root, "rules")]
    files = []
    for p in inputs:
        if os.path.isdir(p):
            files += [os.path.join(p, f) for f in sorted(os.listdir(p))
                      if f.endswith(".rules") and not f.startswith(".")]
        else:
            files.append(p)
    results = []
    for f in files:
        for path, line, raw in read_rules(f):
            try:
                r = parse_rule(raw)
            except (StopIteration, IndexError, ValueError):
                results.append((path, line, raw, None, [], "none", ["cannot parse"]))
                continue
            try:
                rules, status, notes = translate(r, raw)
                results.append((path, line, raw, r, rules, status, notes))
            except Untranslatable as e:
                results.append((path, line, raw, r, [], "none", [str(e)]))

    def sid_of(r, raw):
        return r["opts"].get("sid", "?") if r else "?"

    n = {s: sum(1 for x in results if x[5] == s) for s in ("exact", "approx", "none")}
    nsur = sum(len(x[4]) for x in results)
    head = ["# Generated by bench/suricata-rules.py from %s; do not edit." %
            ", ".join(os.path.relpath(f, root) for f in files),
            "# Suricata 7 rules (mqtt.* keywords) for the mqttids rules; bench/README.md, 'Suricata 7'.",
            "# %d mqttids rules: %d translated exactly, %d approximately, %d not at all -> %d Suricata rules."
            % (len(results), n["exact"], n["approx"], n["none"], nsur),
            "#"]
    for path, line, raw, r, rules, status, notes in results:
        name = r["opts"].get("name", "") if r else ""
        head.append("# sid %s (%s): %s%s" % (sid_of(r, raw), name,
                                            {"exact": "translated", "approx": "approximate",
                                             "none": "NOT TRANSLATED"}[status],
                                            (": " + "; ".join(notes)) if notes else ""))
    text = "\n".join(head) + "\n"
    for path, line, raw, r, rules, status, notes in results:
        if rules:
            text += "\n# %s:%d\n# %s\n" % (os.path.relpath(path, root), line, raw) + "\n".join(rules) + "\n"
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    elif not a.report:
        sys.stdout.write(text)
    if a.mqttids_out:
        with open(a.mqttids_out, "w") as f:
            f.write("# Generated by bench/suricata-rules.py: the mqttids rules that have a Suricata translation\n"
                    "# (exact or approximate), unchanged. Their Suricata form is in suricata-mqttids.rules.\n")
            for path, line, raw, r, rules, status, notes in results:
                if rules:
                    f.write(raw + "\n")
    if a.report:
        print("| sid | name | Suricata rules | translation |")
        print("| --- | --- | ---: | --- |")
        for path, line, raw, r, rules, status, notes in results:
            print("| %s | %s | %d | %s%s |" % (sid_of(r, raw), r["opts"].get("name", "") if r else "",
                                             len(rules), {"exact": "exact", "approx": "approximate",
                                                          "none": "**none**"}[status],
                                             (": " + "; ".join(notes)) if notes else ""))


if __name__ == "__main__":
    main()
